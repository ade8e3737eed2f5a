//! The desktop app (eframe/egui): hum into the microphone, watch your pitch live, get ranked
//! songs with an alignment overlay, play them, and manage the library. It drives the same
//! [`crate::engine::Engine`] as the CLI, on worker threads ([`worker`]); this module is the UI
//! state and drawing, and never blocks on audio, search or indexing.

pub mod capture;
pub mod history;
pub mod keys;
mod library_view;
pub mod live;
pub mod midi;
pub mod overlay;
pub mod playback;
mod recorder;
mod results;
mod settings;
mod tour;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui::{self, Color32, RichText, Vec2};

use crate::audio::SAMPLE_RATE;
use crate::library::{is_audio_path, IndexProgress, QueryKind};
use capture::{Capture, InputDevice};
use history::{HistoryAction, HistoryPanel};
use keys::{KeysAction, Piano, PlayedNotes};
use live::{LiveAnalysis, StopReason, StopRules};
use playback::{HumVsSong, Output, Player, Playing};
use tour::Tour;
use worker::{EngineInfo, LibrarySnapshot, Remember, Reply, Request, Results, Worker};

/// Where recorded audio comes from.
#[derive(Clone)]
pub enum AudioInput {
    /// The system's microphones (cpal).
    System,
    /// No audio system at all (what a machine without sound hardware reports).
    Unavailable,
}

/// How the app is set up; the defaults are the real desktop app.
#[derive(Clone)]
pub struct AppConfig {
    /// Database folder; `None` uses the saved setting or the platform default.
    pub db_dir: Option<PathBuf>,
    /// Indexed on first run when the library is empty.
    pub demo_dir: Option<PathBuf>,
    pub audio: AudioInput,
    /// Speed of the example hum's playback into the recorder (1 = real time).
    pub clip_speed: f32,
    pub stop_rules: StopRules,
    /// Seconds of new audio between provisional searches while recording.
    pub provisional_every_s: f32,
    /// Scripted tour that saves screenshots and frame times into this folder, then quits.
    pub tour: Option<PathBuf>,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            db_dir: None,
            demo_dir: crate::library::bundled_demo_dir(),
            audio: AudioInput::System,
            clip_speed: 1.0,
            stop_rules: StopRules::default(),
            provisional_every_s: 2.0,
            tour: None,
        }
    }
}

/// What the app remembers between runs (eframe storage).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub input_device: Option<String>,
    pub dark_mode: bool,
    pub db_dir: Option<PathBuf>,
    /// The demo library was offered once; removing it is then respected.
    pub demo_indexed: bool,
    /// Keep each search's recording in the history (to play or re-run it later).
    pub keep_recordings: bool,
    /// The MIDI keyboard to play from (by port name).
    pub midi_device: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            input_device: None,
            dark_mode: true,
            db_dir: None,
            demo_indexed: false,
            keep_recordings: true,
            midi_device: None,
        }
    }
}

const SETTINGS_KEY: &str = "earworm-settings";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Search,
    Library,
    History,
}

struct Recording {
    capture: Capture,
    /// Recording length at the last provisional search.
    searched_at_s: f32,
}

/// A dropped or picked path (egui's file-drop type for tests and the tour).
#[derive(Debug)]
pub struct DroppedPath(pub PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Frame times by what the app was doing, for the responsiveness figures.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FrameTimes {
    /// Milliseconds spent building each frame, and between frames.
    pub idle: Vec<(f32, f32)>,
    pub recording: Vec<(f32, f32)>,
    pub indexing: Vec<(f32, f32)>,
}

pub struct EarwormApp {
    config: AppConfig,
    settings: Settings,
    db_dir: PathBuf,
    worker: Worker,
    info: Option<EngineInfo>,
    open_error: Option<String>,
    devices: Vec<InputDevice>,
    recording: Option<Recording>,
    live: Option<LiveAnalysis>,
    mic_message: Option<String>,
    drain_buffer: Vec<f32>,
    query_seq: u64,
    final_seq: Option<u64>,
    stopped_at: Option<Instant>,
    /// Stop → final results, for the last recording.
    pub last_stop_to_results: Option<Duration>,
    results: Option<Results>,
    results_provisional: bool,
    results_error: Option<String>,
    selected: Option<usize>,
    library: LibrarySnapshot,
    library_loaded: bool,
    index_progress: Option<IndexProgress>,
    index_note: Option<String>,
    tab: Tab,
    player: Player,
    /// What the last final search listened to (a recording, or rendered notes): "hum vs song"
    /// plays it against the match.
    query_audio: Option<Arc<Vec<f32>>>,
    player_error: Option<String>,
    message: Option<String>,
    /// The live spectrogram texture and how many frames it shows.
    spectrogram: Option<(usize, egui::TextureHandle)>,
    demo_hums: Vec<PathBuf>,
    next_example: usize,
    folder_pick: Option<Receiver<Option<PathBuf>>>,
    file_pick: Option<Receiver<Option<PathBuf>>>,
    export_pick: Option<Receiver<Option<PathBuf>>>,
    history: HistoryPanel,
    /// Notes played on the on-screen piano, the computer keyboard or a MIDI keyboard.
    played: PlayedNotes,
    piano: Piano,
    show_keys: bool,
    /// MIDI input ports, or why there are none.
    midi_ports: Result<Vec<String>, String>,
    midi: Option<midi::MidiKeyboard>,
    midi_problem: Option<String>,
    /// Notes typed as a query (scientific pitch names or ABC-like letters).
    pub typed_notes: String,
    show_settings: bool,
    db_dir_edit: String,
    frame_times: FrameTimes,
    last_frame: Option<Instant>,
    last_library_refresh: Instant,
    /// The selected result's overlay and which result it is for; cleared with new results.
    overlay: Option<(Option<usize>, overlay::Overlay)>,
    tour: Option<Tour>,
}

impl EarwormApp {
    /// The app as eframe creates it: settings from storage.
    pub fn new(cc: &eframe::CreationContext<'_>, config: AppConfig) -> Self {
        // A tour starts like a first run, whatever this machine's saved settings say.
        let settings: Settings = cc
            .storage
            .filter(|_| config.tour.is_none())
            .and_then(|s| eframe::get_value(s, SETTINGS_KEY))
            .unwrap_or_default();
        Self::with_settings(&cc.egui_ctx, config, settings)
    }

    pub fn with_settings(ctx: &egui::Context, config: AppConfig, settings: Settings) -> Self {
        ctx.set_theme(if settings.dark_mode {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
        let db_dir = config
            .db_dir
            .clone()
            .or_else(|| settings.db_dir.clone())
            .unwrap_or_else(crate::engine::Engine::default_db_dir);
        let worker = spawn_worker(ctx, &db_dir);
        let devices = match config.audio {
            AudioInput::System => capture::input_devices(),
            AudioInput::Unavailable => Vec::new(),
        };
        let demo_hums = config
            .demo_dir
            .as_deref()
            .map(demo_hum_paths)
            .unwrap_or_default();
        let tour = config.tour.clone().map(Tour::new);
        let config_audio = config.audio.clone();
        let midi_ports = match config.audio {
            AudioInput::System => midi::input_ports(),
            AudioInput::Unavailable => Err("no MIDI system".to_string()),
        };
        let (midi, midi_problem) = match &settings.midi_device {
            Some(name) if midi_ports.is_ok() => match open_midi(ctx, name) {
                Ok(k) => (Some(k), None),
                Err(e) => (None, Some(e)),
            },
            _ => (None, None),
        };
        Self {
            db_dir_edit: db_dir.display().to_string(),
            config,
            settings,
            db_dir,
            worker,
            info: None,
            open_error: None,
            devices,
            recording: None,
            live: None,
            mic_message: None,
            drain_buffer: Vec::new(),
            query_seq: 0,
            final_seq: None,
            stopped_at: None,
            last_stop_to_results: None,
            results: None,
            results_provisional: false,
            results_error: None,
            selected: None,
            library: LibrarySnapshot::default(),
            library_loaded: false,
            index_progress: None,
            index_note: None,
            tab: Tab::Search,
            player: Player::new(match config_audio {
                AudioInput::System => Output::Device,
                AudioInput::Unavailable => Output::Silent,
            }),
            query_audio: None,
            player_error: None,
            message: None,
            spectrogram: None,
            demo_hums,
            next_example: 0,
            folder_pick: None,
            file_pick: None,
            export_pick: None,
            history: HistoryPanel::default(),
            played: PlayedNotes::default(),
            piano: Piano::default(),
            show_keys: false,
            midi_ports,
            midi,
            midi_problem,
            typed_notes: String::new(),
            show_settings: false,
            frame_times: FrameTimes::default(),
            last_frame: None,
            last_library_refresh: Instant::now(),
            overlay: None,
            tour,
        }
    }

    // ----- State the tests look at -----

    pub fn results(&self) -> Option<&Results> {
        self.results.as_ref()
    }
    pub fn results_are_final(&self) -> bool {
        self.results.is_some() && !self.results_provisional && self.final_seq.is_none()
    }
    pub fn is_recording(&self) -> bool {
        self.recording.is_some()
    }
    pub fn is_indexing(&self) -> bool {
        self.worker.indexing()
    }
    pub fn library(&self) -> &LibrarySnapshot {
        &self.library
    }
    pub fn library_loaded(&self) -> bool {
        self.library_loaded && self.info.is_some()
    }
    pub fn selected(&self) -> Option<usize> {
        self.selected
    }
    pub fn frame_times(&self) -> &FrameTimes {
        &self.frame_times
    }
    pub fn live(&self) -> Option<&LiveAnalysis> {
        self.live.as_ref()
    }
    pub fn results_error(&self) -> Option<&str> {
        self.results_error.as_deref()
    }
    pub fn index_note(&self) -> Option<&str> {
        self.index_note.as_deref()
    }

    // ----- Actions -----

    /// Starts recording from the chosen microphone.
    pub fn start_recording(&mut self) {
        if self.recording.is_some() {
            return;
        }
        let opened = match self.config.audio {
            AudioInput::Unavailable => Err(capture::CaptureError::NoDevice),
            AudioInput::System => Capture::open_microphone(self.settings.input_device.as_deref()),
        };
        match opened {
            Ok(c) => self.begin(c),
            Err(e) => {
                self.mic_message = Some(format!(
                    "{e}. Connect a microphone and press Record again — or try \"Example hum\", or drop an audio file on the hum area to search with it."
                ))
            }
        }
    }

    /// Records a clip as if it came from the microphone (the example hum; the UI tests).
    pub fn record_clip(&mut self, samples: Vec<f32>, sample_rate: u32, name: &str) {
        if self.recording.is_some() {
            return;
        }
        let c = Capture::from_clip(Arc::new(samples), sample_rate, self.config.clip_speed, name);
        self.begin(c);
    }

    fn begin(&mut self, capture: Capture) {
        self.mic_message = None;
        self.spectrogram = None;
        self.live = Some(LiveAnalysis::new(capture.sample_rate));
        self.recording = Some(Recording {
            capture,
            searched_at_s: 0.0,
        });
        self.results = None;
        self.results_error = None;
        self.selected = None;
        self.final_seq = None;
        self.tab = Tab::Search;
    }

    pub fn stop_recording(&mut self) {
        let Some(mut rec) = self.recording.take() else {
            return;
        };
        if let Some(live) = &mut self.live {
            rec.capture.drain(&mut self.drain_buffer);
            live.push(&self.drain_buffer);
            self.drain_buffer.clear();
            if live.duration_s() < 1.0 {
                self.results_error = Some("The recording is shorter than a second: hum a few notes of the tune (5–15 s works best).".into());
                return;
            }
            self.query_seq += 1;
            self.final_seq = Some(self.query_seq);
            self.stopped_at = Some(Instant::now());
            let samples = Arc::new(live.samples.clone());
            self.query_audio = Some(Arc::clone(&samples));
            self.worker.send(Request::Query {
                seq: self.query_seq,
                samples,
                provisional: false,
                remember: Some(Remember {
                    kind: QueryKind::Hum,
                    query: rec.capture.source_name.clone(),
                    keep_recording: self.settings.keep_recordings,
                }),
            });
        }
    }

    /// Clears the recording and the last results for a search that is final at once (a file or
    /// typed notes) and returns its sequence number.
    fn begin_final_search(&mut self, message: String) -> u64 {
        self.recording = None;
        self.live = None;
        self.results = None;
        self.results_error = None;
        self.selected = None;
        self.query_audio = None;
        self.query_seq += 1;
        self.final_seq = Some(self.query_seq);
        self.stopped_at = Some(Instant::now());
        self.message = Some(message);
        self.query_seq
    }

    /// Searches with an audio file (dropped on the hum area, or picked).
    pub fn search_file(&mut self, path: &Path) {
        let seq = self.begin_final_search(format!("Searching with {}", file_name(path)));
        self.worker.send(Request::QueryFile {
            seq,
            path: path.to_path_buf(),
            remember: true,
        });
    }

    /// Searches with the typed notes ("E4 D4 C4/8 …", or ABC-like "E D C2 …"): rendered as a
    /// clean melody and searched like a recording.
    pub fn search_notes(&mut self) {
        let text = self.typed_notes.trim().to_string();
        let parsed = crate::notes::parse_any(&text);
        let samples = match parsed.and_then(|n| crate::notes::query_audio(&n)) {
            Ok(s) => s,
            Err(e) => {
                self.results_error = Some(format!(
                    "{e}. Type notes like \"E4 D4 C4 D4 E4 E4 E4/2\" or \"E D C D E E E2\"."
                ));
                return;
            }
        };
        self.search_rendered(
            format!("Searching with the notes {text}"),
            samples,
            QueryKind::Notes,
            text,
        );
    }

    /// The History tab's list (newest first).
    pub fn history(&self) -> &[crate::library::HistoryEntry] {
        &self.history.entries
    }

    pub fn show_tab(&mut self, tab: Tab) {
        if tab == Tab::History {
            self.worker.send(Request::History);
        }
        self.tab = tab;
    }

    /// Carries out what the History tab asked for.
    pub fn history_action(&mut self, action: HistoryAction) {
        match action {
            HistoryAction::Rerun(id) => {
                let seq = self.begin_final_search(format!("Searching again with search {id}"));
                self.worker.send(Request::Rerun { seq, id });
                self.tab = Tab::Search;
            }
            HistoryAction::PlayRecording(id) => self.worker.send(Request::HistoryRecording(id)),
            HistoryAction::Delete(id) => self.worker.send(Request::DeleteHistory(Some(id))),
            HistoryAction::DeleteAll => self.worker.send(Request::DeleteHistory(None)),
            HistoryAction::Export => {
                self.export_pick = Some(spawn_dialog(|| {
                    rfd::FileDialog::new()
                        .set_file_name("earworm-history.csv")
                        .add_filter("CSV", &["csv"])
                        .save_file()
                }));
            }
        }
    }

    /// Writes the whole history as CSV to `path` (the export button's dialog ends here).
    pub fn export_history(&mut self, path: &Path) {
        self.worker.send(Request::ExportHistory(path.to_path_buf()));
    }

    /// The notes played on keys so far.
    pub fn played_notes(&self) -> &PlayedNotes {
        &self.played
    }

    pub fn show_keys(&mut self, show: bool) {
        self.show_keys = show;
    }

    /// A raw MIDI message at `at_s` on the app's clock: what a MIDI keyboard sends (and what
    /// tests inject). A note opens the keys panel.
    pub fn midi_message(&mut self, bytes: &[u8], at_s: f64) {
        self.played.midi_message(bytes, at_s);
        if bytes.first().is_some_and(|s| s & 0xF0 == 0x90) {
            self.show_keys = true;
        }
    }

    /// A final search with notes rendered as audio (typed or played): kept in the history by
    /// its notes, and the audio kept for "hum vs song".
    fn search_rendered(
        &mut self,
        message: String,
        samples: Vec<f32>,
        kind: QueryKind,
        query: String,
    ) {
        let seq = self.begin_final_search(message);
        let samples = Arc::new(samples);
        self.query_audio = Some(Arc::clone(&samples));
        self.worker.send(Request::Query {
            seq,
            samples,
            provisional: false,
            remember: Some(Remember {
                kind,
                query,
                keep_recording: false,
            }),
        });
    }

    /// Searches with the notes played on keys, then clears them for the next tune.
    pub fn search_played(&mut self) {
        let samples = match self.played.query_audio() {
            Ok(s) => s,
            Err(e) => {
                self.results_error = Some(format!("{e}: play a few more notes of the tune."));
                return;
            }
        };
        let described = self.played.describe();
        self.search_rendered(
            format!("Searching with the notes played: {described}"),
            samples,
            QueryKind::Keys,
            described,
        );
        self.played.clear();
    }

    fn choose_midi(&mut self, ctx: &egui::Context, name: Option<String>) {
        self.midi = None;
        self.midi_problem = None;
        if let Some(n) = &name {
            match open_midi(ctx, n) {
                Ok(k) => self.midi = Some(k),
                Err(e) => self.midi_problem = Some(e),
            }
        }
        self.settings.midi_device = name;
    }

    fn pump_midi(&mut self, now_s: f64) {
        let Some(k) = &self.midi else {
            return;
        };
        let messages: Vec<Vec<u8>> = k.messages.try_iter().collect();
        for m in messages {
            self.midi_message(&m, now_s);
        }
    }

    fn midi_status(&self) -> String {
        match (&self.midi, &self.midi_problem, &self.midi_ports) {
            (Some(k), _, _) => format!("MIDI: {}", k.name),
            (None, Some(p), _) => p.clone(),
            (None, None, Err(why)) => format!("{why}: the piano and computer keys still play."),
            (None, None, Ok(ports)) if ports.is_empty() => {
                "No MIDI keyboard found: the piano and computer keys still play.".into()
            }
            (None, None, Ok(_)) => "Choose a MIDI keyboard beside the microphone.".into(),
        }
    }

    pub fn play_example_hum(&mut self) {
        if self.demo_hums.is_empty() {
            self.message = Some("No example hums found (assets/demo is missing).".into());
            return;
        }
        let path = self.demo_hums[self.next_example % self.demo_hums.len()].clone();
        self.next_example += 1;
        match crate::audio::decode_file(&path) {
            Ok((samples, _)) => self.record_clip(samples, SAMPLE_RATE, &file_name(&path)),
            Err(e) => self.message = Some(format!("Cannot read the example hum: {e}")),
        }
    }

    /// Indexes folders or files (drop, "Add folder…", re-scan).
    pub fn index_paths(&mut self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            return;
        }
        if self.open_error.is_some() {
            self.message = Some("Fix the library database first (see above).".into());
            return;
        }
        if self.worker.start_index(paths) {
            self.index_progress = Some(IndexProgress::default());
            self.index_note = None;
        } else {
            self.message = Some("Indexing is already running: wait for it or cancel it.".into());
        }
    }

    pub fn cancel_indexing(&mut self) {
        self.worker.cancel_index();
        self.index_note = Some("Cancelling…".into());
    }

    pub fn select(&mut self, index: usize) {
        if self.results.as_ref().is_some_and(|r| index < r.rows.len()) {
            self.selected = Some(index);
            self.prefetch_selected();
        }
    }

    fn selected_row(&self) -> Option<&worker::ResultRow> {
        self.selected
            .and_then(|i| self.results.as_ref().and_then(|r| r.rows.get(i)))
    }

    /// Decodes the selected song in the background, so that Play starts at once.
    fn prefetch_selected(&mut self) {
        if let Some(path) = self.selected_row().map(|r| r.song.path.clone()) {
            self.player.prefetch(&path);
        }
    }

    /// Plays the selected match's region over and over.
    pub fn loop_selected(&mut self) {
        let Some(row) = self.selected_row() else {
            return;
        };
        let (path, title) = (row.song.path.clone(), row.song.title.clone());
        let (start, end) = (row.found.start_s, row.found.end_s);
        self.player_error = self.player.play_loop(&path, &title, start, end).err();
    }

    /// "Hum vs song": what you searched with, moved into the song's key and re-timed along the
    /// alignment, then the song's matched region (or both at once when `mixed`).
    pub fn hum_vs_song(&mut self, mixed: bool) {
        let (Some(row), Some(results), Some(audio)) =
            (self.selected_row(), &self.results, &self.query_audio)
        else {
            self.player_error = Some("Hum vs song needs a recording or notes to compare: hum, play or type the tune first.".into());
            return;
        };
        let request = HumVsSong {
            path: row.song.path.clone(),
            title: row.song.title.clone(),
            start_s: row.found.start_s,
            end_s: row.found.end_s,
            hum: audio.as_ref().clone(),
            rate: SAMPLE_RATE,
            map: overlay::hum_time_map(&results.hum, &row.found),
            // The search folds the key difference into (-6, 6]: the smallest move into the key.
            semitones: -row.found.alignment.key_shift,
            mixed,
        };
        self.player_error = self.player.play_hum_vs_song(request).err();
    }

    /// What the player is doing (for tests and the status line).
    pub fn playing(&self) -> Option<&Playing> {
        self.player.now.as_ref()
    }

    pub fn playback_position_s(&self) -> f32 {
        self.player.position_s()
    }

    pub fn stop_playback(&mut self) {
        self.player.stop();
    }

    fn play_selected(&mut self) {
        let Some(row) = self.selected_row() else {
            return;
        };
        let (path, title, start, dur) = (
            row.song.path.clone(),
            row.song.title.clone(),
            row.found.start_s,
            row.song.duration_s as f32,
        );
        self.player_error = self.player.play_file(&path, &title, start, dur).err();
    }

    fn play_recording(&mut self) {
        if let Some(live) = &self.live {
            self.player_error = self
                .player
                .play_samples(live.samples.clone(), SAMPLE_RATE)
                .err();
        }
    }

    // ----- Per-frame work -----

    fn handle_replies(&mut self) {
        while let Ok(reply) = self.worker.replies.try_recv() {
            match reply {
                Reply::Opened(info) => {
                    self.info = Some(info);
                    self.open_error = None;
                }
                Reply::OpenFailed(why) => self.open_error = Some(why),
                Reply::Library(snapshot) => {
                    self.library = snapshot;
                    self.library_loaded = true;
                    self.maybe_index_demo();
                }
                Reply::Results {
                    seq,
                    provisional,
                    result,
                } => {
                    // Provisional answers must not replace a final one, nor a stale one a newer.
                    let is_final_answer = self.final_seq == Some(seq);
                    if !(is_final_answer || (provisional && self.recording.is_some())) {
                        continue;
                    }
                    match result {
                        Ok(r) => {
                            self.results = Some(r);
                            self.overlay = None;
                            self.results_error = None;
                            // The best match is shown with its overlay, refreshed as results come.
                            if is_final_answer || self.selected.is_none() {
                                self.selected = Some(0).filter(|_| {
                                    self.results.as_ref().is_some_and(|r| !r.rows.is_empty())
                                });
                            }
                            if is_final_answer {
                                self.prefetch_selected();
                            }
                        }
                        Err(e) => {
                            if is_final_answer || self.results.is_none() {
                                self.results_error = Some(explain_query_error(&e));
                            }
                        }
                    }
                    self.results_provisional = !is_final_answer;
                    if is_final_answer {
                        // The finished search is now in the history.
                        self.worker.send(Request::History);
                        self.final_seq = None;
                        self.last_stop_to_results = self.stopped_at.take().map(|t| t.elapsed());
                        self.message = None;
                    }
                }
                Reply::IndexProgress(p) => {
                    // Song counts in the library view follow the indexer.
                    if self.last_library_refresh.elapsed() > Duration::from_millis(1500) {
                        self.last_library_refresh = Instant::now();
                        self.worker.send(Request::RefreshLibrary);
                    }
                    self.index_progress = Some(p);
                }
                Reply::IndexDone(result) => {
                    self.worker.index_finished();
                    self.index_progress = None;
                    self.index_note = Some(match result {
                        Ok(r) if r.cancelled => format!(
                            "Indexing cancelled: {} songs added, the rest waits for the next scan.",
                            r.added + r.updated
                        ),
                        Ok(r) => format!(
                            "Indexed: {} new, {} updated, {} unchanged, {} failed ({:.0} s).",
                            r.added,
                            r.updated,
                            r.unchanged,
                            r.failed,
                            r.elapsed.as_secs_f32()
                        ),
                        Err(e) => format!("Indexing failed: {e}"),
                    });
                }
                Reply::Message(m) => self.message = Some(m),
                Reply::History(list) => {
                    self.history.loaded = true;
                    match list {
                        Ok(entries) => {
                            self.history.entries = entries;
                            self.history.error = None;
                        }
                        Err(e) => {
                            self.history.error = Some(format!("Cannot read the history: {e}"))
                        }
                    }
                }
                Reply::HistoryRecording(samples) => {
                    self.player_error = samples
                        .and_then(|s| self.player.play_samples(s, SAMPLE_RATE))
                        .err();
                }
                Reply::NeedsReindex {
                    songs,
                    melodies,
                    folders,
                } => {
                    self.index_paths(folders);
                    self.index_note = Some(if songs > 0 {
                        format!(
                            "The melody model changed: updating {songs} songs (searches use the contour method until then)."
                        )
                    } else {
                        format!(
                            "Adding melody segments to {melodies} songs indexed by an older version (searches work meanwhile)."
                        )
                    });
                }
            }
        }
    }

    /// First run: an empty library gets the bundled demo songs, once.
    fn maybe_index_demo(&mut self) {
        if self.settings.demo_indexed || self.library.songs > 0 || self.worker.indexing() {
            return;
        }
        if let Some(demo) = self.config.demo_dir.clone() {
            let songs = demo.join("songs");
            self.settings.demo_indexed = true;
            self.index_paths(vec![if songs.is_dir() { songs } else { demo }]);
            self.index_note = Some("First run: indexing the bundled demo library…".into());
        }
    }

    fn pump_recording(&mut self) {
        let Some(rec) = &mut self.recording else {
            return;
        };
        let live = self
            .live
            .get_or_insert_with(|| LiveAnalysis::new(rec.capture.sample_rate));
        rec.capture.drain(&mut self.drain_buffer);
        live.push(&self.drain_buffer);
        self.drain_buffer.clear();
        let duration = live.duration_s();
        let reason = live.should_stop(&self.config.stop_rules);
        let stop = reason.is_some() || rec.capture.finished();
        if !stop
            && duration - rec.searched_at_s >= self.config.provisional_every_s
            && live.voiced_frames > 25
        {
            rec.searched_at_s = duration;
            self.query_seq += 1;
            self.worker.send(Request::Query {
                seq: self.query_seq,
                samples: Arc::new(live.samples.clone()),
                provisional: true,
                remember: None,
            });
        }
        if stop {
            self.stop_recording();
            if reason == Some(StopReason::MaxLength) {
                self.message = Some("Stopped at the maximum length.".into());
            }
        }
    }

    fn handle_dropped_files(&mut self, ctx: &egui::Context, query_area: Option<egui::Rect>) {
        let (dropped, pos) = ctx.input(|i| (i.raw.dropped_files.clone(), i.pointer.latest_pos()));
        if dropped.is_empty() {
            return;
        }
        let paths: Vec<PathBuf> = dropped.iter().map(|f| f.path().to_path_buf()).collect();
        let on_query_area = self.tab == Tab::Search
            && query_area.is_some_and(|r| pos.is_some_and(|p| r.contains(p)));
        if on_query_area && paths.len() == 1 && paths[0].is_file() && is_audio_path(&paths[0]) {
            self.search_file(&paths[0].clone());
        } else {
            self.index_paths(paths);
            self.tab = Tab::Library;
        }
    }

    fn poll_pickers(&mut self) {
        if let Some(folder) = dialog_answer(&mut self.folder_pick) {
            self.index_paths(vec![folder]);
        }
        if let Some(file) = dialog_answer(&mut self.file_pick) {
            self.search_file(&file);
        }
        if let Some(file) = dialog_answer(&mut self.export_pick) {
            self.export_history(&file);
        }
    }

    fn change_database(&mut self, ctx: &egui::Context, dir: PathBuf) {
        self.worker.cancel_index();
        self.db_dir = dir.clone();
        self.settings.db_dir = Some(dir);
        self.worker = spawn_worker(ctx, &self.db_dir);
        self.info = None;
        self.open_error = None;
        self.library = LibrarySnapshot::default();
        self.library_loaded = false;
        self.results = None;
        self.index_progress = None;
    }

    /// Moves a database that cannot be opened aside (never deleted) and starts a fresh one.
    fn start_fresh_database(&mut self, ctx: &egui::Context) {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = self.db_dir.with_extension(format!("unreadable-{stamp}"));
        match std::fs::rename(&self.db_dir, &aside) {
            Ok(()) => {
                self.message = Some(format!("The old library was kept in {}.", aside.display()));
                self.settings.demo_indexed = false;
                let dir = self.db_dir.clone();
                self.change_database(ctx, dir);
            }
            Err(e) => {
                self.message = Some(format!(
                    "Could not move {} aside: {e}",
                    self.db_dir.display()
                ))
            }
        }
    }

    fn record_frame_time(&mut self, build: Duration) {
        let now = Instant::now();
        let interval = self
            .last_frame
            .map_or(0.0, |t| (now - t).as_secs_f32() * 1000.0);
        self.last_frame = Some(now);
        let entry = (build.as_secs_f32() * 1000.0, interval);
        let log = if self.recording.is_some() {
            &mut self.frame_times.recording
        } else if self.worker.indexing() {
            &mut self.frame_times.indexing
        } else {
            &mut self.frame_times.idle
        };
        if log.len() < 100_000 {
            log.push(entry);
        }
    }
}

/// Runs a native file dialog off the UI thread (it blocks until the user answers).
fn spawn_dialog(
    dialog: impl FnOnce() -> Option<PathBuf> + Send + 'static,
) -> Receiver<Option<PathBuf>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(dialog());
    });
    rx
}

/// The path a dialog gave, once it has closed (the slot is then free again).
fn dialog_answer(slot: &mut Option<Receiver<Option<PathBuf>>>) -> Option<PathBuf> {
    let answer = slot.as_ref()?.try_recv().ok()?;
    *slot = None;
    answer
}

/// A combo box without a visible label still has an accessible name (screen readers, tests).
fn named_combo_box(name: &str, value: &str) -> egui::WidgetInfo {
    let mut info = egui::WidgetInfo::labeled(egui::Role::ComboBox, true, name);
    info.current_text_value = Some(value.to_string());
    info
}

fn open_midi(ctx: &egui::Context, name: &str) -> Result<midi::MidiKeyboard, String> {
    let ctx = ctx.clone();
    midi::MidiKeyboard::open(name, Arc::new(move || ctx.request_repaint()))
}

fn spawn_worker(ctx: &egui::Context, db_dir: &Path) -> Worker {
    let ctx = ctx.clone();
    Worker::spawn(db_dir, Arc::new(move || ctx.request_repaint()))
}

/// The bundled hums, in manifest order.
fn demo_hum_paths(demo: &Path) -> Vec<PathBuf> {
    crate::eval::read_manifest(&demo.join("manifest.csv"))
        .map(|rows| {
            rows.into_iter()
                .map(|r| r.query)
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default()
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn explain_query_error(e: &str) -> String {
    if e.contains("library is empty") {
        "Your library is empty: add a music folder (Library → Add folder…) or drop one on the window.".into()
    } else {
        e.to_string()
    }
}

fn clock(seconds: f32) -> String {
    let s = seconds.max(0.0).round() as u32;
    format!("{}:{:02}", s / 60, s % 60)
}

impl eframe::App for EarwormApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.handle_replies();
        self.pump_recording();
        self.poll_pickers();
        self.pump_midi(ctx.input(|i| i.time));
        if let Some(problem) = self.player.tick() {
            self.player_error = Some(problem);
        }
        if self.recording.is_some() || self.worker.indexing() || self.player.now.is_some() {
            ctx.request_repaint_after(Duration::from_millis(33));
        }
        if self.final_seq.is_some() {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();
        if ctx.input(|i| i.key_pressed(egui::Key::Space)) && !ctx.egui_wants_keyboard_input() {
            if self.recording.is_some() {
                self.stop_recording();
            } else {
                self.start_recording();
            }
        }
        self.top_bar(ui);
        self.status_bar(ui);
        if self.show_keys {
            self.keys_panel(ui);
        }
        let mut query_area = None;
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(why) = self.open_error.clone() {
                self.database_problem(ui, &why);
                return;
            }
            match self.tab {
                Tab::Search => query_area = Some(self.search_view(ui)),
                Tab::Library => self.library_view(ui),
                Tab::History => {
                    if let Some(action) = self.history.ui(ui, self.settings.keep_recordings) {
                        self.history_action(action);
                    }
                }
            }
        });
        if self.show_settings {
            self.settings_window(&ctx);
        }
        self.handle_dropped_files(&ctx, query_area);
        if let Some(mut tour) = self.tour.take() {
            tour.step(self, &ctx);
            self.tour = Some(tour);
        }
        self.record_frame_time(started.elapsed());
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }
}

// ----- Views -----

impl EarwormApp {
    fn top_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("top").show(ui, |ui| {
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                let recording = self.recording.is_some();
                let (label, fill) = if recording {
                    ("Stop", Color32::from_rgb(90, 90, 90))
                } else {
                    ("Record", Color32::from_rgb(200, 40, 50))
                };
                let button =
                    egui::Button::new(RichText::new(label).size(22.0).color(Color32::WHITE))
                        .fill(fill)
                        .min_size(Vec2::new(120.0, 44.0));
                if ui
                    .add(button)
                    .on_hover_text("Hum, sing or whistle a tune (space bar)")
                    .clicked()
                {
                    if recording {
                        self.stop_recording();
                    } else {
                        self.start_recording();
                    }
                }
                ui.vertical(|ui| {
                    self.device_picker(ui);
                    self.midi_picker(ui);
                    let level = self
                        .live
                        .as_ref()
                        .filter(|_| recording)
                        .map_or(-90.0, |l| l.level_db);
                    ui.add(
                        egui::ProgressBar::new(((level + 60.0) / 60.0).clamp(0.0, 1.0))
                            .desired_width(200.0)
                            .desired_height(8.0),
                    )
                    .on_hover_text(format!("Input level {level:.0} dBFS"));
                });
                ui.separator();
                if ui
                    .add_enabled(!recording, egui::Button::new("Example hum"))
                    .on_hover_text(
                        "Try a search without a microphone: plays a bundled hum into the recorder",
                    )
                    .clicked()
                {
                    self.play_example_hum();
                }
                if ui
                    .add_enabled(
                        !recording && self.file_pick.is_none(),
                        egui::Button::new("Search a file…"),
                    )
                    .clicked()
                {
                    self.file_pick = Some(spawn_dialog(|| {
                        rfd::FileDialog::new()
                            .add_filter("audio", &["wav", "mp3", "flac", "ogg", "m4a", "aiff", "aif"])
                            .pick_file()
                    }));
                }
                let typed = ui.add(
                    egui::TextEdit::singleline(&mut self.typed_notes)
                        .hint_text("or type notes: E4 D4 C4 D4 E4")
                        .desired_width(150.0),
                );
                let entered = typed.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if ui
                    .add_enabled(
                        !recording && !self.typed_notes.trim().is_empty(),
                        egui::Button::new("Search notes"),
                    )
                    .on_hover_text(
                        "Scientific pitch names (E4 D4/8 C4/2., R rest) or ABC letters (E D C2 z)",
                    )
                    .clicked()
                    || (entered && !recording && !self.typed_notes.trim().is_empty())
                {
                    self.search_notes();
                }
                if ui
                    .selectable_label(self.show_keys, "Keys")
                    .on_hover_text("Play the tune on an on-screen piano, the computer keyboard or a MIDI keyboard")
                    .clicked()
                {
                    self.show_keys = !self.show_keys;
                }
                ui.separator();
                ui.selectable_value(
                    &mut self.tab,
                    Tab::Search,
                    RichText::new("Search").size(16.0),
                );
                for (tab, name) in [(Tab::Library, "Library"), (Tab::History, "History")] {
                    if ui
                        .selectable_label(self.tab == tab, RichText::new(name).size(16.0))
                        .clicked()
                    {
                        self.show_tab(tab);
                    }
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui.button("Settings").clicked() {
                        self.show_settings = !self.show_settings;
                    }
                });
            });
            if let Some(m) = &self.mic_message {
                ui.colored_label(Color32::from_rgb(230, 160, 60), m);
            }
            ui.add_space(4.0);
        });
    }

    fn device_picker(&mut self, ui: &mut egui::Ui) {
        let current = self
            .settings
            .input_device
            .as_ref()
            .and_then(|id| self.devices.iter().find(|d| &d.id == id))
            .map_or_else(|| "Default microphone".to_string(), |d| d.name.clone());
        let label = if self.devices.is_empty() {
            "No microphone found".to_string()
        } else {
            current
        };
        let mut refresh = false;
        // No side label: the choice names itself ("Default microphone", a device), and the
        // top bar needs the room.
        let shown = label.clone();
        egui::ComboBox::from_id_salt("input-device")
            .selected_text(label)
            .width(200.0)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.settings.input_device, None, "Default microphone");
                for d in &self.devices {
                    ui.selectable_value(
                        &mut self.settings.input_device,
                        Some(d.id.clone()),
                        &d.name,
                    );
                }
                if ui.button("Look for devices again").clicked() {
                    refresh = true;
                }
            })
            .response
            .widget_info(|| named_combo_box("Microphone", &shown));
        if refresh {
            if let AudioInput::System = self.config.audio {
                self.devices = capture::input_devices();
            }
        }
    }

    fn midi_picker(&mut self, ui: &mut egui::Ui) {
        let ports = self.midi_ports.as_ref().map_or(&[][..], |p| p.as_slice());
        let label = match (&self.settings.midi_device, ports.is_empty()) {
            (Some(name), _) => name.clone(),
            (None, true) => "No MIDI keyboard".to_string(),
            (None, false) => "MIDI keyboard: none".to_string(),
        };
        let mut chosen = self.settings.midi_device.clone();
        let mut refresh = false;
        let shown = label.clone();
        egui::ComboBox::from_id_salt("midi-device")
            .selected_text(label)
            .width(200.0)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut chosen, None, "None");
                for p in ports {
                    ui.selectable_value(&mut chosen, Some(p.clone()), p);
                }
                if let Err(why) = &self.midi_ports {
                    ui.label(why);
                }
                if ui.button("Look for devices again").clicked() {
                    refresh = true;
                }
            })
            .response
            .widget_info(|| named_combo_box("MIDI keyboard", &shown));
        if refresh && matches!(self.config.audio, AudioInput::System) {
            self.midi_ports = midi::input_ports();
        }
        if chosen != self.settings.midi_device {
            self.choose_midi(&ui.ctx().clone(), chosen);
            self.show_keys = true;
        }
    }

    fn keys_panel(&mut self, ui: &mut egui::Ui) {
        let now = ui.input(|i| i.time);
        let status = self.midi_status();
        egui::Panel::bottom("keys").show(ui, |ui| {
            ui.add_space(4.0);
            if let Some(KeysAction::Search) = self.piano.ui(ui, &mut self.played, now, &status) {
                self.search_played();
            }
            ui.add_space(4.0);
        });
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.add_space(3.0);
            if let Some(p) = self.index_progress.clone() {
                ui.horizontal(|ui| {
                    let (done, total, unit) = p.step();
                    let fraction = if total > 0 {
                        done as f32 / total as f32
                    } else {
                        0.0
                    };
                    let secs = p.elapsed.as_secs_f32().max(0.001);
                    let rate = done as f32 / secs;
                    let eta = if rate > 0.0 && total > done {
                        format!(", about {} left", clock((total - done) as f32 / rate))
                    } else {
                        String::new()
                    };
                    ui.add(
                        egui::ProgressBar::new(fraction)
                            .desired_width(260.0)
                            .text(format!("Indexing {done} / {total} {unit}")),
                    );
                    ui.label(format!("{rate:.1} {unit}/s{eta}"));
                    if p.failed > 0 {
                        ui.colored_label(
                            Color32::from_rgb(230, 160, 60),
                            format!("{} failed", p.failed),
                        );
                    }
                    if ui.button("Cancel").clicked() {
                        self.cancel_indexing();
                    }
                });
            }
            ui.horizontal(|ui| {
                match &self.info {
                    Some(info) => {
                        ui.label(format!("Inference: {}", info.inference_device));
                        ui.separator();
                        match (&info.model, &info.model_problem) {
                            (Some(m), _) => ui.label(format!("Model {m}")),
                            (None, Some(why)) => ui
                                .colored_label(
                                    Color32::from_rgb(230, 160, 60),
                                    "No melody model: contour search only",
                                )
                                .on_hover_text(why.as_str()),
                            _ => ui.label("No model"),
                        };
                    }
                    None if self.open_error.is_none() => {
                        ui.spinner();
                        ui.label("Opening the library…");
                    }
                    None => {
                        ui.label("Library unavailable");
                    }
                }
                ui.separator();
                ui.label(format!("{} songs", self.library.songs));
                if let Some(note) = &self.index_note {
                    ui.separator();
                    ui.label(note);
                }
                if let Some(m) = &self.message {
                    ui.separator();
                    ui.label(m);
                }
            });
            ui.add_space(2.0);
        });
    }

    fn database_problem(&mut self, ui: &mut egui::Ui, why: &str) {
        let ctx = ui.ctx().clone();
        ui.add_space(30.0);
        ui.heading("The library could not be opened");
        ui.label(why);
        ui.add_space(10.0);
        ui.label("Your music files are never touched. You can keep this database aside and start a new library, or choose another location in Settings.");
        ui.horizontal(|ui| {
            if ui
                .button("Start a new library (keep the old one aside)")
                .clicked()
            {
                self.start_fresh_database(&ctx);
            }
            if ui.button("Settings…").clicked() {
                self.show_settings = true;
            }
        });
    }
}

/// Median, 95th percentile and worst of build time and frame interval per activity.
pub fn frame_summary(t: &FrameTimes) -> serde_json::Value {
    fn stats(v: &[(f32, f32)]) -> serde_json::Value {
        let pick = |f: fn(&(f32, f32)) -> f32| {
            let mut x: Vec<f32> = v.iter().map(f).collect();
            x.sort_by(f32::total_cmp);
            let at = |q: f32| {
                x.get(((x.len() as f32 - 1.0) * q) as usize)
                    .copied()
                    .unwrap_or(0.0)
            };
            serde_json::json!({"median": at(0.5), "p95": at(0.95), "max": x.last().copied().unwrap_or(0.0)})
        };
        serde_json::json!({"frames": v.len(), "build_ms": pick(|e| e.0), "interval_ms": pick(|e| e.1)})
    }
    serde_json::json!({
        "idle": stats(&t.idle),
        "recording": stats(&t.recording),
        "indexing": stats(&t.indexing),
    })
}

/// Runs the desktop app (blocks until the window closes).
pub fn run(config: AppConfig) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Earworm — hum to search")
            .with_inner_size([1180.0, 780.0])
            .with_min_inner_size([760.0, 520.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "Earworm",
        options,
        Box::new(move |cc| Ok(Box::new(EarwormApp::new(cc, config)))),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "the window could not be opened ({e}); is there a display? Everything the app does also works from the command line: earworm --help"
        )
    })
}
