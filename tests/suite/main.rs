//! The integration tests, as one binary: one link instead of ten keeps a clean `cargo test`
//! within CI's disk and time (each test binary links the whole engine, GUI and model stack).
//! Run one part with its module name, e.g. `cargo test --test suite hostile_library`.

mod common;

mod app;
mod cli;
mod corpus;
mod decode_formats;
mod fuzz_regressions;
mod hostile_library;
mod library_search;
mod model;
mod notes_query;
mod robustness_corpus;
