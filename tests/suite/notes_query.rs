//! `earworm query --notes`: the first phrase of each of the 20 demo tunes, typed as
//! scientific pitch names, finds its demo song first.

use std::path::Path;

use crate::common::{earworm, text};
use earworm::notes::{to_scientific, TypedNote};
use earworm::synth::corpus::{self, Split};
use earworm::synth::devset::pick_melodies;

#[test]
fn typed_first_phrases_find_their_demo_songs() {
    let melodies = corpus::load(&corpus::default_path()).unwrap();
    // The demo library is the first 20 demo-split melodies with seed 11, in order
    // (tools/make_demo_library.sh), its files numbered 01..20.
    let demo = pick_melodies(&melodies, Split::Demo, 20, 11);
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
        // First phrase: the notes of the first four bars, at least eight notes.
        let bar = melody.score.beats_per_bar as f32;
        let phrase: Vec<TypedNote> = melody
            .score
            .notes
            .iter()
            .enumerate()
            .take_while(|(k, n)| n.onset < 4.0 * bar || *k < 8)
            .map(|(_, n)| TypedNote {
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
