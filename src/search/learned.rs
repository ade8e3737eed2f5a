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
use hnsw_rs::prelude::{AnnT, Distance, Hnsw, Point};

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
/// [`SearchSettings`] carries them (and the environment overrides, read once at the edge).
const SHORTLIST: usize = 50;
const CONTOUR_SHORTLIST: usize = 20;
/// Weights of the embedding evidence in the final score, relative to the contour alignment's 1:
/// the vote, [`EmbeddingScores::dense`] and [`EmbeddingScores::diagonal`].
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

/// Cosine distance between unit vectors, `1 - a·b`, clamped at 0. hnsw_rs's own `DistDot`
/// asserts `1 - a·b >= 0`, which rounding breaks for two identical vectors (looped music,
/// duplicate files): one such pair aborted every query of a real library.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClampedCosine;

impl Distance<f32> for ClampedCosine {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        let d = 1.0 - dot(va, vb);
        // NaN (a corrupt vector) sorts last instead of poisoning the graph's ordering.
        if d.is_nan() {
            2.0
        } else {
            d.clamp(0.0, 2.0)
        }
    }
}

/// What each catalog segment (in catalog order) is in the graph: the point that holds its
/// vector (itself, or the first segment with the bit-identical vector), or nothing for a
/// silent segment.
type Layout = Vec<Option<u32>>;

/// A segment whose embedding is all zeros is silent (see [`crate::model::Embedder::embed_song`]).
fn is_silent(v: &[f32]) -> bool {
    v.iter().all(|&x| x == 0.0)
}

/// The segments that hold their own vector in the graph (the others are silent or share).
fn in_graph(layout: &Layout) -> impl Iterator<Item = usize> + '_ {
    (0..layout.len()).filter(|&i| layout[i] == Some(i as u32))
}

/// Which segments enter the graph: silence (and a broken, non-finite vector) stays out (it would only add hubs that every quiet
/// hum window lands on), and a vector identical to one already in (a loop repeated
/// sample-exactly, digital silence with dither, a duplicate file) is stored once and shared.
fn plan_layout(vectors: &[&[f32]]) -> Layout {
    let mut first_with: HashMap<Vec<u32>, u32> = HashMap::new();
    vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if is_silent(v) || v.iter().any(|x| !x.is_finite()) {
                return None;
            }
            let bits: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
            Some(*first_with.entry(bits).or_insert(i as u32))
        })
        .collect()
}

/// Segment embeddings of one model in an HNSW index, with what each point is.
pub struct SegmentIndex {
    hnsw: Hnsw<'static, f32, ClampedCosine>,
    /// Catalog segment (= point id) → (song id, segment start s).
    points: Vec<(i64, f32)>,
    /// Point id → the other segments sharing its vector (exact duplicates kept out of the graph).
    aliases: HashMap<usize, Vec<usize>>,
    /// Song id → its segments' vectors in time order (shared with the HNSW graph, not copied);
    /// `None` for silent segments.
    songs: HashMap<i64, Vec<Option<Arc<Point<'static, f32>>>>>,
    pub built_now: bool,
}

const ANN_BASENAME: &str = "segments";

impl SegmentIndex {
    /// Loads the index saved in `dir` if it was built from the catalog's current segments of
    /// `model`; otherwise builds it from the catalog and saves it.
    pub fn open(dir: &Path, catalog: &Catalog, model: &str) -> Result<Self, LearnedError> {
        let ann_root = dir.join("ann");
        let (count, max_id) = catalog.segments_fingerprint(model)?;
        // One folder per segment set: a folder is complete once it has its name (it is
        // written under a temporary name and renamed), so a crash mid-write or two processes
        // writing at once never leave a half-written index that looks valid.
        let name: String = format!("{model}-{count}-{max_id}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let ann_dir = ann_root.join(&name);
        if count > 0 {
            if let Some(index) = Self::load(&ann_dir, catalog, model)? {
                return Ok(index);
            }
        }
        // Building: now the embeddings are needed.
        let segments = catalog.segments(model)?;
        let points: Vec<(i64, f32)> = segments.iter().map(|s| (s.song_id, s.start_s)).collect();
        let layout = plan_layout(
            &segments
                .iter()
                .map(|s| s.embedding.as_slice())
                .collect::<Vec<_>>(),
        );
        let data: Vec<(&Vec<f32>, usize)> = in_graph(&layout)
            .map(|i| (&segments[i].embedding, i))
            .collect();
        let hnsw = Hnsw::<f32, ClampedCosine>::new(16, data.len().max(1), 16, 100, ClampedCosine);
        hnsw.parallel_insert(&data);
        let mut index = Self::assemble(hnsw, points, &layout, true);
        index.hnsw.set_searching_mode(true);
        if !data.is_empty() {
            index
                .save(&ann_root, &name, &layout)
                .map_err(|e| LearnedError::Ann {
                    path: ann_dir.clone(),
                    why: e.to_string(),
                })?;
        }
        Ok(index)
    }

    /// The saved index in `ann_dir`, if there is a usable one.
    fn load(ann_dir: &Path, catalog: &Catalog, model: &str) -> Result<Option<Self>, LearnedError> {
        let layout: Option<Layout> = std::fs::read_to_string(ann_dir.join("layout.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let Some(layout) = layout else {
            return Ok(None);
        };
        let points = catalog.segment_refs(model)?;
        if layout.len() != points.len() {
            return Ok(None);
        }
        // hnsw_rs asserts on damaged dump files: a panic here means "rebuild".
        let loaded = std::panic::catch_unwind(|| {
            // The loader must outlive the index it hands out: leak it (one per load).
            let io: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(ann_dir, ANN_BASENAME)));
            io.load_hnsw::<f32, ClampedCosine>().ok()
        });
        let Ok(Some(hnsw)) = loaded else {
            return Ok(None);
        };
        if hnsw.get_nb_point() != in_graph(&layout).count() {
            return Ok(None);
        }
        Ok(Some(Self::assemble(hnsw, points, &layout, false)))
    }

    /// Writes the graph and layout into `ann_root/<name>` through a temporary folder and a
    /// rename, then removes the folders of older segment sets.
    fn save(&self, ann_root: &Path, name: &str, layout: &Layout) -> std::io::Result<()> {
        let tmp = ann_root.join(format!(".building-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        self.hnsw
            .file_dump(&tmp, ANN_BASENAME)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let text = serde_json::to_string(layout).map_err(std::io::Error::other)?;
        std::fs::write(tmp.join("layout.json"), text)?;
        for entry in std::fs::read_dir(&tmp)? {
            std::fs::File::open(entry?.path())?.sync_all()?;
        }
        let target = ann_root.join(name);
        if std::fs::rename(&tmp, &target).is_err() {
            // Another process saved the same segment set first: keep theirs.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        for entry in std::fs::read_dir(ann_root)?.flatten() {
            // Other segment sets are stale; so is a temporary folder a killed process left
            // (one being written now is younger than a few minutes).
            let abandoned = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 600);
            let building = entry
                .file_name()
                .to_string_lossy()
                .starts_with(".building-");
            let stale = entry.file_name() != name && (!building || abandoned);
            if stale {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(path)
                } else {
                    std::fs::remove_file(path)
                };
            }
        }
        Ok(())
    }

    fn assemble(
        hnsw: Hnsw<'static, f32, ClampedCosine>,
        points: Vec<(i64, f32)>,
        layout: &Layout,
        built_now: bool,
    ) -> Self {
        let mut aliases: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, holder) in layout.iter().enumerate() {
            if let Some(h) = holder.map(|h| h as usize).filter(|&h| h != i) {
                aliases.entry(h).or_default().push(i);
            }
        }
        let songs = song_vectors(&hnsw, &points, layout);
        Self {
            hnsw,
            points,
            aliases,
            songs,
            built_now,
        }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True when no segment can be searched (no songs, or only silent ones).
    pub fn is_empty(&self) -> bool {
        self.hnsw.get_nb_point() == 0
    }

    /// Each query's nearest segments, searched in parallel: (song id, start s, cosine
    /// similarity). A segment sharing its vector with others stands for all of them.
    pub fn nearest_many(&self, queries: &[Vec<f32>], k: usize) -> Vec<Vec<(i64, f32, f32)>> {
        if self.is_empty() {
            return vec![Vec::new(); queries.len()];
        }
        self.hnsw
            .parallel_search(queries, k, EF_SEARCH.max(k))
            .into_iter()
            .map(|found| {
                let mut out = Vec::with_capacity(found.len());
                for n in found {
                    let sim = 1.0 - n.distance;
                    let sharing = self.aliases.get(&n.d_id).map_or(&[][..], |a| a.as_slice());
                    for &seg in std::iter::once(&n.d_id).chain(sharing) {
                        if let Some(&(song, start)) = self.points.get(seg) {
                            out.push((song, start, sim));
                        }
                    }
                }
                out
            })
            .collect()
    }
}

/// Each song's segment vectors in time order, from the points of the graph (`None` for silent
/// segments; duplicates share their holder's point).
fn song_vectors(
    hnsw: &Hnsw<'static, f32, ClampedCosine>,
    points: &[(i64, f32)],
    layout: &Layout,
) -> HashMap<i64, Vec<Option<Arc<Point<'static, f32>>>>> {
    let mut held: HashMap<usize, Arc<Point<'static, f32>>> = HashMap::new();
    // hnsw_rs's point iterator panics on an empty graph (no entry point).
    if hnsw.get_nb_point() > 0 {
        for point in hnsw.get_point_indexation() {
            held.insert(point.get_origin_id(), point);
        }
    }
    let mut by_song: HashMap<i64, Vec<(f32, Option<Arc<Point<'static, f32>>>)>> = HashMap::new();
    for (i, &(song, start)) in points.iter().enumerate() {
        let vector = layout
            .get(i)
            .copied()
            .flatten()
            .and_then(|h| held.get(&(h as usize)).cloned());
        by_song.entry(song).or_default().push((start, vector));
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
            let row = segments
                .iter()
                .map(|p| p.as_ref().map_or(0.0, |p| dot(w, p.get_v())));
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
    weights: &SearchSettings,
) -> Result<Vec<Match>, SearchError> {
    if index.is_empty() {
        return Err(SearchError::EmptyLibrary);
    }
    let ranked = vote(index, &query.all());
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
    if let Some(path) = &weights.dump_candidates {
        dump_candidates(path, &candidates, ids.len(), &aligned, &scores);
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

/// The learned search's tunable parameters: how many songs each channel passes to the
/// re-ranking and how the final score weighs the contour alignment against the embedding
/// evidence. Defaults were tuned on the dev set (see the constants above); the engine loads
/// them once ([`SearchSettings::from_env`]) and passes them down.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSettings {
    /// Songs the embedding vote passes on (`EARWORM_SHORTLIST`).
    pub shortlist: usize,
    /// Songs the contour channel adds from the whole library; 0 turns it off
    /// (`EARWORM_CONTOUR_SHORTLIST`).
    pub contour_shortlist: usize,
    /// Weights relative to the alignment's 1 (`EARWORM_VOTE_WEIGHT`, `EARWORM_DENSE_WEIGHT`,
    /// `EARWORM_DIAGONAL_WEIGHT`).
    pub vote: f32,
    pub dense: f32,
    pub diagonal: f32,
    /// Append every query's candidates with all their scores here, for tools/tune_rerank.py
    /// (`EARWORM_DUMP_CANDIDATES`).
    pub dump_candidates: Option<std::path::PathBuf>,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            shortlist: SHORTLIST,
            contour_shortlist: CONTOUR_SHORTLIST,
            vote: VOTE_WEIGHT,
            dense: DENSE_WEIGHT,
            diagonal: DIAGONAL_WEIGHT,
            dump_candidates: None,
        }
    }
}

impl SearchSettings {
    /// The defaults with the tuning environment variables applied (unparsable values are
    /// ignored). Read once, when the engine opens: never inside the query path.
    pub fn from_env() -> Self {
        Self::default().with_overrides(|name| std::env::var(name).ok())
    }

    /// The settings with the named overrides `lookup` knows.
    pub fn with_overrides(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let number = |name: &str| lookup(name).and_then(|v| v.trim().parse::<f32>().ok());
        if let Some(v) = number("EARWORM_SHORTLIST") {
            self.shortlist = v.max(0.0) as usize;
        }
        if let Some(v) = number("EARWORM_CONTOUR_SHORTLIST") {
            self.contour_shortlist = v.max(0.0) as usize;
        }
        for (name, field) in [
            ("EARWORM_VOTE_WEIGHT", &mut self.vote),
            ("EARWORM_DENSE_WEIGHT", &mut self.dense),
            ("EARWORM_DIAGONAL_WEIGHT", &mut self.diagonal),
        ] {
            if let Some(v) = number(name).filter(|v| v.is_finite() && *v >= 0.0) {
                *field = v;
            }
        }
        if let Some(path) = lookup("EARWORM_DUMP_CANDIDATES").filter(|p| !p.is_empty()) {
            self.dump_candidates = Some(path.into());
        }
        self
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
    path: &std::path::Path,
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
    fn search_settings_take_overrides_and_ignore_nonsense() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let d = SearchSettings::default();
        assert_eq!(d.with_overrides(env(&[])), SearchSettings::default());
        let s = SearchSettings::default().with_overrides(env(&[
            ("EARWORM_SHORTLIST", "100"),
            ("EARWORM_CONTOUR_SHORTLIST", "0"),
            ("EARWORM_DENSE_WEIGHT", " 0.5 "),
            ("EARWORM_DIAGONAL_WEIGHT", "-1"),
            ("EARWORM_VOTE_WEIGHT", "lots"),
            ("EARWORM_DUMP_CANDIDATES", "/tmp/c.jsonl"),
        ]));
        assert_eq!(s.shortlist, 100);
        assert_eq!(s.contour_shortlist, 0);
        assert_eq!(s.dense, 0.5);
        assert_eq!(s.diagonal, DIAGONAL_WEIGHT, "negative weights are ignored");
        assert_eq!(s.vote, VOTE_WEIGHT, "unparsable values are ignored");
        assert_eq!(
            s.dump_candidates.as_deref(),
            Some(std::path::Path::new("/tmp/c.jsonl"))
        );
    }

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

    /// A unit vector pointing along a mix of axes `a` and `b`.
    fn unit(dim: usize, a: usize, b: usize, mix: f32) -> Vec<f32> {
        let mut v = vec![0.0; dim];
        v[a] = (1.0 - mix * mix).sqrt();
        v[b] += mix;
        v
    }

    #[test]
    fn clamped_cosine_is_safe_for_identical_opposite_and_broken_vectors() {
        // Identical unit vectors whose dot rounds above 1: hnsw_rs's DistDot asserts here.
        let v: Vec<f32> = (0..128)
            .map(|i| ((i * 37 % 11) as f32 - 5.0).sin())
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let v: Vec<f32> = v.iter().map(|x| x / n).collect();
        assert_eq!(ClampedCosine.eval(&v, &v), (1.0 - dot(&v, &v)).max(0.0));
        assert!(ClampedCosine.eval(&v, &v) >= 0.0);
        let minus: Vec<f32> = v.iter().map(|x| -x).collect();
        assert!((ClampedCosine.eval(&v, &minus) - 2.0).abs() < 1e-5);
        let nan = vec![f32::NAN; 128];
        assert_eq!(ClampedCosine.eval(&v, &nan), 2.0);
    }

    #[test]
    fn layout_keeps_silence_out_and_stores_exact_duplicates_once() {
        let (a, b) = (unit(4, 0, 1, 0.3), unit(4, 2, 3, 0.5));
        let silent = vec![0.0; 4];
        let vectors: Vec<&[f32]> = vec![&a, &silent, &b, &a, &a, &silent, &b];
        assert_eq!(
            plan_layout(&vectors),
            vec![Some(0), None, Some(2), Some(0), Some(0), None, Some(2)]
        );
    }

    #[test]
    fn looped_duplicate_and_silent_songs_build_search_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        let melody = Contour::new(25.0, vec![60.0; 10]);
        let dim = 16;
        // Song 1: one phrase looped (segments repeat exactly); song 2: a copy of song 1;
        // song 3: different, with silence in the middle; song 4: all silence.
        let phrase: Vec<Vec<f32>> = (0..4).map(|i| unit(dim, i, i + 4, 0.4)).collect();
        let looped: Vec<(f32, Vec<f32>)> =
            (0..12).map(|k| (k as f32, phrase[k % 4].clone())).collect();
        let other: Vec<(f32, Vec<f32>)> = (0..6)
            .map(|k| {
                let v = if k == 2 || k == 3 {
                    vec![0.0; dim]
                } else {
                    unit(dim, 8 + k, 15, 0.2)
                };
                (k as f32, v)
            })
            .collect();
        let silence: Vec<(f32, Vec<f32>)> = (0..5).map(|k| (k as f32, vec![0.0; dim])).collect();
        let songs: [(&str, &[(f32, Vec<f32>)]); 4] = [
            ("/m/loop.wav", &looped),
            ("/m/loop_copy.wav", &looped),
            ("/m/other.wav", &other),
            ("/m/silence.wav", &silence),
        ];
        for (path, segs) in songs {
            catalog
                .upsert_song(&crate::library::NewSong {
                    path: Path::new(path),
                    size: 1,
                    mtime_ns: 1,
                    hash: path,
                    title: path,
                    artist: "",
                    album: "",
                    duration_s: 12.0,
                    melody: &melody,
                    segments: Some(("m@1", segs)),
                })
                .unwrap();
        }
        for reload in [false, true] {
            let index = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
            assert_eq!(index.built_now, !reload);
            assert_eq!(index.len(), 12 + 12 + 6 + 5);
            // 4 distinct looped vectors + 4 distinct others; silence and repeats stay out.
            assert_eq!(index.hnsw.get_nb_point(), 8);
            let found = &index.nearest_many(&[phrase[1].clone()], 3)[0];
            let exact: HashSet<(i64, u32)> = found
                .iter()
                .filter(|(_, _, sim)| *sim > 0.999)
                .map(|(song, start, _)| (*song, *start as u32))
                .collect();
            // Every place the phrase's second second occurs, in both copies of the loop.
            let expected: HashSet<(i64, u32)> = [1, 2]
                .iter()
                .flat_map(|&song| [1u32, 5, 9].map(|s| (song, s)))
                .collect();
            assert_eq!(exact, expected, "reload {reload}");
            let query = QueryEmbeddings {
                per_stretch: vec![phrase.clone()],
            };
            let scores = embedding_scores(&index, &query, 1);
            // (Windows here are a segment apart, not QUERY_HOP: only `dense` is exact.)
            assert!(scores.dense > 0.99 && scores.diagonal > 0.0, "{scores:?}");
            assert_eq!(
                embedding_scores(&index, &query, 4),
                EmbeddingScores::default()
            );
        }
    }

    #[test]
    fn simd_dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..131).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..131).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
    }
}
