//! Measures training throughput (pairs/s) of the embedding network on this machine: batch
//! preparation and a training step apart, then inference. Reads a training shard folder
//! (`earworm synth pairs`), or makes a small one from random melodies (needs FluidR3).
//!
//! cargo run --release --example train_speed -- [--data PAIRS_DIR | --out OUT_DIR] [--batch 32]
//!     [--device cpu|cuda] [--hum-features cpu|device]
//!
//! With `--hum-features device` the hums' interval features are computed as tensor ops on the
//! device and counted in the training step, as `earworm train` does on a GPU.

use candle_core::{DType, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use earworm::model::{default_net_config, FeatureParams, MelodyNet};
use earworm::synth::corpus::{CorpusMelody, Split};
use earworm::synth::{random_melody, Rng};
use earworm::train::{losses, PairCorpus};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let batch: usize = flag("--batch").map_or(Ok(32), |s| s.parse())?;
    let hum_features_on_device = flag("--hum-features").as_deref() == Some("device");
    let choice = earworm::model::choose_device(flag("--device").as_deref());
    eprintln!("device: {}", choice.describe());
    let device = choice.device;
    let params = FeatureParams::default();
    let data = match flag("--data") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => make_pairs(
            std::path::PathBuf::from(flag("--out").unwrap_or("/tmp/train_speed".into())),
            batch,
        )?,
    };
    let corpus = PairCorpus::load(&data, &params, 1)?;
    let varmap = VarMap::new();
    let net = MelodyNet::new(
        default_net_config(&params),
        VarBuilder::from_varmap(&varmap, DType::F32, &device),
    )?;
    let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW::default())?;
    let (ch, w) = (params.channels(), params.window_frames);
    let mut prep = 0.0;
    let mut train = 0.0;
    let mut pairs = 0;
    for step in 0..10 {
        let t = std::time::Instant::now();
        let raw = corpus.raw_batch(&params, batch, &mut Rng::fork(1, step), true);
        // Fewer pairs than asked when the shard has fewer songs (each song once per batch).
        let n = raw.pairs();
        pairs += n;
        let (hums, sw) = if hum_features_on_device {
            prep += t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            let hums = raw.hum_windows_on(&params, &device)?;
            train += t.elapsed().as_secs_f64();
            (hums, raw.song_windows)
        } else {
            let (hw, sw) = raw.finish_on_cpu(&params);
            prep += t.elapsed().as_secs_f64();
            (Tensor::from_vec(hw, (n, ch, w), &device)?, sw)
        };
        let t = std::time::Instant::now();
        let h = net.forward(&hums)?;
        let s = net.forward(&Tensor::from_vec(sw, (n, ch, w), &device)?)?;
        let l = losses(&h, &s, 0.2, 0.1, 1.0)?;
        opt.backward_step(&l.total)?;
        train += t.elapsed().as_secs_f64();
        eprintln!("step {step}: loss {:.3}", l.total.to_scalar::<f32>()?);
    }
    eprintln!(
        "batch prep {:.3} s/batch, train {:.3} s/batch: {:.1} pairs/s",
        prep / 10.0,
        train / 10.0,
        pairs as f64 / train
    );
    let t = std::time::Instant::now();
    let x = Tensor::zeros((64, ch, w), DType::F32, &device)?;
    for _ in 0..5 {
        net.forward(&x)?;
    }
    eprintln!(
        "inference: {:.0} windows/s",
        320.0 / t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A small pair shard from random melodies (rendered with FluidR3) in `out`.
fn make_pairs(out: std::path::PathBuf, batch: usize) -> anyhow::Result<std::path::PathBuf> {
    let mut rng = Rng::new(1);
    let melodies: Vec<CorpusMelody> = (0..batch + 8)
        .map(|i| CorpusMelody {
            id: format!("random#{i}"),
            collection: "random".into(),
            title: String::new(),
            split: Split::Train,
            meter: None,
            tempo_bpm: None,
            score: random_melody(&mut rng, 12),
            chords: Vec::new(),
        })
        .collect();
    let spec = earworm::synth::pairs::PairsSpec {
        split: Split::Train,
        songs: melodies.len(),
        hums_per_song: 2,
        voices: earworm::synth::VoicePool::Train,
        seed: 1,
        soundfont: earworm::synth::gm::FLUID_GM.into(),
        threads: 1,
        textured: 0.0,
        textures: Vec::new(),
        descants: true,
        labels: earworm::synth::pairs::SongLabels::Melody,
        leads: Vec::new(),
    };
    let t = std::time::Instant::now();
    let s = earworm::synth::pairs::generate(&melodies, &out, &spec, &|_, _| {})?;
    eprintln!(
        "pairs: {:?} in {:.1}s",
        (s.songs, s.hums, s.song_seconds, s.hum_seconds),
        t.elapsed().as_secs_f64()
    );
    Ok(out)
}
