//! The engine API the CLI and the desktop app share: open a library database, index folders,
//! and answer hummed queries with ranked, explained matches.

use std::path::{Path, PathBuf};

use crate::audio::{decode_file, DecodeError};
use crate::library::SegmentIndex;
use crate::library::{
    index_paths, panic_message, Catalog, CatalogError, HistoryEntry, HistoryResult, HubState,
    IndexOptions, IndexProgress, IndexReport, NewHistoryEntry, QueryKind, SongRecord,
};
use crate::melody::Contour;
use crate::model::{Embedder, ModelError};
use crate::search::confidence::Calibration;
use crate::search::hub::{self, HubScores};
use crate::search::learned::{self, LearnedError, LibraryView, SearchSettings, StageTimes};
use crate::search::{hum_contour, Match, MelodySearcher, SearchError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Which search answers a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The learned embedding (ANN vote) re-ranked by contour alignment; falls back to the
    /// baseline when no model is available.
    Learned,
    /// Contour matching alone (the engine's first method).
    Baseline,
}

impl Method {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "learned" => Some(Self::Learned),
            "baseline" => Some(Self::Baseline),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Learned(#[from] LearnedError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Notes(#[from] crate::notes::NotesError),
    #[error("there is no search {id} in the history")]
    NoSuchSearch { id: i64 },
    #[error("search {id} kept no recording (keeping recordings was off), so it cannot be re-run")]
    RecordingNotKept { id: i64 },
    /// A bug: some stage panicked. The engine dropped its caches and stays usable.
    #[error("internal error while {during}: {message} (please report this)")]
    Internal { during: String, message: String },
}

/// The learned search's failures, with the search's own (empty library, too little melody)
/// kept as [`EngineError::Search`] so callers see one kind of them whatever the method.
fn learned_error(e: LearnedError) -> EngineError {
    match e {
        LearnedError::Search(s) => EngineError::Search(s),
        other => EngineError::Learned(other),
    }
}

/// A match with the song it points at.
#[derive(Debug, Clone)]
pub struct SongMatch {
    pub song: SongRecord,
    pub found: Match,
}

#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The hum's pitch contour (for display and the alignment overlay).
    pub hum: Contour,
    pub matches: Vec<SongMatch>,
    /// Where the time went (learned search only; zeros otherwise).
    pub times: StageTimes,
    /// How likely the first match is right, when the model ships a calibration (learned
    /// method only: the baseline's scores mean something else).
    pub confidence: Option<Confidence>,
}

impl QueryResult {
    /// The matches as the search history keeps them.
    pub fn history_results(&self) -> Vec<HistoryResult> {
        self.matches
            .iter()
            .map(|m| HistoryResult {
                song_id: m.song.id,
                title: m.song.title.clone(),
                artist: m.song.artist.clone(),
                path: m.song.path.clone(),
                score: m.found.score,
                start_s: m.found.start_s,
                end_s: m.found.end_s,
            })
            .collect()
    }
}

/// Calibrated confidence in a query's first match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Confidence {
    /// Probability that the first match is the right song (calibrated on held-out dev queries).
    pub probability: f32,
    /// Whether it clears the calibration's threshold; below it the answer is "no confident
    /// match" and the list is only guesses.
    pub confident: bool,
}

impl Confidence {
    /// The probability as a whole percentage for people: never "100%" or "0%", which no
    /// calibration on a few hundred queries can claim.
    pub fn percent(&self) -> u32 {
        percent(self.probability)
    }
}

/// A probability as a whole percentage for people, 1–99 (see [`Confidence::percent`]).
pub fn percent(probability: f32) -> u32 {
    (100.0 * probability).round().clamp(1.0, 99.0) as u32
}

/// File beside the model holding its calibration (`earworm calibrate`).
pub const CALIBRATION_FILE: &str = "calibration.json";

pub struct Engine {
    catalog: Catalog,
    db_dir: PathBuf,
    /// Built on first query, dropped when the library changes.
    searcher: Option<MelodySearcher>,
    segments: Option<SegmentIndex>,
    /// The songs' melody segments, when the library has them (opened with `segments`).
    melody_segments: Option<SegmentIndex>,
    /// The songs' hub statistics, when measured (opened with `segments`).
    hub: Option<HubScores>,
    embedder: Option<Arc<Embedder>>,
    /// Why there is no model, when there is none.
    model_problem: Option<String>,
    calibration: Option<Calibration>,
    /// The learned search's tunables, loaded once when the engine opens.
    settings: SearchSettings,
}

impl Engine {
    /// The default database folder: the platform's data directory (e.g. ~/.local/share/earworm).
    pub fn default_db_dir() -> PathBuf {
        directories::ProjectDirs::from("org", "Earworm", "earworm")
            .map(|d| d.data_dir().to_path_buf())
            .unwrap_or_else(|| PathBuf::from(".earworm"))
    }

    /// The search settings file read when no other is named: `search.json` in the platform's
    /// configuration directory (e.g. ~/.config/earworm/search.json), if it exists.
    pub fn default_settings_file() -> Option<PathBuf> {
        directories::ProjectDirs::from("org", "Earworm", "earworm")
            .map(|d| d.config_dir().join("search.json"))
    }

    /// The segment index, when the learned search has one loaded (for benchmarks and `info`).
    pub fn segment_index_now(&mut self) -> Result<Option<&SegmentIndex>, EngineError> {
        self.segment_index()
    }

    /// The melody segments' index, when the library has melody segments (see
    /// [`Self::segment_index_now`]).
    pub fn melody_segment_index_now(&mut self) -> Result<Option<&SegmentIndex>, EngineError> {
        self.segment_index()?;
        Ok(self.melody_segments.as_ref())
    }

    /// Opens the library in `db_dir` with the shipped model (see [`crate::model::find_model_dir`]);
    /// without a usable model the engine still works with the baseline search.
    pub fn open(db_dir: &Path) -> Result<Self, EngineError> {
        let model = Embedder::load_default();
        Self::open_with_model(db_dir, model)
    }

    /// Opens the library with a given model (or the reason there is none).
    pub fn open_with_model(
        db_dir: &Path,
        model: Result<Embedder, ModelError>,
    ) -> Result<Self, EngineError> {
        let mut catalog = Catalog::open(db_dir)?;
        let (embedder, model_problem) = match model {
            Ok(e) => (Some(Arc::new(e)), None),
            Err(e) => (None, Some(e.to_string())),
        };
        catalog.set_embedding_model(embedder.as_ref().map(|e| e.id.clone()));
        if let Some(t) = embedder.as_ref().and_then(|e| e.tracker.as_ref()) {
            catalog.set_melody_version(t.melody_version());
        }
        // A calibration that cannot be read leaves scores uncalibrated; it is optional.
        let calibration = embedder
            .as_ref()
            .and_then(|e| Calibration::load(&e.dir.join(CALIBRATION_FILE)).ok());
        Ok(Self {
            catalog,
            db_dir: db_dir.to_path_buf(),
            searcher: None,
            segments: None,
            melody_segments: None,
            hub: None,
            embedder,
            model_problem,
            calibration,
            settings: SearchSettings::load(None, Self::default_settings_file().as_deref())?,
        })
    }

    pub fn embedder(&self) -> Option<&Arc<Embedder>> {
        self.embedder.as_ref()
    }

    /// Why the learned search is unavailable (None when a model is loaded).
    /// Replaces the search settings (the defaults plus environment overrides otherwise).
    pub fn set_search_settings(&mut self, settings: SearchSettings) {
        self.settings = settings;
    }

    pub fn search_settings(&self) -> &SearchSettings {
        &self.settings
    }

    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    pub fn model_problem(&self) -> Option<&str> {
        self.model_problem.as_deref()
    }

    /// Songs an index run will re-analyse: their segments for the loaded model are missing, or
    /// their melody was made by another melody tracker (or none).
    pub fn songs_needing_embeddings(&self) -> Result<i64, EngineError> {
        let model = self.embedder.as_ref().map(|e| e.id.as_str());
        Ok(self.catalog.songs_needing_analysis(model)?)
    }

    /// Songs without melody segments (indexed by a version before the melody vote): an index
    /// run derives them from the stored melodies.
    pub fn songs_needing_melody_segments(&self) -> Result<usize, EngineError> {
        let Some(e) = &self.embedder else {
            return Ok(0);
        };
        Ok(self
            .catalog
            .songs_without_segments(&e.melody_model_id())?
            .len())
    }

    /// Forgets cached search structures: call when another process or thread changed the
    /// library (the app's indexer runs beside its search engine).
    pub fn reload(&mut self) {
        self.searcher = None;
        self.segments = None;
        self.melody_segments = None;
        self.hub = None;
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn catalog_mut(&mut self) -> &mut Catalog {
        self.reload();
        &mut self.catalog
    }

    pub fn index(
        &mut self,
        paths: &[PathBuf],
        options: &IndexOptions,
        progress: &mut dyn FnMut(&IndexProgress),
    ) -> Result<IndexReport, EngineError> {
        self.reload();
        let mut options = options.clone();
        if options.embedder.is_none() {
            options.embedder = self.embedder.clone();
        }
        let mut report = index_paths(&mut self.catalog, paths, &options, progress)?;
        if !report.cancelled {
            // The files' counts stay as they ended (the library view shows them beside the
            // probe step's own).
            let mut state = IndexProgress {
                total: report.found.saturating_sub(report.unchanged),
                done: report.found.saturating_sub(report.unchanged),
                failed: report.failed,
                audio_seconds: report.audio_seconds,
                ..Default::default()
            };
            let started = std::time::Instant::now();
            let before = report.elapsed;
            let refreshed = self.refresh_hub_scores(&options.cancel, &mut |done, total| {
                state.probes_done = done;
                state.probes_total = total;
                state.elapsed = started.elapsed();
                progress(&state);
            });
            // The files are indexed whatever happens here: a failure is reported, not fatal.
            match refreshed {
                Ok(Some(probes)) => report.hub_probes = probes,
                Ok(None) => report.cancelled = true,
                Err(e) => report.hub_error = Some(e.to_string()),
            }
            report.hub_elapsed = started.elapsed();
            report.elapsed = before + report.hub_elapsed;
        }
        Ok(report)
    }

    /// Hub statistics belong to the model and the melody tracker that made the stored lines.
    fn hub_key(&self, embedder: &Embedder) -> String {
        format!("{} melody {}", embedder.id, self.catalog.melody_version())
    }

    /// The songs' hub statistics for the loaded model (empty when never measured).
    pub fn hub_scores(&self) -> Result<HashMap<i64, f32>, EngineError> {
        match &self.embedder {
            Some(e) => Ok(self.catalog.hub_scores(&self.hub_key(e))?),
            None => Ok(HashMap::new()),
        }
    }

    /// Measures the songs' hub statistics ([`crate::search::hub`]) when they were never
    /// measured for this model, or the library changed since and is small or had more than a
    /// tenth of its songs added or removed ([`hub::worth_reprobing`]): excerpts of each song's
    /// stored melody, played as a sine, are searched like hums (hub correction off), and each
    /// song's scores as a wrong candidate are kept. `progress` gets (songs probed, songs to probe). A cancelled run
    /// keeps the old statistics. Returns the probes run (0 when none were needed), or None when
    /// cancelled.
    pub fn refresh_hub_scores(
        &mut self,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Option<usize>, EngineError> {
        let Some(embedder) = self.embedder.clone() else {
            return Ok(Some(0));
        };
        let key = self.hub_key(&embedder);
        let generation = self.catalog.library_generation()?;
        let measured = self.catalog.hub_state(&key)?;
        if measured.is_some_and(|m| m.generation == generation) {
            return Ok(Some(0));
        }
        let newest_song = self.catalog.newest_song_id()?;
        if self.segment_index()?.is_none() {
            return Ok(Some(0));
        }
        let Some(index) = self.segments.as_ref() else {
            return Ok(Some(0));
        };
        let songs_now = index.song_count();
        if let Some(m) = measured {
            let added = self.catalog.songs_after(m.newest_song)?;
            let removed = (m.songs + added).saturating_sub(songs_now);
            if !hub::worth_reprobing(m.songs, songs_now, added + removed) {
                return Ok(Some(0));
            }
        }
        let mut settings = self.settings.clone();
        settings.hub = 0.0;
        settings.dump_candidates = None;
        let songs = hub::probe_songs(&index.song_ids(), hub::PROBES_PER_SONG, hub::MAX_PROBES);
        let catalog = &self.catalog;
        let melodies = |songs: &[i64]| catalog.melody_lines_of(songs);
        let mut wrong: HashMap<i64, Vec<f32>> = HashMap::new();
        let (mut probes, mut done) = (0, 0);
        progress(0, songs.len());
        for batch in songs.chunks(16) {
            if cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            for lines in catalog.melody_lines_of(batch)? {
                for excerpt in
                    hub::probe_excerpts(&lines.melody, hub::PROBE_SECONDS, hub::PROBES_PER_SONG)
                {
                    let samples = excerpt.render_sine();
                    let (hum, query) = rayon::join(
                        || hum_contour(&samples),
                        || learned::embed_query(&embedder, &samples, &settings.query),
                    );
                    // A probe the network or the search cannot take is skipped, not fatal.
                    let Ok(query) = query else { continue };
                    let Ok(found) = learned::search_all(
                        LibraryView {
                            index,
                            melody_index: self.melody_segments.as_ref(),
                            hub: None,
                            melodies: &melodies,
                        },
                        &query,
                        &hum,
                        settings.shortlist,
                        &settings,
                        &mut StageTimes::default(),
                    ) else {
                        continue;
                    };
                    probes += 1;
                    for m in found {
                        if m.song_id != lines.song_id && !m.alignment.path.is_empty() {
                            wrong.entry(m.song_id).or_default().push(m.score);
                        }
                    }
                }
            }
            done += batch.len();
            progress(done, songs.len());
        }
        let stats = hub::hub_statistics(wrong, hub::BEST_SCORES, hub::MIN_SCORES);
        let mut rows: Vec<(i64, f32)> = stats.iter().map(|(&s, &v)| (s, v)).collect();
        rows.sort_by_key(|r| r.0);
        let state = HubState {
            generation,
            songs: songs_now,
            newest_song,
            probes,
        };
        self.catalog.put_hub_scores(&key, &state, &rows)?;
        self.hub = Some(HubScores::new(stats)).filter(|h| !h.is_empty());
        Ok(Some(probes))
    }

    fn segment_index(&mut self) -> Result<Option<&SegmentIndex>, EngineError> {
        let Some(e) = &self.embedder else {
            return Ok(None);
        };
        if self.segments.is_none() {
            // The two indexes open side by side (each reads, and after a change writes, a
            // file of the library's size); the melody one through its own connection, as a
            // connection is not shared between threads.
            let melody_model = e.melody_model_id();
            let melody_version = self.catalog.melody_version();
            let db_dir = &self.db_dir;
            let (index, melody) = std::thread::scope(|scope| {
                let melody = scope.spawn(|| -> Result<SegmentIndex, LearnedError> {
                    let mut catalog = Catalog::open(db_dir)?;
                    catalog.set_melody_version(melody_version);
                    Ok(SegmentIndex::open_vectors_only(
                        db_dir,
                        &catalog,
                        &melody_model,
                    )?)
                });
                let index = SegmentIndex::open(db_dir, &self.catalog, &e.id);
                let melody = melody.join().unwrap_or_else(|panic| {
                    std::panic::resume_unwind(panic);
                });
                (index, melody)
            });
            let index = index.map_err(LearnedError::from)?;
            self.melody_segments = Some(melody?).filter(|m| !m.is_empty());
            self.hub = Some(HubScores::new(self.hub_scores()?)).filter(|h| !h.is_empty());
            self.segments = Some(index);
        }
        Ok(self.segments.as_ref().filter(|s| !s.is_empty()))
    }

    fn searcher(&mut self) -> Result<&MelodySearcher, EngineError> {
        if self.searcher.is_none() {
            self.searcher = Some(MelodySearcher::new(self.catalog.melodies()?));
        }
        Ok(self.searcher.as_ref().expect("just built"))
    }

    /// Loads the search structures `method` needs now (otherwise the first query pays for it).
    pub fn warm_up(&mut self) -> Result<(), EngineError> {
        self.warm_up_for(Method::Learned)
    }

    pub fn warm_up_for(&mut self, method: Method) -> Result<(), EngineError> {
        self.guarded("loading the library index", |engine| {
            // The learned search reads melodies from the catalog per query; only the baseline
            // (or a library without embeddings) keeps every melody in memory.
            if method == Method::Learned && engine.segment_index()?.is_some() {
                return Ok(());
            }
            engine.searcher()?;
            Ok(())
        })
    }

    /// Searches with a recorded hum: mono samples at [`crate::audio::SAMPLE_RATE`].
    pub fn query_samples(
        &mut self,
        samples: &[f32],
        top: usize,
    ) -> Result<QueryResult, EngineError> {
        self.query_samples_with(samples, top, Method::Learned)
    }

    /// Searches with the given method; `Learned` without a model (or with no embedded songs)
    /// answers with the baseline.
    ///
    /// A panic anywhere below (a bug) becomes
    /// [`EngineError::Internal`] for this query; the cached search structures are dropped so
    /// the next query starts clean.
    pub fn query_samples_with(
        &mut self,
        samples: &[f32],
        top: usize,
        method: Method,
    ) -> Result<QueryResult, EngineError> {
        self.guarded("searching", |engine| {
            engine.query_samples_unguarded(samples, top, method)
        })
    }

    /// Runs `work`, turning a panic into [`EngineError::Internal`] and dropping the cached
    /// search structures (they may be half-built).
    fn guarded<T>(
        &mut self,
        during: &str,
        work: impl FnOnce(&mut Self) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(self)));
        answer.unwrap_or_else(|panic| {
            self.reload();
            Err(EngineError::Internal {
                during: during.into(),
                message: panic_message(panic.as_ref()),
            })
        })
    }

    fn query_samples_unguarded(
        &mut self,
        samples: &[f32],
        top: usize,
        method: Method,
    ) -> Result<QueryResult, EngineError> {
        let peak = samples.iter().fold(0.0f32, |p, x| p.max(x.abs()));
        if peak < crate::search::SILENT_QUERY_PEAK {
            return Err(SearchError::Silent {
                peak_dbfs: 20.0 * peak.max(1e-10).log10(),
            }
            .into());
        }
        if method == Method::Learned && self.segment_index()?.is_some() {
            let embedder = Arc::clone(self.embedder.as_ref().expect("index implies a model"));
            // The pitch contour and the embeddings are independent: compute them side by side.
            let started = std::time::Instant::now();
            let ms = |t: std::time::Instant| t.elapsed().as_secs_f32() * 1000.0;
            let ((hum, pitch_ms), (queries, embed_ms)) = rayon::join(
                || (hum_contour(samples), ms(started)),
                || {
                    let q = learned::embed_query(&embedder, samples, &self.settings.query);
                    (q, ms(started))
                },
            );
            let queries = queries?;
            let mut times = StageTimes {
                analyse_ms: ms(started),
                pitch_ms,
                embed_ms,
                ..Default::default()
            };
            let Some(index) = &self.segments else {
                return self.query_contour(hum, top);
            };
            // At least two answers: the calibration reads the margin over the runner-up.
            let catalog = &self.catalog;
            let melodies = |songs: &[i64]| catalog.melody_lines_of(songs);
            let mut found = learned::search(
                LibraryView {
                    index,
                    melody_index: self.melody_segments.as_ref(),
                    hub: self.hub.as_ref(),
                    melodies: &melodies,
                },
                &queries,
                &hum,
                top.max(2),
                &self.settings,
                &mut times,
            )
            .map_err(learned_error)?;
            let scores: Vec<f32> = found.iter().map(|m| m.score).collect();
            let confidence = self.calibration.as_ref().map(|c| Confidence {
                probability: c.probability(&scores),
                confident: c.is_confident(&scores),
            });
            found.truncate(top);
            let mut result = self.with_songs(hum, found)?;
            result.confidence = confidence;
            result.times = times;
            return Ok(result);
        }
        self.query_contour(hum_contour(samples), top)
    }

    fn with_songs(&self, hum: Contour, found: Vec<Match>) -> Result<QueryResult, EngineError> {
        let mut matches = Vec::with_capacity(found.len());
        for m in found {
            if let Some(song) = self.catalog.song(m.song_id)? {
                matches.push(SongMatch { song, found: m });
            }
        }
        Ok(QueryResult {
            hum,
            matches,
            times: StageTimes::default(),
            confidence: None,
        })
    }

    pub fn query_contour(&mut self, hum: Contour, top: usize) -> Result<QueryResult, EngineError> {
        let found = self.searcher()?.search(&hum, top)?;
        self.with_songs(hum, found)
    }

    /// Searches with an audio file (any supported format).
    pub fn query_file(&mut self, path: &Path, top: usize) -> Result<QueryResult, EngineError> {
        self.query_file_with(path, top, Method::Learned)
    }

    /// Searches with notes typed in scientific pitch names or ABC-like letters.
    pub fn query_notes(&mut self, text: &str, top: usize) -> Result<QueryResult, EngineError> {
        let samples = crate::notes::query_audio(&crate::notes::parse_any(text)?)?;
        self.query_samples(&samples, top)
    }

    /// Keeps a finished search in the history; returns its id.
    pub fn remember(
        &mut self,
        kind: QueryKind,
        query: &str,
        recording: Option<&[f32]>,
        result: &QueryResult,
    ) -> Result<i64, EngineError> {
        Ok(self.catalog.add_history(&NewHistoryEntry {
            kind,
            query,
            recording,
            confidence: result.confidence.map(|c| c.probability),
            results: &result.history_results(),
        })?)
    }

    /// Runs a kept search again against the library as it is now (the history is unchanged).
    pub fn rerun(
        &mut self,
        id: i64,
        top: usize,
    ) -> Result<(HistoryEntry, QueryResult), EngineError> {
        let entry = self
            .catalog
            .history_entry(id)?
            .ok_or(EngineError::NoSuchSearch { id })?;
        let result = match entry.kind {
            QueryKind::Notes | QueryKind::Keys => self.query_notes(&entry.query, top)?,
            QueryKind::File if !entry.has_recording => {
                self.query_file(Path::new(&entry.query), top)?
            }
            QueryKind::Hum | QueryKind::File => {
                let samples = self
                    .catalog
                    .history_recording(id)?
                    .ok_or(EngineError::RecordingNotKept { id })?;
                self.query_samples(&samples, top)?
            }
        };
        Ok((entry, result))
    }

    pub fn query_file_with(
        &mut self,
        path: &Path,
        top: usize,
        method: Method,
    ) -> Result<QueryResult, EngineError> {
        let (samples, _) = self.guarded("decoding the query", |_| Ok(decode_file(path)?))?;
        self.query_samples_with(&samples, top, method)
    }
}

#[cfg(test)]
mod tests {
    use super::Confidence;

    #[test]
    fn confidence_percent_never_claims_certainty() {
        let c = |p| Confidence {
            probability: p,
            confident: true,
        };
        assert_eq!(c(0.9996).percent(), 99);
        assert_eq!(c(0.934).percent(), 93);
        assert_eq!(c(0.0001).percent(), 1);
    }
}
