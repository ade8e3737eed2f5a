//! Signal processing: framing, STFT, log-frequency spectrogram, pitch tracking.
//! Small pure functions, each tested against signals with known answers.

pub mod pitch;
pub mod spectrum;
pub mod warp;

pub use pitch::{PitchFrame, PitchTracker, PITCH_HOP};
pub use spectrum::{hann_window, LogSpectrogram, Stft};
pub use warp::warp_and_transpose;

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
}
