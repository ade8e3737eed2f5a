//! Experiment behind docs/MEASURED.md "Scale" (since built as the melody vote): a "melody as
//! sine" segment channel. Each song's stored melody contour (songs 1..=MAX_SONG_ID) is rendered
//! as a sine and embedded like a song ([`Embedder::embed_melody`]); a hum's windows vote over those vectors (exact search, 40 neighbours a window, as the
//! learned search's vote), compared with the same vote over the songs' audio segments. Prints
//! how often the true song is in each list's top 50 / 200, and in either.
//!
//! cargo run --release --example sine_channel -- DB MAX_SONG_ID MANIFEST.csv
use earworm::audio::decode_file;
use earworm::library::Catalog;
use earworm::model::Embedder;
use earworm::search::learned;
use rayon::prelude::*;
use std::collections::HashMap;

fn vote(windows: &[Vec<f32>], vecs: &[(i64, Vec<f32>)]) -> Vec<i64> {
    let mut score: HashMap<i64, f32> = HashMap::new();
    for w in windows {
        let mut sims: Vec<(f32, i64)> = vecs
            .par_iter()
            .map(|(s, v)| (earworm::dsp::dot(w, v), *s))
            .collect();
        sims.select_nth_unstable_by(40, |a, b| b.0.total_cmp(&a.0));
        let mut best: HashMap<i64, f32> = HashMap::new();
        for &(sim, s) in &sims[..40] {
            let b = best.entry(s).or_insert(f32::MIN);
            *b = b.max(sim);
        }
        for (s, v) in best {
            *score.entry(s).or_insert(0.0) += v.max(0.0);
        }
    }
    let mut r: Vec<(i64, f32)> = score.into_iter().collect();
    r.sort_by(|a, b| b.1.total_cmp(&a.1));
    r.into_iter().map(|x| x.0).collect()
}

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let (db, max_id, manifest) = (&a[1], a[2].parse::<i64>()?, &a[3]);
    let emb = Embedder::load_default()?;
    let mut cat = Catalog::open(std::path::Path::new(db))?;
    if let Some(t) = emb.tracker.as_ref() {
        cat.set_melody_version(t.melody_version());
    }
    cat.set_embedding_model(Some(emb.id.clone()));
    let ids: Vec<i64> = (1..=max_id).collect();
    let mel = cat.melodies_of(&ids)?;
    let t = std::time::Instant::now();
    let sine_vecs: Vec<(i64, Vec<f32>)> = mel
        .par_iter()
        .flat_map_iter(|(id, c)| {
            let e = emb.embed_melody(c).unwrap_or_default();
            e.into_iter()
                .filter(|(_, v)| v.iter().any(|x| *x != 0.0))
                .map(move |(_, v)| (*id, v))
                .collect::<Vec<_>>()
        })
        .collect();
    eprintln!(
        "{} sine vectors in {:.0} s",
        sine_vecs.len(),
        t.elapsed().as_secs_f32()
    );
    let audio_vecs: Vec<(i64, Vec<f32>)> = cat
        .song_segments(&emb.id, &ids)?
        .into_iter()
        .filter(|s| s.embedding.iter().any(|x| *x != 0.0))
        .map(|s| (s.song_id, s.embedding))
        .collect();
    eprintln!("{} audio vectors", audio_vecs.len());
    let mut id_of = HashMap::new();
    for s in cat.songs()? {
        id_of
            .entry(s.path.file_name().unwrap().to_string_lossy().to_string())
            .or_insert(s.id);
    }
    let (mut hs, mut ha, mut hu, mut n) = ([0; 2], [0; 2], [0; 2], 0);
    for row in earworm::eval::read_manifest(std::path::Path::new(manifest))? {
        let (samples, _) = decode_file(&row.query)?;
        let name = row.target.file_name().unwrap_or_default().to_string_lossy();
        let truth = id_of[name.as_ref()];
        let q = learned::embed_query(&emb, &samples, &Default::default())?.all();
        let (rs, ra) = (vote(&q, &sine_vecs), vote(&q, &audio_vecs));
        for (k, cut) in [50usize, 200].iter().enumerate() {
            let ins = rs.iter().take(*cut).any(|&s| s == truth);
            let ina = ra.iter().take(*cut).any(|&s| s == truth);
            hs[k] += ins as usize;
            ha[k] += ina as usize;
            hu[k] += (ins || ina) as usize;
        }
        n += 1;
    }
    println!("{n} hums, recall@50/200: sine channel {hs:?}, audio vote {ha:?}, either {hu:?}");
    Ok(())
}
