//! Symbolic melodies: notes in beats, with a random generator of song-like tunes
//! (scale-wise motion, repeated phrases, cadences).

use super::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    /// Onset in beats from the start of the melody.
    pub onset: f32,
    /// Duration in beats.
    pub duration: f32,
    /// MIDI pitch.
    pub midi: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub notes: Vec<Note>,
    pub beats_per_bar: u32,
    /// Tonic pitch (MIDI) and whether the key is minor: the arranger harmonises with it.
    pub tonic: f32,
    pub minor: bool,
}

impl Score {
    pub fn length_beats(&self) -> f32 {
        self.notes.last().map_or(0.0, |n| n.onset + n.duration)
    }
}

const MAJOR: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
const MINOR: [i32; 7] = [0, 2, 3, 5, 7, 8, 10];

/// Semitones above the tonic of a scale degree (any integer, wrapping octaves).
pub fn degree_to_semitones(degree: i32, minor: bool) -> i32 {
    let scale = if minor { &MINOR } else { &MAJOR };
    12 * degree.div_euclid(7) + scale[degree.rem_euclid(7) as usize]
}

/// Bar rhythms for 4/4 and 3/4 (durations in beats).
const RHYTHMS_4: &[&[f32]] = &[
    &[1.0, 1.0, 1.0, 1.0],
    &[2.0, 1.0, 1.0],
    &[1.0, 1.0, 2.0],
    &[0.5, 0.5, 1.0, 1.0, 1.0],
    &[1.5, 0.5, 1.0, 1.0],
    &[1.0, 0.5, 0.5, 2.0],
    &[0.5, 0.5, 0.5, 0.5, 1.0, 1.0],
    &[3.0, 1.0],
];
const RHYTHMS_3: &[&[f32]] = &[
    &[1.0, 1.0, 1.0],
    &[2.0, 1.0],
    &[1.5, 0.5, 1.0],
    &[0.5, 0.5, 1.0, 1.0],
    &[3.0],
];

/// A random tune of `bars` bars (a multiple of 4 works best): phrases A B A' C, two bars each
/// for an 8-bar tune, so like real songs it repeats itself.
pub fn random_melody(rng: &mut Rng, bars: u32) -> Score {
    let minor = rng.chance(0.35);
    let beats_per_bar = if rng.chance(0.25) { 3 } else { 4 };
    let tonic = rng.int(57, 67) as f32;
    let rhythms = if beats_per_bar == 3 {
        RHYTHMS_3
    } else {
        RHYTHMS_4
    };
    let phrase_bars = 2u32;
    let n_phrases = bars.div_ceil(phrase_bars);
    let mut phrases: Vec<Vec<(f32, i32)>> = Vec::new();
    let mut degree = rng.int(0, 4);
    for p in 0..n_phrases {
        // Phrase 2 repeats phrase 0 (with a varied ending): the "A" section comes back.
        if p % 4 == 2 && !phrases.is_empty() {
            let mut again = phrases[0].clone();
            if let Some(last) = again.last_mut() {
                last.1 = if p + 1 == n_phrases {
                    0
                } else {
                    last.1 + rng.int(-2, 2)
                };
            }
            degree = again.last().map_or(0, |n| n.1);
            phrases.push(again);
            continue;
        }
        let mut phrase = Vec::new();
        for _ in 0..phrase_bars {
            for &d in *rng.pick(rhythms) {
                let step = match rng.f32() {
                    x if x < 0.18 => 0,
                    x if x < 0.68 => {
                        if rng.chance(0.5) {
                            1
                        } else {
                            -1
                        }
                    }
                    x if x < 0.88 => {
                        if rng.chance(0.5) {
                            2
                        } else {
                            -2
                        }
                    }
                    _ => rng.int(3, 5) * if rng.chance(0.5) { 1 } else { -1 },
                };
                degree = (degree + step).clamp(-3, 10);
                phrase.push((d, degree));
            }
        }
        // Final phrase cadences on the tonic.
        if p + 1 == n_phrases {
            if let Some(last) = phrase.last_mut() {
                last.1 = if last.1 > 3 { 7 } else { 0 };
            }
        }
        phrases.push(phrase);
    }
    let mut notes = Vec::new();
    let mut onset = 0.0;
    for (d, deg) in phrases.into_iter().flatten() {
        notes.push(Note {
            onset,
            duration: d,
            midi: tonic + degree_to_semitones(deg, minor) as f32,
        });
        onset += d;
    }
    Score {
        notes,
        beats_per_bar,
        tonic,
        minor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn melody_is_deterministic_contiguous_and_in_range() {
        let a = random_melody(&mut Rng::new(3), 8);
        let b = random_melody(&mut Rng::new(3), 8);
        assert_eq!(a, b);
        assert!((a.length_beats() - 8.0 * a.beats_per_bar as f32).abs() < 1e-4);
        for w in a.notes.windows(2) {
            assert!((w[0].onset + w[0].duration - w[1].onset).abs() < 1e-4);
        }
        assert!(a.notes.iter().all(|n| (50.0..=90.0).contains(&n.midi)));
        assert_ne!(a, random_melody(&mut Rng::new(4), 8));
    }

    #[test]
    fn scale_degrees_wrap_octaves() {
        assert_eq!(degree_to_semitones(7, false), 12);
        assert_eq!(degree_to_semitones(-1, false), -1);
        assert_eq!(degree_to_semitones(2, true), 3);
    }
}
