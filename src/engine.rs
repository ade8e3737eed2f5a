//! The engine API the CLI and the desktop app share: open a library database, index folders,
//! and answer hummed queries with ranked, explained matches.

use std::path::{Path, PathBuf};

use crate::audio::{decode_file, DecodeError};
use crate::library::{
    index_paths, Catalog, CatalogError, IndexOptions, IndexProgress, IndexReport, SongRecord,
};
use crate::melody::Contour;
use crate::search::{hum_contour, Match, MelodySearcher, SearchError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// A match with the song it points at.
#[derive(Debug, Clone)]
pub struct SongMatch {
    pub song: SongRecord,
    pub found: Match,
}

#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The hum's pitch contour (for display and the alignment overlay).
    pub hum: Contour,
    pub matches: Vec<SongMatch>,
}

pub struct Engine {
    catalog: Catalog,
    /// Built on first query, dropped when the library changes.
    searcher: Option<MelodySearcher>,
}

impl Engine {
    /// The default database folder: the platform's data directory (e.g. ~/.local/share/earworm).
    pub fn default_db_dir() -> PathBuf {
        directories::ProjectDirs::from("org", "Earworm", "earworm")
            .map(|d| d.data_dir().to_path_buf())
            .unwrap_or_else(|| PathBuf::from(".earworm"))
    }

    pub fn open(db_dir: &Path) -> Result<Self, EngineError> {
        Ok(Self {
            catalog: Catalog::open(db_dir)?,
            searcher: None,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn catalog_mut(&mut self) -> &mut Catalog {
        self.searcher = None;
        &mut self.catalog
    }

    pub fn index(
        &mut self,
        paths: &[PathBuf],
        options: &IndexOptions,
        progress: &mut dyn FnMut(&IndexProgress),
    ) -> Result<IndexReport, EngineError> {
        self.searcher = None;
        Ok(index_paths(&mut self.catalog, paths, options, progress)?)
    }

    fn searcher(&mut self) -> Result<&MelodySearcher, EngineError> {
        if self.searcher.is_none() {
            self.searcher = Some(MelodySearcher::new(self.catalog.melodies()?));
        }
        Ok(self.searcher.as_ref().expect("just built"))
    }

    /// Loads the search structures now (otherwise the first query pays for it).
    pub fn warm_up(&mut self) -> Result<(), EngineError> {
        self.searcher().map(|_| ())
    }

    /// Searches with a recorded hum: mono samples at [`crate::audio::SAMPLE_RATE`].
    pub fn query_samples(
        &mut self,
        samples: &[f32],
        top: usize,
    ) -> Result<QueryResult, EngineError> {
        let hum = hum_contour(samples);
        self.query_contour(hum, top)
    }

    pub fn query_contour(&mut self, hum: Contour, top: usize) -> Result<QueryResult, EngineError> {
        let found = self.searcher()?.search(&hum, top)?;
        let mut matches = Vec::with_capacity(found.len());
        for m in found {
            if let Some(song) = self.catalog.song(m.song_id)? {
                matches.push(SongMatch { song, found: m });
            }
        }
        Ok(QueryResult { hum, matches })
    }

    /// Searches with an audio file (any supported format).
    pub fn query_file(&mut self, path: &Path, top: usize) -> Result<QueryResult, EngineError> {
        let (samples, _) = decode_file(path)?;
        self.query_samples(&samples, top)
    }
}
