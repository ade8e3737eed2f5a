//! The library: a SQLite catalog of songs, their melody contours and the files that failed,
//! and the indexer that keeps it in step with folders on disk.

mod catalog;
mod history;
mod indexer;

pub use catalog::{
    Catalog, CatalogError, ErrorRecord, FolderSummary, NewSong, Segment, SongRecord, SCHEMA_VERSION,
};
pub use history::{
    utc_time, write_history_csv, HistoryEntry, HistoryResult, NewHistoryEntry, QueryKind,
};
pub use indexer::{
    index_paths, is_audio_path, panic_message, IndexOptions, IndexProgress, IndexReport,
    AUDIO_EXTENSIONS,
};
