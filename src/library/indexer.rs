//! Walks folders and keeps the catalog in step: new and changed files are decoded and their
//! melody extracted on worker threads; unchanged ones (size + mtime, then content hash) are
//! skipped; deleted ones are forgotten; failures become error rows, never the end of a run.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::catalog::{Catalog, CatalogError, NewSong};
use crate::audio::{decode_file_streaming_limited, DecodeLimits};
use crate::melody::{Contour, MelodyExtractor};
use crate::model::features::StreamingSpectrogram;
use crate::model::Embedder;

/// Extensions treated as audio. Files with others are ignored (cover art, playlists, notes).
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "mp3", "flac", "ogg", "oga", "wav", "wave", "aif", "aiff", "aifc", "m4a", "mp4", "aac", "opus",
    "caf", "mka", "webm", "weba", "wma",
];

pub fn is_audio_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

#[derive(Clone)]
pub struct IndexOptions {
    /// Worker threads for decoding and analysis.
    pub threads: usize,
    /// Set to stop early: work in flight is finished and stored, the rest waits for the next run.
    pub cancel: Arc<AtomicBool>,
    /// With a model, songs also get segment embeddings for the learned search.
    pub embedder: Option<Arc<Embedder>>,
    /// Per-file bounds on decoding (length, time, channels): a hostile file fails alone.
    pub limits: DecodeLimits,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cancel: Arc::new(AtomicBool::new(false)),
            embedder: None,
            limits: DecodeLimits::default(),
        }
    }
}

/// Progress of a run, reported after every file.
#[derive(Debug, Clone, Default)]
pub struct IndexProgress {
    /// Files that need analysis in this run, and how many are finished.
    pub total: usize,
    pub done: usize,
    pub failed: usize,
    /// Seconds of audio analysed so far.
    pub audio_seconds: f64,
    /// Time since the run started; during the probe step, since that step started (so that a
    /// rate of `step()`'s units per second can be read from it).
    pub elapsed: Duration,
    pub current: Option<PathBuf>,
    /// After the files: songs indexed before the melody channel existed whose melody segments
    /// are being derived from their stored melody (no decoding), and how many are finished.
    pub melodies_total: usize,
    pub melodies_done: usize,
    /// Last, when the library changed: songs whose excerpts are searched as probes to measure
    /// hub scores (`crate::search::hub`), and how many are finished.
    pub probes_total: usize,
    pub probes_done: usize,
}

impl IndexProgress {
    /// The step under way as (done, total, what is counted): the files, then the melodies of
    /// songs an older version indexed (see [`Self::melodies_total`]).
    pub fn step(&self) -> (usize, usize, &'static str) {
        if self.probes_total > 0 {
            (self.probes_done, self.probes_total, "songs probed")
        } else if self.melodies_total > 0 {
            (self.melodies_done, self.melodies_total, "melodies")
        } else {
            (self.done, self.total, "files")
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct IndexReport {
    /// Audio files found under the given paths.
    pub found: usize,
    pub unchanged: usize,
    pub added: usize,
    pub updated: usize,
    pub failed: usize,
    /// Catalog entries dropped because their file is gone.
    pub removed: usize,
    /// Files skipped because their extension is not audio.
    pub ignored: usize,
    /// Paths given that do not exist.
    pub missing: Vec<PathBuf>,
    pub audio_seconds: f64,
    pub elapsed: Duration,
    pub cancelled: bool,
    /// Songs whose melody segments were derived from their stored melody.
    pub melodies_derived: usize,
    /// Probe queries run to measure the library's hub scores (0 when the library had not
    /// changed since they were measured).
    pub hub_probes: usize,
    /// Time those probes took (part of `elapsed`).
    pub hub_elapsed: Duration,
    /// Why the hub scores could not be measured (the files were indexed all the same).
    pub hub_error: Option<String>,
}

struct Job {
    path: PathBuf,
    size: i64,
    mtime_ns: i64,
    known_hash: Option<String>,
    was_song: bool,
}

enum Outcome {
    Unchanged,
    Song {
        hash: String,
        title: String,
        artist: String,
        album: String,
        duration_s: f64,
        melody: Contour,
        second_line: Option<Contour>,
        second_voice: Option<Contour>,
        /// The audio's segments and the melody's, when a model was used.
        segments: Option<(Vec<(f32, Vec<f32>)>, Vec<(f32, Vec<f32>)>)>,
    },
    Failed(String),
}

/// The message a panic carried (for the error a caught panic becomes).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn file_stat(path: &Path) -> std::io::Result<(i64, i64)> {
    let meta = std::fs::metadata(path)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    Ok((meta.len() as i64, mtime))
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

fn analyse(job: &Job, embedder: Option<&Embedder>, limits: &DecodeLimits) -> Outcome {
    let hash = match hash_file(&job.path) {
        Ok(h) => h,
        Err(e) => return Outcome::Failed(format!("cannot read: {e}")),
    };
    if job.was_song && job.known_hash.as_deref() == Some(hash.as_str()) {
        return Outcome::Unchanged;
    }
    // Decoding, melody extraction and embedding run under catch_unwind: a decoder or analysis
    // bug on one hostile file becomes that file's error row, never the end of the run.
    let analysed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // With the learned tracker the melody comes from the spectrogram the embedding reads,
        // filled in by the extractor where the tracker hears no melody (see `fuse_contours`).
        let tracker = embedder.and_then(|e| e.tracker.as_ref());
        let mut extractor = MelodyExtractor::new();
        let mut spectrogram = embedder.map(|e| StreamingSpectrogram::new(&e.params));
        let info = decode_file_streaming_limited(&job.path, limits, &mut |chunk| {
            extractor.push(chunk);
            if let Some(s) = spectrogram.as_mut() {
                s.push(chunk);
            }
        })
        .map_err(|e| {
            // The error names the file already; store only the reason.
            let e = e.to_string();
            e.split_once(": ").map_or(e.clone(), |(_, r)| r.to_string())
        })?;
        let spec = spectrogram.map(StreamingSpectrogram::finish);
        let extracted = extractor.finish();
        let (melody, second_line, second_voice) = match (tracker, &spec) {
            (Some(t), Some(spec)) => {
                let lines = t
                    .melody_lines(spec, &extracted)
                    .map_err(|err| format!("melody tracking failed: {err}"))?;
                (lines.melody, Some(lines.second_line), lines.second_voice)
            }
            _ => (extracted, None, None),
        };
        let segments = match (embedder, &spec) {
            (Some(e), Some(spec)) => Some((
                e.embed_song(spec)
                    .map_err(|err| format!("embedding failed: {err}"))?,
                e.embed_melody(&melody)
                    .map_err(|err| format!("embedding the melody failed: {err}"))?,
            )),
            _ => None,
        };
        Ok::<_, String>((info, melody, second_line, second_voice, segments))
    }));
    match analysed {
        Ok(Ok((info, melody, second_line, second_voice, segments))) => {
            let stem = job
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Outcome::Song {
                hash,
                title: info.tags.title.unwrap_or(stem),
                artist: info.tags.artist.unwrap_or_default(),
                album: info.tags.album.unwrap_or_default(),
                duration_s: info.duration_s,
                melody,
                second_line,
                second_voice,
                segments,
            }
        }
        Ok(Err(reason)) => Outcome::Failed(reason),
        Err(panic) => Outcome::Failed(format!(
            "analysis crashed: {}",
            panic_message(panic.as_ref())
        )),
    }
}

/// Walks `paths` (folders or files), updating the catalog. Folders are remembered for re-scans.
pub fn index_paths(
    catalog: &mut Catalog,
    paths: &[PathBuf],
    options: &IndexOptions,
    progress: &mut dyn FnMut(&IndexProgress),
) -> Result<IndexReport, CatalogError> {
    let started = Instant::now();
    let mut report = IndexReport::default();
    let mut jobs = Vec::new();
    for given in paths {
        let Ok(root) = std::fs::canonicalize(given) else {
            report.missing.push(given.clone());
            continue;
        };
        let mut seen = HashSet::new();
        let files: Vec<PathBuf> = if root.is_dir() {
            catalog.add_folder(&root)?;
            walkdir::WalkDir::new(&root)
                .follow_links(true)
                .sort_by_file_name()
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_file())
                .map(|e| e.into_path())
                .collect()
        } else {
            vec![root.clone()]
        };
        for path in files {
            if !is_audio_path(&path) {
                report.ignored += 1;
                continue;
            }
            report.found += 1;
            seen.insert(path.clone());
            let Ok((size, mtime_ns)) = file_stat(&path) else {
                continue;
            };
            let state = catalog.file_state(&path)?;
            match state {
                Some(s) if s.size == size && s.mtime_ns == mtime_ns && s.current => {
                    report.unchanged += 1
                }
                _ => jobs.push(Job {
                    path,
                    size,
                    mtime_ns,
                    was_song: state
                        .as_ref()
                        .is_some_and(|s| s.hash.is_some() && s.current),
                    known_hash: state.and_then(|s| s.hash),
                }),
            }
        }
        // Files that were indexed under this folder but are gone now.
        if root.is_dir() {
            for old in catalog.paths_under(&root)? {
                if !seen.contains(&old) && !old.exists() {
                    catalog.forget_file(&old)?;
                    report.removed += 1;
                }
            }
        }
    }

    let mut state = IndexProgress {
        total: jobs.len(),
        ..Default::default()
    };
    progress(&state);
    let threads = options.threads.max(1).min(jobs.len().max(1));
    let queue = Arc::new(Mutex::new(jobs.into_iter()));
    let (tx, rx) = mpsc::channel::<(Job, Outcome)>();
    let result: Result<(), CatalogError> = std::thread::scope(|scope| {
        for _ in 0..threads {
            let (queue, tx, cancel) = (Arc::clone(&queue), tx.clone(), Arc::clone(&options.cancel));
            let embedder = options.embedder.clone();
            let limits = options.limits.clone();
            scope.spawn(move || loop {
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                let Some(job) = next else { break };
                let outcome = analyse(&job, embedder.as_deref(), &limits);
                if tx.send((job, outcome)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // The catalog is written from this thread only, one transaction per file.
        for (job, outcome) in rx {
            match outcome {
                Outcome::Unchanged => {
                    catalog.touch_song(&job.path, job.size, job.mtime_ns)?;
                    report.unchanged += 1;
                }
                Outcome::Song {
                    hash,
                    title,
                    artist,
                    album,
                    duration_s,
                    melody,
                    second_line,
                    second_voice,
                    segments,
                } => {
                    let ids = options
                        .embedder
                        .as_ref()
                        .map(|e| (e.id.clone(), e.melody_model_id()))
                        .unwrap_or_default();
                    let segments = match &segments {
                        Some((audio, tune)) => {
                            vec![
                                (ids.0.as_str(), audio.as_slice()),
                                (ids.1.as_str(), tune.as_slice()),
                            ]
                        }
                        None => Vec::new(),
                    };
                    catalog.upsert_song(&NewSong {
                        path: &job.path,
                        size: job.size,
                        mtime_ns: job.mtime_ns,
                        hash: &hash,
                        title: &title,
                        artist: &artist,
                        album: &album,
                        duration_s,
                        melody: &melody,
                        second_line: second_line.as_ref(),
                        second_voice: second_voice.as_ref(),
                        segments,
                    })?;
                    if job.was_song || job.known_hash.is_some() {
                        report.updated += 1;
                    } else {
                        report.added += 1;
                    }
                    state.audio_seconds += duration_s;
                }
                Outcome::Failed(reason) => {
                    catalog.record_error(&job.path, job.size, job.mtime_ns, &reason)?;
                    report.failed += 1;
                    state.failed += 1;
                }
            }
            state.done += 1;
            state.elapsed = started.elapsed();
            state.current = Some(job.path);
            progress(&state);
        }
        Ok(())
    });
    result?;
    if let Some(embedder) = &options.embedder {
        report.melodies_derived =
            derive_melody_segments(catalog, embedder, &options.cancel, &mut |done, total| {
                state.melodies_done = done;
                state.melodies_total = total;
                state.elapsed = started.elapsed();
                progress(&state);
            })?;
    }
    report.cancelled = options.cancel.load(Ordering::Relaxed)
        && (state.done < state.total || state.melodies_done < state.melodies_total);
    report.audio_seconds = state.audio_seconds;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Songs per transaction when deriving melody segments.
const DERIVE_BATCH: usize = 64;

/// Gives every song with a current melody but no melody segments
/// ([`Embedder::melody_model_id`]) its segments, computed from the stored melody
/// ([`Embedder::embed_melody`]; nothing is decoded): libraries indexed before the melody
/// channel existed, and songs written without them (benchmark libraries). Batches run on all
/// cores and are stored one transaction each, so a cancelled run keeps what it finished.
/// Returns how many songs got segments; `progress` gets (done, total).
pub fn derive_melody_segments(
    catalog: &mut Catalog,
    embedder: &Embedder,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize, CatalogError> {
    use rayon::prelude::*;
    let model = embedder.melody_model_id();
    let todo = catalog.songs_without_segments(&model)?;
    if todo.is_empty() {
        return Ok(0);
    }
    progress(0, todo.len());
    let mut done = 0;
    let mut derived_songs = 0;
    for batch in todo.chunks(DERIVE_BATCH) {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let derived: Vec<(i64, Vec<(f32, Vec<f32>)>)> = catalog
            .melodies_of(batch)?
            .par_iter()
            // A melody the network cannot embed stays without segments (tried again next run).
            .filter_map(|(song, melody)| Some((*song, embedder.embed_melody(melody).ok()?)))
            .collect();
        catalog.put_segments(&model, &derived)?;
        derived_songs += derived.len();
        done += batch.len();
        progress(done, todo.len());
    }
    Ok(derived_songs)
}
