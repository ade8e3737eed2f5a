//! Oscillators and envelopes shared by the song and hum synthesizers.

use std::f32::consts::PI;

/// One cycle of a harmonic waveform, band-limited below `nyquist` for fundamental `f0`.
pub fn harmonic_table(amps: &[f32], f0: f32, nyquist: f32) -> Vec<f32> {
    const LEN: usize = 2048;
    let max_h = ((nyquist * 0.95) / f0.max(1.0)).floor() as usize;
    let mut table = vec![0.0f32; LEN];
    for (h, &a) in amps.iter().enumerate().take(max_h.max(1)) {
        if a == 0.0 {
            continue;
        }
        let k = (h + 1) as f32;
        for (i, v) in table.iter_mut().enumerate() {
            *v += a * (2.0 * PI * k * i as f32 / LEN as f32).sin();
        }
    }
    table
}

/// Reads a cycle table at a phase in cycles (any value; wraps), with linear interpolation.
#[inline]
pub fn table_read(table: &[f32], phase: f32) -> f32 {
    let len = table.len() as f32;
    let pos = (phase - phase.floor()) * len;
    let i = pos as usize % table.len();
    let frac = pos - pos.floor();
    let j = (i + 1) % table.len();
    table[i] * (1.0 - frac) + table[j] * frac
}

/// Linear attack / exponential-ish decay to sustain / linear release envelope value at `t`
/// seconds into a note of `dur` seconds (release happens after `dur`).
pub fn adsr(t: f32, dur: f32, attack: f32, decay: f32, sustain: f32, release: f32) -> f32 {
    let body = if t < attack {
        t / attack
    } else if t < attack + decay {
        1.0 - (1.0 - sustain) * (t - attack) / decay
    } else {
        sustain
    };
    if t <= dur {
        body
    } else if t < dur + release {
        body * (1.0 - (t - dur) / release)
    } else {
        0.0
    }
}

/// Magnitude response at `f` (Hz) of a cascade of second-order resonators, one per formant
/// (centre Hz, bandwidth Hz, extra gain), normalised to unit gain at DC like a vocal tract.
pub fn formant_gain(f: f32, formants: &[(f32, f32, f32)]) -> f32 {
    formants
        .iter()
        .map(|&(fc, bw, g)| {
            let (fc2, f2) = (fc * fc, f * f);
            let h = fc2 / ((fc2 - f2).powi(2) + (f * bw).powi(2)).sqrt();
            // `g` tilts a formant's prominence without changing the DC gain much.
            1.0 + (h - 1.0) * g
        })
        .product()
}

/// One-pole low-pass filter state.
#[derive(Default, Clone, Copy)]
pub struct OnePole {
    y: f32,
}

impl OnePole {
    #[inline]
    pub fn low(&mut self, x: f32, coeff: f32) -> f32 {
        self.y += coeff * (x - self.y);
        self.y
    }
}

/// Adds a simple feedback-comb reverb in place (a few combs; cheap and good enough for tests).
pub fn reverb(samples: &mut [f32], rate: u32, wet: f32, decay_s: f32) {
    if wet <= 0.0 {
        return;
    }
    let delays = [0.0297, 0.0371, 0.0411, 0.0437];
    let dry: Vec<f32> = samples.to_vec();
    let mut out = vec![0.0f32; samples.len()];
    for &d in &delays {
        let n = (d * rate as f32) as usize;
        let g = 10f32.powf(-3.0 * d / decay_s.max(0.05));
        let mut buf = vec![0.0f32; samples.len()];
        for i in 0..samples.len() {
            let fb = if i >= n { buf[i - n] } else { 0.0 };
            buf[i] = dry[i] + g * fb;
            out[i] += buf[i];
        }
    }
    let scale = wet / delays.len() as f32;
    for (s, o) in samples.iter_mut().zip(&out) {
        *s = *s * (1.0 - wet * 0.5) + o * scale;
    }
}

/// Scales to the given peak level.
pub fn normalize_peak(samples: &mut [f32], peak: f32) {
    let m = samples.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
    if m > 0.0 {
        let g = peak / m;
        samples.iter_mut().for_each(|s| *s *= g);
    }
}

pub fn rms(samples: &[f32]) -> f32 {
    (samples.iter().map(|x| x * x).sum::<f32>() / samples.len().max(1) as f32).sqrt()
}
