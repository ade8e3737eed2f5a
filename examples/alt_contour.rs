//! Experiment behind docs/MEASURED.md "A second line" and "A second voice": the contour
//! channel alone (every song aligned, best score first) with each song's stored contour, with
//! the second line from the tracker's posterior (followed frame by frame), and with the
//! second-voice tracker's line (given as SECOND_VOICE_TRACKER_DIR, a `train-tracker` output
//! trained on `synth pairs --labels second-voice`) followed frame by frame or aligned as a
//! melody of its own. Oracle (sine of the true melody segment) and recorded hums, per texture,
//! for the manifest rows FROM..TO.
//!
//! cargo run --release --example alt_contour -- DB MANIFEST.csv FROM TO [SECOND_VOICE_TRACKER_DIR]
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use earworm::audio::decode_file;
use earworm::eval::{oracle_query, read_manifest, read_melody_notes, QuerySource};
use earworm::library::Catalog;
use earworm::melody::{Contour, CONTOUR_FPS};
use earworm::model::tracker::{
    alternative_contour, contour_from_probabilities, SECOND_LINE_MIN_PROB,
};
use earworm::search::{hum_contour, MelodySearcher};
use rayon::prelude::*;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        a.len() == 5 || a.len() == 6,
        "usage: alt_contour DB MANIFEST.csv FROM TO [SECOND_VOICE_TRACKER_DIR]"
    );
    let second_voice = match a.get(5) {
        Some(dir) => Some(earworm::model::tracker::Tracker::load(Path::new(dir))?),
        None => None,
    };
    let (db, manifest) = (Path::new(&a[1]), Path::new(&a[2]));
    let (from, to): (usize, usize) = (a[3].parse()?, a[4].parse()?);
    let emb = earworm::model::Embedder::load_default()?;
    let tracker = emb
        .tracker
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no tracker"))?;
    let mut cat = Catalog::open(db)?;
    cat.set_melody_version(tracker.melody_version());
    let songs = cat.songs()?;
    let melodies: HashMap<i64, Contour> = cat.melodies()?.into_iter().collect();
    let params = earworm::model::FeatureParams::default();
    let t = std::time::Instant::now();
    let probs: Vec<(i64, Vec<f32>)> = songs
        .par_iter()
        .filter_map(|s| {
            let (samples, _) = decode_file(&s.path).ok()?;
            let spec = earworm::model::features::spectrogram(&params, &samples);
            Some((s.id, tracker.probabilities(&spec).ok()?))
        })
        .collect();
    // The second voice: the second-voice tracker's line, if one was given.
    let masked: HashMap<i64, Contour> = songs
        .par_iter()
        .filter_map(|s| {
            let voice = second_voice.as_ref()?;
            let (samples, _) = decode_file(&s.path).ok()?;
            let spec = earworm::model::features::spectrogram(&params, &samples);
            let p = voice.probabilities(&spec).ok()?;
            Some((
                s.id,
                Contour::new(CONTOUR_FPS, contour_from_probabilities(&p)),
            ))
        })
        .collect();
    eprintln!(
        "{} songs' posteriors in {:.0} s",
        probs.len(),
        t.elapsed().as_secs_f64()
    );
    let by_path: HashMap<_, _> = songs.iter().map(|s| (s.path.clone(), s.id)).collect();
    let notes = read_melody_notes(manifest)?;
    let rows = read_manifest(manifest)?;
    let ids: HashSet<i64> = melodies.keys().copied().collect();
    // (texture, query kind) → query contours with their target.
    let mut queries: Vec<(String, &str, i64, Contour)> = Vec::new();
    for row in rows.iter().take(to).skip(from) {
        let key = std::fs::canonicalize(&row.target)?;
        let Some(&target) = by_path.get(&key) else {
            continue;
        };
        let texture = row.texture.clone().unwrap_or_default();
        if let (Some(n), Some(span)) = (notes.get(&key), row.span_s) {
            let sine = oracle_query(n, span, QuerySource::OracleSine);
            queries.push((texture.clone(), "oracle", target, hum_contour(&sine)));
        }
        let (hum, _) = decode_file(&row.query)?;
        queries.push((texture, "hum", target, hum_contour(&hum)));
    }
    // Each variant: the song's two lines from its stored contour and its posterior.
    type Lines = Box<dyn Fn(i64, &Contour, &[f32]) -> (Contour, Option<Contour>)>;
    let mut variants: Vec<(String, Lines)> = vec![(
        "stored contour".into(),
        Box::new(|_, c, _| (c.clone(), None)),
    )];
    for tau in [SECOND_LINE_MIN_PROB] {
        variants.push((
            format!("stored + second line p>={tau}"),
            Box::new(move |_, c, p| (c.clone(), Some(alternative_contour(p, c, tau)))),
        ));
    }
    {
        let masked = masked.clone();
        variants.push((
            "stored + second voice (switching)".to_string(),
            Box::new(move |id, c, _| (c.clone(), masked.get(&id).cloned())),
        ));
    }
    // Separate lines: the first searcher's songs (with their second line, if the variant has one)
    // and the second voice aligned on its own, the song scoring its better match.
    let mut separate: Vec<(String, Lines, f32, f32)> = Vec::new();
    for penalty in [0.0f32, 0.03, 0.06] {
        separate.push((
            format!("stored | second voice separately, penalty {penalty}"),
            Box::new(|_, c, _| (c.clone(), None)),
            penalty,
            0.0,
        ));
    }
    for (penalty, min_voiced) in [(0.0f32, 0.0f32), (0.03, 0.0), (0.03, 0.1), (0.03, 0.2)] {
        separate.push((
            format!("stored + second line p>=0.1 | second voice voiced >= {min_voiced} separately, penalty {penalty}"),
            Box::new(|_, c, p| (c.clone(), Some(alternative_contour(p, c, SECOND_LINE_MIN_PROB)))),
            penalty,
            min_voiced,
        ));
    }
    for share in [0.05f32, 0.1, 0.2, 0.4] {
        eprintln!(
            "second voice voiced in >= {share} of frames: {} of {} songs",
            masked
                .values()
                .filter(|c| c.voiced_fraction() >= share)
                .count(),
            masked.len()
        );
    }
    for (name, lines, penalty, min_voiced) in &separate {
        let first = MelodySearcher::with_alternatives(probs.iter().filter_map(|(id, p)| {
            let (primary, alt) = lines(*id, melodies.get(id)?, p);
            Some((*id, primary, alt))
        }));
        let second = MelodySearcher::new(
            masked
                .iter()
                .filter(|(_, line)| line.voiced_fraction() >= *min_voiced)
                .map(|(id, line)| (*id, line.clone())),
        );
        let ranks: Vec<Option<usize>> = queries
            .par_iter()
            .map(|(_, _, target, q)| {
                let mut best: HashMap<i64, f32> = HashMap::new();
                for (searcher, pen) in [(&first, 0.0), (&second, *penalty)] {
                    for (_, m) in searcher.align_candidates(q, &ids).ok()? {
                        let e = best.entry(m.song_id).or_insert(f32::MIN);
                        *e = e.max(m.score - pen);
                    }
                }
                let mut order: Vec<(i64, f32)> = best.into_iter().collect();
                order.sort_by(|a, b| b.1.total_cmp(&a.1));
                order.iter().position(|(id, _)| id == target)
            })
            .collect();
        print_table(name, &queries, &ranks);
    }
    for (name, lines) in &variants {
        let searcher = MelodySearcher::with_alternatives(probs.iter().filter_map(|(id, p)| {
            let (primary, alt) = lines(*id, melodies.get(id)?, p);
            Some((*id, primary, alt))
        }));
        let ranks: Vec<Option<usize>> = queries
            .par_iter()
            .map(|(_, _, target, q)| {
                let m = searcher.align_candidates(q, &ids).ok()?;
                m.iter().position(|(_, m)| m.song_id == *target)
            })
            .collect();
        print_table(name, &queries, &ranks);
    }
    Ok(())
}

fn print_table(name: &str, queries: &[(String, &str, i64, Contour)], ranks: &[Option<usize>]) {
    {
        let mut table: BTreeMap<(String, &str), (usize, usize, usize)> = BTreeMap::new();
        for ((texture, kind, _, _), rank) in queries.iter().zip(ranks) {
            for t in [texture.clone(), "overall".to_string()] {
                let e = table.entry((t, *kind)).or_default();
                e.0 += 1;
                e.1 += (*rank == Some(0)) as usize;
                e.2 += rank.is_some_and(|r| r < 10) as usize;
            }
        }
        println!("## {name}");
        for ((texture, kind), (n, t1, t10)) in &table {
            println!(
                "{texture:<12} {kind:<7} {n:>4}  top-1 {:.3}  top-10 {:.3}",
                *t1 as f64 / *n as f64,
                *t10 as f64 / *n as f64
            );
        }
    }
}
