//! Experiment behind docs/MEASURED.md "Scale": how often each variant of the melody channel's
//! n-gram index ranks a hum's true song in its top 50 / 200 / 500 / 1,000, over a library's
//! catalog (the variants are built here, not in the library; the shipped one is the first).
//!
//! cargo run --release --example melody_recall -- DB MANIFEST.csv
use earworm::audio::decode_file;
use earworm::library::Catalog;
use earworm::search::hum_contour;
use std::collections::HashMap;

fn cls(m: i8) -> i8 {
    match m {
        i8::MIN..=-5 => -3,
        -4..=-3 => -2,
        -2..=-1 => -1,
        0 => 0,
        1..=2 => 1,
        3..=4 => 2,
        _ => 3,
    }
}

fn keys(moves: &[i8], n: usize, coarse: bool) -> Vec<u64> {
    let m: Vec<i8> = if coarse {
        moves.iter().map(|&x| cls(x)).collect()
    } else {
        moves.to_vec()
    };
    let mut out: Vec<u64> = m
        .windows(n)
        .map(|w| {
            w.iter()
                .fold(n as u64, |k, &x| k * 31 + (x.clamp(-12, 12) + 12) as u64)
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Query variants: the moves plus every sequence with one adjacent pair merged.
fn merged_variants(moves: &[i8]) -> Vec<Vec<i8>> {
    let mut v = vec![moves.to_vec()];
    for i in 0..moves.len().saturating_sub(1) {
        let mut m = moves.to_vec();
        let s = (m[i] as i32 + m[i + 1] as i32).clamp(-12, 12) as i8;
        m.splice(i..i + 2, [s]);
        if s != 0 {
            v.push(m);
        }
    }
    v
}

struct Scheme {
    name: &'static str,
    parts: Vec<(usize, bool, f32)>, // (n, coarse, weight)
    merge: bool,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (db, manifest) = (&args[1], &args[2]);
    let mut cat = Catalog::open(std::path::Path::new(db))?;
    let emb = earworm::model::Embedder::load_default()?;
    if let Some(t) = emb.tracker.as_ref() {
        cat.set_melody_version(t.melody_version());
    }
    let songs = cat.songs()?;
    let mut id_of = HashMap::new();
    for s in &songs {
        id_of
            .entry(s.path.file_name().unwrap().to_string_lossy().to_string())
            .or_insert(s.id);
    }
    let mel: Vec<(i64, Vec<i8>)> = cat
        .melodies()?
        .into_iter()
        .map(|(id, c)| (id, c.note_moves()))
        .collect();
    eprintln!("{} songs with melodies", mel.len());
    let mut hums = Vec::new();
    for row in earworm::eval::read_manifest(std::path::Path::new(manifest))? {
        let (samples, _) = decode_file(&row.query)?;
        let name = row.target.file_name().unwrap_or_default().to_string_lossy();
        hums.push((hum_contour(&samples).note_moves(), id_of[name.as_ref()]));
    }
    let schemes = vec![
        Scheme {
            name: "3-gram exact",
            parts: vec![(3, false, 1.0)],
            merge: false,
        },
        Scheme {
            name: "3-gram + merges",
            parts: vec![(3, false, 1.0)],
            merge: true,
        },
        Scheme {
            name: "3 + coarse 4",
            parts: vec![(3, false, 1.0), (4, true, 1.0)],
            merge: false,
        },
        Scheme {
            name: "3 + coarse 4 + merges",
            parts: vec![(3, false, 1.0), (4, true, 1.0)],
            merge: true,
        },
        Scheme {
            name: "2 + 3 + merges",
            parts: vec![(2, false, 0.5), (3, false, 1.0)],
            merge: true,
        },
        Scheme {
            name: "coarse 5 + merges",
            parts: vec![(5, true, 1.0)],
            merge: true,
        },
        Scheme {
            name: "3 + 4 + coarse5 + merges",
            parts: vec![(3, false, 1.0), (4, false, 1.0), (5, true, 1.0)],
            merge: true,
        },
    ];
    let n = mel.len() as f32;
    for sc in &schemes {
        let mut postings: HashMap<u64, Vec<u32>> = HashMap::new();
        for (i, (_, m)) in mel.iter().enumerate() {
            for (p, &(len, coarse, _)) in sc.parts.iter().enumerate() {
                for k in keys(m, len, coarse) {
                    postings.entry(k * 8 + p as u64).or_default().push(i as u32);
                }
            }
        }
        let mut hits = [0usize; 4];
        for (moves, truth) in &hums {
            let variants = if sc.merge {
                merged_variants(moves)
            } else {
                vec![moves.clone()]
            };
            let mut qk: Vec<(u64, f32)> = Vec::new();
            for (p, &(len, coarse, w)) in sc.parts.iter().enumerate() {
                let mut ks: Vec<u64> = variants.iter().flat_map(|v| keys(v, len, coarse)).collect();
                ks.sort_unstable();
                ks.dedup();
                qk.extend(ks.into_iter().map(|k| (k * 8 + p as u64, w)));
            }
            let mut score: HashMap<u32, f32> = HashMap::new();
            for (k, w) in qk {
                if let Some(s) = postings.get(&k) {
                    let idf = ((1.0 + n) / s.len() as f32).ln() * w;
                    for &i in s {
                        *score.entry(i).or_insert(0.0) += idf;
                    }
                }
            }
            let mut ranked: Vec<(u32, f32)> = score.into_iter().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let r = ranked
                .iter()
                .position(|&(i, _)| mel[i as usize].0 == *truth)
                .unwrap_or(usize::MAX);
            for (h, cut) in hits.iter_mut().zip([50, 200, 500, 1000]) {
                if r < cut {
                    *h += 1;
                }
            }
        }
        println!(
            "{:28} recall@50/200/500/1000 {:?} of {}",
            sc.name,
            hits,
            hums.len()
        );
    }
    Ok(())
}
