//! Where a query's hum analysis goes: the pitch contour (YIN) and the window embeddings (one
//! spectrogram, interval features and network pass per time stretch), timed apart over hums.
//! Run with RAYON_NUM_THREADS=1 for one core.
//!
//! cargo run --release --example hum_speed -- HUM.wav [HUM.wav...]

use earworm::audio::{decode_file, SAMPLE_RATE};
use earworm::model::Embedder;
use earworm::search::{hum_contour, learned};

fn main() -> anyhow::Result<()> {
    let embedder = Embedder::load_default()?;
    let (mut audio_s, mut pitch_s, mut embed_s, mut windows, mut n) = (0.0, 0.0, 0.0, 0, 0);
    for path in std::env::args().skip(1) {
        let (samples, _) = decode_file(std::path::Path::new(&path))?;
        audio_s += samples.len() as f64 / SAMPLE_RATE as f64;
        let t = std::time::Instant::now();
        let contour = hum_contour(&samples);
        pitch_s += t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        windows += learned::embed_query(&embedder, &samples, &Default::default())?
            .all()
            .len();
        embed_s += t.elapsed().as_secs_f64();
        n += 1;
        std::hint::black_box(contour);
    }
    let n = n.max(1) as f64;
    println!(
        "{n} hums, {:.1} s each on average, {:.0} windows each: pitch contour {:.1} ms, embeddings {:.1} ms per hum",
        audio_s / n,
        windows as f64 / n,
        pitch_s / n * 1000.0,
        embed_s / n * 1000.0
    );
    Ok(())
}
