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

/// A 1-D convolution over time ("same" padding, stride 1) written as unfold + matmul on
/// time-major tensors (batch, time, channels): only ops whose backward pass is plain matmul
/// and slicing, and the fastest form on a CPU.
pub(crate) struct TimeConv {
    taps: usize,
    linear: Linear,
}

impl TimeConv {
    pub(crate) fn new(inputs: usize, outputs: usize, taps: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            taps,
            linear: linear(taps * inputs, outputs, vb)?,
        })
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
        let (b, t, c) = x.dims3()?;
        let pad = self.taps / 2;
        let zeros = Tensor::zeros((b, pad, c), x.dtype(), x.device())?;
        let padded = Tensor::cat(&[&zeros, x, &zeros], 1)?;
        let shifted: Vec<Tensor> = (0..self.taps)
            .map(|j| padded.narrow(1, j, t))
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
        let x = x.transpose(1, 2)?.contiguous()?; // time-major from here on
                                                  // Interval features already span up to half a second: 12.5 frames/s is enough inside.
        let mut h = halve_time(&self.input.forward(&x)?.relu()?)?;
        for block in &self.blocks {
            let r = block.b.forward(&block.a.forward(&h)?.relu()?)?;
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
