//! Earworm: offline hum-to-search over a local music library.
//!
//! Data flows one way: [`audio`] decodes files (or takes recorded PCM) into mono
//! samples at [`audio::SAMPLE_RATE`]; [`dsp`] turns them into spectra and pitch tracks;
//! [`melody`] extracts a song's predominant melody; [`library`] stores songs and their
//! melodies in a SQLite catalog; [`search`] matches a hum against it. [`cli`] is the
//! command-line front end; [`synth`] makes test audio with known answers.

pub mod app;
pub mod audio;
pub mod bench;
pub mod cli;
pub mod dsp;
pub mod engine;
pub mod eval;
pub mod library;
pub mod melody;
pub mod model;
pub mod notes;
pub mod search;
pub mod synth;
pub mod train;
