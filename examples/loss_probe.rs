use candle_core::{DType, Device, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use earworm::model::net::l2_normalize;
use earworm::train::losses;
fn main() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let h = Var::randn(0f32, 1.0, (8, 16), &dev)?;
    let s = Var::randn(0f32, 1.0, (8, 16), &dev)?;
    let mut opt = AdamW::new(
        vec![h.clone(), s.clone()],
        ParamsAdamW {
            lr: 0.01,
            ..Default::default()
        },
    )?;
    for step in 0..100 {
        let l = losses(
            &l2_normalize(h.as_tensor())?,
            &l2_normalize(s.as_tensor())?,
            0.2,
            0.1,
            1.0,
        )?;
        if step % 20 == 0 {
            println!(
                "{step}: total {:.4} triplet {:.4} conf {:.4}",
                l.total.to_scalar::<f32>()?,
                l.triplet,
                l.confidence
            );
        }
        opt.backward_step(&l.total)?;
    }
    let _ = DType::F32;
    Ok(())
}
