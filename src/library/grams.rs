//! The melody channel's index: every song's tune as overlapping runs of [`GRAM`] pitch moves
//! ([`crate::melody::Contour::note_moves`]), with the songs each run occurs in. A hum's runs
//! look up the songs that share them, weighted by how rare each run is (idf), so the contour
//! alignment gets the songs whose tune the hum follows without reading the whole library:
//! key, tempo and rhythm do not change the moves, and a wrong note spoils only the runs through
//! it.

use std::collections::HashMap;

/// Moves per run: three moves (four notes) single out a tune well enough for a shortlist while
/// a hum of 8 s still holds a dozen or more runs.
pub const GRAM: usize = 3;
/// Moves are clipped to an octave: 25 values each.
const SPAN: u32 = 25;

/// The run starting at `moves[i]` as one number.
fn key(run: &[i8]) -> u32 {
    run.iter()
        .fold(0u32, |k, &m| k * SPAN + (m.clamp(-12, 12) + 12) as u32)
}

/// The distinct runs of a move sequence.
pub fn grams(moves: &[i8]) -> Vec<u32> {
    let mut out: Vec<u32> = moves.windows(GRAM).map(key).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Songs by the runs of their tunes.
#[derive(Default)]
pub struct GramIndex {
    /// Run → song numbers (positions in `songs`), each song once.
    postings: HashMap<u32, Vec<u32>>,
    songs: Vec<i64>,
}

impl GramIndex {
    /// The index of `songs` (id, moves).
    pub fn new<'a>(songs: impl IntoIterator<Item = (i64, &'a [i8])>) -> Self {
        let mut index = Self::default();
        for (id, moves) in songs {
            let n = index.songs.len() as u32;
            index.songs.push(id);
            for g in grams(moves) {
                index.postings.entry(g).or_default().push(n);
            }
        }
        index
    }

    /// The `k` songs sharing the most (idf-weighted) runs with `moves`, best first, with their
    /// share of the query's weight (1: every run of the query found in the song).
    pub fn best(&self, moves: &[i8], k: usize) -> Vec<(i64, f32)> {
        let n = self.songs.len() as f32;
        if n == 0.0 || k == 0 {
            return Vec::new();
        }
        let mut score: HashMap<u32, f32> = HashMap::new();
        let mut total = 0.0f32;
        for g in grams(moves) {
            let Some(songs) = self.postings.get(&g) else {
                // A run no song has still counts against every song's share.
                total += (1.0 + n).ln();
                continue;
            };
            let idf = ((1.0 + n) / songs.len() as f32).ln();
            total += idf;
            for &s in songs {
                *score.entry(s).or_insert(0.0) += idf;
            }
        }
        let mut ranked: Vec<(i64, f32)> = score
            .into_iter()
            .map(|(s, v)| (self.songs[s as usize], v / total.max(1e-6)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::melody::Contour;

    /// A contour of notes (midi, seconds) at 25 fps, with `detune` semitones added everywhere.
    fn sung(notes: &[(f32, f32)], detune: f32) -> Contour {
        let mut midi = Vec::new();
        for &(m, s) in notes {
            midi.extend(std::iter::repeat_n(m + detune, (s * 25.0) as usize));
        }
        Contour::new(25.0, midi)
    }

    #[test]
    fn moves_ignore_key_tuning_rhythm_and_short_blips() {
        let tune = [
            (60.0, 0.4),
            (62.0, 0.4),
            (64.0, 0.8),
            (62.0, 0.2),
            (60.0, 0.4),
            (67.0, 0.6),
        ];
        let moves = sung(&tune, 0.0).note_moves();
        assert_eq!(moves, vec![2, 2, -2, -2, 7]);
        // Another key, a quarter-tone flat, twice as slow, with a 40 ms blip and a rest.
        let mut slow: Vec<(f32, f32)> = tune.iter().map(|&(m, s)| (m + 5.0, s * 2.0)).collect();
        slow.insert(2, (80.0, 0.04));
        let mut c = sung(&slow, -0.3);
        c.midi.splice(30..30, std::iter::repeat_n(f32::NAN, 10));
        assert_eq!(c.note_moves(), moves);
        assert!(Contour::new(25.0, vec![f32::NAN; 20])
            .note_moves()
            .is_empty());
    }

    #[test]
    fn the_song_sharing_the_hums_runs_ranks_first() {
        let songs: Vec<(i64, Vec<i8>)> = vec![
            (1, vec![2, 2, 1, 2, 2, 2, 1]),
            (2, vec![-1, -2, -2, 5, 3, -4, 2, 2]),
            (3, vec![2, 2, 1, -5, 7, -2, -2, -1]),
        ];
        let index = GramIndex::new(songs.iter().map(|(id, m)| (*id, m.as_slice())));
        let hum = [5, 3, -4, 2];
        let best = index.best(&hum, 3);
        assert_eq!(best[0].0, 2);
        assert!((best[0].1 - 1.0).abs() < 1e-6, "{best:?}");
        // A wrong note spoils the runs through it, not the song's lead.
        let wrong = [-2, 5, 3, -3, 2, 2];
        assert_eq!(index.best(&wrong, 1)[0].0, 2);
        assert!(index.best(&[], 3).is_empty());
        assert!(GramIndex::default().best(&hum, 3).is_empty());
    }
}
