//! Signal processing: framing, STFT, log-frequency spectrogram, pitch tracking.
//! Small pure functions, each tested against signals with known answers.

pub mod pitch;
pub mod spectrum;
pub mod warp;

pub use pitch::{PitchFrame, PitchTracker, PITCH_HOP};
pub use spectrum::{hann_window, LogSpectrogram, Stft};
pub use warp::warp_and_transpose;

/// Dot product. Kept as eight running sums, which the compiler vectorises (one running sum
/// must be added in order and is not). Slices of unequal length pair their whole eight-element
/// chunks, then their own last `len mod 8` elements: the common-length product when both hold
/// as many whole chunks, but when the longer one's length is a multiple of 8 the shorter one's
/// last `len mod 8` elements are left out. The interval features are computed so (see
/// `model::features::counted_bins`).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_sums(a, b)
}

/// [`dot`] of floats with any numbers that widen to floats (int8 codes in the segment index).
/// Always inlined, so a caller compiled for wider instructions gets them here too.
#[inline(always)]
pub(crate) fn dot_sums<T: Copy + Into<f32>>(a: &[f32], b: &[T]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, &y)| x * y.into())
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i].into();
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// MIDI note number of a frequency (A4 = 440 Hz = 69).
pub fn hz_to_midi(hz: f32) -> f32 {
    69.0 + 12.0 * (hz / 440.0).log2()
}

/// Frequency of a (fractional) MIDI note number.
pub fn midi_to_hz(midi: f32) -> f32 {
    440.0 * 2f32.powf((midi - 69.0) / 12.0)
}

/// Note name such as "A4" or "C#5" for the nearest semitone.
pub fn midi_note_name(midi: f32) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    let n = midi.round() as i32;
    format!(
        "{}{}",
        NAMES[n.rem_euclid(12) as usize],
        n.div_euclid(12) - 1
    )
}

/// A sine tone for tests: `seconds` of `hz` at `rate`, peak `amplitude`.
#[cfg(test)]
pub(crate) fn test_tone(hz: f32, seconds: f32, rate: u32, amplitude: f32) -> Vec<f32> {
    (0..(seconds * rate as f32) as usize)
        .map(|i| amplitude * (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midi_conversions_round_trip() {
        assert!((hz_to_midi(440.0) - 69.0).abs() < 1e-5);
        assert!((midi_to_hz(60.0) - 261.6256).abs() < 1e-3);
        assert_eq!(midi_note_name(69.0), "A4");
        assert_eq!(midi_note_name(61.2), "C#4");
    }

    #[test]
    fn dot_counts_every_element_whatever_the_length() {
        for n in [0, 1, 7, 8, 9, 16, 23] {
            let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let b: Vec<f32> = (0..n)
                .map(|i| if i % 2 == 0 { 1.0 } else { -2.0 })
                .collect();
            let expected: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert_eq!(dot(&a, &b), expected, "length {n}");
        }
        // Only the common length counts.
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[1.0, 1.0]), 3.0);
    }
}
