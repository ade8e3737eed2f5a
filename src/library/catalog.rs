//! SQLite catalog (WAL): the source of truth for songs, their melodies and failed files.
//! Every change to one song is a single transaction, so a killed run leaves it consistent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::melody::Contour;

/// Bump when the schema changes; older catalogs are migrated in [`Catalog::open`].
pub const SCHEMA_VERSION: i64 = 8;

/// What a library's hub statistics were measured on ([`Catalog::hub_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubState {
    /// [`Catalog::library_generation`] then.
    pub generation: i64,
    /// Songs in the search index then, the largest song id then, and probes run.
    pub songs: usize,
    pub newest_song: i64,
    pub probes: usize,
}
/// Bump when melody extraction changes: stored contours of an older version are recomputed.
pub const MELODY_VERSION: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot create the database folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the catalog {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the catalog {path} was made by a newer Earworm (schema {found}, this build reads up to {supported}); upgrade Earworm or use another --db")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("catalog error: {0}")]
    Sql(#[from] rusqlite::Error),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SongRecord {
    pub id: i64,
    pub path: PathBuf,
    pub title: String,
    pub artist: String,
    pub album: String,
    pub duration_s: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRecord {
    pub path: PathBuf,
    pub reason: String,
}

/// Stat of a file as last indexed (for skipping unchanged files).
#[derive(Debug, Clone, PartialEq)]
pub struct FileState {
    pub size: i64,
    pub mtime_ns: i64,
    pub hash: Option<String>,
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FolderSummary {
    pub path: PathBuf,
    pub songs: i64,
    pub errors: i64,
}

/// A new or changed song to store.
pub struct NewSong<'a> {
    pub path: &'a Path,
    pub size: i64,
    pub mtime_ns: i64,
    pub hash: &'a str,
    pub title: &'a str,
    pub artist: &'a str,
    pub album: &'a str,
    pub duration_s: f64,
    pub melody: &'a Contour,
    /// A second pitch line beside the melody (the tracker's next most likely pitch; see
    /// [`crate::model::tracker::alternative_contour`]), when the melody came from the tracker.
    pub second_line: Option<&'a Contour>,
    /// The second-highest part of a one-timbre ensemble (the second-voice tracker's line: the
    /// tune under a descant), when a second-voice tracker analysed the song.
    pub second_voice: Option<&'a Contour>,
    /// Segment embeddings (start s, vector), one set per model id (none without a model):
    /// the song's audio, and its melody alone ([`crate::model::Embedder::melody_model_id`]).
    pub segments: Vec<(&'a str, &'a [(f32, Vec<f32>)])>,
}

/// A song's melody with its second pitch line and its second voice, where it has them.
#[derive(Debug, Clone)]
pub struct MelodyLines {
    pub song_id: i64,
    pub melody: Contour,
    pub second_line: Option<Contour>,
    pub second_voice: Option<Contour>,
}

pub struct Catalog {
    pub(super) conn: Connection,
    path: PathBuf,
    /// The embedding model songs must have segments for to count as current (None: melody only).
    embedding_model: Option<String>,
    /// Version of the song melodies that count as current: [`MELODY_VERSION`] for the
    /// harmonic-summation extractor, the learned tracker's own version when it is used.
    melody_version: i64,
}

/// One stored segment embedding.
#[derive(Debug, Clone)]
pub struct Segment {
    pub id: i64,
    pub song_id: i64,
    pub start_s: f32,
    pub embedding: Vec<f32>,
}

/// Little-endian f32s from a blob (a trailing partial value is ignored).
fn floats_from_le(blob: &[u8]) -> Vec<f32> {
    blob.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The statement [`insert_segments`] runs.
const INSERT_SEGMENT: &str =
    "INSERT INTO segments(song_id, model, start_s, embedding) VALUES(?1, ?2, ?3, ?4)";

/// Stores `segments` (start s, vector) of `song` under `model` through a prepared
/// [`INSERT_SEGMENT`], each vector as little-endian f32s (read back by [`floats_from_le`]).
fn insert_segments(
    insert: &mut rusqlite::Statement,
    song: i64,
    model: &str,
    segments: &[(f32, Vec<f32>)],
) -> rusqlite::Result<()> {
    for (start, v) in segments {
        let blob: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        insert.execute(params![song, model, *start as f64, blob])?;
    }
    Ok(())
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Catalog {
    /// File name of the catalog inside a database folder.
    pub const FILE_NAME: &'static str = "catalog.sqlite";

    /// Opens (creating if needed) the catalog in the database folder `dir`.
    pub fn open(dir: &Path) -> Result<Self, CatalogError> {
        std::fs::create_dir_all(dir).map_err(|source| CatalogError::CreateDir {
            path: dir.into(),
            source,
        })?;
        let path = dir.join(Self::FILE_NAME);
        let conn = Connection::open(&path).map_err(|source| CatalogError::Open {
            path: path.clone(),
            source,
        })?;
        let open_err = |source| CatalogError::Open {
            path: path.clone(),
            source,
        };
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        let catalog = Self {
            conn,
            path,
            embedding_model: None,
            melody_version: MELODY_VERSION,
        };
        catalog.migrate()?;
        Ok(catalog)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&self) -> Result<(), CatalogError> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(CatalogError::TooNew {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < 1 {
            self.conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS songs(
                    id INTEGER PRIMARY KEY,
                    path TEXT NOT NULL UNIQUE,
                    size INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL,
                    hash TEXT NOT NULL,
                    title TEXT NOT NULL,
                    artist TEXT NOT NULL,
                    album TEXT NOT NULL,
                    duration_s REAL NOT NULL,
                    indexed_at INTEGER NOT NULL);
                 CREATE INDEX IF NOT EXISTS songs_hash ON songs(hash);
                 CREATE TABLE IF NOT EXISTS melodies(
                    song_id INTEGER PRIMARY KEY REFERENCES songs(id) ON DELETE CASCADE,
                    version INTEGER NOT NULL,
                    fps REAL NOT NULL,
                    contour BLOB NOT NULL);
                 CREATE TABLE IF NOT EXISTS errors(
                    path TEXT PRIMARY KEY,
                    size INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    at INTEGER NOT NULL);
                 CREATE TABLE IF NOT EXISTS folders(
                    path TEXT PRIMARY KEY,
                    added_at INTEGER NOT NULL);
                 PRAGMA user_version = 1;
                 COMMIT;",
            )?;
        }
        if version < 2 {
            // Version 2: learned segment embeddings (rebuildable: a song without them for the
            // current model is re-analysed by the next index run).
            self.conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS segments(
                    id INTEGER PRIMARY KEY,
                    song_id INTEGER NOT NULL REFERENCES songs(id) ON DELETE CASCADE,
                    model TEXT NOT NULL,
                    start_s REAL NOT NULL,
                    embedding BLOB NOT NULL);
                 CREATE INDEX IF NOT EXISTS segments_song ON segments(song_id);
                 PRAGMA user_version = 2;
                 COMMIT;",
            )?;
        }
        if version < 3 {
            // Version 3: the search history (library::history).
            self.conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS history(
                    id INTEGER PRIMARY KEY,
                    at INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    query TEXT NOT NULL,
                    recording BLOB,
                    confidence REAL,
                    results TEXT NOT NULL);
                 PRAGMA user_version = 3;
                 COMMIT;",
            )?;
        }
        if version < 4 {
            // Version 4: a covering index for the ANN index's per-song summary (song id,
            // segment count, newest segment id), so opening a large library reads a small
            // index instead of every embedding.
            self.conn.execute_batch(
                "BEGIN;
                 CREATE INDEX IF NOT EXISTS segments_model_song ON segments(model, song_id, id);
                 PRAGMA user_version = 4;
                 COMMIT;",
            )?;
        }
        if version < 5 {
            // Version 5: a second pitch line beside each melody (NULL for songs analysed
            // before it, which are searched on their melody alone).
            self.conn.execute_batch(
                "BEGIN;
                 ALTER TABLE melodies ADD COLUMN second_line BLOB;
                 PRAGMA user_version = 5;
                 COMMIT;",
            )?;
        }
        if version < 6 {
            // Version 6: each melody's second voice (NULL for songs analysed without a
            // second-voice tracker, which are searched on their melody lines alone).
            self.conn.execute_batch(
                "BEGIN;
                 ALTER TABLE melodies ADD COLUMN second_voice BLOB;
                 PRAGMA user_version = 6;
                 COMMIT;",
            )?;
        }
        if version < 8 {
            // Version 8 (7 was a development layout, dropped here if present): each song's hub
            // statistic per model and melody tracker (search::hub) and what it was measured on.
            // The library's generation counts every write of segments (row ids alone can
            // repeat: a re-analysed newest song gets its old segment ids back).
            self.conn.execute_batch(
                "BEGIN;
                 DROP TRIGGER IF EXISTS hub_stale_on_insert;
                 DROP TRIGGER IF EXISTS hub_stale_on_delete;
                 DROP TRIGGER IF EXISTS generation_on_insert;
                 DROP TRIGGER IF EXISTS generation_on_delete;
                 DROP TABLE IF EXISTS hub_state;
                 DROP TABLE IF EXISTS hub_scores;
                 DROP TABLE IF EXISTS library_state;
                 CREATE TABLE hub_scores(
                    song_id INTEGER NOT NULL REFERENCES songs(id) ON DELETE CASCADE,
                    model TEXT NOT NULL,
                    score REAL NOT NULL,
                    PRIMARY KEY(model, song_id));
                 CREATE INDEX hub_scores_song ON hub_scores(song_id);
                 CREATE TABLE hub_state(
                    model TEXT PRIMARY KEY,
                    generation INTEGER NOT NULL,
                    songs INTEGER NOT NULL,
                    newest_song INTEGER NOT NULL,
                    probes INTEGER NOT NULL,
                    built_at INTEGER NOT NULL);
                 CREATE TABLE library_state(generation INTEGER NOT NULL);
                 INSERT INTO library_state(generation) VALUES (0);
                 CREATE TRIGGER generation_on_insert AFTER INSERT ON segments
                    BEGIN UPDATE library_state SET generation = generation + 1; END;
                 CREATE TRIGGER generation_on_delete AFTER DELETE ON segments
                    BEGIN UPDATE library_state SET generation = generation + 1; END;
                 PRAGMA user_version = 8;
                 COMMIT;",
            )?;
        }
        Ok(())
    }

    /// Grows with every write or removal of segments: a song added, re-analysed or removed
    /// changes it, so it tells whether hub statistics may be stale.
    pub fn library_generation(&self) -> Result<i64, CatalogError> {
        Ok(self
            .conn
            .query_row("SELECT generation FROM library_state", [], |r| r.get(0))?)
    }

    /// The largest song id (0 for an empty library): songs added later have larger ones.
    pub fn newest_song_id(&self) -> Result<i64, CatalogError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM songs", [], |r| r.get(0))?)
    }

    /// Songs with an id above `id` (added since it was the newest).
    pub fn songs_after(&self, id: i64) -> Result<usize, CatalogError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM songs WHERE id > ?1", [id], |r| {
                r.get::<_, i64>(0)
            })? as usize)
    }

    /// What the hub statistics of `model` were measured on, if they were.
    pub fn hub_state(&self, model: &str) -> Result<Option<HubState>, CatalogError> {
        Ok(self
            .conn
            .query_row(
                "SELECT generation, songs, newest_song, probes FROM hub_state WHERE model = ?1",
                [model],
                |r| {
                    Ok(HubState {
                        generation: r.get(0)?,
                        songs: r.get::<_, i64>(1)? as usize,
                        newest_song: r.get(2)?,
                        probes: r.get::<_, i64>(3)? as usize,
                    })
                },
            )
            .optional()?)
    }

    /// Replaces the hub statistics of `model` (songs since removed are skipped), recording
    /// what they were measured on: one transaction.
    pub fn put_hub_scores(
        &mut self,
        model: &str,
        state: &HubState,
        scores: &[(i64, f32)],
    ) -> Result<(), CatalogError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM hub_scores WHERE model = ?1", [model])?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO hub_scores(song_id, model, score)
                 SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM songs WHERE id = ?1)",
            )?;
            for (song, score) in scores {
                insert.execute(params![song, model, score])?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO hub_state(model, generation, songs, newest_song, probes,
                                                built_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                model,
                state.generation,
                state.songs as i64,
                state.newest_song,
                state.probes as i64,
                now()
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Each song's hub statistic for `model` (empty when none were measured).
    pub fn hub_scores(&self, model: &str) -> Result<HashMap<i64, f32>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare("SELECT song_id, score FROM hub_scores WHERE model = ?1")?;
        let rows = stmt.query_map([model], |r| Ok((r.get(0)?, r.get::<_, f64>(1)? as f32)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// What the catalog knows of a file: as a song (with whether its melody is current) or as an error.
    pub fn file_state(&self, path: &Path) -> Result<Option<FileState>, CatalogError> {
        let p = path_str(path);
        let song = self
            .conn
            .query_row(
                "SELECT s.size, s.mtime_ns, s.hash, COALESCE(m.version, 0),
                    (?2 IS NULL OR EXISTS(SELECT 1 FROM segments g WHERE g.song_id = s.id AND g.model = ?2))
                 FROM songs s LEFT JOIN melodies m ON m.song_id = s.id WHERE s.path = ?1",
                params![&p, self.embedding_model],
                |r| {
                    Ok(FileState {
                        size: r.get(0)?,
                        mtime_ns: r.get(1)?,
                        hash: Some(r.get(2)?),
                        current: r.get::<_, i64>(3)? == self.melody_version
                            && r.get::<_, bool>(4)?,
                    })
                },
            )
            .optional()?;
        if song.is_some() {
            return Ok(song);
        }
        Ok(self
            .conn
            .query_row(
                "SELECT size, mtime_ns FROM errors WHERE path = ?1",
                [&p],
                |r| {
                    Ok(FileState {
                        size: r.get(0)?,
                        mtime_ns: r.get(1)?,
                        hash: None,
                        current: true,
                    })
                },
            )
            .optional()?)
    }

    /// Records that a song file was touched but its content is unchanged.
    pub fn touch_song(&self, path: &Path, size: i64, mtime_ns: i64) -> Result<(), CatalogError> {
        self.conn.execute(
            "UPDATE songs SET size = ?2, mtime_ns = ?3 WHERE path = ?1",
            params![path_str(path), size, mtime_ns],
        )?;
        Ok(())
    }

    /// Inserts or replaces a song and its melody, clearing any error for the path: one transaction.
    pub fn upsert_song(&mut self, song: &NewSong) -> Result<i64, CatalogError> {
        let tx = self.conn.transaction()?;
        let p = path_str(song.path);
        tx.execute(
            "INSERT INTO songs(path, size, mtime_ns, hash, title, artist, album, duration_s, indexed_at)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
                hash = excluded.hash, title = excluded.title, artist = excluded.artist,
                album = excluded.album, duration_s = excluded.duration_s, indexed_at = excluded.indexed_at",
            params![p, song.size, song.mtime_ns, song.hash, song.title, song.artist, song.album, song.duration_s, now()],
        )?;
        let id: i64 = tx.query_row("SELECT id FROM songs WHERE path = ?1", [&p], |r| r.get(0))?;
        tx.execute(
            "INSERT OR REPLACE INTO melodies(song_id, version, fps, contour, second_line, second_voice) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                self.melody_version,
                song.melody.fps,
                song.melody.to_bytes(),
                song.second_line.map(Contour::to_bytes),
                song.second_voice.map(Contour::to_bytes)
            ],
        )?;
        tx.execute("DELETE FROM segments WHERE song_id = ?1", [id])?;
        {
            let mut insert = tx.prepare(INSERT_SEGMENT)?;
            for &(model, segments) in &song.segments {
                insert_segments(&mut insert, id, model, segments)?;
            }
        }
        tx.execute("DELETE FROM errors WHERE path = ?1", [&p])?;
        tx.commit()?;
        Ok(id)
    }

    /// Records a file that failed, replacing any song entry for it: one transaction.
    pub fn record_error(
        &mut self,
        path: &Path,
        size: i64,
        mtime_ns: i64,
        reason: &str,
    ) -> Result<(), CatalogError> {
        let tx = self.conn.transaction()?;
        let p = path_str(path);
        tx.execute("DELETE FROM songs WHERE path = ?1", [&p])?;
        tx.execute(
            "INSERT OR REPLACE INTO errors(path, size, mtime_ns, reason, at) VALUES(?1, ?2, ?3, ?4, ?5)",
            params![p, size, mtime_ns, reason, now()],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn add_folder(&self, path: &Path) -> Result<(), CatalogError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO folders(path, added_at) VALUES(?1, ?2)",
            params![path_str(path), now()],
        )?;
        Ok(())
    }

    /// Forgets a folder and every song and error under it.
    pub fn remove_folder(&mut self, path: &Path) -> Result<usize, CatalogError> {
        let tx = self.conn.transaction()?;
        let p = path_str(path);
        let prefix = format!("{}{}%", p.trim_end_matches('/'), std::path::MAIN_SEPARATOR);
        let n = tx.execute(
            "DELETE FROM songs WHERE path LIKE ?1 ESCAPE '\\'",
            [escape_like(&prefix)],
        )?;
        tx.execute(
            "DELETE FROM errors WHERE path LIKE ?1 ESCAPE '\\'",
            [escape_like(&prefix)],
        )?;
        tx.execute("DELETE FROM folders WHERE path = ?1", [&p])?;
        tx.commit()?;
        Ok(n)
    }

    pub fn folders(&self) -> Result<Vec<FolderSummary>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare("SELECT path FROM folders ORDER BY path")?;
        let paths: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        paths
            .into_iter()
            .map(|p| {
                let prefix = escape_like(&format!(
                    "{}{}%",
                    p.trim_end_matches('/'),
                    std::path::MAIN_SEPARATOR
                ));
                let songs = self.conn.query_row(
                    "SELECT COUNT(*) FROM songs WHERE path LIKE ?1 ESCAPE '\\'",
                    [&prefix],
                    |r| r.get(0),
                )?;
                let errors = self.conn.query_row(
                    "SELECT COUNT(*) FROM errors WHERE path LIKE ?1 ESCAPE '\\'",
                    [&prefix],
                    |r| r.get(0),
                )?;
                Ok(FolderSummary {
                    path: p.into(),
                    songs,
                    errors,
                })
            })
            .collect()
    }

    /// Paths of songs and errors under `root` (for finding deleted files).
    pub fn paths_under(&self, root: &Path) -> Result<Vec<PathBuf>, CatalogError> {
        let prefix = escape_like(&format!(
            "{}{}%",
            path_str(root).trim_end_matches('/'),
            std::path::MAIN_SEPARATOR
        ));
        let mut out = Vec::new();
        for table in ["songs", "errors"] {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT path FROM {table} WHERE path LIKE ?1 ESCAPE '\\'"
            ))?;
            for p in stmt.query_map([&prefix], |r| r.get::<_, String>(0))? {
                out.push(PathBuf::from(p?));
            }
        }
        Ok(out)
    }

    /// Removes a file's song or error entry (the file was deleted).
    pub fn forget_file(&mut self, path: &Path) -> Result<(), CatalogError> {
        let tx = self.conn.transaction()?;
        let p = path_str(path);
        tx.execute("DELETE FROM songs WHERE path = ?1", [&p])?;
        tx.execute("DELETE FROM errors WHERE path = ?1", [&p])?;
        tx.commit()?;
        Ok(())
    }

    /// Songs count as current only with segments from `model` (set when a model is loaded).
    /// Which melodies are current (see the field); songs with others are re-analysed by the
    /// next index run and left out of the contour search until then.
    pub fn set_melody_version(&mut self, version: i64) {
        self.melody_version = version;
    }

    pub fn melody_version(&self) -> i64 {
        self.melody_version
    }

    pub fn set_embedding_model(&mut self, model: Option<String>) {
        self.embedding_model = model;
    }

    pub fn embedding_model(&self) -> Option<&str> {
        self.embedding_model.as_deref()
    }

    /// Songs the next index run re-analyses: without a melody of the current version (made
    /// by another melody tracker, or none), or, given a model, without its segments.
    pub fn songs_needing_analysis(&self, model: Option<&str>) -> Result<i64, CatalogError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM songs s
             WHERE NOT EXISTS (SELECT 1 FROM melodies m WHERE m.song_id = s.id AND m.version = ?1)
                OR (?2 IS NOT NULL AND NOT EXISTS
                    (SELECT 1 FROM segments g WHERE g.song_id = s.id AND g.model = ?2))",
            params![self.melody_version, model],
            |r| r.get(0),
        )?)
    }

    /// Songs with at least one segment of `model`, and the number of such segments.
    pub fn songs_with_segments(&self, model: &str) -> Result<(i64, i64), CatalogError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(DISTINCT song_id), COUNT(*) FROM segments WHERE model = ?1",
            [model],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// Per song with segments of `model`: (song id, segment count, largest segment id), by
    /// song id. A song re-analysed gets new segment ids, so this tells a saved ANN index which
    /// songs changed without reading any embedding.
    pub fn segment_summary(&self, model: &str) -> Result<Vec<(i64, i64, i64)>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT song_id, COUNT(*), MAX(id) FROM segments WHERE model = ?1
             GROUP BY song_id ORDER BY song_id",
        )?;
        let rows = stmt.query_map([model], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Songs with a current melody but no segments of `model`, by id: those whose melody
    /// segments an index run still has to derive.
    pub fn songs_without_segments(&self, model: &str) -> Result<Vec<i64>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT m.song_id FROM melodies m WHERE m.version = ?1 AND NOT EXISTS
                (SELECT 1 FROM segments s WHERE s.model = ?2 AND s.song_id = m.song_id)
             ORDER BY m.song_id",
        )?;
        let rows = stmt.query_map(params![self.melody_version, model], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces the segments of `model` of each given song (songs since removed are skipped):
    /// one transaction.
    pub fn put_segments(
        &mut self,
        model: &str,
        songs: &[(i64, Vec<(f32, Vec<f32>)>)],
    ) -> Result<(), CatalogError> {
        let tx = self.conn.transaction()?;
        {
            let mut exists = tx.prepare_cached("SELECT 1 FROM songs WHERE id = ?1")?;
            let mut clear =
                tx.prepare_cached("DELETE FROM segments WHERE song_id = ?1 AND model = ?2")?;
            let mut insert = tx.prepare_cached(INSERT_SEGMENT)?;
            for (song, segments) in songs {
                if !exists.exists([song])? {
                    continue;
                }
                clear.execute(params![song, model])?;
                insert_segments(&mut insert, *song, model, segments)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The segments of `model` of the given songs, by song and then time.
    pub fn song_segments(&self, model: &str, songs: &[i64]) -> Result<Vec<Segment>, CatalogError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, song_id, start_s, embedding FROM segments
             WHERE model = ?1 AND song_id = ?2 ORDER BY start_s, id",
        )?;
        let mut out = Vec::new();
        for &song in songs {
            let rows = stmt.query_map(params![model, song], |r| {
                let blob: Vec<u8> = r.get(3)?;
                Ok(Segment {
                    id: r.get(0)?,
                    song_id: r.get(1)?,
                    start_s: r.get::<_, f64>(2)? as f32,
                    embedding: floats_from_le(&blob),
                })
            })?;
            for row in rows {
                out.push(row?);
            }
        }
        Ok(out)
    }

    /// The current melody contours of the given songs (songs without one are left out).
    pub fn melodies_of(&self, songs: &[i64]) -> Result<Vec<(i64, Contour)>, CatalogError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT fps, contour FROM melodies WHERE song_id = ?1 AND version = ?2",
        )?;
        let mut out = Vec::with_capacity(songs.len());
        for &song in songs {
            let found = stmt
                .query_row(params![song, self.melody_version], |r| {
                    let fps: f64 = r.get(0)?;
                    let blob: Vec<u8> = r.get(1)?;
                    Ok(Contour::from_bytes(fps as f32, &blob))
                })
                .optional()?;
            if let Some(c) = found {
                out.push((song, c));
            }
        }
        Ok(out)
    }

    /// The current melody contours of the given songs with their second lines (None for songs
    /// analysed without one); songs without a current melody are left out.
    pub fn melody_lines_of(&self, songs: &[i64]) -> Result<Vec<MelodyLines>, CatalogError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT fps, contour, second_line, second_voice FROM melodies WHERE song_id = ?1 AND version = ?2",
        )?;
        let mut out = Vec::with_capacity(songs.len());
        for &song in songs {
            let found = stmt
                .query_row(params![song, self.melody_version], |r| {
                    let fps = r.get::<_, f64>(0)? as f32;
                    let line = |i: usize| -> rusqlite::Result<Option<Contour>> {
                        let blob: Option<Vec<u8>> = r.get(i)?;
                        Ok(blob.map(|b| Contour::from_bytes(fps, &b)))
                    };
                    Ok(MelodyLines {
                        song_id: song,
                        melody: Contour::from_bytes(fps, &r.get::<_, Vec<u8>>(1)?),
                        second_line: line(2)?,
                        second_voice: line(3)?,
                    })
                })
                .optional()?;
            out.extend(found);
        }
        Ok(out)
    }

    /// Inserts many songs in one transaction (for building large benchmark libraries; the
    /// indexer adds songs one transaction each with [`Self::upsert_song`]).
    pub fn insert_songs(&mut self, songs: &[NewSong]) -> Result<Vec<i64>, CatalogError> {
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(songs.len());
        {
            let mut song_stmt = tx.prepare(
                "INSERT INTO songs(path, size, mtime_ns, hash, title, artist, album, duration_s, indexed_at)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut melody_stmt = tx.prepare(
                "INSERT INTO melodies(song_id, version, fps, contour, second_line, second_voice) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut segment_stmt = tx.prepare(INSERT_SEGMENT)?;
            for song in songs {
                song_stmt.execute(params![
                    path_str(song.path),
                    song.size,
                    song.mtime_ns,
                    song.hash,
                    song.title,
                    song.artist,
                    song.album,
                    song.duration_s,
                    now()
                ])?;
                let id = tx.last_insert_rowid();
                melody_stmt.execute(params![
                    id,
                    self.melody_version,
                    song.melody.fps,
                    song.melody.to_bytes(),
                    song.second_line.map(Contour::to_bytes),
                    song.second_voice.map(Contour::to_bytes)
                ])?;
                for &(model, segments) in &song.segments {
                    insert_segments(&mut segment_stmt, id, model, segments)?;
                }
                ids.push(id);
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    pub fn songs(&self) -> Result<Vec<SongRecord>, CatalogError> {
        let mut stmt = self.conn.prepare("SELECT id, path, title, artist, album, duration_s FROM songs ORDER BY artist, title, path")?;
        let rows = stmt.query_map([], song_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn song(&self, id: i64) -> Result<Option<SongRecord>, CatalogError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, path, title, artist, album, duration_s FROM songs WHERE id = ?1",
                [id],
                song_from_row,
            )
            .optional()?)
    }

    pub fn song_count(&self) -> Result<i64, CatalogError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM songs", [], |r| r.get(0))?)
    }

    pub fn errors(&self) -> Result<Vec<ErrorRecord>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, reason FROM errors ORDER BY path")?;
        let rows = stmt.query_map([], |r| {
            Ok(ErrorRecord {
                path: PathBuf::from(r.get::<_, String>(0)?),
                reason: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every current melody contour, for searching.
    pub fn melodies(&self) -> Result<Vec<(i64, Contour)>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare("SELECT song_id, fps, contour FROM melodies WHERE version = ?1")?;
        let rows = stmt.query_map([self.melody_version], |r| {
            let fps: f64 = r.get(1)?;
            let blob: Vec<u8> = r.get(2)?;
            Ok((r.get(0)?, Contour::from_bytes(fps as f32, &blob)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn melody(&self, song_id: i64) -> Result<Option<Contour>, CatalogError> {
        self.melody_line(song_id, false)
    }

    /// The song's melody, or with `second_voice` its second voice (None where it has none).
    pub fn melody_line(
        &self,
        song_id: i64,
        second_voice: bool,
    ) -> Result<Option<Contour>, CatalogError> {
        let sql = if second_voice {
            "SELECT fps, second_voice FROM melodies WHERE song_id = ?1"
        } else {
            "SELECT fps, contour FROM melodies WHERE song_id = ?1"
        };
        Ok(self
            .conn
            .query_row(sql, [song_id], |r| {
                let fps: f64 = r.get(0)?;
                let blob: Option<Vec<u8>> = r.get(1)?;
                Ok(blob.map(|b| Contour::from_bytes(fps as f32, &b)))
            })
            .optional()?
            .flatten())
    }

    /// Consistency check used by tests and `earworm library --check`: every song has a current
    /// melody and no path is both a song and an error.
    pub fn check(&self) -> Result<Vec<String>, CatalogError> {
        let mut problems = Vec::new();
        let missing: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM songs s LEFT JOIN melodies m ON m.song_id = s.id WHERE m.song_id IS NULL",
            [],
            |r| r.get(0),
        )?;
        if missing > 0 {
            problems.push(format!("{missing} songs have no melody"));
        }
        let both: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM songs s JOIN errors e ON e.path = s.path",
            [],
            |r| r.get(0),
        )?;
        if both > 0 {
            problems.push(format!("{both} paths are both songs and errors"));
        }
        let integrity: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if integrity != "ok" {
            problems.push(format!("sqlite integrity check: {integrity}"));
        }
        Ok(problems)
    }
}

fn song_from_row(r: &rusqlite::Row) -> rusqlite::Result<SongRecord> {
    Ok(SongRecord {
        id: r.get(0)?,
        path: PathBuf::from(r.get::<_, String>(1)?),
        title: r.get(2)?,
        artist: r.get(3)?,
        album: r.get(4)?,
        duration_s: r.get(5)?,
    })
}

/// Escapes LIKE wildcards in a literal prefix (the trailing % added by callers stays a wildcard).
fn escape_like(pattern_with_trailing_percent: &str) -> String {
    let body = pattern_with_trailing_percent
        .strip_suffix('%')
        .unwrap_or(pattern_with_trailing_percent);
    let mut out = String::with_capacity(body.len() + 2);
    for ch in body.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// Test fixture: stores a song at `path` (its path also its hash and title) with these
/// segment sets, returning its id.
#[cfg(test)]
pub(crate) fn add_test_song(
    catalog: &mut Catalog,
    path: &str,
    melody: &Contour,
    duration_s: f64,
    segments: Vec<(&str, &[(f32, Vec<f32>)])>,
) -> i64 {
    catalog
        .upsert_song(&NewSong {
            path: Path::new(path),
            size: 1,
            mtime_ns: 1,
            hash: path,
            title: path,
            artist: "",
            album: "",
            duration_s,
            melody,
            second_line: None,
            second_voice: None,
            segments,
        })
        .expect("a test song is stored")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn songs_errors_and_folders_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = Catalog::open(dir.path()).unwrap();
        let melody = Contour::new(25.0, vec![60.0, f32::NAN, 62.0]);
        let second = Contour::new(25.0, vec![57.0, 55.0, f32::NAN]);
        let voice = Contour::new(25.0, vec![f32::NAN, 52.0, 53.0]);
        let path = Path::new("/music/a_b/song.mp3");
        let song = NewSong {
            path,
            size: 10,
            mtime_ns: 5,
            hash: "h",
            title: "T",
            artist: "A",
            album: "",
            duration_s: 3.0,
            melody: &melody,
            second_line: Some(&second),
            second_voice: Some(&voice),
            segments: Vec::new(),
        };
        let id = cat.upsert_song(&song).unwrap();
        assert_eq!(cat.songs_needing_analysis(None).unwrap(), 0);
        assert_eq!(
            cat.songs_needing_analysis(Some("m@1")).unwrap(),
            1,
            "no segments"
        );
        cat.set_melody_version(MELODY_VERSION + 1);
        assert_eq!(
            cat.songs_needing_analysis(None).unwrap(),
            1,
            "another tracker's melody"
        );
        cat.set_melody_version(MELODY_VERSION);
        let lines = cat.melody_lines_of(&[id]).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].melody.midi[2], 62.0);
        let stored = lines[0]
            .second_line
            .as_ref()
            .expect("the second line is stored");
        assert_eq!((stored.midi[0], stored.midi[1]), (57.0, 55.0));
        assert!(stored.midi[2].is_nan());
        let voice_back = lines[0]
            .second_voice
            .as_ref()
            .expect("the second voice is stored");
        assert_eq!(&voice_back.midi[1..], &[52.0, 53.0]);
        assert_eq!(cat.melody_line(id, true).unwrap().unwrap().midi[2], 53.0);
        assert_eq!(cat.melody_line(id, false).unwrap().unwrap().midi[0], 60.0);
        // With a model set, a song without its segments is not current until re-embedded.
        cat.set_embedding_model(Some("m@1".into()));
        assert!(!cat.file_state(path).unwrap().unwrap().current);
        let segs = vec![(0.0f32, vec![1.0f32, 0.0]), (1.0, vec![0.0, 1.0])];
        let melody_segs = vec![(0.0f32, vec![0.6f32, 0.8])];
        assert_eq!(cat.songs_without_segments("m@1#melody").unwrap(), vec![id]);
        cat.upsert_song(&NewSong {
            segments: vec![("m@1", &segs), ("m@1#melody", &melody_segs)],
            ..song
        })
        .unwrap();
        assert!(cat.file_state(path).unwrap().unwrap().current);
        assert!(cat.songs_without_segments("m@1#melody").unwrap().is_empty());
        assert!(cat.songs_without_segments("m@1").unwrap().is_empty());
        // Putting one model's segments leaves the other's alone; a gone song is skipped.
        let replaced = vec![(0.0f32, vec![1.0f32, 0.0]), (1.0, vec![0.0, -1.0])];
        cat.put_segments("m@1#melody", &[(id, replaced.clone()), (id + 99, replaced)])
            .unwrap();
        assert_eq!(cat.songs_with_segments("m@1#melody").unwrap(), (1, 2));
        assert_eq!(cat.songs_with_segments("m@1").unwrap(), (1, 2));
        assert_eq!(
            cat.song_segments("m@1#melody", &[id]).unwrap()[1].embedding,
            vec![0.0, -1.0]
        );
        assert_eq!(
            cat.song_segments("m@1", &[id]).unwrap()[1].embedding,
            vec![0.0, 1.0]
        );
        let summary = cat.segment_summary("m@1").unwrap();
        assert_eq!((summary.len(), summary[0].0, summary[0].1), (1, id, 2));
        cat.set_embedding_model(None);
        cat.add_folder(Path::new("/music/a_b")).unwrap();
        assert_eq!(cat.song(id).unwrap().unwrap().title, "T");
        assert_eq!(cat.melody(id).unwrap().unwrap().midi[2], 62.0);
        assert!(cat.file_state(path).unwrap().unwrap().current);
        cat.record_error(path, 11, 6, "corrupt").unwrap();
        assert_eq!(cat.song_count().unwrap(), 0);
        assert_eq!(cat.errors().unwrap()[0].reason, "corrupt");
        // The underscore in the folder name must not act as a LIKE wildcard.
        assert_eq!(cat.paths_under(Path::new("/music/a_b")).unwrap().len(), 1);
        assert!(cat.paths_under(Path::new("/music/aXb")).unwrap().is_empty());
        assert_eq!(cat.folders().unwrap()[0].errors, 1);
        assert!(cat.check().unwrap().is_empty());
        drop(cat);
        // Reopening keeps everything.
        let mut cat = Catalog::open(dir.path()).unwrap();
        assert_eq!(cat.errors().unwrap().len(), 1);
        cat.remove_folder(Path::new("/music/a_b")).unwrap();
        assert!(cat.errors().unwrap().is_empty());
        assert!(cat.folders().unwrap().is_empty());
    }

    #[test]
    fn hub_scores_round_trip_per_model_and_every_segment_write_moves_the_generation() {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = Catalog::open(dir.path()).unwrap();
        let melody = Contour::new(25.0, vec![60.0; 50]);
        let segs = vec![(0.0f32, vec![1.0f32, 0.0])];
        let a = add_test_song(&mut cat, "/a.wav", &melody, 2.0, vec![("m", &segs)]);
        let b = add_test_song(&mut cat, "/b.wav", &melody, 2.0, vec![("m", &segs)]);
        let before = cat.library_generation().unwrap();
        assert_eq!(cat.hub_state("m").unwrap(), None);
        assert!(cat.hub_scores("m").unwrap().is_empty());
        let state = HubState {
            generation: before,
            songs: 2,
            newest_song: cat.newest_song_id().unwrap(),
            probes: 4,
        };
        assert_eq!(state.newest_song, b);
        // A song removed meanwhile is skipped, not an error.
        cat.put_hub_scores("m", &state, &[(a, 0.7), (b, 0.5), (999, 0.9)])
            .unwrap();
        assert_eq!(cat.hub_state("m").unwrap(), Some(state));
        let scores = cat.hub_scores("m").unwrap();
        assert_eq!(scores.len(), 2);
        assert!((scores[&a] - 0.7).abs() < 1e-6);
        assert!(cat.hub_scores("other").unwrap().is_empty());
        // Adding a song, re-analysing the newest one (which can get its old segment ids back)
        // and removing one each move the generation; removing drops the song's score.
        let c = add_test_song(&mut cat, "/c.wav", &melody, 2.0, vec![("m", &segs)]);
        assert_eq!(cat.songs_after(state.newest_song).unwrap(), 1);
        let added = cat.library_generation().unwrap();
        assert!(added > before);
        cat.put_segments("m", &[(c, segs.clone())]).unwrap();
        let reanalysed = cat.library_generation().unwrap();
        assert!(reanalysed > added);
        cat.forget_file(Path::new("/b.wav")).unwrap();
        assert!(cat.library_generation().unwrap() > reanalysed);
        assert_eq!(cat.hub_scores("m").unwrap().len(), 1);
        // Replacing keeps only the new scores.
        cat.put_hub_scores("m", &state, &[(c, 0.2)]).unwrap();
        assert_eq!(
            cat.hub_scores("m").unwrap().keys().collect::<Vec<_>>(),
            vec![&c]
        );
    }

    #[test]
    fn the_development_layout_of_schema_7_is_replaced_and_songs_kept() {
        let dir = tempfile::tempdir().unwrap();
        let melody = Contour::new(25.0, vec![60.0; 50]);
        let segs = vec![(0.0f32, vec![1.0f32, 0.0])];
        let a = {
            let mut cat = Catalog::open(dir.path()).unwrap();
            add_test_song(&mut cat, "/a.wav", &melody, 2.0, vec![("m", &segs)])
        };
        // What commit 10ed1eb wrote as schema 7.
        let conn = Connection::open(dir.path().join(Catalog::FILE_NAME)).unwrap();
        conn.execute_batch(
            "DROP TRIGGER generation_on_insert; DROP TRIGGER generation_on_delete;
             DROP TABLE hub_state; DROP TABLE hub_scores; DROP TABLE library_state;
             CREATE TABLE hub_scores(song_id INTEGER NOT NULL REFERENCES songs(id)
                ON DELETE CASCADE, model TEXT NOT NULL, score REAL NOT NULL,
                PRIMARY KEY(model, song_id));
             CREATE TABLE hub_state(model TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,
                probes INTEGER NOT NULL, built_at INTEGER NOT NULL);
             CREATE TRIGGER hub_stale_on_insert AFTER INSERT ON segments
                BEGIN DELETE FROM hub_state; END;
             INSERT INTO hub_scores VALUES (1, 'm', 0.5);
             INSERT INTO hub_state VALUES ('m', '1:1', 2, 0);
             PRAGMA user_version = 7;",
        )
        .unwrap();
        drop(conn);
        let mut cat = Catalog::open(dir.path()).unwrap();
        assert_eq!(cat.songs().unwrap().len(), 1);
        assert_eq!(cat.hub_state("m").unwrap(), None);
        assert!(cat.hub_scores("m").unwrap().is_empty());
        let before = cat.library_generation().unwrap();
        cat.put_segments("m", &[(a, segs.clone())]).unwrap();
        assert!(cat.library_generation().unwrap() > before);
    }

    #[test]
    fn newer_schema_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        drop(Catalog::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(Catalog::FILE_NAME)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Catalog::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("newer Earworm"), "{err}");
    }
}
