//! The command-line contract that scripts, tests and benchmarks rely on.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{self, earworm, text};
use earworm::synth::Difficulty;

#[test]
fn help_lists_every_command_and_no_display_is_a_clear_error() {
    let out = earworm(&["--help"]);
    assert!(out.status.success());
    let t = text(&out);
    for cmd in [
        "app",
        "index",
        "query",
        "library",
        "eval",
        "train",
        "demo",
        "info",
        "calibrate",
        "train-tracker",
        "bench",
    ] {
        assert!(t.contains(cmd), "help lacks {cmd}: {t}");
    }
    // With no subcommand Earworm opens the app; without a display that fails with a message
    // pointing at the command line, not a panic.
    let out = Command::new(common::earworm_bin())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("runs earworm");
    let t = text(&out);
    assert!(!out.status.success());
    assert!(t.contains("window could not be opened"), "{t}");
    assert!(t.contains("--help"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn query_json_library_and_eval_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let songs = common::write_songs(&tmp.path().join("music"), 5, 7);
    std::fs::write(tmp.path().join("music/bad.ogg"), b"OggS but not really").unwrap();
    let db = tmp.path().join("db");
    let db_s = db.to_str().unwrap();

    // Querying an empty library says what to do.
    let hum0 = tmp.path().join("hum0.wav");
    common::write_hum(&songs[0], &hum0, Difficulty::Clean, 1);
    let out = earworm(&["query", "--db", db_s, hum0.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("earworm index"), "{}", text(&out));

    let out = earworm(&[
        "index",
        "--db",
        db_s,
        tmp.path().join("music").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("5 added"), "{}", text(&out));

    let hum3 = tmp.path().join("hum3.wav");
    common::write_hum(&songs[3], &hum3, Difficulty::Clean, 2);
    let out = earworm(&[
        "query",
        "--db",
        db_s,
        "--top",
        "3",
        "--json",
        hum0.to_str().unwrap(),
        hum3.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON document");
    let queries = json.as_array().unwrap();
    assert_eq!(queries.len(), 2);
    for (q, want) in queries.iter().zip([0, 3]) {
        assert!(q["query"].as_str().unwrap().ends_with(".wav"));
        assert!(q["elapsed_ms"].as_f64().unwrap() > 0.0);
        let results = q["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r["rank"].as_u64().unwrap(), i as u64 + 1);
            assert!(Path::new(r["path"].as_str().unwrap()).is_absolute());
            assert!(r["title"].is_string() && r["artist"].is_string());
            assert!(r["score"].is_number() && r["start_s"].is_number() && r["end_s"].is_number());
        }
        let top = results[0]["path"].as_str().unwrap();
        assert!(
            top.ends_with(&format!("song_{want:02}.wav")),
            "query for song {want} found {top}"
        );
        assert!(results[0]["score"].as_f64() >= results[1]["score"].as_f64());
    }

    // Human-readable table by default.
    let out = earworm(&["query", "--db", db_s, hum3.to_str().unwrap()]);
    assert!(text(&out).contains("song_03"), "{}", text(&out));

    // Every query was kept in the history (newest first); --no-history keeps none.
    let out = earworm(&[
        "query",
        "--db",
        db_s,
        "--no-history",
        hum0.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = earworm(&["history", "--db", db_s, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let kept: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kept = kept.as_array().unwrap();
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert_eq!(kept[0]["kind"], "file");
    assert!(kept[0]["query"].as_str().unwrap().ends_with("hum3.wav"));
    let newest = kept[0]["id"].as_i64().unwrap();
    let top = kept[0]["results"][0]["path"].as_str().unwrap();
    assert!(top.ends_with("song_03.wav"), "{top}");
    // Re-run the newest against the library as it is now; export; delete.
    let out = earworm(&[
        "history",
        "--db",
        db_s,
        "--rerun",
        &newest.to_string(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(again["results"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("song_03.wav"));
    let csv = tmp.path().join("history.csv");
    let out = earworm(&["history", "--db", db_s, "--export", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let rows = std::fs::read_to_string(&csv).unwrap();
    // A header, then one row per result of each kept search (two with three results each).
    assert!(
        rows.lines().count() > 7 && rows.lines().skip(1).all(|l| l.contains(",file,")),
        "{rows}"
    );
    let out = earworm(&["history", "--db", db_s, "--delete", &newest.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = earworm(&["history", "--db", db_s, "--delete", &newest.to_string()]);
    assert!(
        !out.status.success() && text(&out).contains("no search"),
        "{}",
        text(&out)
    );
    let out = earworm(&["history", "--db", db_s, "--clear"]);
    assert!(
        out.status.success() && text(&out).contains("deleted 2"),
        "{}",
        text(&out)
    );

    let out = earworm(&["library", "--db", db_s, "--check"]);
    assert!(out.status.success());
    let t = text(&out);
    assert!(
        t.contains("5 songs")
            && t.contains("1 files failed")
            && t.contains("bad.ogg")
            && t.contains("catalog check: ok"),
        "{t}"
    );

    let manifest = tmp.path().join("manifest.csv");
    std::fs::write(&manifest, "query_file,target_file,difficulty\nhum0.wav,music/song_00.wav,clean\nhum3.wav,music/song_03.wav,clean\n").unwrap();
    let out = earworm(&[
        "eval",
        "--db",
        db_s,
        "--manifest",
        manifest.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("top1") && t.contains("MRR") && t.contains("p95 ms"),
        "{t}"
    );
    let overall = t
        .lines()
        .find(|l| l.starts_with("overall"))
        .expect("overall row");
    assert!(
        overall.split_whitespace().nth(2) == Some("1.000"),
        "{overall}"
    );
}

fn song_count(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        db.join("catalog.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    );
    conn.and_then(|c| c.query_row("SELECT COUNT(*) FROM songs", [], |r| r.get(0)))
        .unwrap_or(0)
}

fn wait_for_songs(db: &Path, at_least: i64) {
    let start = Instant::now();
    while song_count(db) < at_least {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "indexing made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn interrupted_and_killed_indexing_leave_a_consistent_catalog_that_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    let songs = common::write_songs(&music, 1, 3);
    let bytes = std::fs::read(&songs[0].path).unwrap();
    const N: i64 = 80;
    for i in 1..N {
        std::fs::write(music.join(format!("copy_{i:03}.wav")), &bytes).unwrap();
    }
    let db = tmp.path().join("db");
    let args = [
        "index",
        "--threads",
        "1",
        "--db",
        db.to_str().unwrap(),
        music.to_str().unwrap(),
    ];

    // Ctrl-C: finishes the file in flight, reports, exits non-zero.
    let child = Command::new(common::earworm_bin())
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_songs(&db, 3);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stopped_at = song_count(&db);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stopped early"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stopped_at < N,
        "the run finished before it could be interrupted"
    );

    // SIGKILL mid-run: no chance to clean up.
    let mut child = Command::new(common::earworm_bin())
        .args(args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_songs(&db, stopped_at + 3);
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = song_count(&db);
    assert!(killed_at < N, "the run finished before it could be killed");
    let out = earworm(&["library", "--check", "--db", db.to_str().unwrap()]);
    assert!(
        out.status.success() && text(&out).contains("catalog check: ok"),
        "{}",
        text(&out)
    );

    // The next run does only what is left.
    let out = earworm(&args);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(&format!("{} added", N - killed_at))
            && t.contains(&format!("{killed_at} unchanged")),
        "{t}"
    );
    assert_eq!(song_count(&db), N);
}

/// The texture-stress dev set and the oracle evaluation: songs in two stress textures (one
/// rendered with the unseen SoundFont's stand-in), indexed, then searched by sine renditions of
/// their true melody segments, reported per texture.
#[test]
fn stress_set_oracle_eval_reports_per_texture() {
    let tmp = tempfile::tempdir().unwrap();
    let set = tmp.path().join("stress");
    let font = "/usr/share/sounds/sf2/TimGM6mb.sf2";
    let out = earworm(&[
        "synth",
        "devset",
        "--textures",
        "homophonic,dense_band",
        "--songs",
        "2",
        "--queries-per-song",
        "1",
        "--soundfont",
        font,
        "--rate",
        "16000",
        "--no-lossy",
        "--out",
        set.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let manifest = std::fs::read_to_string(set.join("manifest.csv")).unwrap();
    assert!(manifest.lines().next().unwrap().ends_with(",texture"));
    assert!(manifest.contains(",homophonic") && manifest.contains(",dense_band"));
    let db = tmp.path().join("db");
    let out = earworm(&[
        "index",
        "--db",
        db.to_str().unwrap(),
        set.join("songs").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report = tmp.path().join("report.json");
    let out = earworm(&[
        "eval",
        "--db",
        db.to_str().unwrap(),
        "--manifest",
        set.join("manifest.csv").to_str().unwrap(),
        "--oracle",
        "sine",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("oracle: sine"), "{t}");
    assert!(t.contains("homophonic") && t.contains("dense_band"), "{t}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["overall"]["queries"], 2);
    assert_eq!(report["overall"]["failed"], 0, "{report}");
    assert_eq!(report["by_texture"]["homophonic"]["queries"], 1);
    for o in report["outcomes"].as_array().unwrap() {
        assert!(!o["scores"].as_array().unwrap().is_empty(), "{o}");
    }
    // Oracle queries need the set's ground truth: a plain manifest is refused with a reason.
    let plain = tmp.path().join("plain.csv");
    std::fs::write(&plain, "query_file,target_file\nx.wav,y.wav\n").unwrap();
    let out = earworm(&[
        "eval",
        "--db",
        db.to_str().unwrap(),
        "--manifest",
        plain.to_str().unwrap(),
        "--oracle",
        "hum",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("start_s"), "{}", text(&out));
}

/// `earworm info` names the device and why; asking for CUDA in a CPU build falls back to the
/// CPU with the reason, and a nonsense preference is named.
#[test]
fn info_names_the_device_and_the_cpu_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let run = |pref: &str| {
        let out = Command::new(common::earworm_bin())
            .args(["info", "--db", db.to_str().unwrap()])
            .env("EARWORM_DEVICE", pref)
            .output()
            .expect("runs earworm");
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    };
    let t = run("cuda");
    assert!(t.contains("device: "), "{t}");
    if !cfg!(feature = "cuda") {
        assert!(
            t.contains("device: CPU (CUDA was asked for") && t.contains("--features cuda"),
            "{t}"
        );
    }
    assert!(run("cpu").contains("device: CPU (EARWORM_DEVICE=cpu)"));
    assert!(run("tpu").contains("EARWORM_DEVICE=tpu is neither cpu nor cuda"));
    let t = run("");
    assert!(t.contains("model: ") && t.contains("library: "), "{t}");
    assert!(
        t.contains("melody tracker: ") && t.contains("calibrated confidence: yes"),
        "{t}"
    );
    assert!(
        t.contains("melody segments (the melody vote): 0 of 0 songs\n")
            && t.contains("hub scores (songs that fit many hums): 0 of 0 songs\n"),
        "{t}"
    );
}

/// `earworm bench scale`: a library of the hums' songs, filler songs of other melodies and songs
/// derived from the fillers, measured and then reused; a bad search settings file is a clear
/// error naming it.
#[test]
fn bench_scale_builds_measures_and_reuses_a_library() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    for (set, split, queries) in [("targets", "dev", "1"), ("fillers", "train", "0")] {
        let out = earworm(&[
            "synth",
            "devset",
            "--split",
            split,
            "--songs",
            "3",
            "--queries-per-song",
            queries,
            "--rate",
            "16000",
            "--out",
            &p(set),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let out = earworm(&[
            "index",
            "--db",
            &p(&format!("{set}_db")),
            &format!("{}/songs", p(set)),
        ]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let manifest = format!("{}/manifest.csv", p("targets"));
    let args = [
        "bench",
        "scale",
        "--songs",
        "10",
        "--cache",
        &p("cache"),
        "--manifest",
        &manifest,
        "--targets",
        &p("targets_db"),
        "--fillers",
        &p("fillers_db"),
        "--queries",
        "3",
        "--recall-hums",
        "2",
        "--json",
    ];
    let out = earworm(&args);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["songs"], 10);
    assert_eq!(report["makeup"]["target_songs"], 3);
    assert_eq!(report["makeup"]["filler_songs"], 3);
    assert_eq!(report["makeup"]["derived_songs"], 4);
    assert_eq!(report["queries"], 3);
    assert_eq!(report["failed"], 0, "{report}");
    // A small library is read whole (every cell fits in the probe): recall is exact.
    assert_eq!(report["ann_recall_at_10"], 1.0, "{report}");
    assert!(report["top10"].as_f64().unwrap() > 0.6, "{report}");
    assert!(report["resident_mb_after_open"].as_f64().unwrap() > 1.0);
    let out = earworm(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("(reused)"), "{}", text(&out));

    let settings = tmp.path().join("search.json");
    let query_with = |json: &str| {
        std::fs::write(&settings, json).unwrap();
        earworm(&[
            "query",
            "--db",
            &p("targets_db"),
            "--search-settings",
            settings.to_str().unwrap(),
            "--no-history",
            &format!("{}/hums/dev_00000_0.wav", p("targets")),
        ])
    };
    let out = query_with(r#"{"shortlist": 20, "probe": 3}"#);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("search.json") && t.contains("probe"), "{t}");
    let out = query_with(r#"{"shortlist": 20, "ann": {"probe": 3}}"#);
    assert!(out.status.success(), "{}", text(&out));
}

/// A temporary folder with two songs in music/ and an empty model/ folder to fill.
fn two_songs_and_a_model_folder(
    seed: u64,
) -> (tempfile::TempDir, Vec<common::TestSong>, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let songs = common::write_songs(&tmp.path().join("music"), 2, seed);
    let model = tmp.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    (tmp, songs, model)
}

#[test]
fn a_library_analysed_by_another_model_says_to_reindex_then_answers() {
    let (tmp, songs, no_tracker) = two_songs_and_a_model_folder(11);
    let (db, music) = (tmp.path().join("db"), tmp.path().join("music"));
    let db_s = db.to_str().unwrap();
    // Indexed by another embedding model (the shipped one with its last weight byte changed)
    // and no tracker (melodies from the extractor), as by an older Earworm.
    let shipped = common::shipped_models();
    let mut weights = std::fs::read(shipped.join("melody.safetensors")).unwrap();
    *weights.last_mut().unwrap() ^= 1;
    std::fs::write(no_tracker.join("melody.safetensors"), weights).unwrap();
    std::fs::copy(
        shipped.join("melody.card.json"),
        no_tracker.join("melody.card.json"),
    )
    .unwrap();
    let index = ["index", "--db", db_s, music.to_str().unwrap()];
    let out = common::earworm_with_model(&no_tracker, &index);
    assert!(out.status.success(), "{}", text(&out));
    let hum = tmp.path().join("hum.wav");
    common::write_hum(&songs[1], &hum, Difficulty::Clean, 3);
    let with_tracker = |args: &[&str]| common::earworm_with_model(&shipped, args);
    let query = ["query", "--db", db_s, "--no-history", hum.to_str().unwrap()];
    let out = with_tracker(&query);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("none of the library's 2 songs is analysed")
            && text(&out).contains("earworm index"),
        "{}",
        text(&out)
    );
    let out = with_tracker(&index);
    assert!(out.status.success(), "{}", text(&out));
    let out = with_tracker(&query);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_library_analysed_by_another_melody_tracker_is_flagged_until_reindexed() {
    let (tmp, songs, no_tracker) = two_songs_and_a_model_folder(12);
    let (db, music) = (tmp.path().join("db"), tmp.path().join("music"));
    let db_s = db.to_str().unwrap();
    // The same embedding model without the tracker: melodies come from the extractor.
    let shipped = common::shipped_models();
    for f in ["melody.safetensors", "melody.card.json"] {
        std::fs::copy(shipped.join(f), no_tracker.join(f)).unwrap();
    }
    let run = common::earworm_with_model;
    let index = ["index", "--db", db_s, music.to_str().unwrap()];
    assert!(run(&no_tracker, &index).status.success());
    let hum = tmp.path().join("hum.wav");
    common::write_hum(&songs[0], &hum, Difficulty::Clean, 4);
    let query = ["query", "--db", db_s, "--no-history", hum.to_str().unwrap()];
    let note = "2 songs are not analysed for this model and melody tracker";
    let out = run(&shipped, &query);
    assert!(text(&out).contains(note), "{}", text(&out));
    let out = run(&shipped, &index);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 updated"), "{}", text(&out));
    let out = run(&shipped, &query);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(note), "{}", text(&out));
}
