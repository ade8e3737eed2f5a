//! The segment index: every song segment's embedding, quantised to 8 bits, in an inverted file
//! (IVF) of k-means cells. A query vector is compared with the cell centres and then only with
//! the points of its nearest [`AnnSettings::probe`] cells, so a query reads a small, roughly
//! constant share of a large library.
//!
//! The catalog stays the source of truth. The index is saved as one file beside it and knows,
//! per song, how many segments it took and the newest segment id; opening it compares that with
//! the catalog and applies the difference (new and re-analysed songs are added to their nearest
//! cells, removed ones dropped), so adding one song never rebuilds the index. The cells are
//! re-trained only when the library has changed a lot since they were ([`needs_compaction`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::grams::GramIndex;
use super::{Catalog, CatalogError};
use crate::dsp::dot;

/// File format version; a file of another version is rebuilt.
const FORMAT: u32 = 5;
const MAGIC: &[u8; 8] = b"EWIVF\0\0\0";
/// Songs read from the catalog at a time while building (bounds the f32 copies in memory).
const LOAD_BATCH: usize = 256;
/// k-means iterations and the sample it trains on (points per cell).
const KMEANS_ROUNDS: usize = 8;
const KMEANS_SAMPLE_PER_CELL: usize = 32;
const MAX_CELLS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum AnnError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("ANN index {path}: {why}")]
    Io { path: PathBuf, why: String },
}

/// How much of the index a query reads.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnnSettings {
    /// Cells searched per query vector (more: better recall, slower). Each cell holds about
    /// √(segments) points.
    pub probe: usize,
}

impl Default for AnnSettings {
    fn default() -> Self {
        // Chosen with `earworm bench scale`: recall@10 against exact search ≥ 0.9 at 10,000 songs
        // (docs/MEASURED.md, "Scale").
        Self { probe: 24 }
    }
}

/// One neighbour of a query vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    pub song: i64,
    pub start_s: f32,
    /// Cosine similarity (of the quantised vector).
    pub similarity: f32,
}

/// What opening the index had to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The cells were trained anew (no usable saved index, or compaction).
    pub built: bool,
    pub songs_added: usize,
    pub songs_removed: usize,
    /// The index file was written.
    pub saved: bool,
}

/// A song's points, in time order (not contiguous: points are stored cell by cell).
#[derive(Debug, Clone, PartialEq)]
struct SongPoints {
    points: Vec<u32>,
    /// What the catalog said when the song was added: segment count and newest segment id.
    segments: i64,
    newest: i64,
}

/// Segment embeddings of one model, searchable.
pub struct SegmentIndex {
    model: String,
    dim: usize,
    /// Cell centres, unit length, `cells × dim`.
    centroids: Vec<f32>,
    /// Point numbers per cell.
    cells: Vec<Vec<u32>>,
    /// Points: int8 codes (`points × dim`), the scale that turns a code back into the vector
    /// (0 for silence and for removed points, which are never returned), start time, song.
    codes: Vec<i8>,
    scales: Vec<f32>,
    starts: Vec<f32>,
    owners: Vec<i64>,
    songs: HashMap<i64, SongPoints>,
    /// Each song's tune as pitch moves ([`crate::melody::Contour::note_moves`]), and the
    /// melody channel's n-gram index over them (rebuilt in memory when the index opens).
    moves: HashMap<i64, Vec<i8>>,
    grams: GramIndex,
    /// Each song's pitch-class sketch ([`crate::melody::Contour::pitch_class_sketch`]): the
    /// contour channel scans its pool from these instead of reading contours from the catalog.
    sketches: HashMap<i64, Vec<u8>>,
    /// The same of each song's second voice, where it has one (the tune under a descant).
    voice_sketches: HashMap<i64, Vec<u8>>,
    /// Whether this index keeps the tunes above (only the main one of a library does).
    with_tunes: bool,
    /// Live (non-removed, non-silent) points when the cells were trained, and removed points
    /// still taking space: what [`needs_compaction`] weighs.
    trained_on: u64,
    removed: u64,
    pub report: OpenReport,
}

/// One song's vectors, for scoring a hum against all of it.
pub struct SongVectors<'a> {
    codes: &'a [i8],
    scales: &'a [f32],
    points: &'a [u32],
    dim: usize,
}

impl SongVectors<'_> {
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Cosine similarity of `query` (unit length) with segment `i` (0 for a silent one).
    pub fn similarity(&self, query: &[f32], i: usize) -> f32 {
        let p = self.points[i] as usize;
        let scale = self.scales[p];
        if scale == 0.0 {
            return 0.0;
        }
        scale * dot_i8(query, &self.codes[p * self.dim..(p + 1) * self.dim])
    }

    /// Whether segment `i` is silent (stored as a zero vector).
    pub fn is_silent(&self, i: usize) -> bool {
        self.scales[self.points[i] as usize] == 0.0
    }

    /// Cosine similarity of segment `i` here with segment `j` of `other` (0 where either is
    /// silent). Both must come from indexes of the same dimension.
    pub fn similarity_with(&self, i: usize, other: &SongVectors, j: usize) -> f32 {
        let (p, q) = (self.points[i] as usize, other.points[j] as usize);
        let scale = self.scales[p] * other.scales[q];
        if scale == 0.0 || self.dim != other.dim {
            return 0.0;
        }
        let a = &self.codes[p * self.dim..(p + 1) * self.dim];
        let b = &other.codes[q * other.dim..(q + 1) * other.dim];
        scale
            * a.iter()
                .zip(b)
                .map(|(&x, &y)| x as i32 * y as i32)
                .sum::<i32>() as f32
    }
}

/// The index file of `model` in the database folder `db_dir`.
pub fn index_path(db_dir: &Path, model: &str) -> PathBuf {
    let name: String = model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    db_dir.join("ann").join(format!("{name}.ivf"))
}

/// Cells for `points` live points: about √points, so a cell holds about as many points as
/// there are cells and probing a fixed number of cells reads ~probe·√points points.
fn cell_count(points: usize) -> usize {
    ((points as f64).sqrt().round() as usize).clamp(1, MAX_CELLS)
}

/// Re-train the cells when removed points are a quarter of the index, or the library has grown
/// fourfold since the cells were trained (cells then hold too many points to stay fast).
fn needs_compaction(trained_on: u64, live: u64, removed: u64) -> bool {
    removed * 4 > live + removed || live > trained_on.max(256) * 4
}

/// `x` as int8 codes and the scale that restores it; silence and broken vectors get scale 0.
fn quantise(x: &[f32], codes: &mut Vec<i8>) -> f32 {
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if peak == 0.0 || !peak.is_finite() || x.iter().any(|v| !v.is_finite()) {
        codes.extend(std::iter::repeat_n(0i8, x.len()));
        return 0.0;
    }
    let scale = peak / 127.0;
    codes.extend(
        x.iter()
            .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8),
    );
    scale
}

/// Dot product of a float vector with int8 codes. The work of every search and of filing
/// points in cells: on x86-64 CPUs with AVX2 and FMA (checked once) a copy of the same code
/// compiled for them runs, twice as wide as the baseline SSE2 build.
pub(crate) fn dot_i8(a: &[f32], b: &[i8]) -> f32 {
    (dot_i8_kernel())(a, b)
}

/// The fastest [`dot_i8`] this CPU runs; callers in hot loops fetch it once.
pub(crate) fn dot_i8_kernel() -> fn(&[f32], &[i8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static WIDE: OnceLock<bool> = OnceLock::new();
        let wide = *WIDE.get_or_init(|| {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        });
        if wide {
            return dot_i8_avx2_safe;
        }
    }
    dot_i8_portable
}

#[cfg(target_arch = "x86_64")]
fn dot_i8_avx2_safe(a: &[f32], b: &[i8]) -> f32 {
    // SAFETY: only returned by `dot_i8_kernel` after checking the CPU has AVX2 and FMA.
    unsafe { dot_i8_avx2(a, b) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_i8_avx2(a: &[f32], b: &[i8]) -> f32 {
    dot_i8_body(a, b)
}

fn dot_i8_portable(a: &[f32], b: &[i8]) -> f32 {
    dot_i8_body(a, b)
}

/// Inlined into each kernel, so that each is compiled for its own instruction set.
#[inline(always)]
fn dot_i8_body(a: &[f32], b: &[i8]) -> f32 {
    crate::dsp::dot_sums(a, b)
}

fn normalise(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// The `k` largest by score, best first (ties: lower index first, so results are stable).
fn top_k(mut scored: Vec<(f32, u32)>, k: usize) -> Vec<(f32, u32)> {
    let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if scored.len() > k && k > 0 {
        scored.select_nth_unstable_by(k - 1, order);
        scored.truncate(k);
    }
    scored.sort_by(order);
    scored.truncate(k);
    scored
}

impl SegmentIndex {
    /// Opens the saved index of `model` in `db_dir` and brings it up to date with the catalog
    /// (adding and dropping the songs that changed, saving when anything did); builds it when
    /// there is no usable saved index.
    pub fn open(db_dir: &Path, catalog: &Catalog, model: &str) -> Result<Self, AnnError> {
        Self::open_with(db_dir, catalog, model, true)
    }

    /// [`Self::open`] for a second set of vectors of the same songs (their melody segments):
    /// the songs' tunes (moves, sketches) are kept only in the main index.
    pub fn open_vectors_only(
        db_dir: &Path,
        catalog: &Catalog,
        model: &str,
    ) -> Result<Self, AnnError> {
        Self::open_with(db_dir, catalog, model, false)
    }

    fn open_with(
        db_dir: &Path,
        catalog: &Catalog,
        model: &str,
        with_tunes: bool,
    ) -> Result<Self, AnnError> {
        let path = index_path(db_dir, model);
        let summary = catalog.segment_summary(model)?;
        let mut index = match Self::load(&path, model) {
            Some(index) => index,
            None => Self::empty(model),
        };
        index.with_tunes = with_tunes;
        let fresh = index.cells.is_empty();
        let in_catalog: HashMap<i64, (i64, i64)> = summary
            .iter()
            .map(|&(s, n, newest)| (s, (n, newest)))
            .collect();
        let stale: Vec<i64> = index
            .songs
            .iter()
            .filter(|(song, p)| in_catalog.get(song) != Some(&(p.segments, p.newest)))
            .map(|(&song, _)| song)
            .collect();
        let to_add: Vec<i64> = summary
            .iter()
            .filter(|(song, n, newest)| {
                index
                    .songs
                    .get(song)
                    .is_none_or(|p| (p.segments, p.newest) != (*n, *newest))
            })
            .map(|&(song, _, _)| song)
            .collect();
        for song in &stale {
            index.remove_song(*song);
        }
        let added_points: i64 = summary
            .iter()
            .filter(|(s, _, _)| to_add.binary_search(s).is_ok())
            .map(|(_, n, _)| n)
            .sum();
        let live_after = index.live_points() as u64 + added_points.max(0) as u64;
        let rebuild = fresh || needs_compaction(index.trained_on, live_after, index.removed);
        let mut report = OpenReport {
            songs_added: to_add.len(),
            songs_removed: stale.iter().filter(|s| !in_catalog.contains_key(s)).count(),
            ..Default::default()
        };
        if rebuild {
            let songs: Vec<i64> = summary.iter().map(|s| s.0).collect();
            index = Self::build(catalog, model, &songs, with_tunes)?;
            report.built = true;
        } else {
            index.add_songs(catalog, &to_add)?;
        }
        if report.built || !to_add.is_empty() || !stale.is_empty() {
            if !index.owners.is_empty() || path.exists() {
                index.save(&path)?;
                report.saved = true;
            }
        }
        index.report = report;
        index.grams = GramIndex::new(
            index
                .moves
                .iter()
                .filter(|(song, _)| index.songs.contains_key(song))
                .map(|(&song, m)| (song, m.as_slice())),
        );
        Ok(index)
    }

    /// The melody channel: the `k` songs whose tunes share the most runs of pitch moves with
    /// `moves` (a hum's [`crate::melody::Contour::note_moves`]), best first.
    pub fn melody_candidates(&self, moves: &[i8], k: usize) -> Vec<(i64, f32)> {
        self.grams.best(moves, k)
    }

    /// A song's pitch-class sketch, when it has a melody.
    pub fn sketch(&self, song: i64) -> Option<&[u8]> {
        self.sketches.get(&song).map(|s| s.as_slice())
    }

    /// Songs that keep a second voice, by id.
    pub fn songs_with_second_voice(&self) -> Vec<i64> {
        let mut songs: Vec<i64> = self.voice_sketches.keys().copied().collect();
        songs.sort_unstable();
        songs
    }

    /// A song's second voice's pitch-class sketch, when it has a second voice.
    pub fn voice_sketch(&self, song: i64) -> Option<&[u8]> {
        self.voice_sketches.get(&song).map(|s| s.as_slice())
    }

    fn empty(model: &str) -> Self {
        Self {
            model: model.to_string(),
            dim: 0,
            centroids: Vec::new(),
            cells: Vec::new(),
            codes: Vec::new(),
            scales: Vec::new(),
            starts: Vec::new(),
            owners: Vec::new(),
            songs: HashMap::new(),
            moves: HashMap::new(),
            grams: GramIndex::default(),
            sketches: HashMap::new(),
            voice_sketches: HashMap::new(),
            with_tunes: true,
            trained_on: 0,
            removed: 0,
            report: OpenReport::default(),
        }
    }

    /// Builds the index of `songs` from the catalog: quantises every segment, trains the cells
    /// on a sample of them and files every point in its nearest cell.
    fn build(
        catalog: &Catalog,
        model: &str,
        songs: &[i64],
        with_tunes: bool,
    ) -> Result<Self, AnnError> {
        let mut index = Self::empty(model);
        index.with_tunes = with_tunes;
        for batch in songs.chunks(LOAD_BATCH) {
            index.append(catalog, batch)?;
        }
        let live: Vec<u32> = (0..index.scales.len() as u32)
            .filter(|&p| index.scales[p as usize] > 0.0)
            .collect();
        index.train_cells(&live);
        index.trained_on = live.len() as u64;
        let assigned = index.assign(&live);
        index.store_by_cell(&live, &assigned);
        Ok(index)
    }

    /// Renumbers the points so that each cell's points are stored one after another (a query
    /// then reads each probed cell as one sequential run of memory instead of points scattered
    /// over the whole index: the scan is bound by memory latency otherwise), silent points
    /// last, and files them in their cells.
    fn store_by_cell(&mut self, live: &[u32], cell_of_live: &[usize]) {
        let n = self.scales.len();
        let mut order: Vec<u32> = Vec::with_capacity(n);
        let mut by_cell: Vec<Vec<u32>> = vec![Vec::new(); self.cells.len()];
        for (&p, &c) in live.iter().zip(cell_of_live) {
            by_cell[c].push(p);
        }
        for cell in &by_cell {
            order.extend(cell);
        }
        let mut placed = vec![false; n];
        for &p in &order {
            placed[p as usize] = true;
        }
        order.extend((0..n as u32).filter(|&p| !placed[p as usize]));
        let mut new_of = vec![0u32; n];
        for (new, &old) in order.iter().enumerate() {
            new_of[old as usize] = new as u32;
        }
        let dim = self.dim;
        let mut codes = Vec::with_capacity(self.codes.len());
        for &old in &order {
            let old = old as usize;
            codes.extend_from_slice(&self.codes[old * dim..(old + 1) * dim]);
        }
        self.codes = codes;
        self.scales = order.iter().map(|&o| self.scales[o as usize]).collect();
        self.starts = order.iter().map(|&o| self.starts[o as usize]).collect();
        self.owners = order.iter().map(|&o| self.owners[o as usize]).collect();
        for song in self.songs.values_mut() {
            song.points
                .iter_mut()
                .for_each(|p| *p = new_of[*p as usize]);
        }
        let mut next = 0u32;
        for (cell, members) in self.cells.iter_mut().zip(&by_cell) {
            *cell = (next..next + members.len() as u32).collect();
            next += members.len() as u32;
        }
    }

    /// Reads `songs`' segments from the catalog and appends them as points (not yet in cells).
    fn append(&mut self, catalog: &Catalog, songs: &[i64]) -> Result<Vec<u32>, AnnError> {
        if self.with_tunes {
            for lines in catalog.melody_lines_of(songs)? {
                let song = lines.song_id;
                self.moves.insert(song, lines.melody.note_moves());
                self.sketches
                    .insert(song, lines.melody.pitch_class_sketch());
                if let Some(voice) = &lines.second_voice {
                    self.voice_sketches.insert(song, voice.pitch_class_sketch());
                }
            }
        }
        let segments = catalog.song_segments(&self.model, songs)?;
        let mut added = Vec::with_capacity(segments.len());
        let mut i = 0;
        while i < segments.len() {
            let song = segments[i].song_id;
            let first = self.scales.len() as u32;
            let mut newest = i64::MIN;
            let mut count = 0i64;
            while i < segments.len() && segments[i].song_id == song {
                let s = &segments[i];
                if self.dim == 0 {
                    self.dim = s.embedding.len();
                }
                // A vector of another length (a corrupt row) is stored as silence.
                let scale = if s.embedding.len() == self.dim {
                    quantise(&s.embedding, &mut self.codes)
                } else {
                    self.codes.extend(std::iter::repeat_n(0i8, self.dim));
                    0.0
                };
                if scale > 0.0 {
                    added.push(self.scales.len() as u32);
                }
                self.scales.push(scale);
                self.starts.push(s.start_s);
                self.owners.push(song);
                newest = newest.max(s.id);
                count += 1;
                i += 1;
            }
            self.songs.insert(
                song,
                SongPoints {
                    points: (first..self.scales.len() as u32).collect(),
                    segments: count,
                    newest,
                },
            );
        }
        Ok(added)
    }

    /// Adds songs to the trained cells (their points go to their nearest cell).
    fn add_songs(&mut self, catalog: &Catalog, songs: &[i64]) -> Result<(), AnnError> {
        for batch in songs.chunks(LOAD_BATCH) {
            let added = self.append(catalog, batch)?;
            let assigned = self.assign(&added);
            for (p, cell) in added.into_iter().zip(assigned) {
                self.cells[cell].push(p);
            }
        }
        Ok(())
    }

    /// Drops a song: its points stay in the arrays (until compaction) but are never returned.
    fn remove_song(&mut self, song: i64) {
        self.moves.remove(&song);
        self.sketches.remove(&song);
        self.voice_sketches.remove(&song);
        if let Some(p) = self.songs.remove(&song) {
            for i in p.points.into_iter().map(|p| p as usize) {
                if self.scales[i] > 0.0 {
                    self.removed += 1;
                }
                self.scales[i] = 0.0;
                self.owners[i] = -1;
            }
        }
    }

    fn live_points(&self) -> usize {
        self.scales.iter().filter(|&&s| s > 0.0).count()
    }

    fn vector(&self, p: u32) -> Vec<f32> {
        let p = p as usize;
        let scale = self.scales[p];
        self.codes[p * self.dim..(p + 1) * self.dim]
            .iter()
            .map(|&c| c as f32 * scale)
            .collect()
    }

    /// Spherical k-means on an evenly spaced sample of `points` (deterministic).
    fn train_cells(&mut self, points: &[u32]) {
        let k = cell_count(points.len());
        let dim = self.dim.max(1);
        let sample_size = (k * KMEANS_SAMPLE_PER_CELL).min(points.len());
        let sample: Vec<Vec<f32>> = (0..sample_size)
            .map(|i| {
                let mut v = self.vector(points[i * points.len() / sample_size.max(1)]);
                normalise(&mut v);
                v
            })
            .collect();
        if sample.is_empty() {
            self.centroids = vec![0.0; dim];
            self.cells = vec![Vec::new()];
            return;
        }
        let mut centroids: Vec<Vec<f32>> = (0..k)
            .map(|c| sample[c * sample.len() / k].clone())
            .collect();
        for round in 0..KMEANS_ROUNDS {
            let nearest: Vec<usize> = sample
                .par_iter()
                .map(|v| nearest_centroid(&centroids, v))
                .collect();
            let mut sums = vec![vec![0.0f32; dim]; k];
            let mut counts = vec![0usize; k];
            for (v, &c) in sample.iter().zip(&nearest) {
                counts[c] += 1;
                sums[c].iter_mut().zip(v).for_each(|(s, x)| *s += x);
            }
            for (c, sum) in sums.into_iter().enumerate() {
                if counts[c] == 0 {
                    // An empty cell takes a sample point (a different one each round).
                    centroids[c] = sample[(c * 7919 + round * 104_729) % sample.len()].clone();
                } else {
                    let mut s = sum;
                    normalise(&mut s);
                    centroids[c] = s;
                }
            }
        }
        self.centroids = centroids.concat();
        self.cells = vec![Vec::new(); k];
    }

    /// The nearest cell of each point.
    fn assign(&self, points: &[u32]) -> Vec<usize> {
        let k = self.cells.len();
        let centroids: Vec<&[f32]> = (0..k)
            .map(|c| &self.centroids[c * self.dim..(c + 1) * self.dim])
            .collect();
        let dot_i8 = dot_i8_kernel();
        points
            .par_iter()
            .map(|&p| {
                let codes = &self.codes[p as usize * self.dim..(p as usize + 1) * self.dim];
                best_index(centroids.iter().map(|centre| dot_i8(centre, codes)))
            })
            .collect()
    }

    /// Segments held (silent ones included), whether searchable or not.
    pub fn len(&self) -> usize {
        self.songs.values().map(|p| p.points.len()).sum()
    }

    /// True when nothing can be found: no songs, or only silent ones.
    pub fn is_empty(&self) -> bool {
        self.cells.iter().all(|c| c.is_empty()) || self.scales.iter().all(|&s| s == 0.0)
    }

    /// Songs held.
    pub fn song_count(&self) -> usize {
        self.songs.len()
    }

    /// The songs held, by id.
    pub fn song_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.songs.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Points (searchable segments) and cells.
    pub fn shape(&self) -> (usize, usize) {
        (self.live_points(), self.cells.len())
    }

    /// Bytes the index holds in memory (codes, scales, starts, owners, cells, centres).
    pub fn memory_bytes(&self) -> usize {
        self.codes.len()
            + self.scales.len() * 4
            + self.starts.len() * 4
            + self.owners.len() * 8
            + self.cells.iter().map(|c| c.len() * 4 + 24).sum::<usize>()
            + self.centroids.len() * 4
            + self
                .songs
                .values()
                .map(|p| p.points.len() * 4 + 48)
                .sum::<usize>()
            + self.moves.values().map(|m| m.len() + 48).sum::<usize>()
            + self.sketches.values().map(|m| m.len() + 48).sum::<usize>()
            + self
                .voice_sketches
                .values()
                .map(|m| m.len() + 48)
                .sum::<usize>()
    }

    /// A song's vectors in time order.
    pub fn song_vectors(&self, song: i64) -> Option<SongVectors<'_>> {
        let p = self.songs.get(&song)?;
        Some(SongVectors {
            codes: &self.codes,
            scales: &self.scales,
            points: &p.points,
            dim: self.dim,
        })
    }

    /// Each query's `k` nearest segments (approximate: the nearest `settings.probe` cells are
    /// read), best first; queries run in parallel.
    pub fn nearest_many(
        &self,
        queries: &[Vec<f32>],
        k: usize,
        settings: &AnnSettings,
    ) -> Vec<Vec<Neighbour>> {
        queries
            .par_iter()
            .map(|q| self.nearest(q, k, settings.probe.max(1)))
            .collect()
    }

    /// Exact search (every live point): what [`Self::nearest_many`] approximates, for measuring
    /// its recall.
    pub fn exact_many(&self, queries: &[Vec<f32>], k: usize) -> Vec<Vec<Neighbour>> {
        queries
            .par_iter()
            .map(|q| {
                let all = (0..self.scales.len() as u32).filter(|&p| self.scales[p as usize] > 0.0);
                self.best_of(q, all, k)
            })
            .collect()
    }

    fn nearest(&self, query: &[f32], k: usize, probe: usize) -> Vec<Neighbour> {
        if query.len() != self.dim || self.cells.is_empty() {
            return Vec::new();
        }
        let centre_scores: Vec<(f32, u32)> = (0..self.cells.len())
            .map(|c| {
                let centre = &self.centroids[c * self.dim..(c + 1) * self.dim];
                (dot(query, centre), c as u32)
            })
            .collect();
        let probed = top_k(centre_scores, probe);
        let points = probed
            .iter()
            .flat_map(|&(_, c)| self.cells[c as usize].iter().copied());
        self.best_of(query, points, k)
    }

    fn best_of(
        &self,
        query: &[f32],
        points: impl Iterator<Item = u32>,
        k: usize,
    ) -> Vec<Neighbour> {
        if query.len() != self.dim {
            return Vec::new();
        }
        let dot_i8 = dot_i8_kernel();
        let scored: Vec<(f32, u32)> = points
            .filter_map(|p| {
                let i = p as usize;
                let scale = self.scales[i];
                (scale > 0.0).then(|| {
                    let s = scale * dot_i8(query, &self.codes[i * self.dim..(i + 1) * self.dim]);
                    // NaN (a broken query) sorts last instead of poisoning the order.
                    (if s.is_nan() { f32::MIN } else { s }, p)
                })
            })
            .collect();
        top_k(scored, k)
            .into_iter()
            .map(|(similarity, p)| Neighbour {
                song: self.owners[p as usize],
                start_s: self.starts[p as usize],
                similarity,
            })
            .collect()
    }

    /// Writes the index to `path` through a temporary file, fsync and rename (a crash never
    /// leaves a half-written index that looks valid: its checksum would fail), and removes
    /// what older versions left in the folder.
    fn save(&self, path: &Path) -> Result<(), AnnError> {
        let io = |e: std::io::Error| AnnError::Io {
            path: path.to_path_buf(),
            why: e.to_string(),
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut out: Vec<u8> = Vec::with_capacity(self.codes.len() + self.scales.len() * 16 + 1024);
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, FORMAT);
        put_u32(&mut out, self.dim as u32);
        put_u64(&mut out, self.scales.len() as u64);
        put_u32(&mut out, self.cells.len() as u32);
        put_u64(&mut out, self.songs.len() as u64);
        put_u64(&mut out, self.trained_on);
        put_u64(&mut out, self.removed);
        put_u32(&mut out, self.model.len() as u32);
        out.extend_from_slice(self.model.as_bytes());
        self.centroids.iter().for_each(|x| put_f32(&mut out, *x));
        for cell in &self.cells {
            put_u32(&mut out, cell.len() as u32);
        }
        for cell in &self.cells {
            cell.iter().for_each(|p| put_u32(&mut out, *p));
        }
        out.extend(self.codes.iter().map(|&c| c as u8));
        self.scales.iter().for_each(|x| put_f32(&mut out, *x));
        self.starts.iter().for_each(|x| put_f32(&mut out, *x));
        self.owners
            .iter()
            .for_each(|x| put_u64(&mut out, *x as u64));
        let mut songs: Vec<(&i64, &SongPoints)> = self.songs.iter().collect();
        songs.sort_by_key(|(id, _)| **id);
        for (id, p) in songs {
            put_u64(&mut out, *id as u64);
            put_u32(&mut out, p.points.len() as u32);
            p.points.iter().for_each(|q| put_u32(&mut out, *q));
            put_u64(&mut out, p.segments as u64);
            put_u64(&mut out, p.newest as u64);
            let moves = self.moves.get(id).map_or(&[][..], |m| m.as_slice());
            put_u32(&mut out, moves.len() as u32);
            out.extend(moves.iter().map(|&m| m as u8));
            for sketches in [&self.sketches, &self.voice_sketches] {
                match sketches.get(id) {
                    Some(sketch) => {
                        put_u32(&mut out, sketch.len() as u32);
                        out.extend_from_slice(sketch);
                    }
                    None => put_u32(&mut out, u32::MAX),
                }
            }
        }
        let checksum = blake3::hash(&out);
        out.extend_from_slice(checksum.as_bytes());
        let tmp = dir.join(format!(
            ".writing-{}-{}",
            std::process::id(),
            path.file_name()
                .map_or("index".into(), |n| n.to_string_lossy())
        ));
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&out).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        remove_leftovers(dir, path);
        Ok(())
    }

    /// The saved index at `path`, if it is complete, of this format and of `model`.
    fn load(path: &Path, model: &str) -> Option<Self> {
        let bytes = std::fs::read(path).ok()?;
        if bytes.len() < 32 + MAGIC.len() {
            return None;
        }
        let (body, checksum) = bytes.split_at(bytes.len() - 32);
        if blake3::hash(body).as_bytes() != checksum {
            return None;
        }
        let mut r = Reader { bytes: body, at: 0 };
        if r.take(8)? != MAGIC || r.u32()? != FORMAT {
            return None;
        }
        let dim = r.u32()? as usize;
        let n = r.u64()? as usize;
        let n_cells = r.u32()? as usize;
        let n_songs = r.u64()? as usize;
        let trained_on = r.u64()?;
        let removed = r.u64()?;
        let name_len = r.u32()? as usize;
        if r.take(name_len)? != model.as_bytes() {
            return None;
        }
        let centroids = r.f32s(n_cells.checked_mul(dim)?)?;
        let sizes: Vec<u32> = (0..n_cells).map(|_| r.u32()).collect::<Option<_>>()?;
        let mut cells = Vec::with_capacity(n_cells);
        for size in sizes {
            let cell: Vec<u32> = (0..size).map(|_| r.u32()).collect::<Option<_>>()?;
            if cell.iter().any(|&p| p as usize >= n) {
                return None;
            }
            cells.push(cell);
        }
        let codes: Vec<i8> = r
            .take(n.checked_mul(dim)?)?
            .iter()
            .map(|&b| b as i8)
            .collect();
        let scales = r.f32s(n)?;
        let starts = r.f32s(n)?;
        let owners: Vec<i64> = (0..n)
            .map(|_| r.u64().map(|v| v as i64))
            .collect::<Option<_>>()?;
        let mut songs = HashMap::with_capacity(n_songs);
        let mut moves = HashMap::with_capacity(n_songs);
        let mut sketches = HashMap::with_capacity(n_songs);
        let mut voice_sketches = HashMap::new();
        for _ in 0..n_songs {
            let id = r.u64()? as i64;
            let count = r.u32()? as usize;
            let points: Vec<u32> = (0..count).map(|_| r.u32()).collect::<Option<_>>()?;
            if points.iter().any(|&q| q as usize >= n) {
                return None;
            }
            let p = SongPoints {
                points,
                segments: r.u64()? as i64,
                newest: r.u64()? as i64,
            };
            songs.insert(id, p);
            let count = r.u32()? as usize;
            moves.insert(id, r.take(count)?.iter().map(|&b| b as i8).collect());
            for map in [&mut sketches, &mut voice_sketches] {
                let count = r.u32()?;
                if count != u32::MAX {
                    map.insert(id, r.take(count as usize)?.to_vec());
                }
            }
        }
        (r.at == body.len()).then_some(Self {
            model: model.to_string(),
            dim,
            centroids,
            cells,
            codes,
            scales,
            starts,
            owners,
            songs,
            moves,
            grams: GramIndex::default(),
            sketches,
            voice_sketches,
            with_tunes: true,
            trained_on,
            removed,
            report: OpenReport::default(),
        })
    }
}

fn nearest_centroid(centroids: &[Vec<f32>], v: &[f32]) -> usize {
    best_index(centroids.iter().map(|centre| dot(centre, v)))
}

/// The position of the highest score (the first of equals; 0 when there is none).
fn best_index(scores: impl Iterator<Item = f32>) -> usize {
    let mut best = (f32::MIN, 0);
    for (i, s) in scores.enumerate() {
        if s > best.0 {
            best = (s, i);
        }
    }
    best.1
}

/// Removes from the index folder what is not an index file of this format: older versions'
/// folders, and temporary files a killed process left (one being written now is younger than
/// ten minutes).
fn remove_leftovers(dir: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == keep {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 600);
        let other_index = name.ends_with(".ivf");
        let stale = if name.starts_with(".writing-") || name.starts_with(".building-") {
            old
        } else {
            !other_index
        };
        if stale {
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_f32(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Reads little-endian values; every read checks the length (None: a damaged file).
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn f32s(&mut self, n: usize) -> Option<Vec<f32>> {
        let raw = self.take(n.checked_mul(4)?)?;
        Some(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::dot;
    use crate::library::add_test_song;
    use crate::melody::Contour;

    /// A pseudo-random unit vector (deterministic in `seed`).
    fn unit(dim: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut v: Vec<f32> = (0..dim)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        normalise(&mut v);
        v
    }

    fn add_song(catalog: &mut Catalog, path: &str, segments: &[(f32, Vec<f32>)]) -> i64 {
        let melody = Contour::new(25.0, vec![60.0; 10]);
        let duration_s = segments.len() as f64;
        add_test_song(catalog, path, &melody, duration_s, vec![("m@1", segments)])
    }

    fn song_of(dim: usize, seed: u64, len: usize) -> Vec<(f32, Vec<f32>)> {
        (0..len)
            .map(|k| (k as f32, unit(dim, seed * 1000 + k as u64)))
            .collect()
    }

    #[test]
    fn quantised_dot_is_close_to_the_float_dot() {
        for seed in 0..20 {
            let (a, b) = (unit(128, seed), unit(128, seed + 100));
            let mut codes = Vec::new();
            let scale = quantise(&b, &mut codes);
            let err = (scale * dot_i8(&a, &codes) - dot(&a, &b)).abs();
            assert!(err < 0.01, "seed {seed}: error {err}");
            let mut own = Vec::new();
            let s = quantise(&a, &mut own);
            assert!((s * dot_i8(&a, &own) - 1.0).abs() < 0.01);
        }
        let mut codes = Vec::new();
        assert_eq!(quantise(&[0.0; 4], &mut codes), 0.0);
        assert_eq!(quantise(&[1.0, f32::NAN, 0.0, 0.0], &mut codes), 0.0);
        assert_eq!(codes, vec![0; 8]);
    }

    #[test]
    fn every_dot_kernel_agrees_with_the_plain_sum() {
        let a: Vec<f32> = (0..131).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<i8> = (0..131).map(|i| ((i * 53) % 255) as i8).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, &y)| x * y as f32).sum();
        assert!((dot_i8_portable(&a, &b) - plain).abs() < 1e-2);
        assert!((dot_i8(&a, &b) - plain).abs() < 1e-2);
    }

    #[test]
    fn two_songs_segments_compare_by_their_cosine() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        let dim = 64;
        let mut with_silence = song_of(dim, 2, 4);
        with_silence[3].1 = vec![0.0; dim];
        let a = add_song(&mut catalog, "/m/a.wav", &song_of(dim, 1, 4));
        let b = add_song(&mut catalog, "/m/b.wav", &with_silence);
        let index = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        let (va, vb) = (
            index.song_vectors(a).unwrap(),
            index.song_vectors(b).unwrap(),
        );
        for i in 0..3 {
            assert!((va.similarity_with(i, &va, i) - 1.0).abs() < 0.01);
            let float = dot(&unit(dim, 1000 + i as u64), &unit(dim, 2000 + 2));
            assert!((va.similarity_with(i, &vb, 2) - float).abs() < 0.01);
        }
        assert_eq!(va.similarity_with(0, &vb, 3), 0.0);
        assert!(vb.is_silent(3) && !vb.is_silent(2));
    }

    #[test]
    fn finds_each_segment_itself_and_agrees_with_exact_search() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        let dim = 32;
        let ids: Vec<i64> = (0..40)
            .map(|s| add_song(&mut catalog, &format!("/m/{s}.wav"), &song_of(dim, s, 30)))
            .collect();
        let index = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        assert!(index.report.built && index.report.saved);
        assert_eq!(index.shape().0, 1200);
        // Each cell's points are stored one after another.
        assert!(index
            .cells
            .iter()
            .all(|c| c.windows(2).all(|w| w[1] == w[0] + 1)));
        // Every probe: the approximate search returns exactly what exact search does.
        let all = AnnSettings {
            probe: index.shape().1,
        };
        let queries: Vec<Vec<f32>> = (0..10).map(|k| unit(dim, 7 * 1000 + k)).collect();
        let approx = index.nearest_many(&queries, 5, &all);
        assert_eq!(approx, index.exact_many(&queries, 5));
        // A stored segment is its own nearest neighbour with the default probe.
        let own: Vec<Vec<f32>> = (0..10).map(|k| unit(dim, 3 * 1000 + k)).collect();
        for (k, found) in index
            .nearest_many(&own, 3, &AnnSettings::default())
            .iter()
            .enumerate()
        {
            assert_eq!((found[0].song, found[0].start_s), (ids[3], k as f32));
            assert!(found[0].similarity > 0.98, "{:?}", found[0]);
        }
    }

    #[test]
    fn adding_and_removing_a_song_updates_the_saved_index_without_rebuilding() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        let dim = 16;
        for s in 0..30 {
            add_song(&mut catalog, &format!("/m/{s}.wav"), &song_of(dim, s, 20));
        }
        let first = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        assert!(first.report.built);
        let reopened = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        assert_eq!(reopened.report, OpenReport::default());
        assert_eq!(reopened.centroids, first.centroids);

        let new_song = add_song(&mut catalog, "/m/new.wav", &song_of(dim, 99, 20));
        let grown = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        assert!(!grown.report.built, "{:?}", grown.report);
        assert_eq!((grown.report.songs_added, grown.report.saved), (1, true));
        let q = vec![unit(dim, 99 * 1000 + 4)];
        let all = AnnSettings { probe: 1000 };
        let hit = grown.nearest_many(&q, 1, &all)[0][0];
        assert_eq!((hit.song, hit.start_s), (new_song, 4.0));

        catalog.forget_file(Path::new("/m/new.wav")).unwrap();
        let shrunk = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        assert!(!shrunk.report.built);
        assert_eq!(shrunk.report.songs_removed, 1);
        assert!(shrunk.nearest_many(&q, 5, &all)[0]
            .iter()
            .all(|n| n.song != new_song));
        assert!(shrunk.song_vectors(new_song).is_none());
    }

    #[test]
    fn second_voices_keep_their_sketches_through_a_saved_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        let plain = add_song(&mut catalog, "/m/plain.wav", &song_of(8, 1, 10));
        let melody = Contour::new(25.0, vec![64.0; 50]);
        let voice = Contour::new(25.0, [vec![60.0; 25], vec![62.0; 25]].concat());
        let segments = song_of(8, 2, 10);
        let choir = catalog
            .upsert_song(&crate::library::NewSong {
                path: Path::new("/m/choir.wav"),
                size: 1,
                mtime_ns: 1,
                hash: "c",
                title: "choir",
                artist: "",
                album: "",
                duration_s: 10.0,
                melody: &melody,
                second_line: None,
                second_voice: Some(&voice),
                segments: vec![("m@1", &segments)],
            })
            .unwrap();
        let built = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        assert!(built.report.built);
        let reopened = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        assert!(!reopened.report.built);
        for index in [&built, &reopened] {
            assert_eq!(
                index.voice_sketch(choir),
                Some(&voice.pitch_class_sketch()[..])
            );
            assert_eq!(index.sketch(choir), Some(&melody.pitch_class_sketch()[..]));
            assert!(index.voice_sketch(plain).is_none());
        }
    }

    #[test]
    fn a_damaged_or_foreign_file_is_rebuilt_and_an_empty_library_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        let empty = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        assert!(empty.is_empty());
        assert!(empty.nearest_many(&[vec![0.5; 8]], 3, &AnnSettings::default())[0].is_empty());
        for s in 0..5 {
            add_song(&mut catalog, &format!("/m/{s}.wav"), &song_of(8, s, 10));
        }
        SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        let path = index_path(dir.path(), "m@1");
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        let rebuilt = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        assert!(rebuilt.report.built);
        std::fs::write(&path, b"short").unwrap();
        assert!(
            SegmentIndex::open(dir.path(), &catalog, "m@1")
                .unwrap()
                .report
                .built
        );
        // A query of the wrong length finds nothing rather than failing.
        assert!(rebuilt.nearest_many(&[vec![0.5; 3]], 3, &AnnSettings::default())[0].is_empty());
    }
}
