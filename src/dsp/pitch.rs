//! Monophonic pitch tracking (YIN) with voicing, for hums, singing and whistling.
//!
//! YIN: de Cheveigné & Kawahara (2002). The difference function is computed with FFTs, the
//! cumulative-mean-normalised difference is thresholded, the first dip below threshold is
//! taken (which avoids octave-up errors when the fundamental is weak), and the lag is refined
//! by parabolic interpolation.

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

/// Hop between pitch frames, in samples at the tracker's rate (10 ms at 16 kHz).
pub const PITCH_HOP: usize = 160;

/// Pitch of one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PitchFrame {
    /// Centre of the analysis window, seconds from the start of the clip.
    pub time_s: f32,
    /// Fundamental frequency in Hz; meaningful only when `voiced`.
    pub hz: f32,
    pub voiced: bool,
    /// 1 - aperiodicity at the chosen lag: near 1 for a clean periodic tone.
    pub confidence: f32,
    /// RMS level of the window.
    pub rms: f32,
}

pub struct PitchTracker {
    sample_rate: u32,
    window: usize,
    min_lag: usize,
    max_lag: usize,
    n_fft: usize,
    fft: Arc<dyn Fft<f32>>,
    ifft: Arc<dyn Fft<f32>>,
    /// CMNDF threshold: the first dip below it is the period.
    pub threshold: f32,
    /// Frames whose best CMNDF is above this are unvoiced.
    pub max_aperiodicity: f32,
    /// Frames quieter than this (absolute RMS) are unvoiced.
    pub min_rms: f32,
    /// Frames quieter than this fraction of the clip's loudest frame are unvoiced.
    pub relative_rms: f32,
    /// When no dip reaches `threshold` (a noisy frame), the first dip within this much of the
    /// deepest one is the period, not the deepest itself: in noise the dip at twice the period
    /// is often a little deeper than the period's own.
    pub noisy_dip_margin: f32,
}

/// The query pitch tracker's range. A bass hums down to G1 (49 Hz) and whistlers, children
/// above all, reach 2–3 kHz; at 65 Hz – 1.5 kHz the hums of deep basses and high whistles
/// lost a tenth of their top-1 answers (docs/MEASURED.md, "Voices unlike ours").
pub const LOWEST_HZ: f32 = 48.0;
pub const HIGHEST_HZ: f32 = 2600.0;

impl PitchTracker {
    /// Tracks [`LOWEST_HZ`] – [`HIGHEST_HZ`]: a bass humming to a child whistling.
    pub fn new(sample_rate: u32) -> Self {
        Self::with_range(sample_rate, LOWEST_HZ, HIGHEST_HZ)
    }

    pub fn with_range(sample_rate: u32, min_hz: f32, max_hz: f32) -> Self {
        let sr = sample_rate as f32;
        let window = (0.040 * sr) as usize;
        let min_lag = (sr / max_hz).floor().max(2.0) as usize;
        let max_lag = (sr / min_hz).ceil() as usize;
        // The correlation of the window with the frame at lags up to max_lag never wraps
        // around once the transform holds the whole frame: i + lag < window + max_lag.
        let n_fft = (window + max_lag + 1).next_power_of_two();
        let mut planner = FftPlanner::new();
        Self {
            sample_rate,
            window,
            min_lag,
            max_lag,
            n_fft,
            fft: planner.plan_fft_forward(n_fft),
            ifft: planner.plan_fft_inverse(n_fft),
            threshold: 0.12,
            max_aperiodicity: 0.3,
            min_rms: 3e-4,
            relative_rms: 0.03,
            noisy_dip_margin: 0.05,
        }
    }

    /// Samples one frame looks at: the window plus the longest lag.
    pub fn frame_len(&self) -> usize {
        self.window + self.max_lag
    }

    /// Pitch track of a clip, one frame every [`PITCH_HOP`] samples.
    pub fn track(&self, samples: &[f32]) -> Vec<PitchFrame> {
        let mut scratch = YinScratch::new(self.n_fft);
        let mut frames = Vec::new();
        let mut start = 0;
        while start + self.window <= samples.len() {
            let end = (start + self.frame_len()).min(samples.len());
            let mut frame = self.analyse(&samples[start..end], &mut scratch);
            // The estimate compares [0, window) with [lag, lag + window): centre of that span.
            let lag = if frame.voiced {
                self.sample_rate as f32 / frame.hz
            } else {
                0.0
            };
            frame.time_s =
                (start as f32 + (self.window as f32 + lag) / 2.0) / self.sample_rate as f32;
            frames.push(frame);
            start += PITCH_HOP;
        }
        let loudest = frames.iter().map(|f| f.rms).fold(0.0f32, f32::max);
        for f in &mut frames {
            if f.rms < loudest * self.relative_rms {
                f.voiced = false;
            }
        }
        frames
    }

    /// Analyses one frame (`frame[0..window]` compared with lagged copies of itself).
    /// The returned frame's time is 0; callers set it.
    pub fn analyse(&self, frame: &[f32], s: &mut YinScratch) -> PitchFrame {
        let w = self.window.min(frame.len());
        let rms = (frame[..w].iter().map(|x| x * x).sum::<f32>() / w.max(1) as f32).sqrt();
        let unvoiced = PitchFrame {
            time_s: 0.0,
            hz: 0.0,
            voiced: false,
            confidence: 0.0,
            rms,
        };
        let max_lag = self.max_lag.min(frame.len().saturating_sub(w));
        if rms < self.min_rms || max_lag <= self.min_lag + 2 {
            return unvoiced;
        }
        self.difference(frame, w, max_lag, s);
        let d = &s.diff;
        // Cumulative mean normalised difference.
        let cmndf = &mut s.cmndf;
        cmndf.clear();
        cmndf.push(1.0);
        let mut running = 0.0f32;
        for (tau, &v) in d.iter().enumerate().skip(1) {
            running += v;
            cmndf.push(if running > 0.0 {
                v * tau as f32 / running
            } else {
                1.0
            });
        }
        // The first dip below threshold (its bottom); in a noisy frame, where none reaches it,
        // the first dip within `noisy_dip_margin` of the deepest.
        let tau = if cmndf[self.min_lag..max_lag]
            .iter()
            .any(|&v| v < self.threshold)
        {
            first_dip_below(cmndf, self.min_lag, max_lag - 1, self.threshold)
        } else {
            let deepest = (self.min_lag..max_lag)
                .min_by(|&a, &b| cmndf[a].total_cmp(&cmndf[b]))
                .unwrap_or(self.min_lag);
            first_dip_below(
                cmndf,
                self.min_lag,
                deepest,
                cmndf[deepest] + self.noisy_dip_margin,
            )
        };
        let aperiodicity = cmndf[tau];
        if aperiodicity > self.max_aperiodicity || tau <= self.min_lag.saturating_sub(1) {
            return PitchFrame {
                confidence: 1.0 - aperiodicity.min(1.0),
                ..unvoiced
            };
        }
        let refined = parabolic_vertex(d, tau);
        PitchFrame {
            time_s: 0.0,
            hz: self.sample_rate as f32 / refined,
            voiced: true,
            confidence: 1.0 - aperiodicity,
            rms,
        }
    }

    /// YIN difference d(tau) for tau in 0..=max_lag, via FFT cross-correlation.
    fn difference(&self, frame: &[f32], w: usize, max_lag: usize, s: &mut YinScratch) {
        let n = self.n_fft;
        let len = (w + max_lag).min(frame.len());
        for i in 0..n {
            let x = if i < len { frame[i] } else { 0.0 };
            s.full[i] = Complex32::new(x, 0.0);
            s.head[i] = Complex32::new(if i < w { x } else { 0.0 }, 0.0);
        }
        self.fft.process(&mut s.full);
        self.fft.process(&mut s.head);
        for (f, h) in s.full.iter_mut().zip(&s.head) {
            *f *= h.conj();
        }
        self.ifft.process(&mut s.full);
        let scale = 1.0 / n as f32;
        // Energies of the window and of each lagged window, from prefix sums of squares.
        s.prefix.clear();
        s.prefix.push(0.0);
        let mut acc = 0.0f64;
        for &x in &frame[..len] {
            acc += (x as f64) * (x as f64);
            s.prefix.push(acc);
        }
        let e0 = s.prefix[w];
        s.diff.clear();
        for tau in 0..=max_lag {
            let e_tau = s.prefix[(tau + w).min(len)] - s.prefix[tau];
            let r = s.full[tau].re as f64 * scale as f64;
            s.diff.push((e0 + e_tau - 2.0 * r).max(0.0) as f32);
        }
    }
}

/// The bottom of the first dip of `cmndf` that goes below `limit`, searching lags
/// `from..=to`; `to` when none does before it.
fn first_dip_below(cmndf: &[f32], from: usize, to: usize, limit: f32) -> usize {
    let Some(mut tau) = (from..to).find(|&t| cmndf[t] < limit) else {
        return to;
    };
    while tau < to && cmndf[tau + 1] < cmndf[tau] {
        tau += 1;
    }
    tau
}

/// Reusable buffers for [`PitchTracker::analyse`], so tracking a stream does not allocate.
pub struct YinScratch {
    full: Vec<Complex32>,
    head: Vec<Complex32>,
    prefix: Vec<f64>,
    diff: Vec<f32>,
    cmndf: Vec<f32>,
}

impl YinScratch {
    pub fn new(n_fft: usize) -> Self {
        Self {
            full: vec![Complex32::default(); n_fft],
            head: vec![Complex32::default(); n_fft],
            prefix: Vec::with_capacity(n_fft + 1),
            diff: Vec::with_capacity(n_fft),
            cmndf: Vec::with_capacity(n_fft),
        }
    }
}

impl PitchTracker {
    pub fn scratch(&self) -> YinScratch {
        YinScratch::new(self.n_fft)
    }
}

/// Abscissa of the vertex of the parabola through (i-1, i, i+1).
fn parabolic_vertex(y: &[f32], i: usize) -> f32 {
    if i == 0 || i + 1 >= y.len() {
        return i as f32;
    }
    let (a, b, c) = (y[i - 1], y[i], y[i + 1]);
    let denom = a - 2.0 * b + c;
    if denom.abs() < 1e-12 {
        return i as f32;
    }
    i as f32 + 0.5 * (a - c) / denom
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    const SR: u32 = 16_000;

    fn cents(a: f32, b: f32) -> f32 {
        1200.0 * (a / b).log2()
    }

    /// A tone with the given harmonic amplitudes and optional vibrato (depth in cents, rate in Hz).
    /// Returns the samples and the true instantaneous frequency per sample.
    fn harmonic_tone(
        f0: f32,
        amps: &[f32],
        secs: f32,
        vib_cents: f32,
        vib_hz: f32,
    ) -> (Vec<f32>, Vec<f32>) {
        let n = (SR as f32 * secs) as usize;
        let mut phase = 0.0f32;
        let mut out = Vec::with_capacity(n);
        let mut freq = Vec::with_capacity(n);
        for i in 0..n {
            let t = i as f32 / SR as f32;
            let f = f0 * 2f32.powf(vib_cents * (2.0 * PI * vib_hz * t).sin() / 1200.0);
            phase += 2.0 * PI * f / SR as f32;
            if phase > 2.0 * PI * 1000.0 {
                phase -= 2.0 * PI * 1000.0;
            }
            let x: f32 = amps
                .iter()
                .enumerate()
                .map(|(h, a)| a * ((h + 1) as f32 * phase).sin())
                .sum();
            out.push(0.3 * x);
            freq.push(f);
        }
        (out, freq)
    }

    fn assert_tracks(samples: &[f32], truth: &[f32], max_cents: f32, label: &str) {
        let tracker = PitchTracker::new(SR);
        let frames = tracker.track(samples);
        let mut checked = 0;
        for f in frames.iter().skip(2).take(frames.len().saturating_sub(4)) {
            assert!(f.voiced, "{label}: unvoiced frame at {}", f.time_s);
            let idx = (f.time_s * SR as f32) as usize;
            // Mean true frequency over the span the estimate saw (window plus one period).
            let half = (tracker.window as f32 + SR as f32 / f.hz) as usize / 2;
            let lo = idx.saturating_sub(half);
            let hi = (idx + half).min(truth.len());
            let expected = truth[lo..hi].iter().sum::<f32>() / (hi - lo) as f32;
            let err = cents(f.hz, expected).abs();
            assert!(
                err < max_cents,
                "{label}: {} Hz vs {expected} Hz ({err} cents) at {}",
                f.hz,
                f.time_s
            );
            checked += 1;
        }
        assert!(checked > 10, "{label}: too few frames");
    }

    #[test]
    fn pure_tones_80hz_to_1200hz_within_10_cents() {
        for &f0 in &[
            80.0, 110.0, 196.0, 261.63, 440.0, 659.0, 880.0, 1000.0, 1200.0,
        ] {
            let (x, truth) = harmonic_tone(f0, &[1.0], 0.5, 0.0, 0.0);
            assert_tracks(&x, &truth, 10.0, &format!("{f0} Hz sine"));
        }
    }

    #[test]
    fn a_bass_hum_and_a_childs_whistle_are_in_range() {
        // A bass humming G1–B1 with harmonics, and whistles up to 2.5 kHz (pure tones).
        for &f0 in &[50.0, 55.0, 62.0] {
            let (x, truth) = harmonic_tone(f0, &[1.0, 0.8, 0.5, 0.3], 0.6, 0.0, 0.0);
            assert_tracks(&x, &truth, 10.0, &format!("{f0} Hz bass hum"));
        }
        for &f0 in &[1600.0, 2000.0, 2500.0] {
            let (x, truth) = harmonic_tone(f0, &[1.0], 0.5, 20.0, 5.0);
            assert_tracks(&x, &truth, 15.0, &format!("{f0} Hz whistle"));
        }
    }

    #[test]
    fn vibrato_tones_within_10_cents() {
        for &f0 in &[90.0, 220.0, 523.0, 1100.0] {
            let (x, truth) = harmonic_tone(f0, &[1.0, 0.5, 0.3], 1.0, 50.0, 5.5);
            assert_tracks(&x, &truth, 10.0, &format!("{f0} Hz vibrato"));
        }
    }

    #[test]
    fn weak_fundamental_hum_is_not_an_octave_off() {
        // Hum-like: fundamental 20 dB below the second harmonic, rich upper harmonics.
        let amps = [0.1, 1.0, 0.7, 0.5, 0.35, 0.25, 0.15, 0.1];
        for &f0 in &[110.0, 150.0, 220.0, 330.0] {
            let (x, truth) = harmonic_tone(f0, &amps, 0.8, 30.0, 5.0);
            assert_tracks(&x, &truth, 20.0, &format!("{f0} Hz weak fundamental"));
        }
    }

    /// Deterministic white noise in [-1, 1) (xorshift from `seed`).
    fn white_noise(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    /// Deterministic pink-ish noise like the hum synthesizer's room (white noise plus a
    /// one-pole low-passed copy), scaled to `rms`.
    fn room_noise(n: usize, rms: f32) -> Vec<f32> {
        let mut low = 0.0f32;
        let noise: Vec<f32> = white_noise(n, 0x9E3779B97F4A7C15)
            .into_iter()
            .map(|w| {
                low += 0.05 * (w - low);
                0.5 * w + 2.0 * low
            })
            .collect();
        let have = (noise.iter().map(|x| x * x).sum::<f32>() / n as f32).sqrt();
        noise.into_iter().map(|x| x * rms / have).collect()
    }

    #[test]
    fn a_hum_in_loud_room_noise_is_not_an_octave_low() {
        // At 5 dB SNR no dip reaches the threshold, and the dip at twice the period is often
        // deeper than the period's own: the tracker must still take the period.
        let amps = [1.0, 0.6, 0.4, 0.25, 0.15];
        for &f0 in &[120.0, 165.0, 220.0, 300.0] {
            let (tone, _) = harmonic_tone(f0, &amps, 2.0, 0.0, 5.0);
            let tone_rms = (tone.iter().map(|x| x * x).sum::<f32>() / tone.len() as f32).sqrt();
            let noise = room_noise(tone.len(), tone_rms / 10f32.powf(5.0 / 20.0));
            let noisy: Vec<f32> = tone.iter().zip(&noise).map(|(a, b)| a + b).collect();
            let frames = PitchTracker::new(SR).track(&noisy);
            let voiced: Vec<f32> = frames.iter().filter(|f| f.voiced).map(|f| f.hz).collect();
            let right = voiced
                .iter()
                .filter(|&&hz| cents(hz, f0).abs() < 50.0)
                .count();
            let low = voiced
                .iter()
                .filter(|&&hz| (cents(hz, f0) + 1200.0).abs() < 50.0)
                .count();
            assert!(
                voiced.len() * 10 > frames.len() * 8,
                "{f0} Hz: {} of {} frames voiced",
                voiced.len(),
                frames.len()
            );
            assert!(
                right * 20 > voiced.len() * 17,
                "{f0} Hz: {right} of {} voiced frames right",
                voiced.len()
            );
            assert!(
                low * 10 < voiced.len(),
                "{f0} Hz: {low} of {} voiced frames an octave low",
                voiced.len()
            );
        }
    }

    #[test]
    fn the_first_dip_under_the_limit_is_walked_to_its_bottom() {
        let cmndf = [1.0, 0.9, 0.5, 0.3, 0.35, 0.8, 0.6, 0.2, 0.25, 0.9];
        assert_eq!(first_dip_below(&cmndf, 1, 9, 0.4), 3);
        assert_eq!(first_dip_below(&cmndf, 1, 9, 0.25), 7);
        assert_eq!(
            first_dip_below(&cmndf, 1, 7, 0.1),
            7,
            "none before `to`: `to` itself"
        );
    }

    #[test]
    fn silence_and_white_noise_are_unvoiced() {
        let tracker = PitchTracker::new(SR);
        assert!(tracker.track(&vec![0.0; 8000]).iter().all(|f| !f.voiced));
        let noise = white_noise(16_000, 0x2545F4914F6CDD1D);
        let frames = tracker.track(&noise);
        let voiced = frames.iter().filter(|f| f.voiced).count();
        assert!(
            voiced * 50 < frames.len(),
            "{voiced} of {} noise frames voiced",
            frames.len()
        );
    }

    #[test]
    fn parabola_vertex_is_exact_for_a_parabola() {
        let y: Vec<f32> = (0..10).map(|i| (i as f32 - 4.3).powi(2)).collect();
        assert!((parabolic_vertex(&y, 4) - 4.3).abs() < 1e-4);
    }
}
