//! Builds small synthetic libraries for integration tests: polyphonic songs (melody over
//! chords, bass and drums, in several lead timbres) and hums of them with known answers.

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

/// Runs the earworm binary with `args` and waits for it.
pub fn earworm(args: &[&str]) -> std::process::Output {
    std::process::Command::new(earworm_bin())
        .args(args)
        .output()
        .expect("runs earworm")
}

/// Runs the earworm binary with `args` and the model folder `model` (`EARWORM_MODEL_DIR`).
pub fn earworm_with_model(model: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(earworm_bin())
        .args(args)
        .env("EARWORM_MODEL_DIR", model)
        .output()
        .expect("runs earworm")
}

/// The shipped model folder (models/ in the repository).
pub fn shipped_models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// Everything a run printed, stdout then stderr.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One phrase of `notes` (MIDI) as square waves, `note_s` each, at `rate`.
pub fn square_phrase(notes: &[f32], note_s: f32, rate: u32) -> Vec<f32> {
    let mut out = Vec::new();
    for &m in notes {
        let hz = 440.0 * 2f32.powf((m - 69.0) / 12.0);
        let n = (note_s * rate as f32) as usize;
        for i in 0..n {
            let phase = (i as f32 * hz / rate as f32).fract();
            // Short ramps at the note edges, as a sequencer's square lead would have.
            let env = (i as f32 / 200.0).min(1.0).min((n - i) as f32 / 200.0);
            out.push(if phase < 0.5 { 0.3 } else { -0.3 } * env);
        }
    }
    out
}

/// A hummed version of a phrase: a sine with two harmonics and vibrato, transposed by
/// `semitones`, notes `note_s` long, repeated `times`.
pub fn sine_hum(notes: &[f32], semitones: f32, note_s: f32, times: usize, rate: u32) -> Vec<f32> {
    let mut out = Vec::new();
    let mut phase = 0.0f32;
    for _ in 0..times {
        for &m in notes {
            let n = (note_s * rate as f32) as usize;
            for i in 0..n {
                let t = i as f32 / rate as f32;
                let vibrato = 0.3 * (2.0 * std::f32::consts::PI * 5.0 * t).sin();
                let hz = 440.0 * 2f32.powf((m + semitones + vibrato - 69.0) / 12.0);
                phase = (phase + hz / rate as f32).fract();
                let w = 2.0 * std::f32::consts::PI * phase;
                let env = (i as f32 / 400.0).min(1.0).min((n - i) as f32 / 400.0);
                out.push(0.3 * env * (w.sin() + 0.4 * (2.0 * w).sin() + 0.2 * (3.0 * w).sin()));
            }
        }
    }
    out
}

/// The phrases of [`write_looped_library`]'s songs.
pub const LOOP_PHRASES: [[f32; 8]; 3] = [
    [60.0, 64.0, 67.0, 72.0, 71.0, 67.0, 64.0, 62.0],
    [69.0, 67.0, 65.0, 64.0, 62.0, 64.0, 65.0, 60.0],
    [62.0, 62.0, 69.0, 69.0, 71.0, 71.0, 69.0, 67.0],
];

/// Writes a 44.1 kHz hum (see [`sine_hum`]) of [`LOOP_PHRASES`]`[phrase]`, sung twice.
pub fn write_loop_hum(path: &Path, phrase: usize, semitones: f32, note_s: f32) {
    let rate = 44_100;
    let hum = sine_hum(&LOOP_PHRASES[phrase], semitones, note_s, 2, rate);
    write_wav_mono(path, &hum, rate).unwrap();
}

/// A library of repeated material, as real libraries have it (the reliability issue): three
/// 20 s songs that are one 4 s square-wave phrase looped five times, sample-exactly; a copy of
/// the first; 20 s of digital silence; and a song with 6 s of silence between two phrases.
/// Returns the three looped songs' paths.
pub fn write_looped_library(dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let rate = 22_050;
    let mut songs = Vec::new();
    for (i, notes) in LOOP_PHRASES.iter().enumerate() {
        let phrase = square_phrase(notes, 0.5, rate);
        let song: Vec<f32> = phrase
            .iter()
            .copied()
            .cycle()
            .take(phrase.len() * 5)
            .collect();
        let path = dir.join(format!("loop_{i}.wav"));
        write_wav_mono(&path, &song, rate).unwrap();
        songs.push(path);
    }
    std::fs::copy(&songs[0], dir.join("loop_0_copy.wav")).unwrap();
    write_wav_mono(
        &dir.join("silence.wav"),
        &vec![0.0; 20 * rate as usize],
        rate,
    )
    .unwrap();
    let gap = square_phrase(&[65.0, 65.0, 72.0, 70.0, 69.0, 67.0, 65.0, 64.0], 0.5, rate);
    let mut gapped = gap.clone();
    gapped.extend(std::iter::repeat(0.0).take(6 * rate as usize));
    gapped.extend(&gap);
    write_wav_mono(&dir.join("gap.wav"), &gapped, rate).unwrap();
    songs
}
