//! `earworm query --notes`: the first phrase of each of the 20 demo tunes, typed as
//! scientific pitch names, finds its demo song first.

use std::path::Path;

use crate::common::{earworm, text};
use earworm::notes::{to_scientific, TypedNote};
use earworm::synth::corpus;
use earworm::synth::devset::{demo_tunes, first_phrase};

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
    for (i, melody) in demo.iter().enumerate() {
        let phrase: Vec<TypedNote> = first_phrase(&melody.score)
            .iter()
            .map(|n| TypedNote {
                midi: Some(n.midi),
                quarters: n.duration,
            })
            .collect();
        let typed = to_scientific(&phrase);
        let out = earworm(&[
            "query",
            "--db",
            db.to_str().unwrap(),
            "--json",
            "--top",
            "3",
            "--notes",
            &typed,
        ]);
        assert!(out.status.success(), "{typed}: {}", text(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let first = json[0]["results"][0]["path"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let file = Path::new(&first)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        if !file.starts_with(&format!("{:02}_", i + 1)) {
            misses.push(format!("tune {} ({typed}) found {file}", i + 1));
        }
    }
    assert!(misses.is_empty(), "{misses:#?}");
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
