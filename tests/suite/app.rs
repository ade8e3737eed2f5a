//! Headless UI tests of the desktop app (egui_kittest): the real app state and views, driven
//! by simulated clicks, key presses and file drops, with the search engine and indexer running
//! on their worker threads against a library built from the bundled demo songs.

use crate::common;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use earworm::app::{AppConfig, AudioInput, DroppedPath, EarwormApp, Settings};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo")
}

/// A small demo library: the first `n` demo songs and their hums, with a manifest.
fn demo_subset(root: &Path, n: usize) -> PathBuf {
    let demo = root.join("demo");
    std::fs::create_dir_all(demo.join("songs")).unwrap();
    std::fs::create_dir_all(demo.join("hums")).unwrap();
    let manifest = std::fs::read_to_string(demo_dir().join("manifest.csv")).unwrap();
    let mut lines = vec![manifest.lines().next().unwrap().to_string()];
    for line in manifest.lines().skip(1).take(n) {
        for rel in line.split(',').take(2) {
            std::fs::copy(demo_dir().join(rel), demo.join(rel)).unwrap();
        }
        lines.push(line.to_string());
    }
    std::fs::write(demo.join("manifest.csv"), lines.join("\n") + "\n").unwrap();
    demo
}

fn config(root: &Path, demo: Option<PathBuf>, audio: AudioInput) -> AppConfig {
    AppConfig {
        db_dir: Some(root.join("db")),
        demo_dir: demo,
        audio,
        clip_speed: 4.0,
        provisional_every_s: 1.5,
        ..AppConfig::default()
    }
}

fn harness(config: AppConfig, settings: Settings) -> Harness<'static, EarwormApp> {
    harness_stepping(config, settings, 0.25)
}

/// A harness whose clock advances `step_s` seconds a frame.
fn harness_stepping(
    config: AppConfig,
    settings: Settings,
    step_s: f32,
) -> Harness<'static, EarwormApp> {
    Harness::builder()
        .with_size([1180.0, 780.0])
        .with_step_dt(step_s)
        .build_eframe(move |cc| EarwormApp::with_settings(&cc.egui_ctx, config, settings))
}

/// The app on a database under `root`, with no microphone and the demo library already
/// declined (first run does not index it).
fn harness_without_demo(root: &Path) -> Harness<'static, EarwormApp> {
    let settings = Settings {
        demo_indexed: true,
        ..Settings::default()
    };
    harness(config(root, None, AudioInput::Unavailable), settings)
}

/// Some widget's accessible label contains `text`.
fn has_text(h: &Harness<'static, EarwormApp>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

/// Waits for a search's final results and checks that the first song's file name starts with
/// `prefix` (the demo songs are numbered).
fn wait_for_top_result(h: &mut Harness<'static, EarwormApp>, prefix: &str, what: &str) {
    run_until(h, Duration::from_secs(120), what, |h| {
        h.state().results_are_final()
    });
    let top = &h.state().results().unwrap().rows[0].song;
    assert!(
        top.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(prefix),
        "{what}: top result {:?}",
        top.path
    );
}

/// Steps the UI in real time until `done` holds; panics with `what` after `timeout`.
fn run_until(
    h: &mut Harness<'static, EarwormApp>,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&Harness<'static, EarwormApp>) -> bool,
) {
    let start = Instant::now();
    while !done(h) {
        assert!(start.elapsed() < timeout, "timed out waiting for: {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(15));
    }
}

#[test]
fn first_run_indexes_the_demo_and_an_example_hum_finds_its_song_with_an_overlay() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = demo_subset(tmp.path(), 4);
    let mut h = harness(
        config(tmp.path(), Some(demo), AudioInput::Unavailable),
        Settings::default(),
    );

    // First run: the empty library gets the demo songs, with a progress bar.
    let mut saw_indexing = false;
    run_until(
        &mut h,
        Duration::from_secs(300),
        "demo library indexed",
        |h| {
            saw_indexing |= h.state().is_indexing();
            !h.state().is_indexing() && h.state().library().songs == 4
        },
    );
    assert!(saw_indexing, "the first run indexed in the background");
    h.step();
    assert!(has_text(&h, "Indexed: 4 new"));

    // "Example hum" plays the first demo hum (song 01) into the recorder.
    h.get_by_label("Example hum").click();
    let mut saw_provisional = false;
    run_until(&mut h, Duration::from_secs(300), "final results", |h| {
        let app = h.state();
        saw_provisional |= app.is_recording() && app.results().is_some();
        app.results_are_final()
    });
    assert!(saw_provisional, "results refreshed while recording");
    let live = h.state().live().expect("the recording was analysed live");
    assert!(!live.columns.is_empty());
    assert!(live.voiced_frames > 50, "the pitch track followed the hum");
    let results = h.state().results().unwrap().clone();
    let top = &results.rows[0].song;
    assert!(
        top.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("01_"),
        "top result {:?}",
        top.path
    );
    h.step();
    assert!(has_text(&h, &top.title));

    // The top result is selected with its overlay; selecting another result switches to it.
    assert_eq!(h.state().selected(), Some(0));
    assert!(has_text(&h, "You hummed"));
    if results.rows.len() > 1 {
        let second = results.rows[1].song.title.clone();
        h.get_all_by_label(&second).next().unwrap().click();
        h.step();
        h.step();
        assert_eq!(h.state().selected(), Some(1));
        assert!(has_text(&h, "matched"));
    }

    // An audio file dropped on the hum area is searched with (here demo hum 02).
    let hum_02 = std::fs::read_dir(tmp.path().join("demo/hums"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("hum_02")
        })
        .unwrap();
    h.hover_at(eframe::egui::pos2(600.0, 160.0));
    h.input_mut()
        .dropped_files
        .push(Arc::new(DroppedPath(hum_02)));
    h.step();
    assert!(
        !h.state().is_indexing(),
        "a file on the hum area is a query, not a library add"
    );
    wait_for_top_result(&mut h, "02_", "results for the dropped file");

    // Typed notes (no microphone, no file): the first phrase of demo tune 03.
    let melodies = earworm::synth::corpus::load(&earworm::synth::corpus::default_path()).unwrap();
    let demo_tunes = earworm::synth::devset::pick_melodies(
        &melodies,
        earworm::synth::corpus::Split::Demo,
        3,
        11,
    );
    let phrase: Vec<earworm::notes::TypedNote> = demo_tunes[2]
        .score
        .notes
        .iter()
        .take(12)
        .map(|n| earworm::notes::TypedNote {
            midi: Some(n.midi),
            quarters: n.duration,
        })
        .collect();
    h.state_mut().typed_notes = earworm::notes::to_scientific(&phrase);
    h.step();
    h.get_by_label("Search notes").click();
    h.step();
    assert!(!h.state().results_are_final(), "the notes search started");
    wait_for_top_result(&mut h, "03_", "results for the typed notes");
    // Notes that cannot be read are explained, not searched.
    h.state_mut().typed_notes = "E4 H4 C4".into();
    h.step();
    h.get_by_label("Search notes").click();
    h.step();
    h.step();
    assert!(has_text(&h, "H4"), "the bad note is named");
}

#[test]
fn dropping_a_folder_starts_indexing_and_cancel_stops_it() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    std::fs::create_dir_all(&music).unwrap();
    for entry in std::fs::read_dir(demo_dir().join("songs")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, music.join(p.file_name().unwrap())).unwrap();
    }
    let mut h = harness_without_demo(tmp.path());
    run_until(&mut h, Duration::from_secs(60), "library opened", |h| {
        h.state().library_loaded()
    });
    assert_eq!(h.state().library().songs, 0);

    h.input_mut()
        .dropped_files
        .push(Arc::new(DroppedPath(music.clone())));
    h.step();
    assert!(h.state().is_indexing(), "a dropped folder starts indexing");
    h.step();
    h.get_by_label("Cancel").click();
    run_until(&mut h, Duration::from_secs(120), "indexing stopped", |h| {
        !h.state().is_indexing()
    });
    let note = h.state().index_note().unwrap_or_default().to_string();
    assert!(note.contains("cancelled"), "{note}");
    run_until(&mut h, Duration::from_secs(10), "library refreshed", |h| {
        h.state().library().folders.len() == 1
    });
    assert!(
        h.state().library().songs < 20,
        "cancel stopped before the end"
    );
}

#[test]
fn without_a_microphone_record_explains_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = harness_without_demo(tmp.path());
    h.step();
    h.get_by_label("Record").click();
    h.step();
    h.step();
    assert!(!h.state().is_recording());
    assert!(has_text(&h, "no microphone found"));
    assert!(has_text(&h, "Example hum"));
    // The device pickers have no visible label, but an accessible name.
    h.get_by_label("Microphone");
    h.get_by_label("MIDI keyboard");
    // The space bar does the same as the button.
    h.key_press(eframe::egui::Key::Space);
    h.step();
    assert!(!h.state().is_recording());
}

#[test]
fn an_unreadable_database_is_kept_aside_and_a_new_library_started() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(
        db.join("catalog.sqlite"),
        b"this is not a database, it is a test",
    )
    .unwrap();
    let mut h = harness_without_demo(tmp.path());
    run_until(&mut h, Duration::from_secs(30), "the problem shown", |h| {
        has_text(h, "could not be opened")
    });
    h.get_by_label("Start a new library (keep the old one aside)")
        .click();
    run_until(&mut h, Duration::from_secs(60), "a fresh library", |h| {
        h.state().library_loaded()
    });
    let kept: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("db.unreadable-")
        })
        .collect();
    assert_eq!(
        kept.len(),
        1,
        "the old database was moved aside, not deleted"
    );
}

#[test]
fn a_looped_library_with_silence_and_duplicates_is_indexed_and_searched() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    common::write_looped_library(&music);
    let hum = tmp.path().join("hum1.wav");
    common::write_loop_hum(&hum, 1, 3.0, 0.55);
    let mut h = harness_without_demo(tmp.path());
    run_until(&mut h, Duration::from_secs(60), "library opened", |h| {
        h.state().library_loaded()
    });
    h.input_mut()
        .dropped_files
        .push(Arc::new(DroppedPath(music.clone())));
    h.step();
    run_until(&mut h, Duration::from_secs(300), "library indexed", |h| {
        !h.state().is_indexing() && h.state().library().songs >= 5
    });
    // The library shows no failed file: silence and the duplicate are songs too.
    assert!(
        h.state().library().errors.is_empty(),
        "{:?}",
        h.state().library().errors
    );
    // Back to the search tab (a dropped folder shows the library), then drop the hum there.
    h.get_by_label("Search").click();
    h.step();
    h.step();
    h.hover_at(eframe::egui::pos2(600.0, 160.0));
    h.input_mut().dropped_files.push(Arc::new(DroppedPath(hum)));
    h.step();
    run_until(&mut h, Duration::from_secs(120), "results", |h| {
        h.state().results_are_final()
    });
    let top = h.state().results().unwrap().rows[0].song.clone();
    assert_eq!(
        top.path.file_name().unwrap().to_string_lossy(),
        "loop_1.wav",
        "top result"
    );
    h.step();
    assert!(has_text(&h, &top.title), "the result is on screen");
}

/// The first phrase of demo tune `k` (1-based, as the demo files are numbered) as
/// (MIDI, quarters).
fn demo_phrase(k: usize) -> Vec<(u8, f32)> {
    let melodies = earworm::synth::corpus::load(&earworm::synth::corpus::default_path()).unwrap();
    let tunes = earworm::synth::devset::demo_tunes(&melodies);
    earworm::synth::devset::first_phrase(&tunes[k - 1].score)
        .iter()
        .map(|n| (n.midi.round() as u8, n.duration))
        .collect()
}

#[test]
fn played_on_midi_and_the_on_screen_piano_then_kept_rerun_and_exported_from_history() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = demo_subset(tmp.path(), 4);
    // Frames of 50 ms, so that clicks on the piano can keep a tune's rhythm.
    const STEP_S: f32 = 0.05;
    let mut h = harness_stepping(
        config(tmp.path(), Some(demo), AudioInput::Unavailable),
        Settings::default(),
        STEP_S,
    );
    run_until(
        &mut h,
        Duration::from_secs(300),
        "demo library indexed",
        |h| !h.state().is_indexing() && h.state().library().songs == 4,
    );

    // A MIDI keyboard plays tune 02 (the messages a keyboard sends, with its timing; note-off
    // as note-on with velocity 0 on every other note, as many keyboards do).
    let mut t = 10.0;
    for (i, (midi, quarters)) in demo_phrase(2).into_iter().enumerate() {
        h.state_mut().midi_message(&[0x90, midi, 96], t);
        t += 0.5 * quarters as f64;
        let off = if i % 2 == 0 {
            [0x80, midi, 64]
        } else {
            [0x90, midi, 0]
        };
        h.state_mut().midi_message(&off, t - 0.05);
    }
    // A new panel settles its size over a couple of frames.
    for _ in 0..3 {
        h.step();
    }
    assert_eq!(h.state().played_notes().notes().len(), demo_phrase(2).len());
    h.get_by_label("Search played notes").click();
    h.step();
    assert!(
        h.state().played_notes().notes().is_empty(),
        "cleared for the next tune: {:?} {:?}",
        h.state().played_notes(),
        h.state().results_error()
    );
    wait_for_top_result(&mut h, "02_", "results for the MIDI notes");

    // Hear the match: your tune in the song's key and timing, then the song; stop; loop the
    // matched region. (No sound card here: the player's silent output keeps real time.)
    use earworm::app::playback::Playing;
    h.step();
    h.get_by_label("Hum vs song").click();
    run_until(
        &mut h,
        Duration::from_secs(30),
        "hum vs song playing",
        |h| {
            matches!(
                h.state().playing(),
                Some(Playing::HumVsSong { mixed: false, .. })
            )
        },
    );
    h.step();
    h.get_by_label("Stop").click();
    h.step();
    assert_eq!(h.state().playing(), None, "stopped");
    h.get_by_label("Loop the match").click();
    run_until(&mut h, Duration::from_secs(30), "loop playing", |h| {
        matches!(h.state().playing(), Some(Playing::Loop { .. }))
    });
    let found = h.state().results().unwrap().rows[0].found.clone();
    let region = found.end_s - found.start_s;
    std::thread::sleep(Duration::from_secs_f32(region + 0.3));
    h.step();
    let pos = h.state().playback_position_s();
    assert!(
        h.state().playing().is_some() && pos >= found.start_s && pos <= found.end_s + 0.05,
        "after more than the region's length the loop is still inside it: {pos} in {}..{}",
        found.start_s,
        found.end_s
    );
    h.state_mut().stop_playback();

    // The whole-song timeline: a click in its middle plays the song from halfway.
    h.step();
    h.get_by_label("Song timeline").click();
    h.step();
    let halfway = h.state().results().unwrap().rows[0].song.duration_s as f32 / 2.0;
    run_until(&mut h, Duration::from_secs(30), "song playing", |h| {
        matches!(h.state().playing(), Some(Playing::Song { .. }))
    });
    let pos = h.state().playback_position_s();
    assert!(
        (pos - halfway).abs() < 1.5,
        "played from {pos} s, not {halfway} s"
    );
    h.state_mut().stop_playback();

    // The on-screen piano (two octaves from C4) plays tune 04, moved by octaves to fit, in
    // its rhythm: a quarter note is 0.6 s (a click takes three frames: move, press, release).
    let phrase = demo_phrase(4);
    let low = phrase.iter().map(|p| p.0).min().unwrap();
    let high = phrase.iter().map(|p| p.0).max().unwrap();
    assert!(high - low < 24, "tune 04's phrase fits two octaves");
    let shift = 12 * ((60 - low as i32) as f32 / 12.0).ceil() as i32;
    for (midi, quarters) in &phrase {
        let key = earworm::app::keys::key_name((*midi as i32 + shift) as u8);
        h.get_by_label(&key).click();
        h.step();
        let frames = (0.6 * quarters / STEP_S).round() as usize;
        for _ in 3..frames {
            h.step();
        }
    }
    let played: Vec<u8> = h
        .state()
        .played_notes()
        .notes()
        .iter()
        .map(|n| n.midi)
        .collect();
    let expected: Vec<u8> = phrase.iter().map(|p| (p.0 as i32 + shift) as u8).collect();
    assert_eq!(played, expected, "each click played its key");
    h.get_by_label("Search played notes").click();
    h.step();
    wait_for_top_result(&mut h, "04_", "results for the on-screen piano");

    // Both searches are in the history, newest first, with what they found.
    h.state_mut().show_tab(earworm::app::Tab::History);
    run_until(&mut h, Duration::from_secs(30), "history listed", |h| {
        h.state().history().len() == 2
    });
    let history = h.state().history().to_vec();
    assert!(history
        .iter()
        .all(|e| e.kind == earworm::library::QueryKind::Keys));
    assert!(history[0].results[0].path.to_string_lossy().contains("04_"));
    assert!(history[1].results[0].path.to_string_lossy().contains("02_"));
    h.step();
    assert!(
        has_text(&h, &history[1].results[0].title),
        "the history shows the match"
    );

    // Re-run the older search (the MIDI one) against the library as it is now.
    h.get_all_by_label("Re-run").nth(1).unwrap().click();
    h.step();
    wait_for_top_result(&mut h, "02_", "the re-run search");

    // Export as CSV: a header, then a row per result of each search.
    let csv = tmp.path().join("history.csv");
    h.state_mut().export_history(&csv);
    run_until(&mut h, Duration::from_secs(30), "CSV written", |_| {
        csv.exists()
    });
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("search_id,time_utc,kind,query"), "{text}");
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert!(
        rows.len() >= 2 && rows.iter().all(|r| r.contains(",keys,")),
        "{text}"
    );

    // Delete one, then all.
    h.state_mut().show_tab(earworm::app::Tab::History);
    h.step();
    h.get_all_by_label("Delete").next().unwrap().click();
    run_until(&mut h, Duration::from_secs(30), "one deleted", |h| {
        h.state().history().len() == 1
    });
    h.step();
    h.get_by_label("Delete all").click();
    h.step();
    h.step();
    h.get_by_label("Yes, delete all").click();
    run_until(&mut h, Duration::from_secs(30), "all deleted", |h| {
        h.state().history().is_empty()
    });
}
