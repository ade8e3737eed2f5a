//! STFT and a log-frequency (constant-Q-like) spectrogram built from it.

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

pub fn hann_window(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / len as f32).cos())
        .collect()
}

/// Magnitude STFT of fixed size, one frame at a time.
pub struct Stft {
    pub n_fft: usize,
    window: Vec<f32>,
    fft: Arc<dyn Fft<f32>>,
    buf: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

impl Stft {
    pub fn new(n_fft: usize) -> Self {
        let fft = FftPlanner::new().plan_fft_forward(n_fft);
        let scratch = vec![Complex32::default(); fft.get_inplace_scratch_len()];
        Self {
            n_fft,
            window: hann_window(n_fft),
            fft,
            buf: vec![Complex32::default(); n_fft],
            scratch,
        }
    }

    /// Magnitudes of bins 0..=n_fft/2 of one windowed frame (zero-padded if short).
    pub fn magnitudes(&mut self, frame: &[f32], out: &mut Vec<f32>) {
        for (i, slot) in self.buf.iter_mut().enumerate() {
            let x = frame.get(i).copied().unwrap_or(0.0);
            *slot = Complex32::new(x * self.window[i], 0.0);
        }
        self.fft
            .process_with_scratch(&mut self.buf, &mut self.scratch);
        out.clear();
        out.extend(self.buf[..=self.n_fft / 2].iter().map(|c| c.norm()));
    }

    /// Frequency of bin `k` at `sample_rate`.
    pub fn bin_hz(&self, k: f32, sample_rate: u32) -> f32 {
        k * sample_rate as f32 / self.n_fft as f32
    }
}

/// Log-frequency spectrogram: STFT magnitudes pooled into bands equally spaced in pitch
/// (`bins_per_octave` from `fmin`), log-compressed. The learned model and the app's live
/// display both read this.
pub struct LogSpectrogram {
    pub stft: Stft,
    pub hop: usize,
    pub n_bins: usize,
    pub sample_rate: u32,
    /// For each output band, the STFT bins and weights that feed it (triangular in log-frequency).
    filters: Vec<Vec<(usize, f32)>>,
}

impl LogSpectrogram {
    pub fn new(
        sample_rate: u32,
        n_fft: usize,
        hop: usize,
        fmin: f32,
        bins_per_octave: usize,
        n_bins: usize,
    ) -> Self {
        let stft = Stft::new(n_fft);
        let bin_hz = sample_rate as f32 / n_fft as f32;
        let center = |b: f32| fmin * 2f32.powf(b / bins_per_octave as f32);
        let filters = (0..n_bins)
            .map(|b| {
                let (lo, mid, hi) = (
                    center(b as f32 - 1.0),
                    center(b as f32),
                    center(b as f32 + 1.0),
                );
                // At low frequencies a band is narrower than an FFT bin: always take the nearest bin.
                let nearest = (mid / bin_hz).round() as usize;
                let mut taps: Vec<(usize, f32)> = ((lo / bin_hz).floor() as usize
                    ..=(hi / bin_hz).ceil() as usize)
                    .filter_map(|k| {
                        let f = k as f32 * bin_hz;
                        let w = if f <= mid {
                            (f - lo) / (mid - lo)
                        } else {
                            (hi - f) / (hi - mid)
                        };
                        (w > 0.0).then_some((k, w))
                    })
                    .collect();
                if taps.is_empty() {
                    taps.push((nearest, 1.0));
                }
                let total: f32 = taps.iter().map(|t| t.1).sum();
                taps.iter_mut().for_each(|t| t.1 /= total);
                taps
            })
            .collect();
        Self {
            stft,
            hop,
            n_bins,
            sample_rate,
            filters,
        }
    }

    /// Centre frequency of band `b`.
    pub fn band_hz(&self, fmin: f32, bins_per_octave: usize, b: usize) -> f32 {
        fmin * 2f32.powf(b as f32 / bins_per_octave as f32)
    }

    /// Log-magnitude bands of one frame: ln(1 + 100 * magnitude).
    pub fn frame(&mut self, frame: &[f32], mags: &mut Vec<f32>, out: &mut Vec<f32>) {
        self.stft.magnitudes(frame, mags);
        out.clear();
        out.extend(self.filters.iter().map(|taps| {
            let e: f32 = taps
                .iter()
                .map(|&(k, w)| mags.get(k).copied().unwrap_or(0.0) * w)
                .sum();
            (1.0 + 100.0 * e).ln()
        }));
    }

    /// Spectrogram of a whole clip: frames are `hop` apart, one row of `n_bins` per frame.
    pub fn compute(&mut self, samples: &[f32]) -> Vec<Vec<f32>> {
        let n = self.stft.n_fft;
        let mut mags = Vec::new();
        let mut rows = Vec::new();
        let mut start = 0;
        while start + n / 2 <= samples.len().max(n / 2)
            && (start < samples.len() || rows.is_empty())
        {
            let end = (start + n).min(samples.len());
            let mut row = Vec::with_capacity(self.n_bins);
            self.frame(&samples[start..end], &mut mags, &mut row);
            rows.push(row);
            start += self.hop;
        }
        rows
    }
}

/// Gains (dB) of an equaliser over log-frequency bands, `bins_per_octave` apart: a tilt of
/// `tilt_db_per_octave` about the middle band, plus a bell of `bell_db` at band `bell_centre`
/// whose gain falls off over `bell_octaves` (a Gaussian in octaves). Used to train the melody
/// tracker on timbres brighter and duller than its SoundFonts' (a piano whose upper partials are
/// weaker than FluidR3's, a mix through a different EQ).
pub fn equaliser_gains_db(
    bins: usize,
    bins_per_octave: usize,
    tilt_db_per_octave: f32,
    bell_centre: f32,
    bell_db: f32,
    bell_octaves: f32,
) -> Vec<f32> {
    let middle = (bins as f32 - 1.0) / 2.0;
    (0..bins)
        .map(|b| {
            let octaves = (b as f32 - middle) / bins_per_octave as f32;
            let from_bell = (b as f32 - bell_centre) / bins_per_octave as f32;
            tilt_db_per_octave * octaves
                + bell_db * (-0.5 * (from_bell / bell_octaves.max(1e-3)).powi(2)).exp()
        })
        .collect()
}

/// One frame of [`LogSpectrogram`] bands (ln(1 + 100 * magnitude)) as if each band's magnitude
/// had been scaled by `gains_db`: exact on that scale, so silence stays silent.
pub fn equalise_log_bands(bands: &mut [f32], gains_db: &[f32]) {
    for (v, &g) in bands.iter_mut().zip(gains_db) {
        let magnitude_x100 = v.exp_m1();
        *v = (magnitude_x100 * 10f32.powf(g / 20.0)).ln_1p();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, secs: f32) -> Vec<f32> {
        (0..(16_000.0 * secs) as usize)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / 16_000.0).sin())
            .collect()
    }

    #[test]
    fn stft_peak_is_at_tone_frequency() {
        let mut stft = Stft::new(2048);
        let mut mags = Vec::new();
        stft.magnitudes(&tone(1000.0, 0.2), &mut mags);
        let peak = mags
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert!((stft.bin_hz(peak as f32, 16_000) - 1000.0).abs() < 8.0);
    }

    #[test]
    fn log_spectrogram_band_matches_pitch() {
        // 36 bands per octave from 55 Hz: 440 Hz is 3 octaves up, band 108.
        let mut spec = LogSpectrogram::new(16_000, 2048, 320, 55.0, 36, 180);
        let rows = spec.compute(&tone(440.0, 1.0));
        assert!(rows.len() >= 45);
        let row = &rows[20];
        let peak = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert!((peak as i32 - 108).abs() <= 1, "peak band {peak}");
        assert!((spec.band_hz(55.0, 36, 108) - 440.0).abs() < 0.5);
    }

    #[test]
    fn silence_gives_zero_spectrogram() {
        let mut spec = LogSpectrogram::new(16_000, 1024, 160, 55.0, 36, 100);
        let rows = spec.compute(&vec![0.0; 8000]);
        assert!(rows.iter().flatten().all(|&v| v == 0.0));
    }

    #[test]
    fn equaliser_tilts_about_the_middle_and_adds_a_bell() {
        let flat = equaliser_gains_db(49, 24, 0.0, 0.0, 0.0, 1.0);
        assert!(flat.iter().all(|&g| g == 0.0));
        let tilt = equaliser_gains_db(49, 24, -6.0, 0.0, 0.0, 1.0);
        assert!((tilt[24]).abs() < 1e-6, "the middle band keeps its level");
        assert!((tilt[48] + 6.0).abs() < 1e-4 && (tilt[0] - 6.0).abs() < 1e-4);
        let bell = equaliser_gains_db(73, 24, 0.0, 12.0, 9.0, 0.5);
        assert!((bell[12] - 9.0).abs() < 1e-4);
        assert!(
            (bell[36] - 9.0 * (-2f32).exp()).abs() < 1e-3,
            "an octave: two widths away"
        );
        assert!(bell[60] < 0.01, "two octaves away the bell is gone");
    }

    #[test]
    fn equalising_log_bands_scales_magnitudes_and_keeps_silence() {
        let magnitude = 0.5f32;
        let mut bands = vec![(1.0 + 100.0 * magnitude).ln(), 0.0];
        equalise_log_bands(&mut bands, &[20.0, 20.0]);
        assert!((bands[0] - (1.0 + 1000.0 * magnitude).ln()).abs() < 1e-4);
        assert_eq!(bands[1], 0.0);
        let before = bands[0];
        equalise_log_bands(&mut bands, &[-20.0, 0.0]);
        assert!(bands[0] < before && (bands[0] - (1.0 + 100.0 * magnitude).ln()).abs() < 1e-3);
    }
}
