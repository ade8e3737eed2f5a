//! `earworm query --notes`: the first phrase of each of the 20 demo tunes, typed as
//! scientific pitch names, finds its demo song first, mostly as a confident match; phrases of
//! tunes the demo library does not hold mostly get "no confident match".

use std::path::Path;

use crate::common::{earworm, text};
use earworm::notes::{to_scientific, TypedNote};
use earworm::synth::corpus::{self, CorpusMelody, Split};
use earworm::synth::devset::{demo_tunes, first_phrase, pick_melodies};

/// Typed notes of a tune's first phrase.
fn typed_first_phrase(melody: &CorpusMelody) -> String {
    let phrase: Vec<TypedNote> = first_phrase(&melody.score)
        .iter()
        .map(|n| TypedNote {
            midi: Some(n.midi),
            quarters: n.duration,
        })
        .collect();
    to_scientific(&phrase)
}

/// `earworm query --json --notes` in `db`: the first answer's file name and whether the
/// calibrated confidence called it confident.
fn first_answer(db: &Path, typed: &str) -> (String, bool) {
    let out = earworm(&[
        "query",
        "--db",
        db.to_str().unwrap(),
        "--json",
        "--top",
        "3",
        "--notes",
        typed,
    ]);
    assert!(out.status.success(), "{typed}: {}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = json[0]["results"][0]["path"].as_str().unwrap_or("");
    let file = Path::new(first)
        .file_name()
        .map_or(String::new(), |f| f.to_string_lossy().to_string());
    (file, json[0]["confident"].as_bool() == Some(true))
}

#[test]
fn typed_first_phrases_find_their_demo_songs() {
    let melodies = corpus::load(&corpus::default_path()).unwrap();
    let demo = demo_tunes(&melodies);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let songs = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/songs");
    let out = earworm(&[
        "index",
        "--db",
        db.to_str().unwrap(),
        songs.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let mut misses = Vec::new();
    let mut confident = 0;
    for (i, melody) in demo.iter().enumerate() {
        let typed = typed_first_phrase(melody);
        let (file, sure) = first_answer(&db, &typed);
        confident += usize::from(sure);
        if !file.starts_with(&format!("{:02}_", i + 1)) {
            misses.push(format!("tune {} ({typed}) found {file}", i + 1));
        }
    }
    assert!(misses.is_empty(), "{misses:#?}");
    // Tunes the library does not hold (dev melodies; the demo's are a split of their own):
    // the calibration, fitted also on hums of songs missing from the library, mostly declines.
    let unknown: Vec<String> = pick_melodies(&melodies, Split::Dev, 30, 5)
        .into_iter()
        .map(typed_first_phrase)
        .collect();
    let unknown_confident = unknown
        .iter()
        .filter(|typed| first_answer(&db, typed).1)
        .count();
    eprintln!("confident: demo tunes {confident} of 20, unknown tunes {unknown_confident} of 30");
    assert!(
        confident >= 15,
        "only {confident} of 20 demo tunes answered confidently"
    );
    assert!(
        unknown_confident <= 10,
        "{unknown_confident} of 30 tunes not in the library answered confidently"
    );
    // Bad notes are a clear error, not a search.
    let out = earworm(&[
        "query",
        "--db",
        db.to_str().unwrap(),
        "--notes",
        "E4 H4 C4 D4",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("H4"), "{}", text(&out));
}
