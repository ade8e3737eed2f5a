//! Melody contours: the predominant melody of a polyphonic song (harmonic-summation salience
//! with continuity tracking, after Salamon & Gómez's Melodia), and the pitch contour of a hum,
//! both on the same frame grid so they can be compared directly.

use crate::audio::SAMPLE_RATE;
use crate::dsp::{hz_to_midi, PitchFrame, Stft};

/// Frames per second of every stored contour.
pub const CONTOUR_FPS: f32 = 25.0;
/// Samples between contour frames at [`SAMPLE_RATE`].
pub const CONTOUR_HOP: usize = (SAMPLE_RATE as f32 / CONTOUR_FPS) as usize;

/// A pitch contour in MIDI note numbers (fractional), one value per frame; NaN marks frames
/// with no melody (silence, breaths, instrumental passages).
#[derive(Debug, Clone, PartialEq)]
pub struct Contour {
    pub fps: f32,
    pub midi: Vec<f32>,
}

/// Steps of the pitch-class circle in [`Contour::pitch_class_sketch`], and its unvoiced mark.
pub const SKETCH_STEPS: usize = 240;
pub const SKETCH_UNVOICED: u8 = 255;

/// Shortest note [`Contour::note_moves`] keeps, in seconds.
pub const NOTE_MIN_S: f32 = 0.1;

impl Contour {
    pub fn new(fps: f32, midi: Vec<f32>) -> Self {
        Self { fps, midi }
    }

    pub fn len(&self) -> usize {
        self.midi.len()
    }

    pub fn is_empty(&self) -> bool {
        self.midi.is_empty()
    }

    pub fn duration_s(&self) -> f32 {
        self.midi.len() as f32 / self.fps
    }

    /// The contour played as a pure tone at [`SAMPLE_RATE`]: each frame's pitch held for the
    /// frame, phase continuous, 10 ms fades into and out of unvoiced frames (silence). Indexing
    /// embeds this next to the song's audio: a hum is closer to its song's melody alone than to
    /// the mix, so the melody's own segment vectors find songs the mix's miss.
    pub fn render_sine(&self) -> Vec<f32> {
        if self.midi.is_empty() || self.fps <= 0.0 {
            return Vec::new();
        }
        let rate = SAMPLE_RATE as f32;
        let per_frame = rate / self.fps;
        let n = (self.len() as f32 * per_frame) as usize;
        let fade_step = 1.0 / (0.01 * rate);
        let (mut phase, mut level, mut hz) = (0.0f32, 0.0f32, 0.0f32);
        (0..n)
            .map(|i| {
                let m = self.midi[((i as f32 / per_frame) as usize).min(self.len() - 1)];
                let voiced = m.is_finite();
                level += ((voiced as u8 as f32) - level).clamp(-fade_step, fade_step);
                if voiced {
                    hz = crate::dsp::midi_to_hz(m);
                }
                phase = (phase + std::f32::consts::TAU * hz / rate) % std::f32::consts::TAU;
                0.5 * level * phase.sin()
            })
            .collect()
    }

    pub fn voiced_fraction(&self) -> f32 {
        if self.midi.is_empty() {
            return 0.0;
        }
        self.midi.iter().filter(|m| !m.is_nan()).count() as f32 / self.midi.len() as f32
    }

    /// The tune as its sequence of pitch moves between notes, in semitones (never 0): frames
    /// rounded to the semitone grid the contour is tuned to (the circular mean of its
    /// fractions, so a hum sung a quarter-tone flat still lands on whole steps), runs shorter
    /// than [`NOTE_MIN_S`] dropped (glides, blips), repeated pitches merged, moves beyond an
    /// octave clipped. Key, tempo and rhythm do not change it: what the melody channel's
    /// n-gram index ([`crate::library::grams`]) is built from.
    pub fn note_moves(&self) -> Vec<i8> {
        let voiced: Vec<f32> = self
            .midi
            .iter()
            .copied()
            .filter(|m| m.is_finite())
            .collect();
        if voiced.is_empty() {
            return Vec::new();
        }
        let (s, c) = voiced.iter().fold((0.0f32, 0.0f32), |(s, c), m| {
            let a = std::f32::consts::TAU * m.rem_euclid(1.0);
            (s + a.sin(), c + a.cos())
        });
        let offset = s.atan2(c) / std::f32::consts::TAU;
        let min_frames = ((NOTE_MIN_S * self.fps).round() as usize).max(1);
        let mut notes: Vec<i32> = Vec::new();
        let (mut run_pitch, mut run_len) = (i32::MIN, 0usize);
        let close = |pitch: i32, len: usize, notes: &mut Vec<i32>| {
            if pitch != i32::MIN && len >= min_frames && notes.last() != Some(&pitch) {
                notes.push(pitch);
            }
        };
        for &m in &voiced {
            let p = (m - offset).round() as i32;
            if p == run_pitch {
                run_len += 1;
            } else {
                close(run_pitch, run_len, &mut notes);
                (run_pitch, run_len) = (p, 1);
            }
        }
        close(run_pitch, run_len, &mut notes);
        notes
            .windows(2)
            .map(|w| (w[1] - w[0]).clamp(-12, 12) as i8)
            .collect()
    }

    /// The contour at half its frame rate as pitch classes, one byte a frame: the position on
    /// the pitch-class circle in [`SKETCH_STEPS`] steps (0.05 semitone), or [`SKETCH_UNVOICED`].
    /// What the contour channel's pool scan needs of a song, small enough to keep every song's
    /// in memory.
    pub fn pitch_class_sketch(&self) -> Vec<u8> {
        self.downsample(2)
            .midi
            .iter()
            .map(|&m| {
                if m.is_finite() {
                    ((m.rem_euclid(12.0) / 12.0 * SKETCH_STEPS as f32).round() as u32
                        % SKETCH_STEPS as u32) as u8
                } else {
                    SKETCH_UNVOICED
                }
            })
            .collect()
    }

    /// Serialises to little-endian f32s (the catalog's storage format).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.midi.iter().flat_map(|m| m.to_le_bytes()).collect()
    }

    pub fn from_bytes(fps: f32, bytes: &[u8]) -> Self {
        let midi = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Self { fps, midi }
    }

    /// Every `factor`-th frame pooled by median of the voiced values (unvoiced if fewer than half).
    pub fn downsample(&self, factor: usize) -> Contour {
        let midi = self.midi.chunks(factor).map(|c| pooled_median(c)).collect();
        Contour {
            fps: self.fps / factor as f32,
            midi,
        }
    }
}

fn pooled_median(values: &[f32]) -> f32 {
    let mut voiced: Vec<f32> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if voiced.is_empty() || voiced.len() * 2 < values.len() {
        return f32::NAN;
    }
    voiced.sort_by(f32::total_cmp);
    voiced[voiced.len() / 2]
}

/// Pools a pitch track (any hop) onto the contour grid: frame i covers time i/fps ± half a frame.
pub fn contour_from_pitch(frames: &[PitchFrame], duration_s: f32) -> Contour {
    let n = (duration_s * CONTOUR_FPS).ceil().max(0.0) as usize;
    let mut buckets: Vec<Vec<f32>> = vec![Vec::new(); n];
    let mut counts = vec![0usize; n];
    for f in frames {
        let i = (f.time_s * CONTOUR_FPS).round() as usize;
        if i < n {
            counts[i] += 1;
            if f.voiced {
                buckets[i].push(hz_to_midi(f.hz));
            }
        }
    }
    let midi = buckets
        .iter_mut()
        .zip(&counts)
        .map(|(b, &count)| {
            if b.is_empty() || b.len() * 2 < count {
                return f32::NAN;
            }
            b.sort_by(f32::total_cmp);
            b[b.len() / 2]
        })
        .collect();
    Contour::new(CONTOUR_FPS, midi)
}

/// Lowest and highest melody pitch considered (MIDI): G2 (98 Hz) to C6 (1047 Hz).
const MIN_MIDI: f32 = 43.0;
const MAX_MIDI: f32 = 84.0 + 12.0;
const BINS_PER_SEMITONE: usize = 5;
const N_SALIENCE_BINS: usize = ((MAX_MIDI - MIN_MIDI) as usize) * BINS_PER_SEMITONE + 1;
const N_HARMONICS: usize = 10;
const HARMONIC_DECAY: f32 = 0.8;
const MAX_PEAKS: usize = 60;
/// Spectral peaks more than this far below the frame's strongest peak are ignored.
const PEAK_FLOOR_DB: f32 = 40.0;
/// Candidate pitches kept per frame for continuity tracking (at most; see
/// [`MelodySettings::candidates`]).
const CANDIDATES: usize = 8;
/// Continuity cost per semitone jumped between frames, relative to a frame's best salience.
const JUMP_COST_PER_SEMITONE: f32 = 0.03;
const MAX_JUMP_COST: f32 = 0.45;
/// A frame is voiced if its chosen salience exceeds this fraction of the song's mean peak salience.
const VOICING_RATIO: f32 = 0.25;
const N_FFT: usize = 2048;

/// How the song's melody line is chosen among each frame's pitch candidates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MelodySettings {
    /// Emission bonus (in units of the frame's best salience) for the top voice: the highest
    /// candidate at least `top_voice_floor` of the frame's best that is not the octave ghost
    /// of a stronger one. 0 = the predominant pitch alone decides.
    pub top_voice_bonus: f32,
    pub top_voice_floor: f32,
    /// Candidates per frame the tracker may choose from (1–8), strongest first.
    pub candidates: usize,
}

impl Default for MelodySettings {
    fn default() -> Self {
        Self {
            top_voice_bonus: 0.0,
            top_voice_floor: 0.3,
            candidates: 5,
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Candidate {
    midi: f32,
    salience: f32,
}

/// Streaming predominant-melody extractor: push samples at [`SAMPLE_RATE`], then `finish`.
/// Memory grows only with the number of frames (a few dozen bytes each), not with the audio.
pub struct MelodyExtractor {
    stft: Stft,
    buffer: Vec<f32>,
    /// Absolute sample index of `buffer[0]`, counting the half-window of leading padding.
    next_frame_start: usize,
    candidates: Vec<[Candidate; CANDIDATES]>,
    frame_energy: Vec<f32>,
    mags: Vec<f32>,
    salience: Vec<f32>,
    peaks: Vec<(f32, f32)>,
    settings: MelodySettings,
}

impl Default for MelodyExtractor {
    fn default() -> Self {
        Self::new()
    }
}

impl MelodyExtractor {
    pub fn new() -> Self {
        Self::with_settings(MelodySettings::default())
    }

    pub fn with_settings(settings: MelodySettings) -> Self {
        Self {
            settings,
            stft: Stft::new(N_FFT),
            // Frame i is centred on sample i * hop: pad half a window of silence in front.
            buffer: vec![0.0; N_FFT / 2],
            next_frame_start: 0,
            candidates: Vec::new(),
            frame_energy: Vec::new(),
            mags: Vec::with_capacity(N_FFT / 2 + 1),
            salience: vec![0.0; N_SALIENCE_BINS],
            peaks: Vec::with_capacity(N_FFT / 2),
        }
    }

    pub fn push(&mut self, samples: &[f32]) {
        self.buffer.extend_from_slice(samples);
        let mut offset = 0;
        while self.buffer.len() - offset >= N_FFT {
            self.analyse_frame(offset);
            offset += CONTOUR_HOP;
        }
        self.buffer.drain(..offset);
        self.next_frame_start += offset;
    }

    /// Total samples pushed so far.
    fn samples_seen(&self) -> usize {
        self.next_frame_start + self.buffer.len() - N_FFT / 2
    }

    pub fn finish(mut self) -> Contour {
        // Frames centred up to the last sample: pad the tail with silence.
        let total = self.samples_seen();
        let n_frames = total.div_ceil(CONTOUR_HOP);
        let mut offset = 0;
        self.buffer.resize(self.buffer.len() + N_FFT, 0.0);
        while self.candidates.len() < n_frames && offset + N_FFT <= self.buffer.len() {
            self.analyse_frame(offset);
            offset += CONTOUR_HOP;
        }
        self.candidates.truncate(n_frames);
        self.frame_energy.truncate(n_frames);
        track_melody(&self.candidates, &self.frame_energy, &self.settings)
    }

    fn analyse_frame(&mut self, offset: usize) {
        let frame = &self.buffer[offset..offset + N_FFT];
        let energy = frame.iter().map(|x| x * x).sum::<f32>() / N_FFT as f32;
        self.stft.magnitudes(frame, &mut self.mags);
        find_peaks(&self.mags, &mut self.peaks);
        harmonic_salience(&self.peaks, &mut self.salience);
        self.candidates.push(top_candidates(&self.salience));
        self.frame_energy.push(energy);
    }
}

/// Melody contour of a whole clip in memory.
pub fn extract_melody(samples: &[f32]) -> Contour {
    let mut ex = MelodyExtractor::new();
    ex.push(samples);
    ex.finish()
}

/// Spectral peaks as (frequency Hz, linear magnitude), strongest first, at most [`MAX_PEAKS`].
fn find_peaks(mags: &[f32], peaks: &mut Vec<(f32, f32)>) {
    peaks.clear();
    let max = mags.iter().copied().fold(0.0f32, f32::max);
    if max <= 1e-6 {
        return;
    }
    let floor = max * 10f32.powf(-PEAK_FLOOR_DB / 20.0);
    let bin_hz = SAMPLE_RATE as f32 / N_FFT as f32;
    let top_bin = ((5000.0 / bin_hz) as usize).min(mags.len() - 2);
    for k in 2..top_bin {
        let m = mags[k];
        if m > floor && m > mags[k - 1] && m >= mags[k + 1] {
            // Parabolic interpolation on log magnitude refines the frequency.
            let (a, b, c) = (
                mags[k - 1].max(1e-9).ln(),
                m.ln(),
                mags[k + 1].max(1e-9).ln(),
            );
            let denom = a - 2.0 * b + c;
            let delta = if denom.abs() > 1e-9 {
                (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
            } else {
                0.0
            };
            peaks.push(((k as f32 + delta) * bin_hz, m));
        }
    }
    peaks.sort_by(|a, b| b.1.total_cmp(&a.1));
    peaks.truncate(MAX_PEAKS);
}

/// Harmonic summation: every peak votes for the fundamentals it could be a harmonic of.
fn harmonic_salience(peaks: &[(f32, f32)], salience: &mut [f32]) {
    salience.iter_mut().for_each(|s| *s = 0.0);
    let bps = BINS_PER_SEMITONE as f32;
    for &(freq, mag) in peaks {
        // Equal-loudness-like high-pass: the bass's low partials should not outvote the melody.
        let mut weight = mag / (1.0 + (150.0 / freq).powi(2));
        for h in 1..=N_HARMONICS {
            let midi = hz_to_midi(freq / h as f32);
            let centre = (midi - MIN_MIDI) * bps;
            if centre < -bps {
                break; // higher harmonics only go lower
            }
            let lo = (centre - bps).ceil().max(0.0) as usize;
            let hi = ((centre + bps).floor() as isize).min(N_SALIENCE_BINS as isize - 1);
            for b in lo as isize..=hi {
                let delta = (b as f32 - centre).abs() / bps;
                let w = (std::f32::consts::FRAC_PI_2 * delta).cos();
                salience[b as usize] += weight * w * w;
            }
            weight *= HARMONIC_DECAY;
        }
    }
    // Melodies live mostly above the bass register: a soft prior below MIDI 55 (G3).
    for (b, s) in salience.iter_mut().enumerate() {
        let midi = MIN_MIDI + b as f32 / bps;
        if midi < 55.0 {
            *s /= 1.0 + ((55.0 - midi) / 6.0).powi(2);
        }
    }
}

fn top_candidates(salience: &[f32]) -> [Candidate; CANDIDATES] {
    let mut best = [Candidate::default(); CANDIDATES];
    for b in 1..salience.len() - 1 {
        let s = salience[b];
        if s > 0.0
            && s > salience[b - 1]
            && s >= salience[b + 1]
            && s > best[CANDIDATES - 1].salience
        {
            // Refine the peak position between bins.
            let denom = salience[b - 1] - 2.0 * s + salience[b + 1];
            let delta = if denom.abs() > 1e-12 {
                0.5 * (salience[b - 1] - salience[b + 1]) / denom
            } else {
                0.0
            };
            let cand = Candidate {
                midi: MIN_MIDI + (b as f32 + delta) / BINS_PER_SEMITONE as f32,
                salience: s,
            };
            let mut i = CANDIDATES - 1;
            best[i] = cand;
            while i > 0 && best[i].salience > best[i - 1].salience {
                best.swap(i, i - 1);
                i -= 1;
            }
        }
    }
    best
}

/// Index of the frame's top voice: the highest candidate with at least `floor` of the best
/// salience that is not an octave-above ghost (weaker than a candidate an octave below it,
/// whose even harmonics are what it hears).
fn top_voice(c: &[Candidate; CANDIDATES], floor: f32, considered: usize) -> usize {
    let top = c[0].salience;
    let mut best = 0;
    for k in 0..considered.min(CANDIDATES) {
        let cand = c[k];
        if cand.salience < floor * top || cand.midi <= c[best].midi {
            continue;
        }
        let ghost = c
            .iter()
            .any(|o| o.salience > cand.salience && ((cand.midi - o.midi) - 12.0).abs() < 0.5);
        if !ghost {
            best = k;
        }
    }
    best
}

/// Viterbi over each frame's candidates: prefer salient pitches, penalise jumps; then voicing.
fn track_melody(
    candidates: &[[Candidate; CANDIDATES]],
    energy: &[f32],
    settings: &MelodySettings,
) -> Contour {
    let n = candidates.len();
    if n == 0 {
        return Contour::new(CONTOUR_FPS, Vec::new());
    }
    let emission = |c: &[Candidate; CANDIDATES], k: usize| {
        let top = c[0].salience;
        if top <= 0.0 || c[k].salience <= 0.0 || k >= settings.candidates {
            f32::NEG_INFINITY
        } else if settings.top_voice_bonus > 0.0
            && top_voice(c, settings.top_voice_floor, settings.candidates) == k
        {
            c[k].salience / top + settings.top_voice_bonus
        } else {
            c[k].salience / top
        }
    };
    let mut score = [0.0f32; CANDIDATES];
    for (k, s) in score.iter_mut().enumerate() {
        *s = emission(&candidates[0], k);
    }
    let mut back = vec![[0u8; CANDIDATES]; n];
    for t in 1..n {
        let mut next = [f32::NEG_INFINITY; CANDIDATES];
        for k in 0..CANDIDATES {
            let e = emission(&candidates[t], k);
            if e == f32::NEG_INFINITY {
                continue;
            }
            let (mut best, mut arg) = (f32::NEG_INFINITY, 0);
            for j in 0..CANDIDATES {
                if score[j] == f32::NEG_INFINITY {
                    continue;
                }
                let jump = (candidates[t][k].midi - candidates[t - 1][j].midi).abs();
                let v = score[j] - (jump * JUMP_COST_PER_SEMITONE).min(MAX_JUMP_COST);
                if v > best {
                    best = v;
                    arg = j;
                }
            }
            // A frame after silence starts fresh.
            if best == f32::NEG_INFINITY {
                best = 0.0;
            }
            next[k] = best + e;
            back[t][k] = arg as u8;
        }
        if next.iter().all(|v| *v == f32::NEG_INFINITY) {
            next = [0.0; CANDIDATES];
        }
        score = next;
    }
    let mut path = vec![0usize; n];
    path[n - 1] = (0..CANDIDATES)
        .max_by(|&a, &b| score[a].total_cmp(&score[b]))
        .unwrap_or(0);
    for t in (1..n).rev() {
        path[t - 1] = back[t][path[t]] as usize;
    }
    // Voicing: salience relative to the song's typical peak salience, and not near-silent.
    let peak_mean = candidates.iter().map(|c| c[0].salience).sum::<f32>() / n as f32;
    let loudest = energy.iter().copied().fold(0.0f32, f32::max);
    let midi = path
        .iter()
        .enumerate()
        .map(|(t, &k)| {
            let c = candidates[t][k];
            let voiced = c.salience > VOICING_RATIO * peak_mean
                && energy[t] > loudest * 1e-4
                && energy[t] > 1e-9;
            if voiced {
                c.midi
            } else {
                f32::NAN
            }
        })
        .collect();
    Contour::new(CONTOUR_FPS, midi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    fn note(midi: f32, secs: f32, amps: &[f32]) -> Vec<f32> {
        let f0 = crate::dsp::midi_to_hz(midi);
        (0..(SAMPLE_RATE as f32 * secs) as usize)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                amps.iter()
                    .enumerate()
                    .map(|(h, a)| a * (2.0 * PI * f0 * (h + 1) as f32 * t).sin())
                    .sum::<f32>()
            })
            .collect()
    }

    #[test]
    fn sine_rendering_plays_each_frame_at_its_pitch_and_rests_in_silence() {
        // One second of A4 (440 Hz), a second of rest, a second of A5.
        let fps = CONTOUR_FPS;
        let frames = fps as usize;
        let mut midi = vec![69.0; frames];
        midi.extend(vec![f32::NAN; frames]);
        midi.extend(vec![81.0; frames]);
        let x = Contour::new(fps, midi).render_sine();
        let rate = SAMPLE_RATE as usize;
        assert_eq!(x.len(), 3 * rate);
        let crossings = |s: &[f32]| s.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        // Away from the fades: upward zero crossings per half second = half the frequency.
        let a4 = crossings(&x[rate / 4..3 * rate / 4]);
        let a5 = crossings(&x[2 * rate + rate / 4..2 * rate + 3 * rate / 4]);
        assert!((a4 as i32 - 220).abs() <= 1, "{a4}");
        assert!((a5 as i32 - 440).abs() <= 1, "{a5}");
        let rest = &x[rate + rate / 10..2 * rate - rate / 10];
        assert!(rest.iter().all(|v| *v == 0.0), "silence between the notes");
        assert!(x.iter().all(|v| v.abs() <= 0.5));
        assert!(Contour::new(fps, Vec::new()).render_sine().is_empty());
    }

    #[test]
    fn single_harmonic_tone_gives_its_pitch() {
        let x = note(67.0, 1.0, &[1.0, 0.6, 0.4, 0.3]);
        let c = extract_melody(&x);
        assert_eq!(c.len(), 25);
        let voiced: Vec<f32> = c.midi[3..22].to_vec();
        assert!(voiced.iter().all(|m| (m - 67.0).abs() < 0.2), "{voiced:?}");
    }

    #[test]
    fn louder_melody_wins_over_quieter_chord() {
        let mut x = note(72.0, 1.0, &[0.6, 0.4, 0.3, 0.2]);
        for (i, v) in note(48.0, 1.0, &[0.2, 0.1, 0.05]).iter().enumerate() {
            x[i] += v;
        }
        for (i, v) in note(55.0, 1.0, &[0.15, 0.1, 0.05]).iter().enumerate() {
            x[i] += v;
        }
        let c = extract_melody(&x);
        let good = c.midi[3..22]
            .iter()
            .filter(|m| (*m - 72.0).abs() < 0.3)
            .count();
        assert!(good >= 17, "{:?}", c.midi);
    }

    #[test]
    fn silence_is_unvoiced_and_streaming_matches_batch() {
        let mut x = vec![0.0; 8000];
        x.extend(note(60.0, 1.0, &[1.0, 0.5]));
        let batch = extract_melody(&x);
        assert!(batch.midi[..4].iter().all(|m| m.is_nan()));
        let mut ex = MelodyExtractor::new();
        for chunk in x.chunks(777) {
            ex.push(chunk);
        }
        let streamed = ex.finish();
        assert_eq!(batch.len(), streamed.len());
        for (a, b) in batch.midi.iter().zip(&streamed.midi) {
            assert!((a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-4);
        }
    }

    #[test]
    fn contour_bytes_round_trip_and_downsample() {
        let c = Contour::new(25.0, vec![60.0, f32::NAN, 61.0, 62.0]);
        let back = Contour::from_bytes(25.0, &c.to_bytes());
        assert_eq!(back.midi[0], 60.0);
        assert!(back.midi[1].is_nan());
        let d = c.downsample(2);
        assert_eq!(d.midi.len(), 2);
        assert_eq!(d.midi[0], 60.0);
        assert_eq!(d.midi[1], 62.0);
    }

    #[test]
    fn pitch_track_pools_onto_contour_grid() {
        let frames: Vec<PitchFrame> = (0..100)
            .map(|i| PitchFrame {
                time_s: i as f32 * 0.01,
                hz: 440.0,
                voiced: i < 50,
                confidence: 1.0,
                rms: 0.1,
            })
            .collect();
        let c = contour_from_pitch(&frames, 1.0);
        assert_eq!(c.len(), 25);
        assert!((c.midi[5] - 69.0).abs() < 1e-3);
        assert!(c.midi[20].is_nan());
    }
}
