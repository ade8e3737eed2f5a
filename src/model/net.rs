//! The embedding network: 1-D convolutions over time on interval features, residual blocks
//! that halve the time resolution, mean+max pooling over time, a linear projection and L2
//! normalisation. Only matmul-backed 1-D convolutions: fast to train on a CPU (see
//! ../shared/MEASURED.md — candle's CPU conv2d is ~20x slower).

use candle_core::{Module, Result, Tensor, D};
use candle_nn::{conv1d, linear, Conv1d, Conv1dConfig, Linear, VarBuilder};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetConfig {
    pub in_channels: usize,
    pub hidden: usize,
    pub blocks: usize,
    pub embedding_dim: usize,
}

struct Block {
    a: Conv1d,
    b: Conv1d,
}

pub struct MelodyNet {
    input: Conv1d,
    blocks: Vec<Block>,
    proj: Linear,
    pub config: NetConfig,
}

impl MelodyNet {
    pub fn new(config: NetConfig, vb: VarBuilder) -> Result<Self> {
        let pad = |p| Conv1dConfig {
            padding: p,
            ..Default::default()
        };
        let input = conv1d(config.in_channels, config.hidden, 3, pad(1), vb.pp("input"))?;
        let blocks = (0..config.blocks)
            .map(|i| {
                let vb = vb.pp(format!("block{i}"));
                Ok(Block {
                    a: conv1d(config.hidden, config.hidden, 3, pad(1), vb.pp("a"))?,
                    b: conv1d(config.hidden, config.hidden, 3, pad(1), vb.pp("b"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let proj = linear(2 * config.hidden, config.embedding_dim, vb.pp("proj"))?;
        Ok(Self {
            input,
            blocks,
            proj,
            config,
        })
    }

    /// `x`: (batch, channels, frames) → (batch, embedding_dim), unit length.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // Interval features already span up to half a second: 12.5 frames/s is enough inside.
        let mut h = halve_time(&self.input.forward(x)?.relu()?)?;
        for block in &self.blocks {
            let r = block.b.forward(&block.a.forward(&h)?.relu()?)?;
            h = (h + r)?.relu()?;
            h = halve_time(&h)?;
        }
        let pooled = Tensor::cat(&[h.mean(D::Minus1)?, h.max(D::Minus1)?], 1)?;
        l2_normalize(&self.proj.forward(&pooled)?)
    }
}

/// Average-pools pairs of frames (dropping an odd last frame): plain reshape + mean, whose
/// backward pass candle supports everywhere.
fn halve_time(h: &Tensor) -> Result<Tensor> {
    let (b, c, t) = h.dims3()?;
    let t2 = t / 2;
    if t2 == 0 {
        return Ok(h.clone());
    }
    h.narrow(2, 0, 2 * t2)?
        .reshape((b, c, t2, 2))?
        .mean(D::Minus1)
}

pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-6, f64::MAX)?;
    x.broadcast_div(&norm)
}
