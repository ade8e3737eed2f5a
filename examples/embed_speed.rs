//! Embedding throughput on this machine: a song's log spectrogram, interval features and
//! window embeddings (one per second), each timed, as multiples of real time. The same
//! measurement as `earworm bench embed` (one pass, nothing warmed up).
//! Run with RAYON_NUM_THREADS=1 for the one-core figure.
//!
//! cargo run --release --example embed_speed -- SONG [SONG...]

use earworm::model::Embedder;

fn main() -> anyhow::Result<()> {
    let embedder = Embedder::load_default()?;
    let songs: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    println!("{}", earworm::bench::embed_speed(&embedder, &songs, 1)?);
    Ok(())
}
