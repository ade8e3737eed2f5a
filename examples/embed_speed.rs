//! Embedding throughput on this machine: a song's log spectrogram, interval features and
//! window embeddings (one per second), each timed, as multiples of real time.
//! Run with RAYON_NUM_THREADS=1 for the one-core figure.
//!
//! cargo run --release --example embed_speed -- SONG [SONG...]

use earworm::audio::{decode_file, SAMPLE_RATE};
use earworm::model::{features, Embedder, SONG_SEGMENT_HOP};

fn main() -> anyhow::Result<()> {
    let embedder = Embedder::load_default()?;
    let (mut audio_s, mut spec_s, mut feat_s, mut embed_s, mut windows) = (0.0, 0.0, 0.0, 0.0, 0);
    for path in std::env::args().skip(1) {
        let (samples, _) = decode_file(std::path::Path::new(&path))?;
        audio_s += samples.len() as f64 / SAMPLE_RATE as f64;
        let t = std::time::Instant::now();
        let spec = features::spectrogram(&embedder.params, &samples);
        spec_s += t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let feats = features::interval_features(&embedder.params, &spec);
        let starts = features::window_starts(&embedder.params, spec.frames(), SONG_SEGMENT_HOP);
        let wins = features::windows(&embedder.params, &feats, spec.frames(), &starts);
        feat_s += t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        windows += embedder.embed_windows(&wins)?.len();
        embed_s += t.elapsed().as_secs_f64();
    }
    println!(
        "{audio_s:.0} s of audio, {windows} windows: spectrogram {:.0}x, interval features {:.0}x, network {:.0}x ({:.0} windows/s); all three {:.0}x real time",
        audio_s / spec_s,
        audio_s / feat_s,
        audio_s / embed_s,
        windows as f64 / embed_s,
        audio_s / (spec_s + feat_s + embed_s)
    );
    Ok(())
}
