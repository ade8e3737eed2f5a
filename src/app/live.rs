//! What the app shows while you hum: the recording at the engine's sample rate, a scrolling
//! log-frequency spectrogram, the pitch track, the input level, and when to stop by itself.

use crate::audio::{StreamResampler, SAMPLE_RATE};
use crate::dsp::hz_to_midi;
use crate::dsp::pitch::{PitchTracker, YinScratch};
use crate::dsp::spectrum::LogSpectrogram;

/// Display frames per second (the engine's contour rate).
pub const FRAMES_PER_SECOND: f32 = 25.0;
const HOP: usize = (SAMPLE_RATE as f32 / FRAMES_PER_SECOND) as usize;
const N_FFT: usize = 2048;
/// Lowest displayed note: C2 (65.4 Hz), below low male humming.
pub const DISPLAY_MIN_MIDI: f32 = 36.0;
pub const BINS_PER_OCTAVE: usize = 24;
/// Five octaves: C2 to C7.
pub const DISPLAY_BINS: usize = 5 * BINS_PER_OCTAVE;

/// When a recording ends by itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StopRules {
    /// Stop after this much silence once some melody was heard.
    pub silence_s: f32,
    pub max_s: f32,
}

impl Default for StopRules {
    fn default() -> Self {
        Self {
            silence_s: 2.5,
            max_s: 30.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Silence,
    MaxLength,
}

pub struct LiveAnalysis {
    resampler: Option<StreamResampler>,
    /// The whole recording, mono at [`SAMPLE_RATE`].
    pub samples: Vec<f32>,
    spectrum: LogSpectrogram,
    mags: Vec<f32>,
    row: Vec<f32>,
    pitch: PitchTracker,
    scratch: YinScratch,
    next_frame: usize,
    /// One spectrogram column per frame, `DISPLAY_BINS` values each (log magnitude).
    pub columns: Vec<Vec<f32>>,
    /// Pitch per frame as a MIDI number; NaN where unvoiced.
    pub pitch_midi: Vec<f32>,
    /// Level of the newest 50 ms, dBFS.
    pub level_db: f32,
    /// Frames (at [`FRAMES_PER_SECOND`]) with a voiced pitch so far.
    pub voiced_frames: usize,
    last_voiced_frame: Option<usize>,
}

impl LiveAnalysis {
    pub fn new(input_rate: u32) -> Self {
        let resampler = (input_rate != SAMPLE_RATE)
            .then(|| StreamResampler::new(input_rate, SAMPLE_RATE).ok())
            .flatten();
        let fmin = crate::dsp::midi_to_hz(DISPLAY_MIN_MIDI);
        let pitch = PitchTracker::new(SAMPLE_RATE);
        let scratch = pitch.scratch();
        Self {
            resampler,
            samples: Vec::new(),
            spectrum: LogSpectrogram::new(
                SAMPLE_RATE,
                N_FFT,
                HOP,
                fmin,
                BINS_PER_OCTAVE,
                DISPLAY_BINS,
            ),
            mags: Vec::new(),
            row: Vec::new(),
            pitch,
            scratch,
            next_frame: 0,
            columns: Vec::new(),
            pitch_midi: Vec::new(),
            level_db: -120.0,
            voiced_frames: 0,
            last_voiced_frame: None,
        }
    }

    pub fn duration_s(&self) -> f32 {
        self.samples.len() as f32 / SAMPLE_RATE as f32
    }

    /// Adds captured samples (at the input rate) and analyses every complete frame.
    pub fn push(&mut self, input: &[f32]) {
        if input.is_empty() {
            return;
        }
        match &mut self.resampler {
            Some(r) => {
                let samples = &mut self.samples;
                r.push(input, &mut |out| samples.extend_from_slice(out));
            }
            None => self.samples.extend_from_slice(input),
        }
        let recent = &self.samples[self.samples.len().saturating_sub(SAMPLE_RATE as usize / 20)..];
        if !recent.is_empty() {
            let rms = (recent.iter().map(|s| s * s).sum::<f32>() / recent.len() as f32).sqrt();
            self.level_db = 20.0 * rms.max(1e-6).log10();
        }
        let need = N_FFT.max(self.pitch.frame_len());
        while self.next_frame + need <= self.samples.len() {
            let start = self.next_frame;
            self.spectrum.frame(
                &self.samples[start..start + N_FFT],
                &mut self.mags,
                &mut self.row,
            );
            self.columns.push(self.row.clone());
            let p = self.pitch.analyse(
                &self.samples[start..start + self.pitch.frame_len()],
                &mut self.scratch,
            );
            let midi = if p.voiced && p.rms > 0.003 {
                hz_to_midi(p.hz)
            } else {
                f32::NAN
            };
            if !midi.is_nan() {
                self.voiced_frames += 1;
                self.last_voiced_frame = Some(self.pitch_midi.len());
            }
            self.pitch_midi.push(midi);
            self.next_frame += HOP;
        }
    }

    /// Whether the recording should end now.
    pub fn should_stop(&self, rules: &StopRules) -> Option<StopReason> {
        if self.duration_s() >= rules.max_s {
            return Some(StopReason::MaxLength);
        }
        // Half a second of melody first, so a pause before humming does not end it.
        let heard_melody = self.voiced_frames as f32 >= 0.5 * FRAMES_PER_SECOND;
        let since_voice = self.pitch_midi.len() - self.last_voiced_frame.map_or(0, |f| f + 1);
        (heard_melody && since_voice as f32 >= rules.silence_s * FRAMES_PER_SECOND)
            .then_some(StopReason::Silence)
    }

    /// The spectrogram row index (0 = lowest band) where a MIDI pitch sits.
    pub fn midi_to_band(midi: f32) -> f32 {
        (midi - DISPLAY_MIN_MIDI) * BINS_PER_OCTAVE as f32 / 12.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, seconds: f32, rate: u32) -> Vec<f32> {
        crate::dsp::test_tone(hz, seconds, rate, 0.3)
    }

    fn voiced_pitches(live: &LiveAnalysis) -> Vec<f32> {
        live.pitch_midi
            .iter()
            .copied()
            .filter(|m| !m.is_nan())
            .collect()
    }

    #[test]
    fn a_440_tone_shows_as_a4_with_its_energy_in_the_right_band() {
        let mut live = LiveAnalysis::new(SAMPLE_RATE);
        for block in tone(440.0, 2.0, SAMPLE_RATE).chunks(160) {
            live.push(block);
        }
        let voiced = voiced_pitches(&live);
        assert!(voiced.len() > 30, "{} voiced frames", voiced.len());
        assert!(voiced.iter().all(|m| (m - 69.0).abs() < 0.3), "{voiced:?}");
        let col = &live.columns[20];
        let loudest = (0..col.len())
            .max_by(|&a, &b| col[a].total_cmp(&col[b]))
            .unwrap();
        assert!((loudest as f32 - LiveAnalysis::midi_to_band(69.0)).abs() <= 1.0);
        assert!(
            live.level_db > -20.0 && live.level_db < 0.0,
            "{}",
            live.level_db
        );
    }

    #[test]
    fn resamples_a_44k_microphone_to_the_engine_rate() {
        let mut live = LiveAnalysis::new(44_100);
        for block in tone(220.0, 1.0, 44_100).chunks(441) {
            live.push(block);
        }
        let got = live.samples.len() as f32;
        assert!(
            (got - SAMPLE_RATE as f32).abs() < 0.02 * SAMPLE_RATE as f32,
            "{got}"
        );
        let voiced = voiced_pitches(&live);
        assert!(voiced.iter().all(|m| (m - 57.0).abs() < 0.3));
    }

    #[test]
    fn stops_after_silence_following_melody_but_not_before_any_melody() {
        let rules = StopRules {
            silence_s: 1.0,
            max_s: 30.0,
        };
        let mut live = LiveAnalysis::new(SAMPLE_RATE);
        live.push(&vec![0.0; 2 * SAMPLE_RATE as usize]);
        assert_eq!(live.should_stop(&rules), None, "silence before humming");
        live.push(&tone(300.0, 1.0, SAMPLE_RATE));
        assert_eq!(live.should_stop(&rules), None);
        live.push(&vec![0.0; (1.3 * SAMPLE_RATE as f32) as usize]);
        assert_eq!(live.should_stop(&rules), Some(StopReason::Silence));
        let mut long = LiveAnalysis::new(SAMPLE_RATE);
        long.push(&tone(300.0, 2.0, SAMPLE_RATE));
        let short = StopRules {
            silence_s: 5.0,
            max_s: 1.5,
        };
        assert_eq!(long.should_stop(&short), Some(StopReason::MaxLength));
    }
}
