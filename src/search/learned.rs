//! The learned search: the hum is embedded (overlapping windows at a few time stretches), each
//! window's nearest song segments are found in an HNSW index and songs are scored by their
//! votes. The best few, joined by the contour search's best few over the whole library, are
//! aligned by the baseline's contour alignment (which supplies the matched start/end and the
//! alignment path) and ranked by that alignment plus two embedding scores of the hum against
//! each song's segments.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hnsw_rs::hnswio::HnswIo;
use hnsw_rs::prelude::{AnnT, DistDot, Hnsw, Point};

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
/// The re-ranking's candidates come from two channels: the embedding vote's best
/// [`SHORTLIST`] songs and the contour search's best [`CONTOUR_SHORTLIST`] by its stage 1 over
/// the whole library; the channels miss different hums (dev set: 95.5% and 93.0% recall alone,
/// 98.7% together). Chosen with the weights below on the first 600 dev queries
/// (tools/tune_rerank.py; vote lists of 50 and 100 tie there, 50 is faster).
/// `EARWORM_SHORTLIST` and `EARWORM_CONTOUR_SHORTLIST` (0 turns the channel off) override them.
const SHORTLIST: usize = 50;
const CONTOUR_SHORTLIST: usize = 20;
/// Weights of the embedding evidence in the final score, relative to the contour alignment's 1:
/// the vote, [`EmbeddingScores::dense`] and [`EmbeddingScores::diagonal`].
/// `EARWORM_VOTE_WEIGHT`, `EARWORM_DENSE_WEIGHT`, `EARWORM_DIAGONAL_WEIGHT` override them.
const VOTE_WEIGHT: f32 = 0.0;
const DENSE_WEIGHT: f32 = 0.2;
const DIAGONAL_WEIGHT: f32 = 0.2;
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
    /// Song id → its segments' vectors in time order (shared with the HNSW graph, not copied).
    songs: HashMap<i64, Vec<Arc<Point<'static, f32>>>>,
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
                    let songs = song_vectors(&hnsw, &points);
                    return Ok(Self {
                        hnsw,
                        points,
                        songs,
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
        let songs = song_vectors(&hnsw, &points);
        let mut index = Self {
            hnsw,
            points,
            songs,
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

    /// Each query's nearest segments, searched in parallel: (song id, start s, cosine
    /// similarity).
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

/// Each song's segment vectors in time order, from the points of the graph.
fn song_vectors(
    hnsw: &Hnsw<'static, f32, DistDot>,
    points: &[(i64, f32)],
) -> HashMap<i64, Vec<Arc<Point<'static, f32>>>> {
    let mut by_song: HashMap<i64, Vec<(f32, Arc<Point<'static, f32>>)>> = HashMap::new();
    // hnsw_rs's point iterator panics on an empty graph (no entry point).
    if hnsw.get_nb_point() == 0 {
        return HashMap::new();
    }
    for point in hnsw.get_point_indexation() {
        if let Some(&(song, start)) = points.get(point.get_origin_id()) {
            by_song.entry(song).or_default().push((start, point));
        }
    }
    by_song
        .into_iter()
        .map(|(song, mut segs)| {
            segs.sort_by(|a, b| a.0.total_cmp(&b.0));
            (song, segs.into_iter().map(|(_, p)| p).collect())
        })
        .collect()
}

/// A hum's window embeddings: for each of [`QUERY_STRETCHES`], its windows in time order
/// ([`QUERY_HOP`] frames apart in the stretched spectrogram).
pub struct QueryEmbeddings {
    pub per_stretch: Vec<Vec<Vec<f32>>>,
}

impl QueryEmbeddings {
    /// Every window, whatever its stretch.
    pub fn all(&self) -> Vec<Vec<f32>> {
        self.per_stretch.iter().flatten().cloned().collect()
    }
}

/// How well the hum's windows match one song's segments, from the embeddings alone.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EmbeddingScores {
    /// Mean over hum windows of the best cosine with any of the song's segments.
    pub dense: f32,
    /// Like `dense`, but every window must match at one common offset (the hum laid along the
    /// song in order, as sung): best offset and stretch.
    pub diagonal: f32,
}

/// [`EmbeddingScores`] of a song: compares every hum window with every segment of the song.
pub fn embedding_scores(
    index: &SegmentIndex,
    query: &QueryEmbeddings,
    song: i64,
) -> EmbeddingScores {
    let Some(segments) = index.songs.get(&song) else {
        return EmbeddingScores::default();
    };
    let n_seg = segments.len();
    let (mut dense_sum, mut dense_n, mut diagonal) = (0.0f32, 0usize, 0.0f32);
    let mut sims = Vec::new();
    for windows in &query.per_stretch {
        if windows.is_empty() || n_seg == 0 {
            continue;
        }
        sims.clear();
        for w in windows {
            let row = segments.iter().map(|p| dot(w, p.get_v()));
            sims.extend(row);
        }
        for row in sims.chunks(n_seg) {
            dense_sum += row.iter().copied().fold(f32::MIN, f32::max).max(0.0);
            dense_n += 1;
        }
        // Window i starts QUERY_HOP·i frames into the hum; at offset o (in frames) it lies on
        // the segment starting nearest to o + QUERY_HOP·i. Offsets step half a segment hop.
        let hop = crate::model::SONG_SEGMENT_HOP as f32;
        let n_w = windows.len();
        let first = -((QUERY_HOP * n_w) as f32);
        let steps = ((n_seg as f32 * hop - first) / (hop / 2.0)).ceil() as usize + 1;
        for k in 0..steps {
            let o = first + k as f32 * hop / 2.0;
            let mut total = 0.0;
            for (i, row) in sims.chunks(n_seg).enumerate() {
                let j = ((o + (QUERY_HOP * i) as f32) / hop).round();
                if j >= 0.0 && (j as usize) < n_seg {
                    total += row[j as usize].max(0.0);
                }
            }
            diagonal = diagonal.max(total / n_w as f32);
        }
    }
    EmbeddingScores {
        dense: if dense_n > 0 {
            dense_sum / dense_n as f32
        } else {
            0.0
        },
        diagonal,
    }
}

/// Dot product with eight running sums, which the compiler turns into SIMD (a single sum is a
/// serial chain it may not reorder).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Query embeddings of a hum: windows at several stretches.
pub fn embed_query(embedder: &Embedder, samples: &[f32]) -> Result<QueryEmbeddings, ModelError> {
    let spec = features::spectrogram(&embedder.params, samples);
    embed_query_spectrogram(embedder, &spec)
}

pub fn embed_query_spectrogram(
    embedder: &Embedder,
    spec: &Spectrogram,
) -> Result<QueryEmbeddings, ModelError> {
    use rayon::prelude::*;
    // One job per stretch, so the work spreads over the cores (beside the pitch tracking).
    let per_stretch = QUERY_STRETCHES
        .par_iter()
        .map(|&stretch| {
            let windows = embedder.embed_spectrogram(&spec.stretch(stretch), QUERY_HOP)?;
            Ok(windows.into_iter().map(|(_, e)| e).collect())
        })
        .collect::<Result<Vec<Vec<Vec<f32>>>, ModelError>>()?;
    Ok(QueryEmbeddings { per_stretch })
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
    query: &QueryEmbeddings,
    hum: &Contour,
    top: usize,
) -> Result<Vec<Match>, SearchError> {
    if index.is_empty() {
        return Err(SearchError::EmptyLibrary);
    }
    let ranked = vote(index, &query.all());
    let weights = FusionWeights::from_env();
    let mut candidates: Vec<(i64, f32)> = ranked
        .iter()
        .copied()
        .take(weights.shortlist.max(top))
        .collect();
    let ids: HashSet<i64> = candidates.iter().map(|s| s.0).collect();
    // The contour channel adds the library's best stage-1 songs the vote missed (see
    // SHORTLIST for why).
    let aligned: HashMap<i64, (usize, Match)> =
        match contours.align_candidates(hum, &ids, weights.contour_shortlist) {
            Ok(ms) => ms
                .into_iter()
                .map(|(rank, m)| (m.song_id, (rank, m)))
                .collect(),
            Err(SearchError::NotEnoughMelody { .. }) => HashMap::new(),
            Err(e) => return Err(e),
        };
    let vote_of: HashMap<i64, f32> = ranked.iter().copied().collect();
    let mut extra: Vec<i64> = aligned
        .keys()
        .filter(|id| !ids.contains(id))
        .copied()
        .collect();
    extra.sort_unstable();
    candidates.extend(
        extra
            .into_iter()
            .map(|id| (id, vote_of.get(&id).copied().unwrap_or(0.0))),
    );
    let scores: Vec<EmbeddingScores> = super::parallel_map(&candidates, |&(song, _)| {
        embedding_scores(index, query, song)
    });
    if let Ok(path) = std::env::var("EARWORM_DUMP_CANDIDATES") {
        dump_candidates(&path, &candidates, ids.len(), &aligned, &scores);
    }
    let mut out: Vec<Match> = candidates
        .iter()
        .zip(&scores)
        .map(|(&(song, vote), embedded)| {
            let found = aligned.get(&song).map(|(_, m)| m.clone()).unwrap_or(Match {
                song_id: song,
                score: 0.0,
                start_s: 0.0,
                end_s: 0.0,
                alignment: Default::default(),
            });
            Match {
                score: weights.fuse(found.score, vote, embedded),
                ..found
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out.truncate(top);
    Ok(out)
}

/// How the final score weighs the contour alignment against the embedding evidence.
#[derive(Debug, Clone, Copy)]
struct FusionWeights {
    shortlist: usize,
    contour_shortlist: usize,
    vote: f32,
    dense: f32,
    diagonal: f32,
}

impl FusionWeights {
    /// The defaults, or the tuning environment variables when set.
    fn from_env() -> Self {
        let knob = |name: &str, default: f32| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<f32>().ok())
                .unwrap_or(default)
        };
        Self {
            shortlist: knob("EARWORM_SHORTLIST", SHORTLIST as f32) as usize,
            contour_shortlist: knob("EARWORM_CONTOUR_SHORTLIST", CONTOUR_SHORTLIST as f32) as usize,
            vote: knob("EARWORM_VOTE_WEIGHT", VOTE_WEIGHT),
            dense: knob("EARWORM_DENSE_WEIGHT", DENSE_WEIGHT),
            diagonal: knob("EARWORM_DIAGONAL_WEIGHT", DIAGONAL_WEIGHT),
        }
    }

    /// A weighted mean, so a perfect match on every measure still scores 1.
    fn fuse(&self, alignment: f32, vote: f32, embedded: &EmbeddingScores) -> f32 {
        let total = alignment
            + self.vote * vote
            + self.dense * embedded.dense
            + self.diagonal * embedded.diagonal;
        total / (1.0 + self.vote + self.dense + self.diagonal)
    }
}

/// Appends one JSON line per query: each candidate as [song id, vote, alignment score or null,
/// dense, diagonal, vote rank (null for songs only the contour channel found), contour stage-1
/// rank or null], for tuning the re-ranking offline (tools/tune_rerank.py).
fn dump_candidates(
    path: &str,
    candidates: &[(i64, f32)],
    from_vote: usize,
    aligned: &HashMap<i64, (usize, Match)>,
    scores: &[EmbeddingScores],
) {
    use std::io::Write;
    let rows: Vec<serde_json::Value> = candidates
        .iter()
        .zip(scores)
        .enumerate()
        .map(|(vote_rank, (&(song, v), e))| {
            let (contour_rank, score) = match aligned.get(&song) {
                Some((r, m)) => (Some(*r), Some(m.score)),
                None => (None, None),
            };
            let vote_rank = (vote_rank < from_vote).then_some(vote_rank);
            serde_json::json!([song, v, score, e.dense, e.diagonal, vote_rank, contour_rank])
        })
        .collect();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{}", serde_json::Value::Array(rows));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_library_opens_and_reports_empty() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        let index = SegmentIndex::open(dir.path(), &catalog, "m@0").unwrap();
        assert!(index.is_empty());
        let query = QueryEmbeddings {
            per_stretch: vec![vec![vec![0.1; 8]]],
        };
        assert_eq!(
            embedding_scores(&index, &query, 1),
            EmbeddingScores::default()
        );
    }

    #[test]
    fn simd_dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..131).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..131).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
    }
}
