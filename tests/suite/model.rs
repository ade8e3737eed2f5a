//! The shipped model: it loads from models/, embeds deterministically, and is key-invariant
//! where it matters (a transposed copy of a segment stays nearer than other songs). The
//! learned search end to end: a hum finds its song through the ANN index, the index is saved
//! and reloaded.

use crate::common;
use earworm::audio::SAMPLE_RATE;
use earworm::engine::{Engine, Method};
use earworm::library::IndexOptions;
use earworm::model::{features, Embedder};
use earworm::synth::{random_melody, render_song, Difficulty, Rng, SongSpec, Timbre};

fn model() -> Embedder {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    Embedder::load(&dir).expect("models/melody.safetensors and its card load")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn the_shipped_model_loads_and_embeds_deterministically() {
    let m = model();
    assert!(m.dim() >= 64 && m.dim() <= 256);
    let mut rng = Rng::new(5);
    let score = random_melody(&mut rng, 8);
    let song = render_song(&score, &SongSpec::random(&mut rng, SAMPLE_RATE), 5);
    let spec = features::spectrogram(&m.params, &song.samples);
    let a = m.embed_song(&spec).unwrap();
    let b = model().embed_song(&spec).unwrap();
    assert_eq!(a.len(), b.len());
    assert!(a.len() > 3);
    for ((ta, ea), (tb, eb)) in a.iter().zip(&b) {
        assert_eq!(ta, tb);
        assert_eq!(ea, eb);
        let norm: f32 = ea.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3);
    }
}

#[test]
fn the_fast_conv1d_form_embeds_like_the_training_form() {
    let m = model();
    let mut rng = Rng::new(9);
    let score = random_melody(&mut rng, 8);
    let song = render_song(&score, &SongSpec::random(&mut rng, SAMPLE_RATE), 9);
    let spec = features::spectrogram(&m.params, &song.samples);
    let feats = features::interval_features(&m.params, &spec);
    let starts = features::window_starts(&m.params, spec.frames(), 25);
    let windows = features::windows(&m.params, &feats, spec.frames(), &starts);
    let fast = m.embed_windows(&windows).unwrap();
    let reference = m.embed_windows_reference(&windows).unwrap();
    assert_eq!(fast.len(), reference.len());
    assert!(fast.len() >= 3);
    for (f, r) in fast.iter().zip(&reference) {
        let worst = f
            .iter()
            .zip(r)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-4,
            "fast and reference embeddings differ by {worst}"
        );
    }
}

#[test]
fn a_transposed_segment_stays_nearer_than_other_songs() {
    let m = model();
    let mut rng = Rng::new(21);
    let score = random_melody(&mut rng, 8);
    let mut spec = SongSpec::random(&mut rng, SAMPLE_RATE);
    spec.lead = Timbre::Flute;
    spec.intro_bars = 0;
    let window = |song_samples: &[f32]| {
        let s = features::spectrogram(&m.params, song_samples);
        m.embed_song(&s).unwrap()[2].1.clone()
    };
    let original = window(&render_song(&score, &spec, 1).samples);
    let mut up = spec.clone();
    up.transpose += 5.0;
    let transposed = window(&render_song(&score, &up, 1).samples);
    let near = cosine(&original, &transposed);
    for other in 0..6 {
        let mut r = Rng::fork(99, other);
        let other_score = random_melody(&mut r, 8);
        let e = window(&render_song(&other_score, &spec, 1).samples);
        let far = cosine(&original, &e);
        assert!(
            near > far,
            "transposed copy {near:.3} vs other song {other} {far:.3}"
        );
    }
}

#[test]
fn learned_search_finds_hummed_songs_and_reloads_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let songs = common::write_songs(&dir.path().join("songs"), 12, 31);
    let db = dir.path().join("db");
    let hums: Vec<_> = songs
        .iter()
        .enumerate()
        .take(6)
        .map(|(i, s)| {
            let p = dir.path().join(format!("hum_{i}.wav"));
            common::write_hum(s, &p, Difficulty::Medium, 100 + i as u64);
            p
        })
        .collect();
    {
        let mut engine = Engine::open_with_model(&db, Ok(model())).unwrap();
        // Cancelled while probing: the run says so, the files stay indexed, no scores are kept.
        let options = IndexOptions::default();
        let cancel = options.cancel.clone();
        let stopped = engine
            .index(&[dir.path().join("songs")], &options, &mut |p| {
                if p.probes_total > 0 {
                    cancel.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            })
            .unwrap();
        assert!(stopped.cancelled && stopped.added == 12, "{stopped:?}");
        assert!(engine.hub_scores().unwrap().is_empty());
        let mut probed = (0, 0);
        let report = engine
            .index(
                &[dir.path().join("songs")],
                &IndexOptions::default(),
                &mut |p| {
                    if p.probes_total > 0 {
                        probed = (p.probes_done, p.probes_total);
                    }
                },
            )
            .unwrap();
        assert_eq!(engine.songs_needing_embeddings().unwrap(), 0);
        // The library's own songs were searched as probes: every song is a wrong candidate of
        // the others' probes in a library this small, so each has a hub statistic.
        assert_eq!(probed, (12, 12));
        assert!(report.hub_probes >= 12, "{report:?}");
        assert_eq!(engine.hub_scores().unwrap().len(), 12);
        // Nothing changed: the next run probes nothing.
        let again = engine
            .index(
                &[dir.path().join("songs")],
                &IndexOptions::default(),
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(again.hub_probes, 0, "{again:?}");
        let melody_model = model().melody_model_id();
        assert!(engine
            .catalog()
            .songs_without_segments(&melody_model)
            .unwrap()
            .is_empty());
        let melody_index = engine.melody_segment_index_now().unwrap().unwrap();
        assert_eq!(melody_index.song_count(), 12);
        let mut hits = 0;
        for (i, h) in hums.iter().enumerate() {
            let r = engine.query_file_with(h, 5, Method::Learned).unwrap();
            hits += (r.matches.first().map(|m| m.song.path.clone())
                == Some(std::fs::canonicalize(&songs[i].path).unwrap()))
                as usize;
        }
        assert!(hits >= 5, "{hits}/6 hums found their song first");
    }
    // Reopened: the saved segment index (one file) is loaded, not rebuilt, and answers the same.
    let saved: Vec<_> = std::fs::read_dir(db.join("ann"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // One file per index: the songs' audio segments and their melodies' segments.
    assert_eq!(saved.len(), 2, "{saved:?}");
    assert!(
        saved
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "ivf")),
        "{saved:?}"
    );
    let mut engine = Engine::open_with_model(&db, Ok(model())).unwrap();
    let r = engine
        .query_file_with(&hums[0], 5, Method::Learned)
        .unwrap();
    assert_eq!(
        r.matches[0].song.path,
        std::fs::canonicalize(&songs[0].path).unwrap()
    );
    let report = engine.segment_index_now().unwrap().unwrap().report;
    assert!(!report.built && !report.saved, "{report:?}");
    // One more song: it joins the saved index (no rebuild) and its hum finds it.
    let more = common::write_songs(&dir.path().join("more"), 1, 77);
    let hum = dir.path().join("hum_more.wav");
    common::write_hum(&more[0], &hum, Difficulty::Medium, 5);
    engine
        .index(
            &[dir.path().join("more")],
            &IndexOptions::default(),
            &mut |_| {},
        )
        .unwrap();
    let r = engine.query_file_with(&hum, 5, Method::Learned).unwrap();
    let report = engine.segment_index_now().unwrap().unwrap().report;
    assert!(!report.built && report.songs_added == 1, "{report:?}");
    assert_eq!(engine.hub_scores().unwrap().len(), 13);
    assert_eq!(
        r.matches[0].song.path,
        std::fs::canonicalize(&more[0].path).unwrap()
    );
}

#[test]
fn a_library_indexed_without_melody_segments_gets_them_derived_once() {
    use earworm::library::{derive_melody_segments, Catalog, NewSong};
    let dir = tempfile::tempdir().unwrap();
    let songs = common::write_songs(&dir.path().join("songs"), 3, 41);
    let (fresh, old) = (dir.path().join("fresh"), dir.path().join("old"));
    let embedder = model();
    let melody_model = embedder.melody_model_id();
    let mut engine = Engine::open_with_model(&fresh, Ok(model())).unwrap();
    engine
        .index(
            &[dir.path().join("songs")],
            &IndexOptions::default(),
            &mut |_| {},
        )
        .unwrap();
    // The same songs written as an older version did: melody and audio segments only.
    let source = engine.catalog();
    let records = source.songs().unwrap();
    let ids: Vec<i64> = records.iter().map(|r| r.id).collect();
    let melodies = source.melodies_of(&ids).unwrap();
    let audio: Vec<Vec<(f32, Vec<f32>)>> = ids
        .iter()
        .map(|&id| {
            source
                .song_segments(&embedder.id, &[id])
                .unwrap()
                .into_iter()
                .map(|s| (s.start_s, s.embedding))
                .collect()
        })
        .collect();
    {
        let mut cat = Catalog::open(&old).unwrap();
        cat.set_melody_version(source.melody_version());
        let rows: Vec<NewSong> = records
            .iter()
            .zip(&melodies)
            .zip(&audio)
            .map(|((r, (_, melody)), segs)| NewSong {
                path: &r.path,
                size: 0,
                mtime_ns: 0,
                hash: "",
                title: &r.title,
                artist: "",
                album: "",
                duration_s: r.duration_s,
                melody,
                second_line: None,
                second_voice: None,
                segments: vec![(embedder.id.as_str(), segs.as_slice())],
            })
            .collect();
        cat.insert_songs(&rows).unwrap();
        assert_eq!(cat.songs_without_segments(&melody_model).unwrap().len(), 3);
    }
    // An index run with nothing new to read derives them from the stored melodies...
    let mut upgraded = Engine::open_with_model(&old, Ok(model())).unwrap();
    let mut last = (0, 0);
    let report = upgraded
        .index(&[], &IndexOptions::default(), &mut |p| {
            if p.melodies_total > 0 {
                last = (p.melodies_done, p.melodies_total)
            }
        })
        .unwrap();
    assert_eq!((report.melodies_derived, last), (3, (3, 3)));
    // ... exactly as indexing the files made them, and only once.
    for (id, r) in ids.iter().zip(&records) {
        let made = source.song_segments(&melody_model, &[*id]).unwrap();
        let new_id = upgraded
            .catalog()
            .songs()
            .unwrap()
            .into_iter()
            .find(|s| s.path == r.path)
            .unwrap()
            .id;
        let derived = upgraded
            .catalog()
            .song_segments(&melody_model, &[new_id])
            .unwrap();
        assert_eq!(made.len(), derived.len());
        for (a, b) in made.iter().zip(&derived) {
            assert!(cosine(&a.embedding, &b.embedding) > 0.9999 || a.embedding == b.embedding);
        }
    }
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let again =
        derive_melody_segments(upgraded.catalog_mut(), &embedder, &cancel, &mut |_, _| {}).unwrap();
    assert_eq!(again, 0);
    let hum = dir.path().join("hum.wav");
    common::write_hum(&songs[1], &hum, Difficulty::Medium, 9);
    let r = upgraded.query_file_with(&hum, 3, Method::Learned).unwrap();
    assert_eq!(
        r.matches[0].song.path,
        std::fs::canonicalize(&songs[1].path).unwrap()
    );
}
