//! How often the learned tracker's posterior holds the true melody pitch, per texture: its
//! most likely semitone, any of its k most likely, and "skyline" picks (the highest semitone
//! within a share of the frame's best). Decides whether the song side should keep several
//! pitches per frame or pick differently.
//!
//! cargo run --release --example tracker_topk -- SET_DIR SONGS_PER_TEXTURE TRACKER_DIR

use std::path::Path;

use earworm::audio::decode_file;
use earworm::eval::{melody_frame_labels, read_melody_notes, songs_by_texture};
use earworm::model::tracker::{smoothed_classes, Tracker, CLASSES, LOWEST_MIDI, SEMITONES};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: tracker_topk SET_DIR SONGS_PER_TEXTURE TRACKER_DIR";
    let dir = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let per_texture: usize = args.next().ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let tracker = Tracker::load(Path::new(
        &args.next().ok_or_else(|| anyhow::anyhow!(usage))?,
    ))?;
    let params = earworm::model::FeatureParams::default();
    let dir = Path::new(&dir);
    let notes = read_melody_notes(&dir.join("manifest.csv"))?;
    let picked = songs_by_texture(dir, per_texture)?;
    let names = [
        "argmax",
        "argmax folded",
        "top2 p>.05",
        "top3 p>.05",
        "sky .3",
        "sky .5",
        "sky .7",
        "voiced(any)",
        "vit .5/2",
        "vit 1/2",
        "vit 2/2",
        "vit 4/4",
    ];
    println!(
        "texture        {}",
        names.map(|n| format!("{n:>13}")).join("")
    );
    for (texture, files) in &picked {
        let mut hits = [0usize; 12];
        let mut total = 0usize;
        for f in files {
            let path = dir.join(f);
            let (samples, _) = decode_file(&path)?;
            let key = std::fs::canonicalize(&path)?;
            let Some(n) = notes.get(&key) else { continue };
            let labels = melody_frame_labels(n, samples.len() as f32 / 16_000.0);
            let probs =
                tracker.probabilities(&earworm::model::features::spectrogram(&params, &samples))?;
            let paths: Vec<Vec<usize>> = [(0.5, 2.0), (1.0, 2.0), (2.0, 2.0), (4.0, 4.0)]
                .iter()
                .map(|&(c, v)| smoothed_classes(&probs, c, v))
                .collect();
            for (t, (p, want)) in probs.chunks_exact(CLASSES).zip(&labels).enumerate() {
                if want.is_nan() {
                    continue;
                }
                total += 1;
                let w = (want.round() as i32) - LOWEST_MIDI as i32;
                let mut order: Vec<usize> = (0..SEMITONES).collect();
                order.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
                let best = order[0];
                let voiced = p[SEMITONES] < 0.5;
                hits[0] += (voiced && best as i32 == w) as usize;
                hits[1] += (voiced && (best as i32 - w).rem_euclid(12) == 0) as usize;
                hits[2] += order[..2].iter().any(|&k| p[k] > 0.05 && k as i32 == w) as usize;
                hits[3] += order[..3].iter().any(|&k| p[k] > 0.05 && k as i32 == w) as usize;
                for (slot, share) in [(4, 0.3f32), (5, 0.5), (6, 0.7)] {
                    let top = (0..SEMITONES)
                        .rev()
                        .find(|&k| p[k] >= share * p[best])
                        .unwrap_or(best);
                    hits[slot] += (voiced && top as i32 == w) as usize;
                }
                hits[7] += voiced as usize;
                for (slot, path) in paths.iter().enumerate() {
                    hits[8 + slot] += (path.get(t) == Some(&(w as usize))) as usize;
                }
            }
        }
        let row: String = hits
            .iter()
            .map(|h| format!("{:>13.3}", *h as f64 / total.max(1) as f64))
            .collect();
        println!("{texture:<14} {row}");
    }
    Ok(())
}
