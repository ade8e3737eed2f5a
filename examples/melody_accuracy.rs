//! How often the song-side melody contour is on the true melody, per texture, for several
//! extraction settings: the song side's first diagnostic, cheaper than a whole evaluation.
//! Reads a set made by `earworm synth devset` (songs.csv with a texture column,
//! melody_notes.jsonl). For each voiced melody frame: is the contour within half a semitone of
//! the melody (exact), or of the melody in some octave (folded)?
//!
//! cargo run --release --example melody_accuracy -- SET_DIR [SONGS_PER_TEXTURE [TRACKER_DIR]]
//!
//! With TRACKER_DIR (tracker.safetensors + tracker.card.json) the learned tracker is a variant
//! too.

use std::path::Path;

use earworm::audio::decode_file;
use earworm::eval::{melody_frame_labels, read_melody_notes, songs_by_texture};
use earworm::melody::{MelodyExtractor, MelodySettings};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: melody_accuracy SET_DIR [SONGS_PER_TEXTURE]");
    let per_texture: usize = args.next().map_or(Ok(8), |s| s.parse())?;
    let tracker = args
        .next()
        .map(|d| earworm::model::tracker::Tracker::load(Path::new(&d)))
        .transpose()?;
    let params = earworm::model::FeatureParams::default();
    let dir = Path::new(&dir);
    let notes = read_melody_notes(&dir.join("manifest.csv"))?;
    let picked = songs_by_texture(dir, per_texture)?;
    let mut variants: Vec<(&str, Option<MelodySettings>)> = vec![];
    if tracker.is_some() {
        variants.push(("learned tracker", None));
    }
    let hand_made: Vec<(&str, MelodySettings)> = vec![
        ("predominant (shipped)", MelodySettings::default()),
        (
            "top voice +0.3, 8 cand",
            MelodySettings {
                top_voice_bonus: 0.3,
                candidates: 8,
                ..Default::default()
            },
        ),
        (
            "top voice +0.6, 8 cand",
            MelodySettings {
                top_voice_bonus: 0.6,
                candidates: 8,
                ..Default::default()
            },
        ),
        (
            "top voice +1.0, 8 cand",
            MelodySettings {
                top_voice_bonus: 1.0,
                candidates: 8,
                ..Default::default()
            },
        ),
    ];
    variants.extend(hand_made.into_iter().map(|(n, s)| (n, Some(s))));
    println!("texture        songs  variant                    exact  folded  voiced-recall");
    for (texture, files) in &picked {
        let songs: Vec<(Vec<f32>, Vec<f32>)> = files
            .iter()
            .filter_map(|f| {
                let path = dir.join(f);
                let (samples, _) = decode_file(&path).ok()?;
                let key = std::fs::canonicalize(&path).ok()?;
                let labels = melody_frame_labels(notes.get(&key)?, samples.len() as f32 / 16_000.0);
                Some((samples, labels))
            })
            .collect();
        for (name, settings) in &variants {
            let (mut exact, mut folded, mut voiced, mut total) = (0, 0, 0, 0);
            for (samples, labels) in &songs {
                let contour = match (settings, &tracker) {
                    (Some(settings), _) => {
                        let mut ex = MelodyExtractor::with_settings(*settings);
                        ex.push(samples);
                        ex.finish()
                    }
                    (None, Some(t)) => {
                        t.contour(&earworm::model::features::spectrogram(&params, samples))?
                    }
                    (None, None) => unreachable!("the tracker variant exists only with a tracker"),
                };
                for (est, want) in contour.midi.iter().zip(labels) {
                    if want.is_nan() {
                        continue;
                    }
                    total += 1;
                    if est.is_nan() {
                        continue;
                    }
                    voiced += 1;
                    let d = est - want;
                    exact += (d.abs() < 0.5) as usize;
                    folded += ((d - 12.0 * (d / 12.0).round()).abs() < 0.5) as usize;
                }
            }
            let pct = |x: usize| x as f64 / total.max(1) as f64;
            println!(
                "{texture:<14} {:>5}  {name:<26} {:>5.3}  {:>6.3}  {:>6.3}",
                songs.len(),
                pct(exact),
                pct(folded),
                pct(voiced)
            );
        }
    }
    Ok(())
}
