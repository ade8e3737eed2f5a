//! Background work for the app. One thread owns the search engine and answers queries and
//! library questions; indexing runs on its own thread (with its own engine on the same
//! database) so searching stays possible while a folder is indexed. Everything reports back
//! over a channel and wakes the UI with `request_repaint`; the UI thread never waits on either.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{Engine, Method};
use crate::library::{
    ErrorRecord, FolderSummary, HistoryEntry, IndexOptions, IndexProgress, IndexReport, QueryKind,
    SongRecord,
};
use crate::melody::Contour;
use crate::search::Match;

/// Results shown with melodies (for the overlay) for at most this many songs.
pub const RESULTS_SHOWN: usize = 10;

#[derive(Debug, Clone)]
pub struct ResultRow {
    pub song: SongRecord,
    pub found: Match,
    /// The song's stored melody contour (for the overlay).
    pub melody: Option<Contour>,
}

#[derive(Debug, Clone)]
pub struct Results {
    pub hum: Contour,
    pub rows: Vec<ResultRow>,
    pub elapsed: Duration,
    /// Calibrated confidence in the first row (None without a calibration).
    pub confidence: Option<crate::engine::Confidence>,
}

#[derive(Debug, Clone, Default)]
pub struct LibrarySnapshot {
    pub songs: i64,
    pub folders: Vec<FolderSummary>,
    pub errors: Vec<ErrorRecord>,
}

#[derive(Debug, Clone)]
pub struct EngineInfo {
    pub inference_device: String,
    pub model: Option<String>,
    pub model_problem: Option<String>,
}

/// Searches listed in the History tab.
pub const HISTORY_SHOWN: usize = 200;

/// How a final search is kept in the history.
#[derive(Debug, Clone)]
pub struct Remember {
    pub kind: QueryKind,
    /// The notes, the file's path or the recording's name.
    pub query: String,
    /// Keep the recording itself (the setting "keep recordings").
    pub keep_recording: bool,
}

pub enum Request {
    Query {
        seq: u64,
        samples: Arc<Vec<f32>>,
        provisional: bool,
        /// Final searches are kept in the history; `None` keeps nothing.
        remember: Option<Remember>,
    },
    QueryFile {
        seq: u64,
        path: PathBuf,
        remember: bool,
    },
    /// Run a kept search again against the library as it is now.
    Rerun {
        seq: u64,
        id: i64,
    },
    History,
    DeleteHistory(Option<i64>),
    ExportHistory(PathBuf),
    /// The recording kept with a search, for playback.
    HistoryRecording(i64),
    RefreshLibrary,
    RemoveFolder(PathBuf),
    /// The library changed on disk (indexing finished): drop cached search structures.
    Reload,
}

pub enum Reply {
    Opened(EngineInfo),
    /// The database could not be opened: the app shows why and offers a way forward.
    OpenFailed(String),
    Results {
        seq: u64,
        provisional: bool,
        result: Result<Results, String>,
    },
    Library(LibrarySnapshot),
    History(Result<Vec<HistoryEntry>, String>),
    HistoryRecording(Result<Vec<f32>, String>),
    IndexProgress(IndexProgress),
    IndexDone(Result<IndexReport, String>),
    Message(String),
    /// Songs indexed with another (older) model lack embeddings for this one, or songs
    /// indexed by an older version lack melody segments: the app re-scans these folders (only
    /// what is missing is redone; melody segments come from the stored melodies).
    NeedsReindex {
        songs: i64,
        melodies: usize,
        folders: Vec<PathBuf>,
    },
}

pub struct Worker {
    requests: Sender<Request>,
    replies_tx: Sender<Reply>,
    pub replies: Receiver<Reply>,
    db_dir: PathBuf,
    wake: Arc<dyn Fn() + Send + Sync>,
    index_cancel: Option<Arc<AtomicBool>>,
}

impl Worker {
    /// Starts the engine thread on `db_dir`; `wake` is called after every reply (the UI's
    /// `request_repaint`).
    pub fn spawn(db_dir: &Path, wake: Arc<dyn Fn() + Send + Sync>) -> Self {
        let (requests, rx) = mpsc::channel::<Request>();
        let (replies_tx, replies) = mpsc::channel::<Reply>();
        let (tx, dir, wake_t) = (replies_tx.clone(), db_dir.to_path_buf(), wake.clone());
        std::thread::Builder::new()
            .name("earworm-engine".into())
            .spawn(move || engine_thread(&dir, rx, tx, wake_t))
            .expect("spawning a thread");
        Self {
            requests,
            replies_tx,
            replies,
            db_dir: db_dir.to_path_buf(),
            wake,
            index_cancel: None,
        }
    }

    pub fn send(&self, request: Request) {
        // The engine thread only ends when this handle is dropped.
        let _ = self.requests.send(request);
    }

    pub fn indexing(&self) -> bool {
        self.index_cancel.is_some()
    }

    /// Starts indexing `paths` unless a run is already going; returns whether it started.
    pub fn start_index(&mut self, paths: Vec<PathBuf>) -> bool {
        if self.indexing() {
            return false;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        self.index_cancel = Some(cancel.clone());
        let (tx, dir, wake) = (
            self.replies_tx.clone(),
            self.db_dir.clone(),
            self.wake.clone(),
        );
        std::thread::Builder::new()
            .name("earworm-index".into())
            .spawn(move || {
                // Files fail one by one inside the run; this catches a bug outside them, so
                // the app always hears that indexing ended and stays usable.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    index_thread(&dir, &paths, cancel, &tx, &wake)
                }))
                .unwrap_or_else(|panic| {
                    Err(format!(
                        "indexing stopped by an internal error: {} (what was indexed before it is kept)",
                        crate::library::panic_message(panic.as_ref())
                    ))
                });
                let _ = tx.send(Reply::IndexDone(result));
                wake();
            })
            .expect("spawning a thread");
        true
    }

    pub fn cancel_index(&self) {
        if let Some(c) = &self.index_cancel {
            c.store(true, Ordering::Relaxed);
        }
    }

    /// Call when `IndexDone` arrives.
    pub fn index_finished(&mut self) {
        self.index_cancel = None;
        self.send(Request::Reload);
        self.send(Request::RefreshLibrary);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.cancel_index();
    }
}

fn index_thread(
    db_dir: &Path,
    paths: &[PathBuf],
    cancel: Arc<AtomicBool>,
    tx: &Sender<Reply>,
    wake: &Arc<dyn Fn() + Send + Sync>,
) -> Result<IndexReport, String> {
    let mut engine = Engine::open(db_dir).map_err(|e| e.to_string())?;
    // Leave one core to the UI and the audio thread.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options = IndexOptions {
        threads: cores.saturating_sub(1).max(1),
        cancel,
        ..IndexOptions::default()
    };
    let mut last_sent = Instant::now() - Duration::from_secs(1);
    engine
        .index(paths, &options, &mut |p| {
            let (done, total, _) = p.step();
            if last_sent.elapsed() >= Duration::from_millis(100) || done == total {
                last_sent = Instant::now();
                let _ = tx.send(Reply::IndexProgress(p.clone()));
                wake();
            }
        })
        .map_err(|e| e.to_string())
}

fn engine_thread(
    db_dir: &Path,
    requests: Receiver<Request>,
    tx: Sender<Reply>,
    wake: Arc<dyn Fn() + Send + Sync>,
) {
    let send = |r: Reply| {
        let _ = tx.send(r);
        wake();
    };
    let mut engine = match Engine::open(db_dir) {
        Ok(e) => e,
        Err(e) => {
            send(Reply::OpenFailed(format!(
                "The library database in {} could not be opened: {e}",
                db_dir.display()
            )));
            return;
        }
    };
    send(Reply::Opened(EngineInfo {
        inference_device: engine
            .embedder()
            .map_or_else(|| "CPU".to_string(), |e| e.device_choice.describe()),
        model: engine.embedder().map(|e| e.id.clone()),
        model_problem: engine.model_problem().map(str::to_string),
    }));
    let library = snapshot(&engine);
    let songs = engine.songs_needing_embeddings().unwrap_or(0);
    let melodies = engine.songs_needing_melody_segments().unwrap_or(0);
    if songs > 0 || melodies > 0 {
        send(Reply::NeedsReindex {
            songs,
            melodies,
            folders: library.folders.iter().map(|f| f.path.clone()).collect(),
        });
    }
    send(Reply::Library(library));
    let _ = engine.warm_up();
    while let Ok(mut request) = requests.recv() {
        // Only the newest query matters: skip provisional ones that are already stale.
        if matches!(
            request,
            Request::Query {
                provisional: true,
                ..
            }
        ) {
            while let Ok(next) = requests.try_recv() {
                request = next;
                if !matches!(
                    request,
                    Request::Query {
                        provisional: true,
                        ..
                    }
                ) {
                    break;
                }
            }
        }
        match request {
            Request::Query {
                seq,
                samples,
                provisional,
                remember,
            } => {
                let result = run_query(&mut engine, |e| {
                    e.query_samples_with(&samples, RESULTS_SHOWN, Method::Learned)
                });
                if let (Some(r), Ok(found)) = (remember, &result) {
                    let recording = r.keep_recording.then_some(samples.as_slice());
                    keep(&mut engine, r.kind, &r.query, recording, found, &send);
                }
                send(Reply::Results {
                    seq,
                    provisional,
                    result: result.map(|(r, _)| r),
                });
            }
            Request::QueryFile {
                seq,
                path,
                remember,
            } => {
                let result = run_query(&mut engine, |e| {
                    e.query_file_with(&path, RESULTS_SHOWN, Method::Learned)
                });
                if let (true, Ok(found)) = (remember, &result) {
                    let name = path.display().to_string();
                    keep(&mut engine, QueryKind::File, &name, None, found, &send);
                }
                send(Reply::Results {
                    seq,
                    provisional: false,
                    result: result.map(|(r, _)| r),
                });
            }
            Request::Rerun { seq, id } => {
                let result = run_query(&mut engine, |e| e.rerun(id, RESULTS_SHOWN).map(|(_, r)| r));
                send(Reply::Results {
                    seq,
                    provisional: false,
                    result: result.map(|(r, _)| r),
                });
            }
            Request::History => send(history(&engine)),
            Request::DeleteHistory(which) => {
                let catalog = engine.catalog_mut();
                let done = match which {
                    Some(id) => catalog.delete_history(id).map(|_| ()),
                    None => catalog.clear_history().map(|_| ()),
                };
                if let Err(e) = done {
                    send(Reply::Message(format!(
                        "Could not delete from the history: {e}"
                    )));
                }
                send(history(&engine));
            }
            Request::ExportHistory(path) => {
                send(Reply::Message(
                    match engine.catalog().export_history(&path) {
                        Ok(n) => format!("Exported {n} searches to {}", path.display()),
                        Err(e) => format!("Could not export the history: {e}"),
                    },
                ));
            }
            Request::HistoryRecording(id) => {
                let samples = match engine.catalog().history_recording(id) {
                    Ok(Some(s)) => Ok(s),
                    Ok(None) => Err("this search kept no recording".to_string()),
                    Err(e) => Err(e.to_string()),
                };
                send(Reply::HistoryRecording(samples));
            }
            Request::RefreshLibrary => send(Reply::Library(snapshot(&engine))),
            Request::RemoveFolder(folder) => {
                match engine.catalog_mut().remove_folder(&folder) {
                    Ok(n) => send(Reply::Message(format!(
                        "Removed {} ({n} songs) from the library.",
                        folder.display()
                    ))),
                    Err(e) => send(Reply::Message(format!(
                        "Could not remove {}: {e}",
                        folder.display()
                    ))),
                }
                send(Reply::Library(snapshot(&engine)));
            }
            Request::Reload => engine.reload(),
        }
    }
}

/// Runs a query and shapes it for the UI; the engine's own answer comes back too, for the
/// history.
fn run_query(
    engine: &mut Engine,
    query: impl FnOnce(&mut Engine) -> Result<crate::engine::QueryResult, crate::engine::EngineError>,
) -> Result<(Results, crate::engine::QueryResult), String> {
    let started = Instant::now();
    let found = query(engine).map_err(|e| e.to_string())?;
    let rows = found
        .matches
        .iter()
        .map(|m| ResultRow {
            // The overlay draws the line the hum was aligned with.
            melody: engine
                .catalog()
                .melody_line(
                    m.song.id,
                    m.found.line == crate::search::MatchedLine::SecondVoice,
                )
                .ok()
                .flatten(),
            song: m.song.clone(),
            found: m.found.clone(),
        })
        .collect();
    let results = Results {
        hum: found.hum.clone(),
        rows,
        elapsed: started.elapsed(),
        confidence: found.confidence,
    };
    Ok((results, found))
}

/// Keeps a finished search; the history is a convenience, so a failure is only a message.
fn keep(
    engine: &mut Engine,
    kind: QueryKind,
    query: &str,
    recording: Option<&[f32]>,
    found: &(Results, crate::engine::QueryResult),
    send: &impl Fn(Reply),
) {
    if let Err(e) = engine.remember(kind, query, recording, &found.1) {
        send(Reply::Message(format!(
            "The search was not kept in the history: {e}"
        )));
    }
}

fn history(engine: &Engine) -> Reply {
    Reply::History(
        engine
            .catalog()
            .history(HISTORY_SHOWN)
            .map_err(|e| e.to_string()),
    )
}

fn snapshot(engine: &Engine) -> LibrarySnapshot {
    let catalog = engine.catalog();
    LibrarySnapshot {
        songs: catalog.song_count().unwrap_or(0),
        folders: catalog.folders().unwrap_or_default(),
        errors: catalog.errors().unwrap_or_default(),
    }
}
