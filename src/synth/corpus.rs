//! The melody corpus exported from music21 by `tools/export_melodies.py`
//! (`assets/melodies/melodies.jsonl.gz`): folk tunes split by melody into train / dev / demo.

use std::io::BufRead;
use std::path::Path;

use super::score::{Note, Score};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Dev,
    Demo,
}

impl Split {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "train" => Some(Self::Train),
            "dev" => Some(Self::Dev),
            "demo" => Some(Self::Demo),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Dev => "dev",
            Self::Demo => "demo",
        }
    }
}

/// A chord symbol from the source: onset in quarter notes, root pitch class, kind (music21 name).
#[derive(Debug, Clone, PartialEq)]
pub struct ChordSymbol {
    pub onset: f32,
    pub root: i32,
    pub kind: String,
}

#[derive(Debug, Clone)]
pub struct CorpusMelody {
    pub id: String,
    pub collection: String,
    pub title: String,
    pub split: Split,
    pub meter: Option<String>,
    pub tempo_bpm: Option<f32>,
    /// The melody as a score: onsets and durations in quarter notes.
    pub score: Score,
    pub chords: Vec<ChordSymbol>,
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot read the melody corpus {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("melody corpus {path}, line {line}: {reason}")]
    Parse {
        path: String,
        line: usize,
        reason: String,
    },
}

#[derive(serde::Deserialize)]
struct Record {
    id: String,
    collection: String,
    #[serde(default)]
    title: String,
    meter: Option<String>,
    key: Option<KeyRecord>,
    tempo_bpm: Option<f32>,
    notes: Vec<(f32, f32, f32)>,
    #[serde(default)]
    chords: Vec<(f32, String, String)>,
    split: String,
}

#[derive(serde::Deserialize)]
struct KeyRecord {
    tonic: String,
    mode: String,
}

/// Pitch class of a note name such as "F#", "B-" (music21 flats) or "Eb".
pub fn pitch_class(name: &str) -> Option<i32> {
    let mut chars = name.chars();
    let base = match chars.next()?.to_ascii_uppercase() {
        'C' => 0,
        'D' => 2,
        'E' => 4,
        'F' => 5,
        'G' => 7,
        'A' => 9,
        'B' => 11,
        _ => return None,
    };
    let accidental: i32 = chars
        .map(|c| match c {
            '#' => 1,
            '-' | 'b' => -1,
            _ => 0,
        })
        .sum();
    Some((base + accidental).rem_euclid(12))
}

/// Reads the corpus (gzip-compressed JSON lines).
pub fn load(path: &Path) -> Result<Vec<CorpusMelody>, CorpusError> {
    let p = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| CorpusError::Read {
        path: p.clone(),
        source,
    })?;
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| CorpusError::Read {
            path: p.clone(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let r: Record = serde_json::from_str(&line).map_err(|e| CorpusError::Parse {
            path: p.clone(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        let split = Split::parse(&r.split).ok_or_else(|| CorpusError::Parse {
            path: p.clone(),
            line: i + 1,
            reason: format!("unknown split {:?}", r.split),
        })?;
        let (tonic_pc, minor) = r
            .key
            .as_ref()
            .and_then(|k| Some((pitch_class(&k.tonic)?, k.mode == "minor")))
            .unwrap_or_else(|| {
                (
                    r.notes.last().map_or(0, |n| (n.2 as i32).rem_euclid(12)),
                    false,
                )
            });
        // Tonic as a MIDI pitch near the melody's range.
        let mean = r.notes.iter().map(|n| n.2).sum::<f32>() / r.notes.len().max(1) as f32;
        let tonic = mean - ((mean as i32 - tonic_pc).rem_euclid(12)) as f32;
        let beats_per_bar = r
            .meter
            .as_deref()
            .and_then(|m| m.split_once('/'))
            .and_then(|(n, d)| Some(n.parse::<f32>().ok()? * 4.0 / d.parse::<f32>().ok()?))
            .filter(|b| (1.0..=12.0).contains(b))
            .unwrap_or(4.0);
        let notes = r
            .notes
            .iter()
            .map(|&(onset, duration, midi)| Note {
                onset,
                duration,
                midi,
            })
            .collect();
        let chords = r
            .chords
            .iter()
            .filter_map(|(onset, root, kind)| {
                Some(ChordSymbol {
                    onset: *onset,
                    root: pitch_class(root)?,
                    kind: kind.clone(),
                })
            })
            .collect();
        out.push(CorpusMelody {
            id: r.id,
            collection: r.collection,
            title: r.title,
            split,
            meter: r.meter,
            tempo_bpm: r.tempo_bpm,
            score: Score {
                notes,
                beats_per_bar: beats_per_bar.round().max(1.0) as u32,
                tonic,
                minor,
            },
            chords,
        });
    }
    Ok(out)
}

/// The corpus shipped in the repository.
pub fn default_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/melodies/melodies.jsonl.gz")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pitch_class_names() {
        assert_eq!(pitch_class("C"), Some(0));
        assert_eq!(pitch_class("F#"), Some(6));
        assert_eq!(pitch_class("B-"), Some(10));
        assert_eq!(pitch_class("Eb"), Some(3));
        assert_eq!(pitch_class("x"), None);
    }
}
