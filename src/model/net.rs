//! The embedding network: 1-D convolutions over time on interval features, residual blocks
//! that halve the time resolution, mean+max pooling over time, a linear projection and L2
//! normalisation. Only matmul-backed 1-D convolutions: fast to train on a CPU (see
//! ../shared/MEASURED.md — candle's CPU conv2d is ~20x slower).

use candle_core::{Module, Result, Tensor, D};
use candle_nn::{linear, linear_no_bias, Linear, VarBuilder};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetConfig {
    pub in_channels: usize,
    pub hidden: usize,
    pub blocks: usize,
    pub embedding_dim: usize,
}

/// A 1-D convolution over time ("same" padding, stride 1) written as one matrix product per
/// tap (on the CPU) or as unfold + one matrix product (elsewhere) on time-major tensors
/// (batch, time, channels): only ops whose backward pass is plain matmul and slicing.
pub(crate) struct TimeConv {
    taps: usize,
    /// Frames between neighbouring taps (1: a plain convolution).
    dilation: usize,
    linear: Linear,
}

impl TimeConv {
    pub(crate) fn new(inputs: usize, outputs: usize, taps: usize, vb: VarBuilder) -> Result<Self> {
        Self::dilated(inputs, outputs, taps, 1, vb)
    }

    /// A convolution whose taps are `dilation` frames apart: the same weights reach
    /// `dilation` times further.
    pub(crate) fn dilated(
        inputs: usize,
        outputs: usize,
        taps: usize,
        dilation: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            taps,
            dilation: dilation.max(1),
            linear: linear(taps * inputs, outputs, vb)?,
        })
    }

    /// Frames either side of an output frame that it reads.
    pub(crate) fn reach(&self) -> usize {
        self.taps / 2 * self.dilation
    }

    /// The same weights as a conv1d kernel (out, in, taps): the unfolded input's channel index
    /// is `tap * in + channel`.
    fn conv_kernel(&self) -> Result<(Tensor, Option<Tensor>)> {
        let w = self.linear.weight();
        let (out, taps_in) = w.dims2()?;
        let kernel = w
            .reshape((out, self.taps, taps_in / self.taps))?
            .transpose(1, 2)?
            .contiguous()?;
        let bias = match self.linear.bias() {
            Some(b) => Some(b.reshape((1, out, 1))?),
            None => None,
        };
        Ok((kernel, bias))
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() {
            self.forward_per_tap(x)
        } else {
            // The form the GPU figures were measured with (docs/MEASURED.md, "On an H200").
            self.forward_unfolded(x)
        }
    }

    /// One matrix product per tap: the batch as one long sequence with `pad` zero frames around
    /// every item, so that tap j of every output row is one contiguous slice of it (no unfolded
    /// copy of the input). 1.55x the unfolded form's training throughput on a 2-core CPU.
    fn forward_per_tap(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, c) = x.dims3()?;
        let pad = self.reach();
        let rows = b * (t + 2 * pad);
        let flat = x.pad_with_zeros(1, pad, pad)?.reshape((rows, c))?;
        let weight = self.linear.weight();
        let mut y: Option<Tensor> = None;
        for j in 0..self.taps {
            let tap = flat
                .narrow(0, j * self.dilation, rows - 2 * pad)?
                .matmul(&weight.narrow(1, j * c, c)?.contiguous()?.t()?)?;
            y = Some(match y {
                None => tap,
                Some(sum) => (sum + tap)?,
            });
        }
        let Some(y) = y else {
            candle_core::bail!("a convolution needs at least one tap");
        };
        let out = y.dim(1)?;
        // Output row i·(t + 2·pad) + f is item i's frame f; the rows between items are dropped.
        let y = y
            .pad_with_zeros(0, 0, 2 * pad)?
            .reshape((b, t + 2 * pad, out))?
            .narrow(1, 0, t)?;
        match self.linear.bias() {
            Some(bias) => y.broadcast_add(bias),
            None => Ok(y),
        }
    }

    /// Unfold (the taps side by side, by `cat`) and one matrix product.
    fn forward_unfolded(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, c) = x.dims3()?;
        let pad = self.reach();
        let zeros = Tensor::zeros((b, pad, c), x.dtype(), x.device())?;
        let padded = Tensor::cat(&[&zeros, x, &zeros], 1)?;
        let shifted: Vec<Tensor> = (0..self.taps)
            .map(|j| padded.narrow(1, j * self.dilation, t))
            .collect::<Result<_>>()?;
        let unfolded = Tensor::cat(&shifted, 2)?.reshape((b * t, self.taps * c))?;
        // One 2-D matmul for the whole batch (Linear on 3-D input broadcasts the weights per item).
        let y = self.linear.forward(&unfolded)?;
        y.reshape((b, t, ()))
    }
}

struct Block {
    a: TimeConv,
    b: TimeConv,
}

pub struct MelodyNet {
    input: TimeConv,
    blocks: Vec<Block>,
    proj: Linear,
    pub config: NetConfig,
}

impl MelodyNet {
    pub fn new(config: NetConfig, vb: VarBuilder) -> Result<Self> {
        let input = TimeConv::new(config.in_channels, config.hidden, 3, vb.pp("input"))?;
        let blocks = (0..config.blocks)
            .map(|i| {
                let vb = vb.pp(format!("block{i}"));
                Ok(Block {
                    a: TimeConv::new(config.hidden, config.hidden, 3, vb.pp("a"))?,
                    b: TimeConv::new(config.hidden, config.hidden, 3, vb.pp("b"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let proj = linear_no_bias(2 * config.hidden, config.embedding_dim, vb.pp("proj"))?;
        Ok(Self {
            input,
            blocks,
            proj,
            config,
        })
    }

    /// `x`: (batch, channels, frames) → (batch, embedding_dim), unit length.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, TimeConv::forward)
    }

    /// [`MelodyNet::forward`] with the convolutions computed by `conv` (one of [`TimeConv`]'s
    /// forms).
    fn forward_with(
        &self,
        x: &Tensor,
        conv: fn(&TimeConv, &Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let x = x.transpose(1, 2)?.contiguous()?; // time-major from here on
                                                  // Interval features already span up to half a second: 12.5 frames/s is enough inside.
        let mut h = halve_time(&conv(&self.input, &x)?.relu()?)?;
        for block in &self.blocks {
            let r = conv(&block.b, &conv(&block.a, &h)?.relu()?)?;
            h = (h + r)?.relu()?;
            h = halve_time(&h)?;
        }
        embedding_head(&Tensor::cat(&[h.mean(1)?, h.max(1)?], 1)?, &self.proj)
    }
}

/// Inference-only form of [`MelodyNet`] with the same weights, using candle's conv1d forward
/// (about 3x faster on a CPU than unfold + matmul; its backward pass did not train here, which
/// is why training uses the other form). Channel-major (batch, channels, time) throughout.
pub struct FastMelodyNet {
    input: (Tensor, Option<Tensor>),
    blocks: Vec<[(Tensor, Option<Tensor>); 2]>,
    proj: Linear,
}

impl FastMelodyNet {
    pub fn new(net: &MelodyNet) -> Result<Self> {
        Ok(Self {
            input: net.input.conv_kernel()?,
            blocks: net
                .blocks
                .iter()
                .map(|b| Ok([b.a.conv_kernel()?, b.b.conv_kernel()?]))
                .collect::<Result<_>>()?,
            proj: net.proj.clone(),
        })
    }

    fn conv(x: &Tensor, (kernel, bias): &(Tensor, Option<Tensor>)) -> Result<Tensor> {
        let pad = kernel.dim(2)? / 2;
        let y = x.conv1d(kernel, pad, 1, 1, 1)?;
        match bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }

    /// `x`: (batch, channels, frames) → (batch, embedding_dim), unit length.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.contiguous()?;
        let mut h = halve_time_cm(&Self::conv(&x, &self.input)?.relu()?)?;
        for [a, b] in &self.blocks {
            let r = Self::conv(&Self::conv(&h, a)?.relu()?, b)?;
            h = halve_time_cm(&(h + r)?.relu()?)?;
        }
        embedding_head(&Tensor::cat(&[h.mean(2)?, h.max(2)?], 1)?, &self.proj)
    }
}

/// Inference form for the CPU, without candle: the same weights as plain arrays, each 1-D
/// convolution one single-threaded matrix product (gemm) over the padded, time-major input.
/// A query embeds a few dozen windows; candle splits each of their small products over threads,
/// which costs more than it gains (docs/MEASURED.md "Scale"), so here whole windows go to the
/// cores instead ([`Self::embed_many`]).
pub struct CpuMelodyNet {
    input: CpuConv,
    blocks: Vec<[CpuConv; 2]>,
    /// (embedding_dim × 2·hidden), row-major.
    proj: Vec<f32>,
    embedding_dim: usize,
}

pub(crate) struct CpuConv {
    inputs: usize,
    pub(crate) outputs: usize,
    taps: usize,
    /// Frames between neighbouring taps ([`TimeConv`]'s).
    dilation: usize,
    /// (outputs × taps·inputs), row-major; column `tap·inputs + channel` ([`TimeConv`]'s layout).
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl CpuConv {
    pub(crate) fn new(conv: &TimeConv) -> Result<Self> {
        let w = conv.linear.weight();
        let (outputs, taps_in) = w.dims2()?;
        if conv.taps % 2 == 0 || taps_in % conv.taps != 0 {
            candle_core::bail!("a convolution needs an odd number of taps");
        }
        Ok(Self {
            inputs: taps_in / conv.taps,
            outputs,
            taps: conv.taps,
            dilation: conv.dilation,
            weight: w.flatten_all()?.to_vec1::<f32>()?,
            bias: match conv.linear.bias() {
                Some(b) => b.to_vec1::<f32>()?,
                None => vec![0.0; outputs],
            },
        })
    }

    /// `x`: `frames × inputs`, time-major → `out`: `frames × outputs` ("same" zero padding).
    pub(crate) fn forward(
        &self,
        x: &[f32],
        frames: usize,
        padded: &mut Vec<f32>,
        out: &mut Vec<f32>,
    ) {
        let (c, k) = (self.inputs, self.taps * self.inputs);
        let pad = self.taps / 2 * self.dilation;
        assert!(x.len() >= frames * c, "input shorter than its frames");
        padded.clear();
        padded.resize(pad * c, 0.0);
        padded.extend_from_slice(&x[..frames * c]);
        padded.resize((frames + 2 * pad) * c, 0.0);
        out.clear();
        for _ in 0..frames {
            out.extend_from_slice(&self.bias);
        }
        if frames == 0 {
            return;
        }
        // Taps next to each other (dilation 1): out[t][o] += Σ_j padded[t·c + j] · weight[o][j]
        // for j < taps·c, one product: frame t's unfolded input is the padded rows from t on,
        // so the left matrix is `padded` read with a row stride of one frame (rows overlap),
        // and no unfolded copy is made. Taps further apart: one product per tap, frame t of
        // tap j reading padded frame t + j·dilation against weight columns j·c..(j+1)·c.
        let (products, depth) = if self.dilation == 1 {
            (1, k)
        } else {
            (self.taps, c)
        };
        for tap in 0..products {
            // SAFETY: the largest index read from `padded` is (frames-1)·c + k-1 (one product)
            // or (frames-1 + (taps-1)·dilation)·c + c-1 (per tap), both < (frames+2·pad)·c;
            // from `weight` (outputs-1)·k + k-1 < outputs·k; written to `out`
            // frames·outputs - 1; `out` aliases neither input.
            unsafe {
                gemm::gemm(
                    frames,
                    self.outputs,
                    depth,
                    out.as_mut_ptr(),
                    1,
                    self.outputs as isize,
                    true,
                    padded.as_ptr().add(tap * self.dilation * c),
                    1,
                    c as isize,
                    self.weight.as_ptr().add(tap * c),
                    k as isize,
                    1,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
    }
}

/// [`halve_time`] of a time-major `frames × channels` buffer in place; returns the new frames.
fn halve_time_in_place(h: &mut Vec<f32>, frames: usize, channels: usize) -> usize {
    let half = frames / 2;
    if half == 0 {
        return frames;
    }
    for t in 0..half {
        for ch in 0..channels {
            h[t * channels + ch] =
                (h[2 * t * channels + ch] + h[(2 * t + 1) * channels + ch]) / 2.0;
        }
    }
    h.truncate(half * channels);
    half
}

impl CpuMelodyNet {
    pub fn new(net: &MelodyNet) -> Result<Self> {
        let proj = net.proj.weight();
        Ok(Self {
            input: CpuConv::new(&net.input)?,
            blocks: net
                .blocks
                .iter()
                .map(|b| Ok([CpuConv::new(&b.a)?, CpuConv::new(&b.b)?]))
                .collect::<Result<_>>()?,
            embedding_dim: proj.dims2()?.0,
            proj: proj.flatten_all()?.to_vec1::<f32>()?,
        })
    }

    /// One window, `channels × frames` channel-major (the features' layout) → its embedding.
    pub fn embed(&self, window: &[f32], frames: usize) -> Vec<f32> {
        let c = self.input.inputs;
        let mut x = vec![0.0f32; frames * c];
        for (ch, row) in window.chunks_exact(frames.max(1)).take(c).enumerate() {
            for (t, &v) in row.iter().enumerate() {
                x[t * c + ch] = v;
            }
        }
        let hidden = self.input.outputs;
        let (mut padded, mut h, mut a, mut r) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        self.input.forward(&x, frames, &mut padded, &mut h);
        h.iter_mut().for_each(|v| *v = v.max(0.0));
        let mut t = halve_time_in_place(&mut h, frames, hidden);
        for [conv_a, conv_b] in &self.blocks {
            conv_a.forward(&h, t, &mut padded, &mut a);
            a.iter_mut().for_each(|v| *v = v.max(0.0));
            conv_b.forward(&a, t, &mut padded, &mut r);
            for (hv, rv) in h.iter_mut().zip(&r) {
                *hv = (*hv + rv).max(0.0);
            }
            t = halve_time_in_place(&mut h, t, hidden);
        }
        // Mean and max over time, then the head (as [`embedding_head`]).
        let mut pooled = vec![0.0f32; 2 * hidden];
        pooled[hidden..].fill(f32::MIN);
        for frame in h.chunks_exact(hidden) {
            for (ch, &v) in frame.iter().enumerate() {
                pooled[ch] += v;
                pooled[hidden + ch] = pooled[hidden + ch].max(v);
            }
        }
        pooled[..hidden]
            .iter_mut()
            .for_each(|v| *v /= t.max(1) as f32);
        let mean = pooled.iter().sum::<f32>() / pooled.len() as f32;
        pooled.iter_mut().for_each(|v| *v -= mean);
        let sd = (pooled.iter().map(|v| v * v).sum::<f32>() / pooled.len() as f32)
            .sqrt()
            .max(1e-5);
        pooled.iter_mut().for_each(|v| *v /= sd);
        let mut e: Vec<f32> = self
            .proj
            .chunks_exact(2 * hidden)
            .take(self.embedding_dim)
            .map(|w| crate::dsp::dot(w, &pooled))
            .collect();
        let norm = crate::dsp::dot(&e, &e).sqrt().max(1e-6);
        e.iter_mut().for_each(|v| *v /= norm);
        e
    }

    /// Windows of `channels × frames` each, concatenated → their embeddings, spread over the
    /// cores.
    pub fn embed_many(&self, windows: &[f32], frames: usize) -> Vec<Vec<f32>> {
        use rayon::prelude::*;
        let size = (self.input.inputs * frames).max(1);
        windows
            .par_chunks_exact(size)
            .map(|w| self.embed(w, frames))
            .collect()
    }
}

/// Pooled features → embedding: standardise across features (pooled ReLU outputs share a
/// large positive part that would make every embedding point the same way), project, L2.
fn embedding_head(pooled: &Tensor, proj: &Linear) -> Result<Tensor> {
    let centred = pooled.broadcast_sub(&pooled.mean_keepdim(D::Minus1)?)?;
    let sd = centred
        .sqr()?
        .mean_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-5, f64::MAX)?;
    l2_normalize(&proj.forward(&centred.broadcast_div(&sd)?)?)
}

/// [`halve_time`] for channel-major (batch, channels, time) tensors.
fn halve_time_cm(h: &Tensor) -> Result<Tensor> {
    let (b, c, t) = h.dims3()?;
    let t2 = t / 2;
    if t2 == 0 {
        return Ok(h.clone());
    }
    h.narrow(2, 0, 2 * t2)?.reshape((b, c, t2, 2))?.mean(3)
}

/// Average-pools pairs of frames (dropping an odd last frame) of a (batch, time, channels)
/// tensor.
fn halve_time(h: &Tensor) -> Result<Tensor> {
    let (b, t, c) = h.dims3()?;
    let t2 = t / 2;
    if t2 == 0 {
        return Ok(h.clone());
    }
    h.narrow(1, 0, 2 * t2)?.reshape((b, t2, 2, c))?.mean(2)
}

pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-6, f64::MAX)?;
    x.broadcast_div(&norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn both_convolution_forms_agree_at_every_width_and_length() {
        // The trackers' first layer has 5 taps; the embedding's layers 3.
        // The trackers' dilated blocks: 3 taps, 2-8 frames apart (reaching past short inputs).
        for (taps, dilation, frames) in [
            (3, 1, 1),
            (3, 1, 7),
            (5, 1, 1),
            (5, 1, 2),
            (5, 1, 9),
            (3, 2, 1),
            (3, 4, 3),
            (3, 8, 20),
        ] {
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
            let conv = TimeConv::dilated(4, 6, taps, dilation, vb).unwrap();
            let x: Vec<f32> = (0..3 * frames * 4)
                .map(|i| ((i * 7919) % 19) as f32 / 9.0 - 1.0)
                .collect();
            let x = Tensor::from_slice(&x, (3, frames, 4), &Device::Cpu).unwrap();
            let (a, b) = (
                conv.forward_per_tap(&x).unwrap(),
                conv.forward_unfolded(&x).unwrap(),
            );
            assert_eq!(a.dims(), b.dims());
            let worst = (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                worst < 1e-5,
                "{taps} taps x{dilation}, {frames} frames: {worst}"
            );
        }
    }

    #[test]
    fn a_dilated_convolution_reads_frames_dilation_apart() {
        // Direct sum: y[t] = bias + Σ_j W_j · x[t + (j - taps/2)·dilation], zero outside.
        let (taps, dilation, frames, inputs, outputs) = (3, 4, 11, 2, 3);
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let conv = TimeConv::dilated(inputs, outputs, taps, dilation, vb).unwrap();
        assert_eq!(conv.reach(), 4);
        let x: Vec<f32> = (0..frames * inputs)
            .map(|i| ((i * 31) % 7) as f32 - 3.0)
            .collect();
        let got = conv
            .forward_per_tap(&Tensor::from_slice(&x, (1, frames, inputs), &Device::Cpu).unwrap())
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let w = conv.linear.weight().to_vec2::<f32>().unwrap();
        let bias = conv.linear.bias().unwrap().to_vec1::<f32>().unwrap();
        for t in 0..frames {
            for o in 0..outputs {
                let mut want = bias[o];
                for j in 0..taps {
                    let src = t as i64 + (j as i64 - 1) * dilation as i64;
                    if (0..frames as i64).contains(&src) {
                        for c in 0..inputs {
                            want += w[o][j * inputs + c] * x[src as usize * inputs + c];
                        }
                    }
                }
                assert!((got[t][o] - want).abs() < 1e-4, "frame {t} out {o}");
            }
        }
    }

    #[test]
    fn the_cpu_and_training_forms_embed_like_candles_conv1d_form() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let config = NetConfig {
            in_channels: 5,
            hidden: 16,
            blocks: 2,
            embedding_dim: 8,
        };
        let net = MelodyNet::new(config, vb).unwrap();
        let (fast, cpu) = (
            FastMelodyNet::new(&net).unwrap(),
            CpuMelodyNet::new(&net).unwrap(),
        );
        // Lengths that halve evenly, oddly, and not at all.
        for frames in [32, 13, 2, 1] {
            let n = 3;
            let x: Vec<f32> = (0..n * 5 * frames)
                .map(|i| ((i * 7919) % 23) as f32 / 11.0 - 1.0)
                .collect();
            let tensor = Tensor::from_slice(&x, (n, 5, frames), &Device::Cpu).unwrap();
            let want = fast.forward(&tensor).unwrap().to_vec2::<f32>().unwrap();
            let mut got = cpu.embed_many(&x, frames);
            // The training form (one product per tap over the padded batch) too.
            let trained = net.forward(&tensor).unwrap().to_vec2::<f32>().unwrap();
            got.extend(trained);
            // And its unfolded form, the one a GPU runs.
            let unfolded = net
                .forward_with(&tensor, TimeConv::forward_unfolded)
                .unwrap();
            got.extend(unfolded.to_vec2::<f32>().unwrap());
            assert_eq!(got.len(), 3 * n);
            for (g, w) in got.iter().zip(want.iter().cycle()) {
                let worst = g
                    .iter()
                    .zip(w)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(worst < 1e-5, "{frames} frames: differ by {worst}");
            }
        }
    }
}
