//! Builds small synthetic libraries for integration tests: polyphonic songs (melody over
//! chords, bass and drums, in several lead timbres) and hums of them with known answers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use earworm::audio::write_wav_mono;
use earworm::synth::{
    random_melody, render_hum, render_song, Difficulty, HumSpec, Rng, Score, SongSpec, Timbre,
};

pub struct TestSong {
    pub path: PathBuf,
    pub score: Score,
    pub spec: SongSpec,
}

/// Writes `n` songs (`song_XX.wav`, 22.05 kHz) into `dir`, each lead timbre in turn.
pub fn write_songs(dir: &Path, n: usize, seed: u64) -> Vec<TestSong> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let mut rng = Rng::fork(seed, i as u64);
            let score = random_melody(&mut rng, 8);
            let mut spec = SongSpec::random(&mut rng, 22_050);
            spec.lead = Timbre::ALL[i % Timbre::ALL.len()];
            spec.repeats = 2;
            let song = render_song(&score, &spec, seed + i as u64);
            let path = dir.join(format!("song_{i:02}.wav"));
            write_wav_mono(&path, &song.samples, song.sample_rate).unwrap();
            TestSong { path, score, spec }
        })
        .collect()
}

/// A hum of `song` (44.1 kHz WAV, so the query path resamples too).
pub fn write_hum(song: &TestSong, path: &Path, difficulty: Difficulty, seed: u64) {
    let mut rng = Rng::new(seed);
    let spec = HumSpec::random(&mut rng, &song.score, &song.spec, difficulty, 44_100);
    let hum = render_hum(&song.score, &song.spec, &spec, seed);
    write_wav_mono(path, &hum.samples, hum.sample_rate).unwrap();
}

pub fn earworm_bin() -> &'static str {
    env!("CARGO_BIN_EXE_earworm")
}
