//! Libraries with repeated material (sample-exact loops, duplicate files, digital silence) and
//! hostile queries: every query answers, with the right song first, for both methods; a query
//! that cannot be answered is an error object in the one JSON array, never a crash.

use std::path::Path;

use crate::common::{self, earworm, text};

use earworm::audio::write_wav_mono;

fn file_name(v: &serde_json::Value) -> String {
    Path::new(v["path"].as_str().unwrap_or_default())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn looped_library_answers_every_query_with_the_right_song_for_both_methods() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    common::write_looped_library(&music);
    let db = tmp.path().join("db");
    let db_s = db.to_str().unwrap();
    let out = earworm(&["index", "--db", db_s, music.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("6 added"), "{}", text(&out));

    // Hums of songs 1 and 0: three semitones up and 10% slower; the second with its copy.
    let hum1 = tmp.path().join("hum1.wav");
    let hum0 = tmp.path().join("hum0.wav");
    common::write_loop_hum(&hum1, 1, 3.0, 0.55);
    common::write_loop_hum(&hum0, 0, -2.0, 0.45);
    // Queries that cannot be answered: silence, and a file that is not audio.
    let quiet = tmp.path().join("quiet.wav");
    let rate = 44_100;
    write_wav_mono(&quiet, &vec![0.0; 8 * rate as usize], rate).unwrap();
    let junk = tmp.path().join("junk.mp3");
    std::fs::write(&junk, b"not audio at all").unwrap();

    for method in ["learned", "baseline"] {
        let out = earworm(&[
            "query",
            "--db",
            db_s,
            "--json",
            "--method",
            method,
            hum1.to_str().unwrap(),
            quiet.to_str().unwrap(),
            junk.to_str().unwrap(),
            hum0.to_str().unwrap(),
        ]);
        let all = text(&out);
        assert!(out.status.success(), "{method}: {all}");
        assert!(!all.contains("panicked"), "{method}: {all}");
        let answers: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{method}: stdout is not one JSON array ({e}): {all}"));
        let answers = answers.as_array().expect("one array");
        assert_eq!(answers.len(), 4, "{method}: one object per query");
        let top1 = &answers[0]["results"];
        assert_eq!(file_name(&top1[0]), "loop_1.wav", "{method}: {top1}");
        for failed in [&answers[1], &answers[2]] {
            assert!(failed["error"].is_string(), "{method}: {failed}");
            assert_eq!(failed["results"].as_array().map(|r| r.len()), Some(0));
        }
        // The duplicate pair comes first, both copies with the same score.
        let top0 = &answers[3]["results"];
        let mut pair = [file_name(&top0[0]), file_name(&top0[1])];
        pair.sort();
        assert_eq!(pair, ["loop_0.wav", "loop_0_copy.wav"], "{method}: {top0}");
        assert_eq!(top0[0]["score"], top0[1]["score"], "{method}: {top0}");
    }

    // The catalog is consistent, and the silent file is a song with nothing to search.
    let out = earworm(&["library", "--db", db_s, "--check"]);
    assert!(out.status.success(), "{}", text(&out));
}
