//! Hub scores: some songs fit many hums nearly as well as the hums' own songs do (a four-part
//! piece whose top voice wanders, a produced song whose excerpt holds two notes). Such a "hub"
//! wins near-ties it should lose. When a library is indexed, excerpts of its own songs' stored
//! melody lines are played as sine tones and searched like hums ("probes"); a song's hub
//! statistic is the mean of its best fused scores as a *wrong* candidate of those probes. At
//! query time each song loses a share of its statistic's lead over the library's mean
//! ([`super::learned::SearchSettings::hub`]). Measured in docs/MEASURED.md ("Hub scores").

use std::collections::HashMap;

use crate::melody::Contour;

/// Length of a probe excerpt, in seconds (queries run 8–15 s).
pub const PROBE_SECONDS: f32 = 10.0;
/// Probes cut from each song's stored melody line.
pub const PROBES_PER_SONG: usize = 2;
/// At most this many probes per library: a larger library probes an evenly spread subset of
/// its songs (each song still collects scores from every probe it is a candidate of).
pub const MAX_PROBES: usize = 2000;
/// A song's statistic is the mean of its this many highest wrong-candidate scores...
pub const BEST_SCORES: usize = 10;
/// ...and needs at least this many to count (fewer: no correction for the song).
pub const MIN_SCORES: usize = 3;
/// A library that changed since its statistics were measured is probed again when it is this
/// small (cheap) or more than this share of its songs were added or removed; otherwise the old statistics
/// stand (new songs have none and are not corrected), so adding a song to a large library does
/// not cost a probe of all of it.
pub const ALWAYS_REPROBE_SONGS: usize = 200;
pub const REPROBE_CHANGE: f64 = 0.1;
/// An excerpt must be at least this voiced to be a probe (the rest is silence or
/// instrumental passages, which no hum sounds like).
const MIN_PROBE_VOICED: f32 = 0.5;

/// Each song's hub statistic, and their mean over the library.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HubScores {
    by_song: HashMap<i64, f32>,
    mean: f32,
}

impl HubScores {
    pub fn new(by_song: HashMap<i64, f32>) -> Self {
        let mean = if by_song.is_empty() {
            0.0
        } else {
            by_song.values().sum::<f32>() / by_song.len() as f32
        };
        Self { by_song, mean }
    }

    pub fn len(&self) -> usize {
        self.by_song.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_song.is_empty()
    }

    pub fn mean(&self) -> f32 {
        self.mean
    }

    /// How far `song`'s statistic is above the library's mean (0 for a song without one).
    pub fn lead(&self, song: i64) -> f32 {
        self.by_song.get(&song).map_or(0.0, |s| s - self.mean)
    }
}

/// Up to `count` non-overlapping excerpts of `seconds` from `line`, the most voiced first
/// (windows start every quarter excerpt; each must be at least half voiced). A line shorter
/// than the excerpt is its own only candidate.
pub fn probe_excerpts(line: &Contour, seconds: f32, count: usize) -> Vec<Contour> {
    let len = ((seconds * line.fps).round() as usize)
        .max(1)
        .min(line.len());
    if len == 0 || count == 0 {
        return Vec::new();
    }
    let step = (len / 4).max(1);
    let voiced = |start: usize| {
        line.midi[start..start + len]
            .iter()
            .filter(|m| m.is_finite())
            .count()
    };
    let mut windows: Vec<(usize, usize)> = (0..=line.len() - len)
        .step_by(step)
        .map(|start| (voiced(start), start))
        .filter(|&(v, _)| v as f32 >= MIN_PROBE_VOICED * len as f32)
        .collect();
    // Most voiced first; among equals the earlier.
    windows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut chosen: Vec<usize> = Vec::new();
    for (_, start) in windows {
        if chosen.len() == count {
            break;
        }
        if chosen.iter().all(|&c| start + len <= c || c + len <= start) {
            chosen.push(start);
        }
    }
    chosen.sort_unstable();
    chosen
        .into_iter()
        .map(|s| Contour::new(line.fps, line.midi[s..s + len].to_vec()))
        .collect()
}

/// Which of `songs` (sorted or not) are probed, at most `max_probes / per_song` of them, spread
/// evenly over the list.
pub fn probe_songs(songs: &[i64], per_song: usize, max_probes: usize) -> Vec<i64> {
    let wanted = (max_probes / per_song.max(1)).min(songs.len());
    if wanted == songs.len() {
        return songs.to_vec();
    }
    (0..wanted)
        .map(|i| songs[i * songs.len() / wanted])
        .collect()
}

/// Whether a library of `songs_now` songs whose statistics were measured at `songs_then`, and
/// that has had `churn` songs added or removed since, is probed again (see
/// [`ALWAYS_REPROBE_SONGS`]).
pub fn worth_reprobing(songs_then: usize, songs_now: usize, churn: usize) -> bool {
    songs_now <= ALWAYS_REPROBE_SONGS || churn as f64 > REPROBE_CHANGE * songs_then as f64
}

/// Each song's statistic from its scores as a wrong candidate of the probes: the mean of its
/// `best` highest, for songs with at least `min` scores.
pub fn hub_statistics(
    wrong_scores: HashMap<i64, Vec<f32>>,
    best: usize,
    min: usize,
) -> HashMap<i64, f32> {
    wrong_scores
        .into_iter()
        .filter(|(_, v)| v.len() >= min.max(1))
        .map(|(song, mut v)| {
            v.sort_by(|a, b| b.total_cmp(a));
            v.truncate(best.max(1));
            (song, v.iter().sum::<f32>() / v.len() as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(voiced: &[bool]) -> Contour {
        Contour::new(
            25.0,
            voiced
                .iter()
                .map(|&v| if v { 60.0 } else { f32::NAN })
                .collect(),
        )
    }

    #[test]
    fn probes_are_the_most_voiced_disjoint_excerpts() {
        // 40 s: silent first 10 s, voiced 10–20 s, half voiced 20–30 s, voiced 30–40 s.
        let mut v = vec![false; 250];
        v.extend(vec![true; 250]);
        v.extend((0..250).map(|i| i % 2 == 0));
        v.extend(vec![true; 250]);
        let probes = probe_excerpts(&line(&v), 10.0, 2);
        assert_eq!(probes.len(), 2);
        // Windows start every 62 frames: the two best sit on the voiced stretches, off by at
        // most a few frames.
        for p in &probes {
            assert_eq!(p.len(), 250);
            assert!(p.voiced_fraction() > 0.98, "{}", p.voiced_fraction());
        }
        // No third excerpt fits between them without overlapping one.
        assert_eq!(probe_excerpts(&line(&v), 10.0, 3).len(), 2);
        // 40 s all voiced: three disjoint excerpts.
        assert_eq!(probe_excerpts(&line(&[true; 1000]), 10.0, 3).len(), 3);
    }

    #[test]
    fn silent_or_empty_lines_give_no_probes_and_short_lines_one() {
        assert!(probe_excerpts(&line(&[false; 400]), 10.0, 2).is_empty());
        assert!(probe_excerpts(&line(&[]), 10.0, 2).is_empty());
        let short = probe_excerpts(&line(&[true; 100]), 10.0, 2);
        assert_eq!(short.len(), 1);
        assert_eq!(short[0].len(), 100);
    }

    #[test]
    fn probe_songs_spread_over_a_large_library_and_take_all_of_a_small_one() {
        let songs: Vec<i64> = (1..=10).collect();
        assert_eq!(probe_songs(&songs, 2, 100), songs);
        assert_eq!(probe_songs(&songs, 2, 10), vec![1, 3, 5, 7, 9]);
        assert!(probe_songs(&songs, 2, 1).is_empty());
    }

    #[test]
    fn small_libraries_are_always_probed_again_large_ones_after_a_tenth_changed() {
        assert!(worth_reprobing(150, 151, 1));
        assert!(!worth_reprobing(1000, 1050, 50));
        assert!(!worth_reprobing(1000, 950, 50));
        assert!(worth_reprobing(1000, 1101, 101));
        // Songs replaced at a steady count still count.
        assert!(worth_reprobing(1000, 1000, 120));
    }

    #[test]
    fn statistics_average_the_best_scores_and_skip_rare_songs() {
        let scores = HashMap::from([
            (1, vec![0.5, 0.9, 0.7, 0.8]),
            (2, vec![0.9, 0.9]),
            (3, vec![0.6, 0.6, 0.6]),
        ]);
        let stats = hub_statistics(scores, 2, 3);
        assert_eq!(stats.len(), 2);
        assert!((stats[&1] - 0.85).abs() < 1e-6);
        assert!((stats[&3] - 0.6).abs() < 1e-6);
        let hub = HubScores::new(stats);
        assert!((hub.mean() - 0.725).abs() < 1e-6);
        assert!((hub.lead(1) - 0.125).abs() < 1e-6);
        assert!((hub.lead(3) + 0.125).abs() < 1e-6);
        assert_eq!(hub.lead(2), 0.0);
    }
}
