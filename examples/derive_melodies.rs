//! Gives the songs of existing libraries their melody segments from their stored melodies
//! (what `earworm index` does at the end of a run), for libraries whose audio files are gone,
//! e.g. the source libraries `earworm bench scale` builds from.
//!
//! cargo run --release --example derive_melodies -- DB...
use earworm::engine::Engine;
use std::sync::atomic::AtomicBool;

fn main() -> anyhow::Result<()> {
    let dbs: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(!dbs.is_empty(), "usage: derive_melodies DB...");
    for db in dbs {
        let mut engine = Engine::open(std::path::Path::new(&db))?;
        let embedder = engine
            .embedder()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no model: {:?}", engine.model_problem()))?;
        let started = std::time::Instant::now();
        let n = earworm::library::derive_melody_segments(
            engine.catalog_mut(),
            &embedder,
            &AtomicBool::new(false),
            &mut |done, total| {
                if done % 256 == 0 || done == total {
                    eprintln!("{db}: {done}/{total}");
                }
            },
        )?;
        println!(
            "{db}: melody segments for {n} songs in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
