//! Where a query's hum analysis goes: the pitch contour (YIN) and the window embeddings (one
//! spectrogram, then per time stretch: interval features, window cutting and the network pass),
//! timed apart over hums. Run with RAYON_NUM_THREADS=1 for one core.
//!
//! cargo run --release --example hum_speed -- HUM.wav [HUM.wav...]

use earworm::audio::{decode_file, SAMPLE_RATE};
use earworm::model::{features, Embedder};
use earworm::search::{hum_contour, learned};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let embedder = Embedder::load_default()?;
    let settings = learned::QueryWindows::default();
    let p = &embedder.params;
    let (mut audio_s, mut pitch_s, mut embed_s, mut windows, mut n) = (0.0, 0.0, 0.0, 0, 0);
    let (mut spec_s, mut feat_s, mut net_s) = (0.0, 0.0, 0.0);
    let secs = |t: Instant| t.elapsed().as_secs_f64();
    for path in std::env::args().skip(1) {
        let (samples, _) = decode_file(std::path::Path::new(&path))?;
        audio_s += samples.len() as f64 / SAMPLE_RATE as f64;
        let t = Instant::now();
        let contour = hum_contour(&samples);
        pitch_s += secs(t);
        let t = Instant::now();
        windows += learned::embed_query(&embedder, &samples, &settings)?
            .all()
            .len();
        embed_s += secs(t);
        // The same work step by step, on one thread.
        let t = Instant::now();
        let spec = features::spectrogram(p, &samples);
        spec_s += secs(t);
        for &stretch in &settings.stretches {
            let t = Instant::now();
            let stretched = spec.stretch(stretch);
            let feats = features::interval_features(p, &stretched);
            let starts = features::window_starts(p, stretched.frames(), settings.hop);
            let wins = features::windows(p, &feats, stretched.frames(), &starts);
            feat_s += secs(t);
            let t = Instant::now();
            std::hint::black_box(embedder.embed_windows(&wins)?);
            net_s += secs(t);
        }
        n += 1;
        std::hint::black_box(contour);
    }
    let n = n.max(1) as f64;
    let ms = |s: f64| s / n * 1000.0;
    println!(
        "{n} hums, {:.1} s each on average, {:.0} windows each: pitch contour {:.1} ms, embeddings {:.1} ms per hum",
        audio_s / n,
        windows as f64 / n,
        ms(pitch_s),
        ms(embed_s)
    );
    println!(
        "embeddings step by step: spectrogram {:.1} ms, stretch + features + windows {:.1} ms, network {:.1} ms",
        ms(spec_s),
        ms(feat_s),
        ms(net_s)
    );
    Ok(())
}
