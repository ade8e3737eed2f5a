//! The committed melody corpus: enough melodies, split by melody with no leakage.

use std::collections::HashMap;

use earworm::synth::corpus::{default_path, load, Split};
use earworm::synth::devset::pick_melodies;

/// Transposition-invariant opening (first 12 intervals): variants of one tune share it.
fn opening(notes: &[earworm::synth::Note]) -> Vec<i32> {
    notes
        .windows(2)
        .take(12)
        .map(|w| (w[1].midi - w[0].midi).round() as i32)
        .collect()
}

#[test]
fn corpus_is_large_deduplicated_and_split_without_leakage() {
    let corpus = load(&default_path())
        .expect("assets/melodies/melodies.jsonl.gz (tools/export_melodies.py)");
    let count = |s: Split| corpus.iter().filter(|m| m.split == s).count();
    let (train, dev, demo) = (count(Split::Train), count(Split::Dev), count(Split::Demo));
    assert!(corpus.len() > 5000, "{} melodies", corpus.len());
    assert!(
        dev >= 500 && demo >= 20 && train > 10 * dev / 2,
        "train {train} dev {dev} demo {demo}"
    );
    // Only the four allowed collections.
    for m in &corpus {
        assert!(
            [
                "essenFolksong",
                "nottingham-dataset",
                "ryansMammoth",
                "oneills1850"
            ]
            .contains(&m.collection.as_str()),
            "{}",
            m.collection
        );
    }
    // Melodies sharing an opening are in one split; identical tunes (any key) appear once.
    let mut split_of: HashMap<Vec<i32>, Split> = HashMap::new();
    let mut identity: HashMap<(Vec<i32>, Vec<u32>), &str> = HashMap::new();
    for m in &corpus {
        let prev = split_of.entry(opening(&m.score.notes)).or_insert(m.split);
        assert_eq!(
            *prev, m.split,
            "{} shares its opening with a melody in another split",
            m.id
        );
        let ivs: Vec<i32> = m
            .score
            .notes
            .windows(2)
            .map(|w| (w[1].midi - w[0].midi).round() as i32)
            .collect();
        let durs: Vec<u32> = m
            .score
            .notes
            .iter()
            .map(|n| (n.duration * 1000.0).round() as u32)
            .collect();
        if let Some(other) = identity.insert((ivs, durs), &m.id) {
            panic!("{} duplicates {other}", m.id);
        }
    }
}

#[test]
fn picking_melodies_is_deterministic_and_respects_the_split() {
    let corpus = load(&default_path()).unwrap();
    let a: Vec<&str> = pick_melodies(&corpus, Split::Dev, 50, 1)
        .iter()
        .map(|m| m.id.as_str())
        .collect();
    let b: Vec<&str> = pick_melodies(&corpus, Split::Dev, 80, 1)
        .iter()
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(a, b[..50]);
    assert!(pick_melodies(&corpus, Split::Dev, 50, 1)
        .iter()
        .all(|m| m.split == Split::Dev));
    assert_ne!(
        a,
        pick_melodies(&corpus, Split::Dev, 50, 2)
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>()
    );
}
