//! Streaming mono resampling with rubato's synchronous FFT resampler.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

const CHUNK: usize = 1024;

/// Resamples a mono stream chunk by chunk, so memory stays bounded whatever the input length.
pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    pending: Vec<f32>,
    out_buf: Vec<f32>,
    /// Output frames still to drop: the resampler's delay, so output starts at time zero.
    to_trim: usize,
    /// Output frames expected in total for the input seen so far (ratio * input).
    expected_total: f64,
    emitted: usize,
    ratio: f64,
}

impl StreamResampler {
    pub fn new(input_rate: u32, output_rate: u32) -> Result<Self, String> {
        if input_rate == 0 {
            return Err("input sample rate is zero".into());
        }
        let inner = if input_rate == output_rate {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    input_rate as usize,
                    output_rate as usize,
                    CHUNK,
                    1,
                    FixedSync::Input,
                )
                .map_err(|e| e.to_string())?,
            )
        };
        let out_max = inner.as_ref().map_or(0, |r| r.output_frames_max());
        let to_trim = inner.as_ref().map_or(0, |r| r.output_delay());
        Ok(Self {
            inner,
            pending: Vec::with_capacity(CHUNK * 2),
            out_buf: vec![0.0; out_max],
            to_trim,
            expected_total: 0.0,
            emitted: 0,
            ratio: output_rate as f64 / input_rate as f64,
        })
    }

    /// Feeds input samples; resampled output is passed to `sink` as it becomes available.
    pub fn push(&mut self, input: &[f32], sink: &mut dyn FnMut(&[f32])) {
        self.expected_total += input.len() as f64 * self.ratio;
        let Some(_) = self.inner else {
            self.emitted += input.len();
            sink(input);
            return;
        };
        self.pending.extend_from_slice(input);
        let mut start = 0;
        while self.pending.len() - start >= CHUNK {
            self.run_chunk(start, None, sink);
            start += CHUNK;
        }
        self.pending.drain(..start);
    }

    /// Flushes what is buffered, padding with silence, and trims to the exact expected length.
    pub fn finish(&mut self, sink: &mut dyn FnMut(&[f32])) {
        if self.inner.is_none() {
            return;
        }
        let total = self.expected_total.round() as usize;
        // Pending input first, then silence until the delay is flushed out.
        let mut guard = 0;
        while self.emitted < total && guard < 64 {
            let partial = self.pending.len().min(CHUNK);
            self.pending.resize(CHUNK, 0.0);
            self.run_chunk_limited(partial, total, sink);
            self.pending.clear();
            guard += 1;
        }
    }

    fn run_chunk(&mut self, start: usize, _partial: Option<usize>, sink: &mut dyn FnMut(&[f32])) {
        let resampler = self.inner.as_mut().expect("only called when resampling");
        let input = InterleavedSlice::new(&self.pending[start..start + CHUNK], 1, CHUNK)
            .expect("chunk has CHUNK frames");
        let out_len = self.out_buf.len();
        let mut output =
            InterleavedSlice::new_mut(&mut self.out_buf, 1, out_len).expect("sized to max");
        let (_, produced) = resampler
            .process_into_buffer(&input, &mut output, None)
            .expect("buffers are sized from the resampler's own limits");
        let trim = self.to_trim.min(produced);
        self.to_trim -= trim;
        if produced > trim {
            self.emitted += produced - trim;
            sink(&self.out_buf[trim..produced]);
        }
    }

    fn run_chunk_limited(&mut self, partial: usize, total: usize, sink: &mut dyn FnMut(&[f32])) {
        let resampler = self.inner.as_mut().expect("only called when resampling");
        let input = InterleavedSlice::new(&self.pending[..CHUNK], 1, CHUNK)
            .expect("chunk has CHUNK frames");
        let out_len = self.out_buf.len();
        let mut output =
            InterleavedSlice::new_mut(&mut self.out_buf, 1, out_len).expect("sized to max");
        let indexing = Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: Some(partial),
            active_channels_mask: None,
        };
        let (_, produced) = resampler
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .expect("buffers are sized from the resampler's own limits");
        let trim = self.to_trim.min(produced);
        self.to_trim -= trim;
        let available = produced - trim;
        let wanted = total.saturating_sub(self.emitted).min(available);
        if wanted > 0 {
            self.emitted += wanted;
            sink(&self.out_buf[trim..trim + wanted]);
        }
    }
}

/// Resamples a whole buffer (convenience for short clips).
pub fn resample_all(input: &[f32], input_rate: u32, output_rate: u32) -> Result<Vec<f32>, String> {
    let mut r = StreamResampler::new(input_rate, output_rate)?;
    let mut out = Vec::with_capacity((input.len() as f64 * r.ratio) as usize + CHUNK);
    r.push(input, &mut |s| out.extend_from_slice(s));
    r.finish(&mut |s| out.extend_from_slice(s));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn resampling_keeps_length_and_frequency() {
        let input = tone(440.0, 44_100, 2.0);
        let out = resample_all(&input, 44_100, 16_000).unwrap();
        assert_eq!(out.len(), 32_000);
        // Zero crossings per second give the frequency back.
        let body = &out[1000..31_000];
        let crossings = body
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        let freq = crossings as f32 / (body.len() as f32 / 16_000.0);
        assert!((freq - 440.0).abs() < 2.0, "got {freq}");
        // Aligned in time: compare with a tone generated directly at 16 kHz.
        let direct = tone(440.0, 16_000, 2.0);
        let err: f32 = body
            .iter()
            .zip(&direct[1000..31_000])
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / body.len() as f32;
        assert!(err < 0.05, "mean abs error {err}");
    }

    #[test]
    fn same_rate_is_passthrough() {
        let input = tone(300.0, 16_000, 0.5);
        assert_eq!(resample_all(&input, 16_000, 16_000).unwrap(), input);
    }
}
