//! The model's input: the engine's log-frequency spectrogram, turned into transposition-
//! invariant interval features.
//!
//! Why intervals: a hum and its song share a melody, not a key. For each frame `t` and lag
//! `τ`, we correlate the (whitened, normalised) spectrum at `t` with the spectrum at `t+τ`
//! shifted by `k` bins: `R[τ][k](t) = Σ_b x_t[b] · x_{t+τ}[b+k]`. Moving the whole clip up or
//! down the pitch axis leaves every `R` unchanged (exactly, away from the band edges), so key
//! invariance is built in rather than learned; the sign of `k` keeps melodic direction (up a
//! fourth differs from down a fifth), and lag 0 describes harmony and timbre.
//! Computing them is cheap (~20k multiply-adds per frame), so training and search share
//! this one function and the network itself is a fast 1-D convolution over time.

use candle_core::Tensor;

use crate::dsp::{dot, LogSpectrogram};

/// Spectrogram parameters. A model is only valid with the parameters it was trained on:
/// they are written into its model card and checked at load time.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureParams {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop: usize,
    pub fmin_hz: f32,
    pub bins_per_octave: usize,
    pub n_bins: usize,
    /// Frame lags (in frames) of the interval features; 0 is the within-frame correlation.
    pub lags: [usize; 4],
    /// Largest interval shift in bins, both directions.
    pub max_shift: usize,
    /// Frames per model window.
    pub window_frames: usize,
}

impl Default for FeatureParams {
    fn default() -> Self {
        Self {
            sample_rate: crate::audio::SAMPLE_RATE,
            n_fft: 2048,
            hop: 640, // 25 frames/s
            fmin_hz: 110.0,
            bins_per_octave: 24,
            n_bins: 120, // five octaves: A2 .. A7
            lags: [0, 3, 6, 12],
            max_shift: 24,      // one octave either way
            window_frames: 128, // 5.12 s
        }
    }
}

impl FeatureParams {
    pub fn frames_per_second(&self) -> f32 {
        self.sample_rate as f32 / self.hop as f32
    }

    /// Channels of the interval features: lag 0 is symmetric (k ≥ 0 only), other lags use
    /// both directions; each lag's profile is standardised per frame and its mean kept as one
    /// more channel (how alike the two frames are); a last channel carries frame loudness.
    pub fn channels(&self) -> usize {
        let both = 2 * self.max_shift + 1;
        self.lags
            .iter()
            .map(|&l| if l == 0 { self.max_shift + 1 } else { both })
            .sum::<usize>()
            + self.lags.len()
            + 1
    }

    pub fn window_seconds(&self) -> f32 {
        self.window_frames as f32 / self.frames_per_second()
    }

    pub fn spectrogram(&self) -> LogSpectrogram {
        LogSpectrogram::new(
            self.sample_rate,
            self.n_fft,
            self.hop,
            self.fmin_hz,
            self.bins_per_octave,
            self.n_bins,
        )
    }
}

/// A spectrogram as one flat row-major buffer: `frames × bins`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrogram {
    pub bins: usize,
    pub data: Vec<f32>,
}

impl Spectrogram {
    pub fn frames(&self) -> usize {
        if self.bins == 0 {
            0
        } else {
            self.data.len() / self.bins
        }
    }

    pub fn frame(&self, t: usize) -> &[f32] {
        &self.data[t * self.bins..(t + 1) * self.bins]
    }

    /// Compact storage: values (ln(1+100·|X|), 0..~13) in steps of 1/20.
    pub fn quantize(&self) -> Vec<u8> {
        self.data
            .iter()
            .map(|v| (v * QUANT_SCALE).round().clamp(0.0, 255.0) as u8)
            .collect()
    }

    pub fn dequantize(bins: usize, q: &[u8]) -> Self {
        Self {
            bins,
            data: q.iter().map(|&v| v as f32 / QUANT_SCALE).collect(),
        }
    }

    /// Resamples along time by `factor` (>1 = longer, i.e. slowed down), linear interpolation.
    pub fn stretch(&self, factor: f32) -> Self {
        let n = self.frames();
        let m = ((n as f32 * factor).round() as usize).max(1);
        let mut data = Vec::with_capacity(m * self.bins);
        for j in 0..m {
            let x = (j as f32 / factor).min((n.max(1) - 1) as f32);
            let (i0, frac) = (x.floor() as usize, x - x.floor());
            let i1 = (i0 + 1).min(n.saturating_sub(1));
            for b in 0..self.bins {
                let (a, c) = (self.data[i0 * self.bins + b], self.data[i1 * self.bins + b]);
                data.push(a + (c - a) * frac);
            }
        }
        Self {
            bins: self.bins,
            data,
        }
    }
}

const QUANT_SCALE: f32 = 20.0;

/// Log-frequency spectrogram of mono PCM at `params.sample_rate`.
pub fn spectrogram(params: &FeatureParams, samples: &[f32]) -> Spectrogram {
    let rows = params.spectrogram().compute(samples);
    Spectrogram {
        bins: params.n_bins,
        data: rows.into_iter().flatten().collect(),
    }
}

/// The same spectrogram as [`spectrogram`], computed as audio arrives: a 2-hour file never
/// needs its samples in memory at once.
pub struct StreamingSpectrogram {
    spec: LogSpectrogram,
    n_fft: usize,
    hop: usize,
    buf: Vec<f32>,
    /// Absolute sample index of `buf[0]`, and of the next frame's start.
    buf_start: usize,
    next: usize,
    mags: Vec<f32>,
    row: Vec<f32>,
    pub out: Spectrogram,
}

impl StreamingSpectrogram {
    pub fn new(params: &FeatureParams) -> Self {
        Self {
            spec: params.spectrogram(),
            n_fft: params.n_fft,
            hop: params.hop,
            buf: Vec::new(),
            buf_start: 0,
            next: 0,
            mags: Vec::new(),
            row: Vec::new(),
            out: Spectrogram {
                bins: params.n_bins,
                data: Vec::new(),
            },
        }
    }

    pub fn push(&mut self, samples: &[f32]) {
        self.buf.extend_from_slice(samples);
        while self.next + self.n_fft <= self.buf_start + self.buf.len() {
            let at = self.next - self.buf_start;
            self.spec.frame(
                &self.buf[at..at + self.n_fft],
                &mut self.mags,
                &mut self.row,
            );
            self.out.data.extend_from_slice(&self.row);
            self.next += self.hop;
        }
        let consumed = (self.next - self.buf_start).min(self.buf.len());
        self.buf.drain(..consumed);
        self.buf_start += consumed;
    }

    pub fn finish(mut self) -> Spectrogram {
        let total = self.buf_start + self.buf.len();
        while self.next + self.n_fft / 2 <= total && self.next < total {
            let at = self.next - self.buf_start;
            self.spec
                .frame(&self.buf[at..], &mut self.mags, &mut self.row);
            self.out.data.extend_from_slice(&self.row);
            self.next += self.hop;
        }
        self.out
    }
}

/// Half-width in bins of the envelope that whitening removes: three semitones either side,
/// wider than a harmonic peak.
const HALF: usize = 6;

/// Per-frame spectral whitening: remove the smooth envelope (timbre, formants, mic response)
/// so harmonic peaks remain, then normalise to unit length. Quiet frames stay near zero.
fn whiten(frame: &[f32], out: &mut [f32]) -> f32 {
    let n = frame.len();
    let mut energy = 0.0;
    for b in 0..n {
        let (lo, hi) = (b.saturating_sub(HALF), (b + HALF + 1).min(n));
        let mean: f32 = frame[lo..hi].iter().sum::<f32>() / (hi - lo) as f32;
        let v = (frame[b] - mean).max(0.0);
        out[b] = v;
        energy += v * v;
    }
    let norm = energy.sqrt();
    // Floor: a frame with little peak structure (silence, noise) keeps a small norm.
    let scale = 1.0 / norm.max(1.0);
    out.iter_mut().for_each(|v| *v *= scale);
    frame.iter().sum::<f32>() / n as f32
}

/// Interval features of a whole clip: `channels × frames`, channel-major (the layout a 1-D
/// convolution over time reads). Lags past the end of the clip see silence.
pub fn interval_features(params: &FeatureParams, spec: &Spectrogram) -> Vec<f32> {
    let (n, bins) = (spec.frames(), spec.bins);
    let channels = params.channels();
    let mut white = vec![0.0f32; n * bins];
    let mut loudness = vec![0.0f32; n];
    for t in 0..n {
        loudness[t] = whiten(spec.frame(t), &mut white[t * bins..(t + 1) * bins]);
    }
    let mut out = vec![0.0f32; channels * n];
    let ms = params.max_shift as isize;
    for t in 0..n {
        let x = &white[t * bins..(t + 1) * bins];
        let mut c = 0;
        for &lag in &params.lags {
            let (k_lo, k_hi) = if lag == 0 { (0, ms) } else { (-ms, ms) };
            let y = (t + lag < n).then(|| &white[(t + lag) * bins..(t + lag + 1) * bins]);
            for k in k_lo..=k_hi {
                if let Some(y) = y {
                    // Σ_b x[b]·y[b+k] over the bins where both exist.
                    let (b_lo, b_hi) = (
                        0.max(-k) as usize,
                        (bins as isize).min(bins as isize - k) as usize,
                    );
                    let shifted = (b_lo as isize + k) as usize;
                    out[c * n + t] = dot(&x[b_lo..b_hi], &y[shifted..]);
                }
                c += 1;
            }
        }
        // Standardise each lag's interval profile within the frame: the raw correlations share
        // a large positive offset that would otherwise dominate every embedding; the offset
        // itself (frame-to-frame similarity) is kept as its own channel.
        let mut g0 = 0;
        for (li, &lag) in params.lags.iter().enumerate() {
            let len = if lag == 0 {
                ms as usize + 1
            } else {
                2 * ms as usize + 1
            };
            let vals: Vec<f32> = (g0..g0 + len).map(|ci| out[ci * n + t]).collect();
            let mean = vals.iter().sum::<f32>() / len as f32;
            let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / len as f32).sqrt();
            for (j, v) in vals.iter().enumerate() {
                out[(g0 + j) * n + t] = (v - mean) / (sd + 0.05);
            }
            out[(c + li) * n + t] = mean * 4.0;
            g0 += len;
        }
        let c = c + params.lags.len();
        // Loudness relative to the clip: onsets and rests, independent of recording level.
        out[c * n + t] = loudness[t];
    }
    let max_loud = loudness.iter().cloned().fold(1e-6f32, f32::max);
    let c = channels - 1;
    for t in 0..n {
        out[c * n + t] /= max_loud;
    }
    out
}

/// The bins `b` whose products `x[b] · y[b + k]` [`interval_features`] sums for shift `k`: those
/// where both exist, except that for a downward shift it leaves out the last
/// `(bins + k) mod 8` of them — [`crate::dsp::dot`] of two slices of unequal length sums whole
/// eight-lane chunks of the shorter one only. The shipped model was trained on features made so;
/// the tensor form reproduces it (changing it means retraining).
fn counted_bins(bins: usize, k: isize) -> std::ops::Range<usize> {
    if k >= 0 {
        0..bins.saturating_sub(k as usize)
    } else {
        let lo = (-k) as usize;
        let len = bins.saturating_sub(lo);
        lo..lo + len / 8 * 8
    }
}

/// [`interval_features`] of a batch of clips as tensor ops, so that they run where the tensor
/// lives: on a GPU, training computes the hums' features beside the network instead of on the
/// CPU threads that feed it. `spec` is (clips, frames, bins), every clip zero-padded to the same
/// length (silent frames change nothing: lags past a clip's end see silence in both forms); the
/// result is (clips, channels, frames), each clip channel-major as [`interval_features`] gives it.
pub fn interval_features_tensor(
    params: &FeatureParams,
    spec: &Tensor,
) -> candle_core::Result<Tensor> {
    let (clips, n, bins) = spec.dims3()?;
    if bins % 8 != 0 {
        // `counted_bins` then no longer describes what the per-clip form sums.
        candle_core::bail!("interval features on tensors need a multiple of 8 bins, not {bins}");
    }
    let device = spec.device();
    let ms = params.max_shift;
    // Whitening: the local envelope (mean of the bins within HALF) as one band-matrix product.
    let band: Vec<f32> = (0..bins * bins)
        .map(|i| {
            let (src, dst) = (i / bins, i % bins);
            let (lo, hi) = (dst.saturating_sub(HALF), (dst + HALF + 1).min(bins));
            if (lo..hi).contains(&src) {
                1.0 / (hi - lo) as f32
            } else {
                0.0
            }
        })
        .collect();
    let band = Tensor::from_vec(band, (bins, bins), device)?;
    let flat = spec.reshape((clips * n, bins))?;
    let peaks = (&flat - flat.matmul(&band)?)?.relu()?;
    let norm = peaks.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1.0)?;
    let white = peaks.broadcast_div(&norm)?.reshape((clips, n, bins))?;
    let loudness = spec.mean(2)?; // (clips, n)
                                  // Bins padded by the largest shift either side, so every shift reads zeros past the band.
    let padded = white.pad_with_zeros(2, ms, ms)?;
    let mut channels = Vec::with_capacity(2 * params.lags.len() + 1);
    let mut similarity = Vec::with_capacity(params.lags.len());
    for &lag in &params.lags {
        let shifts: Vec<isize> = if lag == 0 {
            (0..=ms as isize).collect()
        } else {
            (-(ms as isize)..=ms as isize).collect()
        };
        // The partner frame t + lag, silence past the end.
        let partner = if lag == 0 {
            padded.clone()
        } else if lag >= n {
            padded.zeros_like()?
        } else {
            padded.narrow(1, lag, n - lag)?.pad_with_zeros(1, 0, lag)?
        };
        // R[k](t) = Σ_b x_t[b] · y[b + k]: gather y[b + k] for every (k, b), multiply, sum over b.
        // Index 0 is padding (zero), which also drops the products the per-clip form leaves out.
        let index: Vec<u32> = shifts
            .iter()
            .flat_map(|&k| {
                let counted = counted_bins(bins, k);
                (0..bins).map(move |b| {
                    if counted.contains(&b) {
                        (b as isize + k + ms as isize) as u32
                    } else {
                        0
                    }
                })
            })
            .collect();
        let index = Tensor::from_vec(index, shifts.len() * bins, device)?;
        let shifted = partner
            .index_select(&index, 2)?
            .reshape((clips, n, shifts.len(), bins))?;
        let r = shifted.broadcast_mul(&white.unsqueeze(2)?)?.sum(3)?; // (clips, n, shifts)
        let mean = r.mean_keepdim(2)?;
        let centred = r.broadcast_sub(&mean)?;
        let sd = centred.sqr()?.mean_keepdim(2)?.sqrt()?;
        channels.push(centred.broadcast_div(&(sd + 0.05)?)?);
        similarity.push((mean * 4.0)?);
    }
    channels.extend(similarity);
    let max_loudness = loudness.max_keepdim(1)?.maximum(1e-6)?;
    channels.push(loudness.broadcast_div(&max_loudness)?.unsqueeze(2)?);
    Tensor::cat(&channels, 2)?.transpose(1, 2)?.contiguous()
}

/// Windows of `params.window_frames` frames taken from channel-major features of a clip with
/// `frames` frames, starting at `starts`; a window running past the end is zero-padded.
/// Returns them concatenated, each `channels × window_frames`.
pub fn windows(
    params: &FeatureParams,
    features: &[f32],
    frames: usize,
    starts: &[usize],
) -> Vec<f32> {
    let (ch, w) = (params.channels(), params.window_frames);
    let mut out = vec![0.0f32; starts.len() * ch * w];
    for (i, &s) in starts.iter().enumerate() {
        let take = frames.saturating_sub(s).min(w);
        for c in 0..ch {
            let src = &features[c * frames + s.min(frames)..c * frames + s.min(frames) + take];
            out[(i * ch + c) * w..(i * ch + c) * w + take].copy_from_slice(src);
        }
    }
    out
}

/// Window start frames covering a clip of `frames` frames with the given hop; a clip shorter
/// than one window gets one window at 0.
pub fn window_starts(params: &FeatureParams, frames: usize, hop: usize) -> Vec<usize> {
    let w = params.window_frames;
    if frames <= w {
        return vec![0];
    }
    let mut starts: Vec<usize> = (0..=frames - w).step_by(hop.max(1)).collect();
    if starts.last() != Some(&(frames - w)) {
        starts.push(frames - w);
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::midi_to_hz;

    /// A harmonic tone sequence (MIDI notes, 0.3 s each) at 16 kHz.
    fn melody(notes: &[f32]) -> Vec<f32> {
        let sr = 16_000.0;
        let mut out = Vec::new();
        let mut phase = [0.0f32; 5];
        for &m in notes {
            let f = midi_to_hz(m);
            for _ in 0..(0.3 * sr) as usize {
                let mut s = 0.0;
                for (h, p) in phase.iter_mut().enumerate() {
                    *p += 2.0 * std::f32::consts::PI * f * (h + 1) as f32 / sr;
                    s += p.sin() / (h + 1) as f32;
                }
                out.push(0.2 * s);
            }
        }
        out
    }

    #[test]
    fn tensor_features_equal_the_per_clip_ones() {
        let p = FeatureParams::default();
        let clips = [
            spectrogram(&p, &melody(&[60.0, 64.0, 67.0, 72.0, 71.0, 67.0])),
            // Shorter, so it is zero-padded in the batch; and louder.
            Spectrogram {
                bins: p.n_bins,
                data: spectrogram(&p, &melody(&[55.0, 53.0, 57.0]))
                    .data
                    .iter()
                    .map(|v| v * 1.7)
                    .collect(),
            },
        ];
        // And one with energy up to the top bin (noise-like), where every bin's product counts.
        let mut x = 7u32;
        let noisy = Spectrogram {
            bins: p.n_bins,
            data: (0..60 * p.n_bins)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    2.0 + (x % 1000) as f32 / 150.0
                })
                .collect(),
        };
        let clips = [clips[0].clone(), clips[1].clone(), noisy];
        let n = clips.iter().map(|c| c.frames()).max().unwrap();
        let mut batch = vec![0.0f32; clips.len() * n * p.n_bins];
        for (i, c) in clips.iter().enumerate() {
            batch[i * n * p.n_bins..i * n * p.n_bins + c.data.len()].copy_from_slice(&c.data);
        }
        let device = candle_core::Device::Cpu;
        let batch = Tensor::from_vec(batch, (clips.len(), n, p.n_bins), &device).unwrap();
        let on_tensors = interval_features_tensor(&p, &batch).unwrap();
        assert_eq!(on_tensors.dims(), &[clips.len(), p.channels(), n]);
        for (i, c) in clips.iter().enumerate() {
            let want = interval_features(&p, c);
            let got: Vec<Vec<f32>> = on_tensors.get(i).unwrap().to_vec2().unwrap();
            let mut worst = 0.0f32;
            for ch in 0..p.channels() {
                for t in 0..n {
                    // Past the clip's end the padded batch must read as silence.
                    let expected = if t < c.frames() {
                        want[ch * c.frames() + t]
                    } else {
                        0.0
                    };
                    worst = worst.max((got[ch][t] - expected).abs());
                }
            }
            assert!(worst < 1e-3, "clip {i}: largest difference {worst}");
        }
    }

    #[test]
    fn channel_count_matches_layout() {
        let p = FeatureParams::default();
        assert_eq!(p.channels(), 25 + 3 * 49 + 4 + 1);
        let spec = spectrogram(&p, &melody(&[60.0, 64.0]));
        let f = interval_features(&p, &spec);
        assert_eq!(f.len(), p.channels() * spec.frames());
    }

    #[test]
    fn transposed_melody_has_nearly_the_same_features() {
        let p = FeatureParams::default();
        let tune = [60.0, 62.0, 64.0, 65.0, 67.0, 64.0, 60.0, 62.0];
        let up: Vec<f32> = tune.iter().map(|m| m + 5.0).collect();
        let other = [60.0, 67.0, 59.0, 65.0, 60.0, 69.0, 62.0, 71.0];
        let f = |notes: &[f32]| interval_features(&p, &spectrogram(&p, &melody(notes)));
        let (a, b, c) = (f(&tune), f(&up), f(&other));
        let dist = |x: &[f32], y: &[f32]| {
            x.iter()
                .zip(y)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        let (same, diff) = (dist(&a, &b), dist(&a, &c));
        assert!(same < 0.35 * diff, "transposed {same}, other melody {diff}");
    }

    #[test]
    fn rising_and_falling_intervals_differ() {
        // Up a fourth vs down a fifth: the same pitch class, opposite direction.
        let p = FeatureParams::default();
        let f = |notes: &[f32]| interval_features(&p, &spectrogram(&p, &melody(notes)));
        let (up, down) = (f(&[60.0, 65.0, 60.0, 65.0]), f(&[60.0, 53.0, 60.0, 53.0]));
        let dist: f32 = up
            .iter()
            .zip(&down)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f32>()
            .sqrt();
        let norm: f32 = up.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!(dist > 0.2 * norm, "{dist} vs {norm}");
    }

    #[test]
    fn quantisation_and_stretch_preserve_shape() {
        let p = FeatureParams::default();
        let spec = spectrogram(&p, &melody(&[60.0, 64.0, 67.0]));
        let back = Spectrogram::dequantize(spec.bins, &spec.quantize());
        let err = spec
            .data
            .iter()
            .zip(&back.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err <= 0.5 / QUANT_SCALE + 1e-6, "{err}");
        let slow = spec.stretch(1.5);
        assert_eq!(slow.frames(), (spec.frames() as f32 * 1.5).round() as usize);
        assert_eq!(spec.stretch(1.0), spec);
    }

    #[test]
    fn streaming_spectrogram_equals_the_whole_clip_one() {
        let p = FeatureParams::default();
        let audio = melody(&[60.0, 64.0, 67.0, 72.0]);
        let whole = spectrogram(&p, &audio);
        let mut s = StreamingSpectrogram::new(&p);
        for chunk in audio.chunks(1000) {
            s.push(chunk);
        }
        assert_eq!(s.finish(), whole);
    }

    #[test]
    fn windows_cover_the_clip_and_pad_short_ones() {
        let p = FeatureParams::default();
        assert_eq!(window_starts(&p, 100, 25), vec![0]);
        let s = window_starts(&p, 300, 25);
        assert_eq!(s.first(), Some(&0));
        assert_eq!(s.last(), Some(&172));
        let feats = vec![1.0f32; p.channels() * 100];
        let w = windows(&p, &feats, 100, &[0]);
        assert_eq!(w.len(), p.channels() * p.window_frames);
        assert_eq!(w[99], 1.0);
        assert_eq!(w[100], 0.0);
    }
}
