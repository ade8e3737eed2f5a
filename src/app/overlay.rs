//! The alignment overlay: the song's melody around the matched place, and the hum's pitch
//! contour drawn over it — shifted by the key difference and warped along the alignment path —
//! plus a one-line summary. Pure functions of a match, so they are tested without a window.

use crate::melody::{Contour, CONTOUR_FPS};
use crate::search::Match;

/// Lines to draw, in (seconds into the song, MIDI pitch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overlay {
    /// The song's melody, split where it is unvoiced.
    pub song: Vec<Vec<[f64; 2]>>,
    /// The hum along the alignment path, moved into the song's key; split at gaps.
    pub hum: Vec<Vec<[f64; 2]>>,
    /// Semitones the hum was moved by to sit on the song (hum = song + shift).
    pub shift_semitones: f32,
    pub summary: String,
}

/// Seconds of song shown on each side of the matched range.
pub const CONTEXT_S: f32 = 2.0;

pub fn build(song_melody: &Contour, hum: &Contour, found: &Match) -> Overlay {
    let (from, to) = (
        (found.start_s - CONTEXT_S).max(0.0),
        found.end_s + CONTEXT_S,
    );
    let song_at = |t: f32| -> f32 {
        let i = (t * song_melody.fps).round() as isize;
        if i < 0 {
            return f32::NAN;
        }
        song_melody
            .midi
            .get(i as usize)
            .copied()
            .unwrap_or(f32::NAN)
    };
    let song_points = (0..song_melody.len()).filter_map(|i| {
        let t = i as f32 / song_melody.fps;
        (t >= from && t <= to).then(|| (t, song_melody.midi[i]))
    });
    let song = split_at_gaps(song_points, 1.5 / song_melody.fps);

    let hum_time = query_clock(hum);
    let hum_at = |q: u32| -> f32 {
        let t = hum_time(q);
        hum.midi
            .get((t * hum.fps).round() as usize)
            .copied()
            .unwrap_or(f32::NAN)
    };
    let pairs: Vec<(f32, f32)> = found
        .alignment
        .path
        .iter()
        .map(|&(q, s)| (s as f32 / CONTOUR_FPS, hum_at(q)))
        .filter(|(_, m)| !m.is_nan())
        .collect();
    // The search folds the key difference into one octave; the octave the hum really sat in is
    // the one that puts it on the song's notes.
    let mut diffs: Vec<f32> = pairs
        .iter()
        .map(|&(t, m)| m - song_at(t))
        .filter(|d| !d.is_nan())
        .collect();
    let key = found.alignment.key_shift;
    let shift = if diffs.is_empty() {
        key
    } else {
        diffs.sort_by(f32::total_cmp);
        let median = diffs[diffs.len() / 2];
        key + 12.0 * ((median - key) / 12.0).round()
    };
    let hum = split_at_gaps(pairs.into_iter().map(|(t, m)| (t, m - shift)), 0.2);
    Overlay {
        song,
        hum,
        shift_semitones: shift,
        summary: match found.line {
            crate::search::MatchedLine::Melody => summary(shift, found.alignment.tempo),
            // The tune sits under another voice here: say so, or the overlay's line (the song's
            // second voice) would look like a wrong melody.
            crate::search::MatchedLine::SecondVoice => format!(
                "{} The tune is an inner voice here, under a higher part.",
                summary(shift, found.alignment.tempo)
            ),
        },
    }
}

/// Seconds into the recording of an alignment query frame: the alignment counts frames at
/// [`CONTOUR_FPS`] from the hum's first voiced frame.
fn query_clock(hum: &Contour) -> impl Fn(u32) -> f32 {
    let first_voiced_s = hum
        .midi
        .iter()
        .position(|m| !m.is_nan())
        .map_or(0.0, |i| i as f32 / hum.fps);
    move |q| first_voiced_s + q as f32 / CONTOUR_FPS
}

/// The alignment as a time map for re-timing the recording onto the song: (seconds after the
/// match's start in the song, seconds into the recording), increasing in song time.
pub fn hum_time_map(hum: &Contour, found: &Match) -> Vec<(f32, f32)> {
    let hum_time = query_clock(hum);
    let mut map: Vec<(f32, f32)> = Vec::with_capacity(found.alignment.path.len());
    for &(q, s) in &found.alignment.path {
        let song_t = s as f32 / CONTOUR_FPS - found.start_s;
        // A song frame held over several hum frames keeps its first pairing.
        if map.last().is_none_or(|&(t, _)| song_t > t) {
            map.push((song_t, hum_time(q)));
        }
    }
    map
}

/// "you hummed 3 semitones lower and 10% slower".
pub fn summary(shift_semitones: f32, tempo: f32) -> String {
    let semis = shift_semitones.round() as i32;
    let key = match semis {
        0 => "in the song's key".to_string(),
        s => {
            let (octaves, rest) = (s.abs() / 12, s.abs() % 12);
            let mut parts = Vec::new();
            if octaves > 0 {
                parts.push(plural(octaves, "octave"));
            }
            if rest > 0 {
                parts.push(plural(rest, "semitone"));
            }
            format!(
                "{} {}",
                parts.join(" and "),
                if s > 0 { "higher" } else { "lower" }
            )
        }
    };
    let percent = ((tempo - 1.0) * 100.0).round() as i32;
    let pace = match percent {
        -2..=2 => "at the song's tempo".to_string(),
        p if p > 0 => format!("{p}% faster"),
        p => format!("{}% slower", -p),
    };
    format!("You hummed {key} and {pace}.")
}

fn plural(n: i32, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Groups (t, midi) points into lines, breaking at NaN and at time gaps over `max_gap`.
fn split_at_gaps(points: impl Iterator<Item = (f32, f32)>, max_gap: f32) -> Vec<Vec<[f64; 2]>> {
    let mut lines: Vec<Vec<[f64; 2]>> = Vec::new();
    let mut last_t = f32::NEG_INFINITY;
    let mut current: Vec<[f64; 2]> = Vec::new();
    for (t, m) in points {
        if m.is_nan() || t - last_t > max_gap {
            if current.len() > 1 {
                lines.push(std::mem::take(&mut current));
            }
            current.clear();
        }
        if !m.is_nan() {
            current.push([t as f64, m as f64]);
            last_t = t;
        }
    }
    if current.len() > 1 {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    #[test]
    fn time_map_pairs_song_time_after_the_start_with_recording_time() {
        use crate::search::{Alignment, Match};
        // Hum voiced from 0.4 s; hum frames pair with song frames twice as far apart, from
        // song frame 100 (4 s), and the song frame 102 is held for two hum frames.
        let hum = super::Contour::new(25.0, [vec![f32::NAN; 10], vec![60.0; 40]].concat());
        let found = Match {
            song_id: 1,
            score: 1.0,
            start_s: 4.0,
            end_s: 6.0,
            alignment: Alignment {
                key_shift: 0.0,
                tempo: 2.0,
                path: vec![(0, 100), (1, 102), (2, 102), (3, 104)],
            },
            line: Default::default(),
        };
        let map = super::hum_time_map(&hum, &found);
        let expected = [(0.0, 0.4), (0.08, 0.44), (0.16, 0.52)];
        assert_eq!(map.len(), 3);
        for ((a, b), (c, d)) in map.iter().zip(expected) {
            assert!((a - c).abs() < 1e-5 && (b - d).abs() < 1e-5, "{map:?}");
        }
    }

    use super::*;
    use crate::search::Alignment;

    #[test]
    fn summary_reads_like_a_sentence() {
        assert_eq!(
            summary(-3.0, 0.9),
            "You hummed 3 semitones lower and 10% slower."
        );
        assert_eq!(
            summary(0.2, 1.01),
            "You hummed in the song's key and at the song's tempo."
        );
        assert_eq!(
            summary(13.0, 1.25),
            "You hummed 1 octave and 1 semitone higher and 25% faster."
        );
    }

    #[test]
    fn a_transposed_hum_lands_on_the_song_melody() {
        // Song: a rising scale at CONTOUR_FPS; the hum sings it 5 semitones lower after 1 s of
        // silence, and the path pairs hum frame q with song frame 50 + q.
        let song_midi: Vec<f32> = (0..250).map(|i| 60.0 + (i / 25) as f32).collect();
        let song = Contour::new(CONTOUR_FPS, song_midi.clone());
        let mut hum_midi = vec![f32::NAN; 25];
        hum_midi.extend(song_midi[50..150].iter().map(|m| m - 5.0 - 12.0));
        let hum = Contour::new(CONTOUR_FPS, hum_midi);
        let found = Match {
            song_id: 1,
            score: 0.9,
            start_s: 2.0,
            end_s: 6.0,
            alignment: Alignment {
                key_shift: -5.0,
                tempo: 1.0,
                path: (0..100).map(|q| (q, 50 + q)).collect(),
            },
            line: Default::default(),
        };
        let o = build(&song, &hum, &found);
        assert_eq!(o.shift_semitones, -17.0);
        assert_eq!(o.hum.len(), 1);
        for p in &o.hum[0] {
            let song_here = song_midi[(p[0] * CONTOUR_FPS as f64).round() as usize];
            assert!(
                (p[1] - song_here as f64).abs() < 1e-4,
                "{p:?} vs {song_here}"
            );
        }
        let first_song_t = o.song[0][0][0];
        assert!((first_song_t - 0.0).abs() < 1e-6, "context clipped at 0 s");
        assert!(o
            .summary
            .starts_with("You hummed 1 octave and 5 semitones lower"));
        assert!(!o.summary.contains("inner voice"));
        let on_voice = Match {
            line: crate::search::MatchedLine::SecondVoice,
            ..found
        };
        assert!(build(&song, &hum, &on_voice)
            .summary
            .ends_with("The tune is an inner voice here, under a higher part."));
    }
}
