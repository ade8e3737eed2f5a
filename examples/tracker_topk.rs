//! How often the learned tracker's posterior holds the true melody pitch, per texture: its
//! most likely semitone, any of its k most likely, and "skyline" picks (the highest semitone
//! within a share of the frame's best). Decides whether the song side should keep several
//! pitches per frame or pick differently.
//!
//! cargo run --release --example tracker_topk -- SET_DIR SONGS_PER_TEXTURE TRACKER_DIR

use std::collections::BTreeMap;
use std::path::Path;

use earworm::audio::decode_file;
use earworm::eval::read_melody_notes;
use earworm::melody::CONTOUR_FPS;
use earworm::model::tracker::{Tracker, CLASSES, LOWEST_MIDI, SEMITONES};

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
    let csv = std::fs::read_to_string(dir.join("songs.csv"))?;
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (file_col, texture_col) = (col("file").unwrap_or(0), col("texture"));
    let mut picked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let texture = texture_col
            .and_then(|c| f.get(c))
            .map_or("standard".to_string(), |s| s.to_string());
        let list = picked.entry(texture).or_default();
        if list.len() < per_texture {
            list.push(f[file_col].to_string());
        }
    }
    let names = [
        "argmax",
        "argmax folded",
        "top2 p>.05",
        "top3 p>.05",
        "sky .3",
        "sky .5",
        "sky .7",
        "voiced(any)",
    ];
    println!(
        "texture        {}",
        names.map(|n| format!("{n:>13}")).join("")
    );
    for (texture, files) in &picked {
        let mut hits = [0usize; 8];
        let mut total = 0usize;
        for f in files {
            let path = dir.join(f);
            let (samples, _) = decode_file(&path)?;
            let key = std::fs::canonicalize(&path)?;
            let Some(n) = notes.get(&key) else { continue };
            let labels = labels(n, samples.len() as f32 / 16_000.0);
            let probs =
                tracker.probabilities(&earworm::model::features::spectrogram(&params, &samples))?;
            for (p, want) in probs.chunks_exact(CLASSES).zip(&labels) {
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

fn labels(notes: &[(f32, f32, f32)], seconds: f32) -> Vec<f32> {
    let n = (seconds * CONTOUR_FPS).ceil() as usize;
    let mut out = vec![f32::NAN; n];
    for &(s, e, m) in notes {
        let (a, b) = (
            (s * CONTOUR_FPS).round() as usize,
            ((e * CONTOUR_FPS).round() as usize).min(n),
        );
        for l in out.iter_mut().take(b).skip(a) {
            *l = m;
        }
    }
    out
}
