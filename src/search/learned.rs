//! The learned search: the hum is embedded (overlapping windows at a few time stretches), each
//! window's nearest song segments are found in an HNSW index, songs are scored by their votes,
//! and the best few are re-ranked by the baseline's contour alignment, which also supplies the
//! matched start/end and the alignment path.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use hnsw_rs::hnswio::HnswIo;
use hnsw_rs::prelude::{AnnT, DistDot, Hnsw};

use super::{Match, MelodySearcher, SearchError};
use crate::library::{Catalog, CatalogError};
use crate::melody::Contour;
use crate::model::features::{self, Spectrogram};
use crate::model::{Embedder, ModelError};

/// Hum windows are this many frames apart (0.48 s).
const QUERY_HOP: usize = 12;
/// Time stretches applied to the hum before embedding: hums are often slower or faster.
const QUERY_STRETCHES: [f32; 3] = [0.8, 1.0, 1.25];
/// Nearest segments per query window.
const NEIGHBOURS: usize = 40;
/// Songs passed from the vote to the contour re-ranking. Chosen with the vote weight on 600 dev
/// queries (tools/tune_rerank.py): 100 holds the right song 97% of the time; the re-ranking costs
/// ~2 ms per song, so 20 answers in half the time with ~2.5 points less top-1.
/// `EARWORM_SHORTLIST` overrides it.
const SHORTLIST: usize = 100;
/// Weight of the embedding vote in the final score (the rest is the contour alignment);
/// `EARWORM_VOTE_WEIGHT` overrides it.
const VOTE_WEIGHT: f32 = 0.1;
const EF_SEARCH: usize = 96;

#[derive(Debug, thiserror::Error)]
pub enum LearnedError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error("ANN index in {path}: {why}")]
    Ann { path: PathBuf, why: String },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct AnnMeta {
    model: String,
    count: i64,
    max_id: i64,
}

/// Segment embeddings of one model in an HNSW index, with what each point is.
pub struct SegmentIndex {
    hnsw: Hnsw<'static, f32, DistDot>,
    /// Point id → (song id, segment start s).
    points: Vec<(i64, f32)>,
    pub built_now: bool,
}

const ANN_BASENAME: &str = "segments";

impl SegmentIndex {
    /// Loads the index saved in `dir` if it was built from the catalog's current segments of
    /// `model`; otherwise builds it from the catalog and saves it.
    pub fn open(dir: &Path, catalog: &Catalog, model: &str) -> Result<Self, LearnedError> {
        let ann_dir = dir.join("ann");
        let (count, max_id) = catalog.segments_fingerprint(model)?;
        let meta = AnnMeta {
            model: model.into(),
            count,
            max_id,
        };
        let meta_path = ann_dir.join("meta.json");
        let saved: Option<AnnMeta> = std::fs::read_to_string(&meta_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if saved.as_ref() == Some(&meta) && count > 0 {
            let points = catalog.segment_refs(model)?;
            // The loader must outlive the index it hands out: leak it (one per load).
            let io: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(&ann_dir, ANN_BASENAME)));
            if let Ok(hnsw) = io.load_hnsw::<f32, DistDot>() {
                if hnsw.get_nb_point() == points.len() {
                    return Ok(Self {
                        hnsw,
                        points,
                        built_now: false,
                    });
                }
            }
        }
        // Building: now the embeddings are needed.
        let segments = catalog.segments(model)?;
        let points: Vec<(i64, f32)> = segments.iter().map(|s| (s.song_id, s.start_s)).collect();
        let hnsw = Hnsw::<f32, DistDot>::new(16, segments.len().max(1), 16, 100, DistDot {});
        let data: Vec<(&Vec<f32>, usize)> = segments
            .iter()
            .enumerate()
            .map(|(i, s)| (&s.embedding, i))
            .collect();
        hnsw.parallel_insert(&data);
        let mut index = Self {
            hnsw,
            points,
            built_now: true,
        };
        index.hnsw.set_searching_mode(true);
        if count > 0 {
            let ann_err = |why: String| LearnedError::Ann {
                path: ann_dir.clone(),
                why,
            };
            std::fs::create_dir_all(&ann_dir).map_err(|e| ann_err(e.to_string()))?;
            // Meta last: a crash mid-dump leaves a stale meta that no longer matches.
            let _ = std::fs::remove_file(&meta_path);
            index
                .hnsw
                .file_dump(&ann_dir, ANN_BASENAME)
                .map_err(|e| ann_err(e.to_string()))?;
            let tmp = meta_path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_string(&meta).unwrap_or_default())
                .and_then(|_| std::fs::rename(&tmp, &meta_path))
                .map_err(|e| ann_err(e.to_string()))?;
        }
        Ok(index)
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Nearest segments: (song id, start s, cosine similarity).
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<(i64, f32, f32)> {
        if self.points.is_empty() {
            return Vec::new();
        }
        self.hnsw
            .search(query, k, EF_SEARCH.max(k))
            .into_iter()
            .filter_map(|n| {
                self.points
                    .get(n.d_id)
                    .map(|&(song, start)| (song, start, 1.0 - n.distance))
            })
            .collect()
    }
}

impl SegmentIndex {
    /// [`Self::nearest`] for many queries at once, searched in parallel.
    pub fn nearest_many(&self, queries: &[Vec<f32>], k: usize) -> Vec<Vec<(i64, f32, f32)>> {
        if self.points.is_empty() {
            return vec![Vec::new(); queries.len()];
        }
        self.hnsw
            .parallel_search(queries, k, EF_SEARCH.max(k))
            .into_iter()
            .map(|found| {
                found
                    .into_iter()
                    .filter_map(|n| {
                        self.points
                            .get(n.d_id)
                            .map(|&(song, start)| (song, start, 1.0 - n.distance))
                    })
                    .collect()
            })
            .collect()
    }
}

/// Query embeddings of a hum: windows at several stretches.
pub fn embed_query(embedder: &Embedder, samples: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
    let spec = features::spectrogram(&embedder.params, samples);
    embed_query_spectrogram(embedder, &spec)
}

pub fn embed_query_spectrogram(
    embedder: &Embedder,
    spec: &Spectrogram,
) -> Result<Vec<Vec<f32>>, ModelError> {
    let mut out = Vec::new();
    for &stretch in &QUERY_STRETCHES {
        let s = spec.stretch(stretch);
        out.extend(
            embedder
                .embed_spectrogram(&s, QUERY_HOP)?
                .into_iter()
                .map(|(_, e)| e),
        );
    }
    Ok(out)
}

/// Per-song vote: for each query window, a song's best similarity among the window's
/// neighbours; summed over windows and divided by their number (a mean best cosine).
pub fn vote(index: &SegmentIndex, queries: &[Vec<f32>]) -> Vec<(i64, f32)> {
    let mut score: HashMap<i64, f32> = HashMap::new();
    for neighbours in index.nearest_many(queries, NEIGHBOURS) {
        let mut best: HashMap<i64, f32> = HashMap::new();
        for (song, _, sim) in neighbours {
            let b = best.entry(song).or_insert(f32::MIN);
            *b = b.max(sim);
        }
        for (song, sim) in best {
            *score.entry(song).or_insert(0.0) += sim.max(0.0);
        }
    }
    let n = queries.len().max(1) as f32;
    let mut ranked: Vec<(i64, f32)> = score.into_iter().map(|(s, v)| (s, v / n)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

/// The full learned search: vote, shortlist, contour re-ranking. Songs the contour stage cannot
/// align keep their vote (with no alignment), so a hum the pitch tracker struggles with still
/// gets answers.
pub fn search(
    index: &SegmentIndex,
    contours: &MelodySearcher,
    queries: &[Vec<f32>],
    hum: &Contour,
    top: usize,
) -> Result<Vec<Match>, SearchError> {
    if index.is_empty() {
        return Err(SearchError::EmptyLibrary);
    }
    let ranked = vote(index, queries);
    // Tuning knobs (defaults above): EARWORM_SHORTLIST, EARWORM_VOTE_WEIGHT.
    let knob = |name: &str, default: f32| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<f32>().ok())
            .unwrap_or(default)
    };
    let shortlist_len = knob("EARWORM_SHORTLIST", SHORTLIST as f32) as usize;
    let vote_weight = knob("EARWORM_VOTE_WEIGHT", VOTE_WEIGHT);
    let shortlist: Vec<(i64, f32)> = ranked.into_iter().take(shortlist_len.max(top)).collect();
    let ids: HashSet<i64> = shortlist.iter().map(|s| s.0).collect();
    let aligned: HashMap<i64, Match> = match contours.search_among(hum, ids.len(), Some(&ids)) {
        Ok(ms) => ms.into_iter().map(|m| (m.song_id, m)).collect(),
        Err(SearchError::NotEnoughMelody { .. }) => HashMap::new(),
        Err(e) => return Err(e),
    };
    if let Ok(path) = std::env::var("EARWORM_DUMP_CANDIDATES") {
        dump_candidates(&path, &shortlist, &aligned);
    }
    let mut out: Vec<Match> = shortlist
        .iter()
        .map(|&(song, v)| match aligned.get(&song) {
            Some(m) => Match {
                score: vote_weight * v + (1.0 - vote_weight) * m.score,
                ..m.clone()
            },
            None => Match {
                song_id: song,
                score: vote_weight * v,
                start_s: 0.0,
                end_s: 0.0,
                alignment: Default::default(),
            },
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out.truncate(top);
    Ok(out)
}

/// Appends one JSON line per query: the shortlist as [song id, vote, alignment score or null]
/// (for tuning the shortlist length and vote weight offline; see tools/tune_rerank.py).
fn dump_candidates(path: &str, shortlist: &[(i64, f32)], aligned: &HashMap<i64, Match>) {
    use std::io::Write;
    let rows: Vec<serde_json::Value> = shortlist
        .iter()
        .map(|&(song, v)| serde_json::json!([song, v, aligned.get(&song).map(|m| m.score)]))
        .collect();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{}", serde_json::Value::Array(rows));
    }
}
