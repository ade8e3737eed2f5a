//! Experiment behind docs/MEASURED.md "A second line": the contour channel alone (every song
//! aligned, best score first) with each song's stored contour, and with a second line from the
//! tracker's posterior at several thresholds, or beside a Viterbi-smoothed contour
//! ([`smoothed_classes`]; stage 4 of docs/MEASURED.md). Oracle (sine of the true melody segment) and
//! recorded hums, per texture, for the manifest rows FROM..TO.
//!
//! cargo run --release --example alt_contour -- DB MANIFEST.csv FROM TO
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use earworm::audio::decode_file;
use earworm::eval::{oracle_query, read_manifest, read_melody_notes, QuerySource};
use earworm::library::Catalog;
use earworm::melody::Contour;
use earworm::model::tracker::{
    alternative_contour, contour_from_path, fuse_contours, smoothed_classes, SECOND_LINE_MIN_PROB,
};
use earworm::search::{hum_contour, MelodySearcher};
use rayon::prelude::*;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    anyhow::ensure!(a.len() == 5, "usage: alt_contour DB MANIFEST.csv FROM TO");
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
    type Lines = Box<dyn Fn(&Contour, &[f32]) -> (Contour, Option<Contour>)>;
    let mut variants: Vec<(String, Lines)> =
        vec![("stored contour".into(), Box::new(|c, _| (c.clone(), None)))];
    for tau in [0.03f32, 0.05, SECOND_LINE_MIN_PROB, 0.2] {
        variants.push((
            format!("stored + second line p>={tau}"),
            Box::new(move |c, p| (c.clone(), Some(alternative_contour(p, c, tau)))),
        ));
    }
    let (change, voicing) = (1.0f32, 2.0f32);
    variants.push((
        format!("viterbi {change}/{voicing} + second line p>={SECOND_LINE_MIN_PROB}"),
        Box::new(move |c, p| {
            let path = smoothed_classes(p, change, voicing);
            let primary = fuse_contours(&Contour::new(c.fps, contour_from_path(p, &path)), c);
            let alt = alternative_contour(p, &primary, SECOND_LINE_MIN_PROB);
            (primary, Some(alt))
        }),
    ));
    for (name, lines) in &variants {
        let searcher = MelodySearcher::with_alternatives(probs.iter().filter_map(|(id, p)| {
            let (primary, alt) = lines(melodies.get(id)?, p);
            Some((*id, primary, alt))
        }));
        let mut table: BTreeMap<(String, &str), (usize, usize, usize)> = BTreeMap::new();
        let ranks: Vec<Option<usize>> = queries
            .iter()
            .map(|(_, _, target, q)| {
                let m = searcher.align_candidates(q, &ids).ok()?;
                m.iter().position(|(_, m)| m.song_id == *target)
            })
            .collect();
        for ((texture, kind, _, _), rank) in queries.iter().zip(&ranks) {
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
    Ok(())
}
