//! `earworm eval`: hit rates, MRR and latency over a manifest of (query, target) pairs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::engine::Engine;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read manifest {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("manifest {path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("oracle queries need {what} (a set from `earworm synth devset`)")]
    Oracle { what: String },
}

/// What is searched for each manifest row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuerySource {
    /// The row's recording.
    Recording,
    /// A pure sine rendition of the true melody segment (right key, right tempo, no errors):
    /// what the song side can find at best.
    OracleSine,
    /// The same notes hummed by the plain synthetic voice (no errors, no room, no noise).
    OracleHum,
}

impl QuerySource {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "recording" => Some(Self::Recording),
            "sine" => Some(Self::OracleSine),
            "hum" => Some(Self::OracleHum),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ManifestRow {
    pub query: PathBuf,
    pub target: PathBuf,
    pub difficulty: Option<String>,
    /// The target song's texture (stress sets), a second grouping of the report.
    pub texture: Option<String>,
    /// The matched span of the target (song seconds), where the manifest has it.
    pub span_s: Option<(f32, f32)>,
}

/// Reads `query_file,target_file[,...]` rows (with a header naming the columns); paths are
/// relative to the manifest's folder. A `difficulty` column, if present, groups the report.
pub fn read_manifest(path: &Path) -> Result<Vec<ManifestRow>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.into(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| EvalError::Format {
            path: path.into(),
            reason: "empty file".into(),
        })?
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(q), Some(t)) = (col("query_file"), col("target_file")) else {
        return Err(EvalError::Format {
            path: path.into(),
            reason: "header must name query_file and target_file".into(),
        });
    };
    let d = col("difficulty");
    let tex = col("texture");
    let (start, end) = (col("start_s"), col("end_s"));
    lines
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let get = |c: usize| {
                fields
                    .get(c)
                    .filter(|f| !f.is_empty())
                    .ok_or_else(|| EvalError::Format {
                        path: path.into(),
                        reason: format!("line {}: missing column {}", i + 2, header[c]),
                    })
            };
            let number = |c: Option<usize>| {
                c.and_then(|c| fields.get(c))
                    .and_then(|f| f.parse::<f32>().ok())
            };
            Ok(ManifestRow {
                query: base.join(get(q)?),
                target: base.join(get(t)?),
                difficulty: d.and_then(|c| fields.get(c)).map(|s| s.to_string()),
                texture: tex.and_then(|c| fields.get(c)).map(|s| s.to_string()),
                span_s: number(start).zip(number(end)),
            })
        })
        .collect()
}

/// Figures for one group of queries.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Metrics {
    pub queries: usize,
    pub top1: f64,
    pub top5: f64,
    pub top10: f64,
    /// Mean reciprocal rank over the top 10 (0 when the target is not among them).
    pub mrr: f64,
    pub median_ms: f64,
    pub p95_ms: f64,
    /// Queries that failed outright (unreadable audio, no melody found); they count as misses.
    pub failed: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct QueryOutcome {
    pub query: PathBuf,
    pub difficulty: Option<String>,
    pub texture: Option<String>,
    /// Scores of the returned songs, best first (for calibration).
    pub scores: Vec<f32>,
    /// 1-based rank of the target, if it was in the top 10.
    pub rank: Option<usize>,
    /// The song ranked first (to see what a miss was taken for).
    pub top_song: Option<PathBuf>,
    /// For each returned song, best first, whether its match followed the song's second voice
    /// rather than its melody.
    pub second_voice: Vec<bool>,
    pub elapsed_ms: f64,
    /// The learned search's stages (zeros for the baseline or a failed query).
    pub times: crate::search::learned::StageTimes,
    pub error: Option<String>,
    /// Whether the target is in the library (a hum of a song the user does not have, where
    /// the right answer is "no confident match").
    pub in_library: bool,
    /// The calibrated confidence in the first answer, and whether it was shown as confident
    /// (none without a calibration).
    pub confidence: Option<f32>,
    pub confident: Option<bool>,
}

/// What the calibrated confidence did over a run: of the hums of songs in the library, how
/// many answers were shown as confident and how many of those were right, and how many right
/// answers were hidden behind "no confident match"; of the hums of songs not in the library,
/// how many were still shown as a confident (so wrong) answer.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ConfidenceSummary {
    pub known: usize,
    pub known_confident: usize,
    pub known_confident_right: usize,
    pub known_right_hidden: usize,
    pub unknown: usize,
    pub unknown_confident: usize,
}

/// [`ConfidenceSummary`] of the outcomes that carry a confidence (none when none does).
pub fn summarise_confidence(outcomes: &[QueryOutcome]) -> Option<ConfidenceSummary> {
    let mut s = ConfidenceSummary::default();
    for o in outcomes {
        let Some(confident) = o.confident else {
            continue;
        };
        let right = o.rank == Some(1);
        if o.in_library {
            s.known += 1;
            s.known_confident += usize::from(confident);
            s.known_confident_right += usize::from(confident && right);
            s.known_right_hidden += usize::from(!confident && right);
        } else {
            s.unknown += 1;
            s.unknown_confident += usize::from(confident);
        }
    }
    (s.known + s.unknown > 0).then_some(s)
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    pub overall: Metrics,
    pub by_difficulty: BTreeMap<String, Metrics>,
    pub by_texture: BTreeMap<String, Metrics>,
    pub outcomes: Vec<QueryOutcome>,
    /// The calibrated confidence's record (when the model ships a calibration).
    pub confidence: Option<ConfidenceSummary>,
    /// Targets named in the manifest that are not in the library.
    pub missing_targets: Vec<PathBuf>,
}

pub fn summarise(outcomes: &[&QueryOutcome]) -> Metrics {
    let n = outcomes.len();
    if n == 0 {
        return Metrics::default();
    }
    let hit = |k: usize| {
        outcomes
            .iter()
            .filter(|o| o.rank.is_some_and(|r| r <= k))
            .count() as f64
            / n as f64
    };
    let mrr = outcomes
        .iter()
        .map(|o| o.rank.map_or(0.0, |r| 1.0 / r as f64))
        .sum::<f64>()
        / n as f64;
    let mut times: Vec<f64> = outcomes.iter().map(|o| o.elapsed_ms).collect();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((p * (n - 1) as f64).round() as usize).min(n - 1)];
    Metrics {
        queries: n,
        top1: hit(1),
        top5: hit(5),
        top10: hit(10),
        mrr,
        median_ms: pct(0.5),
        p95_ms: pct(0.95),
        failed: outcomes.iter().filter(|o| o.error.is_some()).count(),
    }
}

/// Each song's melody notes (start s, end s, MIDI), by canonical path.
pub type MelodyNotes = BTreeMap<PathBuf, Vec<(f32, f32, f32)>>;

/// The melody notes of every song of a synthesized set, from the `melody_notes.jsonl` beside
/// its manifest.
pub fn read_melody_notes(manifest: &Path) -> Result<MelodyNotes, EvalError> {
    let base = manifest.parent().unwrap_or(Path::new("."));
    let path = base.join("melody_notes.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|source| EvalError::Read {
        path: path.clone(),
        source,
    })?;
    #[derive(serde::Deserialize)]
    struct Row {
        file: String,
        notes: Vec<[f32; 3]>,
    }
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let row: Row = serde_json::from_str(line).map_err(|e| EvalError::Format {
            path: path.clone(),
            reason: format!("line {}: {e}", i + 1),
        })?;
        let file = base.join(&row.file);
        let key = std::fs::canonicalize(&file).unwrap_or(file);
        out.insert(key, row.notes.iter().map(|n| (n[0], n[1], n[2])).collect());
    }
    Ok(out)
}

/// The melody's MIDI pitch at each contour frame ([`crate::melody::CONTOUR_FPS`]) of a song
/// `seconds` long, NaN where it rests: the ground truth of frame-level checks.
pub fn melody_frame_labels(notes: &[(f32, f32, f32)], seconds: f32) -> Vec<f32> {
    let fps = crate::melody::CONTOUR_FPS;
    let n = (seconds * fps).ceil() as usize;
    let mut out = vec![f32::NAN; n];
    for &(s, e, m) in notes {
        let (a, b) = (
            (s * fps).round() as usize,
            ((e * fps).round() as usize).min(n),
        );
        for l in out.iter_mut().take(b).skip(a) {
            *l = m;
        }
    }
    out
}

/// The first `per_texture` song files (relative to `dir`) of each texture of a set made by
/// `earworm synth devset`, from its songs.csv (a set without a texture column is all
/// "standard").
pub fn songs_by_texture(
    dir: &Path,
    per_texture: usize,
) -> Result<BTreeMap<String, Vec<String>>, EvalError> {
    let path = dir.join("songs.csv");
    let csv = std::fs::read_to_string(&path).map_err(|source| EvalError::Read {
        path: path.clone(),
        source,
    })?;
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (file_col, texture_col) = (col("file").unwrap_or(0), col("texture"));
    let mut picked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let Some(file) = f.get(file_col) else {
            continue;
        };
        let texture = texture_col
            .and_then(|c| f.get(c))
            .map_or("standard".to_string(), |s| s.to_string());
        let list = picked.entry(texture).or_default();
        if list.len() < per_texture {
            list.push(file.to_string());
        }
    }
    Ok(picked)
}

/// The oracle query for a span of a song: its melody notes inside `span` (song seconds),
/// rendered at [`crate::audio::SAMPLE_RATE`] as a sine or by the plain synthetic hummer.
pub fn oracle_query(notes: &[(f32, f32, f32)], span: (f32, f32), source: QuerySource) -> Vec<f32> {
    use crate::synth::hum::{render_voice, HumStyle, VoiceParams};
    let rate = crate::audio::SAMPLE_RATE;
    let (from, to) = span;
    let perf: Vec<(f32, f32, f32)> = notes
        .iter()
        .filter(|n| n.0 >= from - 0.05 && n.0 < to)
        .map(|&(s, e, m)| (s - from + 0.3, (e.min(to) - s).max(0.05), m))
        .collect();
    let total_s = perf.last().map_or(1.0, |n| n.0 + n.1 + 0.5);
    match source {
        QuerySource::OracleHum => {
            let params = VoiceParams {
                style: HumStyle::Hum,
                formant_scale: 1.0,
                vibrato_cents: 15.0,
            };
            let mut rng = crate::synth::rng::Rng::new(1);
            let mut out = render_voice(&perf, &params, total_s, rate, &mut rng);
            let peak = out.iter().fold(1e-6f32, |a, &b| a.max(b.abs()));
            out.iter_mut().for_each(|s| *s *= 0.5 / peak);
            out
        }
        _ => crate::notes::render_sine(&perf),
    }
}

/// Runs every query of the manifest against the engine's library.
pub fn evaluate(
    engine: &mut Engine,
    method: crate::engine::Method,
    rows: &[ManifestRow],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport, crate::engine::EngineError> {
    evaluate_with(
        engine,
        method,
        rows,
        QuerySource::Recording,
        &BTreeMap::new(),
        progress,
    )
}

/// Runs every row with the query `source` says; oracle sources need `notes` (see
/// [`read_melody_notes`]) and each row's span, and a row without them fails.
pub fn evaluate_with(
    engine: &mut Engine,
    method: crate::engine::Method,
    rows: &[ManifestRow],
    source: QuerySource,
    notes: &MelodyNotes,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport, crate::engine::EngineError> {
    let songs = engine.catalog().songs()?;
    let by_path: BTreeMap<PathBuf, i64> = songs.iter().map(|s| (s.path.clone(), s.id)).collect();
    engine.warm_up_for(method)?;
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut missing_targets = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let canonical = std::fs::canonicalize(&row.target).ok();
        let target = canonical.as_ref().and_then(|p| by_path.get(p).copied());
        if target.is_none() {
            missing_targets.push(row.target.clone());
        }
        let started = Instant::now();
        let result = match source {
            QuerySource::Recording => engine.query_file_with(&row.query, 10, method),
            _ => match (canonical.as_ref().and_then(|p| notes.get(p)), row.span_s) {
                (Some(song_notes), Some(span)) => {
                    engine.query_samples_with(&oracle_query(song_notes, span, source), 10, method)
                }
                _ => Err(crate::engine::EngineError::Internal {
                    during: "making the oracle query".into(),
                    message: "no melody notes or span for this row's target".into(),
                }),
            },
        };
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let confidence = result.as_ref().ok().and_then(|r| r.confidence);
        let (rank, error, scores, times, top_song, second_voice) = match result {
            Ok(r) => (
                r.matches
                    .iter()
                    .position(|m| Some(m.song.id) == target)
                    .map(|p| p + 1),
                None,
                r.matches.iter().map(|m| m.found.score).collect(),
                r.times,
                r.matches.first().map(|m| m.song.path.clone()),
                r.matches
                    .iter()
                    .map(|m| m.found.line == crate::search::MatchedLine::SecondVoice)
                    .collect(),
            ),
            Err(e) => (
                None,
                Some(e.to_string()),
                Vec::new(),
                Default::default(),
                None,
                Vec::new(),
            ),
        };
        outcomes.push(QueryOutcome {
            query: row.query.clone(),
            difficulty: row.difficulty.clone(),
            texture: row.texture.clone(),
            scores,
            rank,
            top_song,
            second_voice,
            elapsed_ms,
            times,
            error,
            in_library: target.is_some(),
            confidence: confidence.map(|c| c.probability),
            confident: confidence.map(|c| c.confident),
        });
        progress(i + 1, rows.len());
    }
    let overall = summarise(&outcomes.iter().collect::<Vec<_>>());
    let group_by = |key: &dyn Fn(&QueryOutcome) -> Option<&String>| {
        let mut groups: BTreeMap<String, Vec<&QueryOutcome>> = BTreeMap::new();
        for o in &outcomes {
            if let Some(k) = key(o) {
                groups.entry(k.clone()).or_default().push(o);
            }
        }
        groups
            .into_iter()
            .map(|(k, v)| (k, summarise(&v)))
            .collect::<BTreeMap<_, _>>()
    };
    let by_difficulty = group_by(&|o| o.difficulty.as_ref());
    let by_texture = group_by(&|o| o.texture.as_ref());
    Ok(EvalReport {
        confidence: summarise_confidence(&outcomes),
        overall,
        by_difficulty,
        by_texture,
        outcomes,
        missing_targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_labels_follow_the_notes_and_rest_between_them() {
        // 25 fps: a note 0.0-0.2 s (frames 0-4), a rest, a note 0.4-0.6 s (frames 10-14).
        let labels = melody_frame_labels(&[(0.0, 0.2, 60.0), (0.4, 0.6, 62.0)], 1.0);
        assert_eq!(labels.len(), 25);
        assert!(labels[..5].iter().all(|&m| m == 60.0));
        assert!(labels[5..10].iter().all(|m| m.is_nan()));
        assert!(labels[10..15].iter().all(|&m| m == 62.0));
        assert!(labels[15..].iter().all(|m| m.is_nan()));
    }

    #[test]
    fn songs_are_picked_per_texture_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("songs.csv"),
            "file,melody_id,texture\na.wav,x,homophonic\nb.wav,y,passed\nc.wav,z,homophonic\nd.wav,w,homophonic\n",
        )
        .unwrap();
        let picked = songs_by_texture(dir.path(), 2).unwrap();
        assert_eq!(picked["homophonic"], ["a.wav", "c.wav"]);
        assert_eq!(picked["passed"], ["b.wav"]);
        assert!(songs_by_texture(&dir.path().join("missing"), 2).is_err());
    }

    fn outcome(rank: Option<usize>, ms: f64) -> QueryOutcome {
        QueryOutcome {
            query: "q".into(),
            difficulty: None,
            texture: None,
            scores: Vec::new(),
            rank,
            top_song: None,
            second_voice: Vec::new(),
            elapsed_ms: ms,
            times: Default::default(),
            error: None,
            in_library: true,
            confidence: None,
            confident: None,
        }
    }

    #[test]
    fn the_confidence_record_splits_songs_in_and_out_of_the_library() {
        let with = |rank: Option<usize>, in_library: bool, confident: Option<bool>| QueryOutcome {
            in_library,
            confident,
            confidence: confident.map(|c| if c { 0.9 } else { 0.1 }),
            ..outcome(rank, 1.0)
        };
        assert_eq!(summarise_confidence(&[with(Some(1), true, None)]), None);
        let s = summarise_confidence(&[
            with(Some(1), true, Some(true)),
            with(Some(2), true, Some(true)),
            with(Some(1), true, Some(false)),
            with(None, true, Some(false)),
            with(None, false, Some(true)),
            with(None, false, Some(false)),
            with(None, false, Some(false)),
        ])
        .unwrap();
        assert_eq!(
            s,
            ConfidenceSummary {
                known: 4,
                known_confident: 2,
                known_confident_right: 1,
                known_right_hidden: 1,
                unknown: 3,
                unknown_confident: 1,
            }
        );
    }

    #[test]
    fn metrics_from_known_ranks() {
        let o = [
            outcome(Some(1), 10.0),
            outcome(Some(2), 20.0),
            outcome(Some(7), 30.0),
            outcome(None, 40.0),
        ];
        let m = summarise(&o.iter().collect::<Vec<_>>());
        assert_eq!(m.top1, 0.25);
        assert_eq!(m.top5, 0.5);
        assert_eq!(m.top10, 0.75);
        assert!((m.mrr - (1.0 + 0.5 + 1.0 / 7.0) / 4.0).abs() < 1e-9);
        assert_eq!(m.median_ms, 30.0);
        assert_eq!(m.p95_ms, 40.0);
    }

    #[test]
    fn manifest_paths_are_relative_to_it_and_columns_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        std::fs::write(
            &path,
            "difficulty,target_file,query_file\nhard,songs/a.wav,hums/a.wav\n",
        )
        .unwrap();
        let rows = read_manifest(&path).unwrap();
        assert_eq!(rows[0].query, dir.path().join("hums/a.wav"));
        assert_eq!(rows[0].target, dir.path().join("songs/a.wav"));
        assert_eq!(rows[0].difficulty.as_deref(), Some("hard"));
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        assert!(read_manifest(&path)
            .unwrap_err()
            .to_string()
            .contains("query_file"));
    }
}
