//! Search history: every finished search (when, what kind of query, the query itself and, if
//! kept, the recording; the results with their scores) lives in the library database, so it
//! can be listed, re-run against today's library, played back, deleted and exported.

use std::io::Write;
use std::path::PathBuf;

use rusqlite::{params, OptionalExtension};

use super::catalog::{Catalog, CatalogError};

/// What a search was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryKind {
    /// Hummed, sung, whistled or played into the microphone.
    Hum,
    /// An audio file.
    File,
    /// Notes typed as text.
    Notes,
    /// Notes played on the on-screen piano or a MIDI keyboard.
    Keys,
}

impl QueryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryKind::Hum => "hum",
            QueryKind::File => "file",
            QueryKind::Notes => "notes",
            QueryKind::Keys => "keys",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Hum, Self::File, Self::Notes, Self::Keys]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One result as it was found (the song may since have left the library).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryResult {
    pub song_id: i64,
    pub title: String,
    pub artist: String,
    pub path: PathBuf,
    pub score: f32,
    pub start_s: f32,
    pub end_s: f32,
}

/// A kept search.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub kind: QueryKind,
    /// The notes (scientific pitch names), the file's path, or the recording's name.
    pub query: String,
    /// Whether the recording itself was kept (see [`Catalog::history_recording`]).
    pub has_recording: bool,
    /// Calibrated probability that the first result was right, when known.
    pub confidence: Option<f32>,
    pub results: Vec<HistoryResult>,
}

/// A search to keep.
pub struct NewHistoryEntry<'a> {
    pub kind: QueryKind,
    pub query: &'a str,
    /// Mono samples at the internal rate; `None` keeps no audio.
    pub recording: Option<&'a [f32]>,
    pub confidence: Option<f32>,
    pub results: &'a [HistoryResult],
}

const HISTORY_COLUMNS: &str = "id, at, kind, query, recording IS NOT NULL, confidence, results";

fn history_row(r: &rusqlite::Row) -> rusqlite::Result<HistoryEntry> {
    let kind: String = r.get(2)?;
    let results: String = r.get(6)?;
    Ok(HistoryEntry {
        id: r.get(0)?,
        at: r.get(1)?,
        kind: QueryKind::parse(&kind).unwrap_or(QueryKind::Hum),
        query: r.get(3)?,
        has_recording: r.get(4)?,
        confidence: r.get(5)?,
        // A row this build cannot read shows without results rather than failing all.
        results: serde_json::from_str(&results).unwrap_or_default(),
    })
}

/// Recordings are kept as 16-bit PCM: a 15 s hum takes 480 kB.
fn encode_pcm16(samples: &[f32]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes())
        .collect()
}

fn decode_pcm16(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32767.0)
        .collect()
}

impl Catalog {
    /// Keeps a finished search; returns its id.
    pub fn add_history(&mut self, entry: &NewHistoryEntry) -> Result<i64, CatalogError> {
        let results = serde_json::to_string(entry.results).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "INSERT INTO history(at, kind, query, recording, confidence, results)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                super::catalog::now(),
                entry.kind.as_str(),
                entry.query,
                entry.recording.map(encode_pcm16),
                entry.confidence,
                results
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Kept searches, newest first (at most `limit`).
    pub fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>, CatalogError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {HISTORY_COLUMNS} FROM history ORDER BY id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map(params![limit.min(i64::MAX as usize) as i64], history_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One kept search.
    pub fn history_entry(&self, id: i64) -> Result<Option<HistoryEntry>, CatalogError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {HISTORY_COLUMNS} FROM history WHERE id = ?1"),
                params![id],
                history_row,
            )
            .optional()?)
    }

    /// The recording kept with a search, as mono samples at the internal rate.
    pub fn history_recording(&self, id: i64) -> Result<Option<Vec<f32>>, CatalogError> {
        let bytes: Option<Option<Vec<u8>>> = self
            .conn
            .query_row(
                "SELECT recording FROM history WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(bytes.flatten().map(|b| decode_pcm16(&b)))
    }

    /// Deletes one kept search; returns whether it existed.
    pub fn delete_history(&mut self, id: i64) -> Result<bool, CatalogError> {
        Ok(self
            .conn
            .execute("DELETE FROM history WHERE id = ?1", params![id])?
            > 0)
    }

    /// Writes the whole history as CSV ([`write_history_csv`]) to `path`, through a
    /// temporary file and a rename, so a failed export never leaves half a file; returns how
    /// many searches it holds.
    pub fn export_history(&self, path: &std::path::Path) -> Result<usize, CatalogError> {
        let all = self.history(usize::MAX)?;
        let tmp = path.with_extension("csv.tmp");
        let io = |source| CatalogError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        write_history_csv(&all, &mut out)
            .and_then(|()| out.flush())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|source| {
                let _ = std::fs::remove_file(&tmp);
                io(source)
            })?;
        Ok(all.len())
    }

    /// Deletes every kept search; returns how many there were.
    pub fn clear_history(&mut self) -> Result<usize, CatalogError> {
        Ok(self.conn.execute("DELETE FROM history", [])?)
    }
}

/// Writes the history as CSV, one row per (search, result); a search without results gets
/// one row with empty result columns.
pub fn write_history_csv(entries: &[HistoryEntry], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "search_id,time_utc,kind,query,kept_recording,confidence,rank,title,artist,path,score,start_s,end_s"
    )?;
    for e in entries {
        let head = format!(
            "{},{},{},{},{},{}",
            e.id,
            utc_time(e.at),
            e.kind.as_str(),
            csv_field(&e.query),
            e.has_recording,
            e.confidence.map_or(String::new(), |c| format!("{c:.3}"))
        );
        if e.results.is_empty() {
            writeln!(out, "{head},,,,,,,")?;
        }
        for (rank, r) in e.results.iter().enumerate() {
            writeln!(
                out,
                "{head},{},{},{},{},{:.4},{:.2},{:.2}",
                rank + 1,
                csv_field(&r.title),
                csv_field(&r.artist),
                csv_field(&r.path.to_string_lossy()),
                r.score,
                r.start_s,
                r.end_s
            )?;
        }
    }
    Ok(())
}

/// Quotes a CSV field when it holds a comma, quote or line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// "2026-11-28 23:40" for Unix seconds (UTC; no time-zone database offline).
pub fn utc_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(title: &str, score: f32) -> HistoryResult {
        HistoryResult {
            song_id: 1,
            title: title.into(),
            artist: "A".into(),
            path: "/m/a.mp3".into(),
            score,
            start_s: 12.0,
            end_s: 20.5,
        }
    }

    #[test]
    fn keeps_lists_newest_first_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(dir.path()).unwrap();
        let hum: Vec<f32> = (0..1600).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
        let first = c
            .add_history(&NewHistoryEntry {
                kind: QueryKind::Hum,
                query: "recording 1",
                recording: Some(&hum),
                confidence: Some(0.93),
                results: &[result("Scarborough, Fair", 0.91), result("B", 0.5)],
            })
            .unwrap();
        let second = c
            .add_history(&NewHistoryEntry {
                kind: QueryKind::Notes,
                query: "E4 D4 C4",
                recording: None,
                confidence: None,
                results: &[],
            })
            .unwrap();
        let listed = c.history(10).unwrap();
        assert_eq!(
            listed.iter().map(|e| e.id).collect::<Vec<_>>(),
            [second, first]
        );
        assert_eq!(listed[1].results[0].title, "Scarborough, Fair");
        assert!(listed[1].has_recording && !listed[0].has_recording);
        let back = c.history_recording(first).unwrap().unwrap();
        assert_eq!(back.len(), hum.len());
        assert!(back.iter().zip(&hum).all(|(a, b)| (a - b).abs() < 1e-4));
        assert_eq!(c.history_recording(second).unwrap(), None);
        assert_eq!(c.history_entry(first).unwrap().as_ref(), listed.get(1));
        assert_eq!(c.history_entry(999).unwrap(), None);
        let csv = dir.path().join("history.csv");
        assert_eq!(c.export_history(&csv).unwrap(), 2);
        let text = std::fs::read_to_string(&csv).unwrap();
        // A header, two result rows of the first search, one empty row for the second.
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(!dir.path().join("history.csv.tmp").exists());
        assert!(c.delete_history(first).unwrap());
        assert!(!c.delete_history(first).unwrap());
        assert_eq!(c.clear_history().unwrap(), 1);
        assert!(c.history(10).unwrap().is_empty());
    }

    #[test]
    fn csv_has_a_row_per_result_and_quotes_commas() {
        let entry = HistoryEntry {
            id: 7,
            at: 1_796_000_000,
            kind: QueryKind::Hum,
            query: "recording 1".into(),
            has_recording: true,
            confidence: Some(0.5),
            results: vec![result("Scarborough, Fair", 0.91), result("Say \"hi\"", 0.5)],
        };
        let mut empty = entry.clone();
        empty.id = 8;
        empty.results.clear();
        let mut out = Vec::new();
        write_history_csv(&[entry, empty], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[1].contains(",1,\"Scarborough, Fair\",A,/m/a.mp3,0.9100,12.00,20.50"));
        assert!(lines[2].contains(",2,\"Say \"\"hi\"\"\","));
        assert_eq!(lines[3].split(',').count(), lines[0].split(',').count());
    }

    #[test]
    fn utc_time_matches_known_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_time(1_795_909_500), "2026-11-28 23:45");
    }
}
