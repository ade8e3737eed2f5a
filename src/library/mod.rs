//! The library: a SQLite catalog of songs, their melody contours and the files that failed,
//! the indexer that keeps it in step with folders on disk, and the segment index (ANN) kept
//! beside the catalog.

pub mod ann;
mod catalog;
pub mod grams;
mod history;
mod indexer;

pub use ann::{AnnError, AnnSettings, Neighbour, OpenReport, SegmentIndex, SongVectors};
#[cfg(test)]
pub(crate) use catalog::add_test_song;
pub use catalog::{
    Catalog, CatalogError, ErrorRecord, FolderSummary, HubState, MelodyLines, NewSong, Segment,
    SongRecord, SCHEMA_VERSION,
};
pub use history::{
    utc_time, write_history_csv, HistoryEntry, HistoryResult, NewHistoryEntry, QueryKind,
};
pub use indexer::{
    derive_melody_segments, index_paths, is_audio_path, panic_message, IndexOptions, IndexProgress,
    IndexReport, AUDIO_EXTENSIONS,
};

/// The bundled demo library (assets/demo): beside the executable or in the source tree.
pub fn bundled_demo_dir() -> Option<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> = std::env::current_exe()
        .ok()
        .map(|exe| {
            exe.ancestors()
                .skip(1)
                .take(3)
                .map(|d| d.join("assets/demo"))
                .collect()
        })
        .unwrap_or_default();
    dirs.push(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo"));
    dirs.into_iter().find(|d| d.join("manifest.csv").is_file())
}
