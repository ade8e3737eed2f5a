//! End to end through the engine API: index a folder of synthesized songs (with junk mixed
//! in), query it with synthesized hums, and keep the catalog in step with changes on disk.

use crate::common;
use std::path::PathBuf;

use earworm::engine::Engine;
use earworm::library::IndexOptions;
use earworm::synth::Difficulty;

#[test]
fn index_then_find_hummed_songs_and_track_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    let songs = common::write_songs(&music.join("album"), 12, 42);
    // Junk beside the music: non-audio files are ignored, bad audio files are listed.
    std::fs::write(
        music.join("cover.jpg"),
        b"\xff\xd8\xff\xe0 not really a jpeg",
    )
    .unwrap();
    std::fs::write(music.join("notes.txt"), b"setlist").unwrap();
    std::fs::write(music.join("empty.flac"), b"").unwrap();
    std::fs::write(music.join("lyrics.mp3"), "la la la\n".repeat(100)).unwrap();
    let good = std::fs::read(&songs[0].path).unwrap();
    std::fs::write(music.join("broken.wav"), &good[..good.len() / 5]).unwrap();

    let db = tmp.path().join("db");
    let mut engine = Engine::open(&db).unwrap();
    let mut progress_calls = 0;
    let report = engine
        .index(&[music.clone()], &IndexOptions::default(), &mut |_| {
            progress_calls += 1
        })
        .unwrap();
    assert_eq!(report.found, 15);
    assert_eq!(report.added, 12);
    assert_eq!(report.failed, 3);
    assert_eq!(report.ignored, 2);
    assert!(progress_calls >= 15);
    let errors = engine.catalog().errors().unwrap();
    let names: Vec<String> = errors
        .iter()
        .map(|e| e.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["broken.wav", "empty.flac", "lyrics.mp3"]);
    assert!(errors.iter().all(|e| !e.reason.is_empty()));
    assert!(
        errors[0].reason.contains("truncated"),
        "{}",
        errors[0].reason
    );
    assert!(engine.catalog().check().unwrap().is_empty());
    // Titles fall back to the file name.
    assert!(engine
        .catalog()
        .songs()
        .unwrap()
        .iter()
        .any(|s| s.title == "song_03"));

    // Hums of six different songs, medium difficulty (±6 st, 0.75–1.3x, 15 dB SNR).
    let mut first = 0;
    let mut top3 = 0;
    for (k, i) in [0usize, 2, 4, 5, 7, 11].iter().enumerate() {
        let hum = tmp.path().join(format!("hum_{i}.wav"));
        common::write_hum(&songs[*i], &hum, Difficulty::Medium, 1000 + k as u64);
        let result = engine.query_file(&hum, 5).unwrap();
        let want = std::fs::canonicalize(&songs[*i].path).unwrap();
        let rank = result.matches.iter().position(|m| m.song.path == want);
        first += (rank == Some(0)) as usize;
        top3 += rank.is_some_and(|r| r < 3) as usize;
        let best = &result.matches[0];
        assert!(
            best.found.start_s < best.found.end_s
                && best.found.end_s <= best.song.duration_s as f32 + 1.0
        );
        assert!(!best.found.alignment.path.is_empty());
        assert!(best.found.score > result.matches[1].found.score);
    }
    assert!(first >= 5, "right song first for only {first} of 6 hums");
    assert_eq!(top3, 6);

    // Re-run: nothing to do.
    let again = engine
        .index(&[music.clone()], &IndexOptions::default(), &mut |_| {})
        .unwrap();
    assert_eq!(
        (again.added, again.updated, again.failed, again.unchanged),
        (0, 0, 0, 15)
    );

    // Touched but identical (new mtime): recognised by content hash, not re-analysed.
    let touched = &songs[1].path;
    let bytes = std::fs::read(touched).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(touched, &bytes).unwrap();
    // Changed content; a deleted file; a repaired file.
    std::fs::copy(&songs[3].path, &songs[2].path).unwrap();
    std::fs::remove_file(&songs[4].path).unwrap();
    std::fs::copy(&songs[5].path, music.join("broken.wav")).unwrap();
    let changed = engine
        .index(&[music.clone()], &IndexOptions::default(), &mut |_| {})
        .unwrap();
    assert_eq!(changed.removed, 1);
    // song_02 changed; broken.wav repaired is a new song; the touched file and the two
    // still-bad files are unchanged.
    assert_eq!(
        (changed.updated, changed.added, changed.unchanged),
        (1, 1, 12),
        "{changed:?}"
    );
    assert_eq!(engine.catalog().song_count().unwrap(), 12);
    assert_eq!(engine.catalog().errors().unwrap().len(), 2);
    assert!(engine.catalog().check().unwrap().is_empty());
}

#[test]
fn missing_paths_are_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(&tmp.path().join("db")).unwrap();
    let report = engine
        .index(
            &[PathBuf::from("/no/such/folder")],
            &IndexOptions::default(),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(report.missing, [PathBuf::from("/no/such/folder")]);
    let err = engine
        .query_file(&tmp.path().join("nothing.wav"), 5)
        .unwrap_err();
    assert!(err.to_string().contains("nothing.wav"), "{err}");
}

/// Encodes `wav` into `out` with ffmpeg (installed by tools/setup_system.sh --test; the
/// product never runs it).
fn ffmpeg_encode(wav: &std::path::Path, out: &std::path::Path, codec_args: &[&str]) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(wav)
        .args(codec_args)
        .arg(out)
        .status()
        .expect("ffmpeg runs (tools/setup_system.sh --test installs it)");
    assert!(status.success(), "ffmpeg failed for {}", out.display());
}

#[test]
fn opus_webm_and_m4a_songs_are_indexed_and_found_by_a_hum() {
    let tmp = tempfile::tempdir().unwrap();
    let wavs = common::write_songs(&tmp.path().join("wav"), 6, 77);
    let music = tmp.path().join("music");
    std::fs::create_dir_all(&music).unwrap();
    let kinds: [(&str, &[&str]); 6] = [
        ("opus", &["-c:a", "libopus", "-b:a", "48k"]),
        ("webm", &["-c:a", "libopus", "-b:a", "48k"]),
        ("webm", &["-c:a", "libvorbis", "-q:a", "3"]),
        ("m4a", &["-c:a", "aac", "-b:a", "96k"]),
        ("m4a", &["-c:a", "alac"]),
        ("mka", &["-c:a", "libopus", "-b:a", "32k"]),
    ];
    let mut encoded = Vec::new();
    for (i, (ext, args)) in kinds.iter().enumerate() {
        let out = music.join(format!("song_{i:02}_{}.{ext}", args[1]));
        ffmpeg_encode(&wavs[i].path, &out, args);
        encoded.push(out);
    }
    let mut engine = Engine::open(&tmp.path().join("db")).unwrap();
    let report = engine
        .index(&[music.clone()], &IndexOptions::default(), &mut |_| {})
        .unwrap();
    let errors = engine.catalog().errors().unwrap();
    assert_eq!(report.added, 6, "failed: {errors:?}");
    for (i, song) in wavs.iter().enumerate() {
        let hum = tmp.path().join(format!("hum_{i}.wav"));
        common::write_hum(song, &hum, Difficulty::Clean, 100 + i as u64);
        let found = engine.query_file(&hum, 3).unwrap();
        let top = &found.matches[0].song.path;
        assert_eq!(
            top.file_name(),
            encoded[i].file_name(),
            "hum of {} found {}",
            encoded[i].display(),
            top.display()
        );
    }
}
