//! The scale benchmark's libraries (`earworm bench scale`): a library of N songs assembled from
//! libraries the real pipeline analysed (audio → contour and segment embeddings), so that
//! searching it costs what searching N indexed songs costs.
//!
//! The songs whose hums are asked come first (their library must be indexed with the same
//! model), then filler songs of other melodies. When the filler libraries hold fewer songs
//! than needed, the rest are *derived* in the feature domain from filler songs, and counted
//! apart in the report: a derived song is its parent's contour moved to another key and tempo,
//! with segment vectors re-timed the same way and mixed with another filler song's (so no
//! vector repeats one of its parent's). No derived song comes from a song whose hums are asked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::library::{Catalog, CatalogError, MelodyLines, NewSong, SongRecord};
use crate::melody::Contour;
use crate::synth::rng::Rng;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A song that does not decode (the message names the file).
    #[error(transparent)]
    Decode(#[from] crate::audio::DecodeError),
    #[error("embedding: {0}")]
    Model(#[from] crate::model::ModelError),
    #[error("{path}: {why}")]
    Source { path: PathBuf, why: String },
    #[error("the library of {path} has no songs with segments of model {model}: index it with this model first")]
    NoSegments { path: PathBuf, model: String },
}

/// Where the songs come from.
#[derive(Debug, Clone)]
pub struct ScaleSources {
    /// The library whose songs the hums are of (all of it goes in).
    pub targets: PathBuf,
    /// Libraries of other melodies, taken in order until the size is reached.
    pub fillers: Vec<PathBuf>,
    /// Seed of the derivations.
    pub seed: u64,
}

/// What a built library holds.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct LibraryMakeup {
    pub songs: usize,
    pub target_songs: usize,
    pub filler_songs: usize,
    pub derived_songs: usize,
    /// Seconds spent writing the catalog (0 when a cached library was reused).
    pub build_s: f64,
}

/// Marker written when a library is complete; a folder without it is rebuilt.
const COMPLETE: &str = "scale-library.json";
/// Songs written per transaction.
const WRITE_BATCH: usize = 500;

/// One song read from a source library.
struct SourceSong {
    record: SongRecord,
    melody: Contour,
    /// Its second pitch line and second voice, when the source library has them.
    second_line: Option<Contour>,
    second_voice: Option<Contour>,
    segments: Vec<(f32, Vec<f32>)>,
    /// The melody's own segments ([`crate::model::Embedder::embed_melody`]), when the source
    /// library has them.
    melody_segments: Vec<(f32, Vec<f32>)>,
}

/// A derived song: its melody, its segments and its melody's segments (empty when the parents
/// have none).
type DerivedSong = (Contour, Vec<(f32, Vec<f32>)>, Vec<(f32, Vec<f32>)>);

/// Reads `ids` of `catalog` with their melodies and segments of `model`.
fn read_songs(
    catalog: &Catalog,
    model: &str,
    records: &[SongRecord],
) -> Result<Vec<SourceSong>, CatalogError> {
    let ids: Vec<i64> = records.iter().map(|r| r.id).collect();
    let mut melodies: HashMap<i64, MelodyLines> = catalog
        .melody_lines_of(&ids)?
        .into_iter()
        .map(|lines| (lines.song_id, lines))
        .collect();
    let by_song = |model: &str| -> Result<HashMap<i64, Vec<(f32, Vec<f32>)>>, CatalogError> {
        let mut out: HashMap<i64, Vec<(f32, Vec<f32>)>> = HashMap::new();
        for s in catalog.song_segments(model, &ids)? {
            out.entry(s.song_id)
                .or_default()
                .push((s.start_s, s.embedding));
        }
        Ok(out)
    };
    let mut segments = by_song(model)?;
    let mut melody_segments = by_song(&crate::model::melody_model_id(model))?;
    Ok(records
        .iter()
        .filter_map(|r| {
            let lines = melodies.remove(&r.id)?;
            Some(SourceSong {
                melody: lines.melody,
                second_line: lines.second_line,
                second_voice: lines.second_voice,
                segments: segments.remove(&r.id)?,
                melody_segments: melody_segments.remove(&r.id).unwrap_or_default(),
                record: r.clone(),
            })
        })
        .collect())
}

/// A song derived from `parent`: another key and tempo, vectors mixed with `other`'s. The
/// melody segments (when both have them) are re-timed and mixed the same way, with their own
/// random stream (`melody_rng`), so the rest is what it was before melody segments existed.
fn derive(
    parent: &SourceSong,
    other: &SourceSong,
    rng: &mut Rng,
    melody_rng: &mut Rng,
) -> DerivedSong {
    let shift = rng.range(-5.0, 6.0).round();
    let tempo = rng.range(0.85, 1.18);
    let frames = (parent.melody.midi.len() as f32 / tempo) as usize;
    let midi: Vec<f32> = (0..frames)
        .map(|i| {
            let m =
                parent.melody.midi[((i as f32 * tempo) as usize).min(parent.melody.midi.len() - 1)];
            if m.is_nan() {
                m
            } else {
                m + shift
            }
        })
        .collect();
    let segments = retime_and_mix(&parent.segments, &other.segments, tempo, rng);
    let melody_segments = if parent.melody_segments.is_empty() || other.melody_segments.is_empty() {
        Vec::new()
    } else {
        retime_and_mix(
            &parent.melody_segments,
            &other.melody_segments,
            tempo,
            melody_rng,
        )
    };
    (
        Contour::new(parent.melody.fps, midi),
        segments,
        melody_segments,
    )
}

/// `parent`'s segment vectors at `tempo` (re-timed), each mixed 0.8 : 0.35 with `other`'s and
/// a little noise, unit length again; silent ones stay silent.
fn retime_and_mix(
    parent: &[(f32, Vec<f32>)],
    other: &[(f32, Vec<f32>)],
    tempo: f32,
    rng: &mut Rng,
) -> Vec<(f32, Vec<f32>)> {
    let n = ((parent.len() as f32 / tempo).round() as usize).max(1);
    let hop = if parent.len() > 1 {
        parent[1].0 - parent[0].0
    } else {
        1.0
    };
    (0..n)
        .map(|j| {
            let a = &parent[((j as f32 * tempo) as usize).min(parent.len() - 1)].1;
            let b = &other[j % other.len()].1;
            let silent = a.iter().all(|&x| x == 0.0);
            let mut v: Vec<f32> = if silent {
                a.clone()
            } else {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| 0.8 * x + 0.35 * y + 0.05 * rng.range(-1.0, 1.0))
                    .collect()
            };
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|x| *x /= norm);
            }
            (j as f32 * hop, v)
        })
        .collect()
}

/// The library of `songs` songs in `dir` (reused when a complete one is there): the target
/// songs, then fillers, then derived songs. `model` and `melody_version` are the engine's.
pub fn build_library(
    dir: &Path,
    songs: usize,
    sources: &ScaleSources,
    model: &str,
    melody_version: i64,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<LibraryMakeup, BenchError> {
    if let Some(makeup) = std::fs::read_to_string(dir.join(COMPLETE))
        .ok()
        .and_then(|t| serde_json::from_str::<LibraryMakeup>(&t).ok())
        .filter(|m| m.songs == songs)
    {
        return Ok(LibraryMakeup {
            build_s: 0.0,
            ..makeup
        });
    }
    let started = std::time::Instant::now();
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| BenchError::Source {
            path: dir.into(),
            why: format!("cannot clear an incomplete library: {e}"),
        })?;
    }
    let open_source = |path: &Path| -> Result<Catalog, BenchError> {
        if !path.join(Catalog::FILE_NAME).is_file() {
            return Err(BenchError::Source {
                path: path.into(),
                why: "no library catalog here".into(),
            });
        }
        let mut c = Catalog::open(path)?;
        c.set_melody_version(melody_version);
        if c.songs_with_segments(model)?.0 == 0 {
            return Err(BenchError::NoSegments {
                path: path.into(),
                model: model.into(),
            });
        }
        Ok(c)
    };
    let targets = open_source(&sources.targets)?;
    let target_records = targets.songs()?;
    if target_records.len() > songs {
        return Err(BenchError::Source {
            path: sources.targets.clone(),
            why: format!(
                "it holds {} songs, more than the {songs} asked for: every song whose hums are asked goes in",
                target_records.len()
            ),
        });
    }
    let mut out = Catalog::open(dir)?;
    out.set_melody_version(melody_version);
    out.set_embedding_model(Some(model.into()));
    let mut makeup = LibraryMakeup {
        songs,
        ..Default::default()
    };
    let mut written = 0usize;
    let melody_model = crate::model::melody_model_id(model);
    let write = |out: &mut Catalog,
                 batch: &[(PathBuf, &SourceSong, Option<DerivedSong>)]|
     -> Result<(), BenchError> {
        let rows: Vec<NewSong> = batch
            .iter()
            .map(|(path, s, derived)| {
                let (melody, segments, melody_segments) = match derived {
                    Some((m, seg, tune)) => (m, seg.as_slice(), tune.as_slice()),
                    None => (
                        &s.melody,
                        s.segments.as_slice(),
                        s.melody_segments.as_slice(),
                    ),
                };
                let mut sets = vec![(model, segments)];
                if !melody_segments.is_empty() {
                    sets.push((melody_model.as_str(), melody_segments));
                }
                NewSong {
                    path,
                    size: 0,
                    mtime_ns: 0,
                    hash: "",
                    title: &s.record.title,
                    artist: &s.record.artist,
                    album: &s.record.album,
                    duration_s: s.record.duration_s,
                    melody,
                    // Derived songs are searched on their melody alone.
                    second_line: s.second_line.as_ref().filter(|_| derived.is_none()),
                    second_voice: s.second_voice.as_ref().filter(|_| derived.is_none()),
                    segments: sets,
                }
            })
            .collect();
        out.insert_songs(&rows)?;
        Ok(())
    };

    for chunk in target_records.chunks(WRITE_BATCH) {
        let read = read_songs(&targets, model, chunk)?;
        let batch: Vec<_> = read
            .iter()
            .map(|s| (s.record.path.clone(), s, None))
            .collect();
        write(&mut out, &batch)?;
        written += batch.len();
        makeup.target_songs += batch.len();
        progress(written, songs);
    }
    // Fillers, real ones first; the songs read are kept (as derivation parents) up to a bound.
    let mut parents: Vec<SourceSong> = Vec::new();
    const MAX_PARENTS: usize = 3000;
    for path in &sources.fillers {
        if written >= songs {
            break;
        }
        let fillers = open_source(path)?;
        let records = fillers.songs()?;
        for chunk in records.chunks(WRITE_BATCH) {
            if written >= songs {
                break;
            }
            let take = chunk.len().min(songs - written);
            let read = read_songs(&fillers, model, &chunk[..take])?;
            let batch: Vec<_> = read
                .iter()
                .map(|s| (s.record.path.clone(), s, None))
                .collect();
            write(&mut out, &batch)?;
            written += batch.len();
            makeup.filler_songs += batch.len();
            progress(written, songs);
            let room = MAX_PARENTS.saturating_sub(parents.len());
            parents.extend(read.into_iter().take(room));
        }
    }
    if written < songs && parents.len() < 2 {
        return Err(BenchError::Source {
            path: sources.fillers.first().cloned().unwrap_or_default(),
            why: "too few filler songs to derive more from (at least 2 are needed)".into(),
        });
    }
    let mut rng = Rng::new(sources.seed ^ 0x0D31_17ED);
    let mut melody_rng = Rng::new(sources.seed ^ 0x003E_10D7);
    let mut k = 0usize;
    while written < songs {
        let n = (songs - written).min(WRITE_BATCH);
        let derived: Vec<(PathBuf, usize, DerivedSong)> = (0..n)
            .map(|i| {
                let p = (k + i) % parents.len();
                let mut o = (rng.next_u64() % parents.len() as u64) as usize;
                if o == p {
                    o = (o + 1) % parents.len();
                }
                let song = derive(&parents[p], &parents[o], &mut rng, &mut melody_rng);
                let path = PathBuf::from(format!(
                    "derived/{:06}-from-{}",
                    k + i,
                    parents[p]
                        .record
                        .path
                        .file_name()
                        .map_or("song".into(), |n| n.to_string_lossy())
                ));
                (path, p, song)
            })
            .collect();
        let batch: Vec<_> = derived
            .iter()
            .map(|(path, p, song)| (path.clone(), &parents[*p], Some(song.clone())))
            .collect();
        write(&mut out, &batch)?;
        written += n;
        k += n;
        makeup.derived_songs += n;
        progress(written, songs);
    }
    makeup.build_s = started.elapsed().as_secs_f64();
    let text = serde_json::to_string_pretty(&makeup).unwrap_or_default();
    std::fs::write(dir.join(COMPLETE), text).map_err(|e| BenchError::Source {
        path: dir.join(COMPLETE),
        why: e.to_string(),
    })?;
    Ok(makeup)
}

/// Resident memory of this process (Linux: VmRSS), in bytes.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Bytes of the files under `dir`.
pub fn folder_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Share of the exact neighbours (song, start) that the approximate search also returned.
pub fn recall(
    approx: &[Vec<crate::library::Neighbour>],
    exact: &[Vec<crate::library::Neighbour>],
) -> f64 {
    let (mut hit, mut total) = (0usize, 0usize);
    for (a, e) in approx.iter().zip(exact) {
        let found: std::collections::HashSet<(i64, u32)> =
            a.iter().map(|n| (n.song, n.start_s.to_bits())).collect();
        total += e.len();
        hit += e
            .iter()
            .filter(|n| found.contains(&(n.song, n.start_s.to_bits())))
            .count();
    }
    if total == 0 {
        1.0
    } else {
        hit as f64 / total as f64
    }
}

/// Seconds spent on each stage of embedding songs (`earworm bench embed`), over the counted
/// passes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EmbedSpeed {
    pub device: String,
    /// Audio embedded (all counted passes).
    pub audio_s: f64,
    pub windows: usize,
    pub spectrogram_s: f64,
    pub features_s: f64,
    pub network_s: f64,
}

impl std::fmt::Display for EmbedSpeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let audio = self.audio_s;
        write!(
            f,
            "{audio:.0} s of audio, {} windows: spectrogram {:.0}x, interval features {:.0}x, network {:.0}x ({:.0} windows/s); all three {:.0}x real time",
            self.windows,
            audio / self.spectrogram_s,
            audio / self.features_s,
            audio / self.network_s,
            self.windows as f64 / self.network_s,
            audio / (self.spectrogram_s + self.features_s + self.network_s),
        )
    }
}

/// Decodes `songs` once, then embeds them `passes` times as indexing does (spectrogram,
/// interval features, windows at the index's hop, network); the first of several passes warms
/// the device and is not counted.
pub fn embed_speed(
    embedder: &crate::model::Embedder,
    songs: &[PathBuf],
    passes: usize,
) -> Result<EmbedSpeed, BenchError> {
    use crate::model::{features, SONG_SEGMENT_HOP};
    let decoded: Vec<Vec<f32>> = songs
        .iter()
        .map(|path| crate::audio::decode_file(path).map(|(samples, _)| samples))
        .collect::<Result<_, _>>()?;
    let params = &embedder.params;
    let mut speed = EmbedSpeed {
        device: embedder.device_choice.describe(),
        audio_s: 0.0,
        windows: 0,
        spectrogram_s: 0.0,
        features_s: 0.0,
        network_s: 0.0,
    };
    let passes = passes.max(1);
    for pass in 0..passes {
        let counted = passes == 1 || pass > 0;
        for samples in &decoded {
            let t = std::time::Instant::now();
            let spec = features::spectrogram(params, samples);
            let spectrogram_s = t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            let feats = features::interval_features(params, &spec);
            let starts = features::window_starts(params, spec.frames(), SONG_SEGMENT_HOP);
            let windows = features::windows(params, &feats, spec.frames(), &starts);
            let features_s = t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            let embedded = embedder.embed_windows(&windows)?.len();
            if counted {
                speed.network_s += t.elapsed().as_secs_f64();
                speed.spectrogram_s += spectrogram_s;
                speed.features_s += features_s;
                speed.windows += embedded;
                speed.audio_s += samples.len() as f64 / crate::audio::SAMPLE_RATE as f64;
            }
        }
    }
    Ok(speed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(dir: &Path, prefix: &str, n: usize) {
        let mut c = Catalog::open(dir).unwrap();
        for s in 0..n {
            let melody = Contour::new(
                25.0,
                (0..100).map(|i| 60.0 + ((i + s) % 7) as f32).collect(),
            );
            let segments: Vec<(f32, Vec<f32>)> = (0..8)
                .map(|k| {
                    let mut v = vec![0.0f32; 8];
                    v[(k + s) % 8] = 1.0;
                    (k as f32, v)
                })
                .collect();
            // The melody's own segments: the same vectors a step later.
            let tune: Vec<(f32, Vec<f32>)> = segments
                .iter()
                .map(|(t, v)| (*t, v.iter().cycle().skip(1).take(8).copied().collect()))
                .collect();
            let path = PathBuf::from(format!("/lib/{prefix}{s}.wav"));
            c.upsert_song(&NewSong {
                path: &path,
                size: 1,
                mtime_ns: 1,
                hash: "h",
                title: "t",
                artist: "a",
                album: "b",
                duration_s: 8.0,
                melody: &melody,
                second_line: None,
                second_voice: None,
                segments: vec![("m@1", &segments), ("m@1#melody", &tune)],
            })
            .unwrap();
        }
    }

    #[test]
    fn builds_targets_fillers_and_derived_songs_and_reuses_a_complete_library() {
        let root = tempfile::tempdir().unwrap();
        let (t, f) = (root.path().join("t"), root.path().join("f"));
        source(&t, "target", 3);
        source(&f, "filler", 4);
        let sources = ScaleSources {
            targets: t,
            fillers: vec![f],
            seed: 1,
        };
        let dir = root.path().join("lib");
        let m = build_library(&dir, 12, &sources, "m@1", 1, &mut |_, _| {}).unwrap();
        assert_eq!(
            (m.songs, m.target_songs, m.filler_songs, m.derived_songs),
            (12, 3, 4, 5)
        );
        let c = Catalog::open(&dir).unwrap();
        assert_eq!(c.song_count().unwrap(), 12);
        assert_eq!(c.songs_with_segments("m@1").unwrap().0, 12);
        // Derived vectors are unit length and repeat none of their parents'.
        let derived: Vec<i64> = c
            .songs()
            .unwrap()
            .iter()
            .filter(|s| s.path.starts_with("derived"))
            .map(|s| s.id)
            .collect();
        assert_eq!(derived.len(), 5);
        for model in ["m@1", "m@1#melody"] {
            for s in c.song_segments(model, &derived).unwrap() {
                let norm: f32 = s.embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-4);
                assert!(s.embedding.iter().all(|&x| x < 0.999), "{:?}", s.embedding);
            }
        }
        // Every song keeps (or, derived, gets) melody segments, as many as its audio ones.
        assert_eq!(
            c.songs_with_segments("m@1#melody").unwrap(),
            c.songs_with_segments("m@1").unwrap()
        );
        let again = build_library(&dir, 12, &sources, "m@1", 1, &mut |_, _| {}).unwrap();
        assert_eq!(again.build_s, 0.0);
        assert_eq!(again.derived_songs, 5);
        // Fewer songs than the targets hold, and a source without this model's segments, are
        // clear errors.
        let err = build_library(
            &root.path().join("y"),
            2,
            &sources,
            "m@1",
            1,
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("more than the 2"), "{err}");
        let err = build_library(
            &root.path().join("x"),
            5,
            &sources,
            "other@2",
            1,
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("other@2"), "{err}");
    }
}
