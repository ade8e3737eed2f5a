//! A synthetic library plus hummed queries with a manifest `earworm eval` reads: the
//! reproducible benchmark of the engine issue (and a quick smoke test for any change).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::hum::{render_hum, Difficulty, HumSpec};
use super::rng::Rng;
use super::score::random_melody;
use super::song::{render_song, SongSpec};
use crate::audio::write_wav_mono;

#[derive(Debug, Clone)]
pub struct TestsetSpec {
    pub songs: usize,
    pub queries_per_song: usize,
    pub difficulties: Vec<Difficulty>,
    pub seed: u64,
    pub bars: u32,
    pub song_rate: u32,
    pub hum_rate: u32,
}

impl Default for TestsetSpec {
    fn default() -> Self {
        Self {
            songs: 100,
            queries_per_song: 1,
            difficulties: vec![Difficulty::Medium],
            seed: 1,
            bars: 8,
            song_rate: 22_050,
            hum_rate: 44_100,
        }
    }
}

pub struct TestsetSummary {
    pub songs_dir: PathBuf,
    pub manifest: PathBuf,
    pub songs: usize,
    pub queries: usize,
    pub song_seconds: f64,
}

/// Writes `out/songs/*.wav`, `out/hums/*.wav` and `out/manifest.csv`
/// (query_file,target_file,difficulty,transpose,tempo,snr_db,start_s,end_s).
pub fn generate(
    out: &Path,
    spec: &TestsetSpec,
    progress: &mut dyn FnMut(usize, usize),
) -> std::io::Result<TestsetSummary> {
    let songs_dir = out.join("songs");
    let hums_dir = out.join("hums");
    std::fs::create_dir_all(&songs_dir)?;
    std::fs::create_dir_all(&hums_dir)?;
    let mut manifest = String::from(
        "query_file,target_file,difficulty,style,transpose,tempo,snr_db,start_s,end_s\n",
    );
    let mut queries = 0;
    let mut song_seconds = 0.0;
    for i in 0..spec.songs {
        let mut rng = Rng::fork(spec.seed, i as u64);
        let score = random_melody(&mut rng, spec.bars);
        let song_spec = SongSpec::random(&mut rng, spec.song_rate);
        let song = render_song(&score, &song_spec, rng.next_u64());
        let song_name = format!("song_{i:04}.wav");
        write_wav_mono(&songs_dir.join(&song_name), &song.samples, song.sample_rate)?;
        song_seconds += song.samples.len() as f64 / song.sample_rate as f64;
        for q in 0..spec.queries_per_song {
            let difficulty =
                spec.difficulties[(i * spec.queries_per_song + q) % spec.difficulties.len()];
            let hum_spec = HumSpec::random(&mut rng, &score, &song_spec, difficulty, spec.hum_rate);
            let hum = render_hum(&score, &song_spec, &hum_spec, rng.next_u64());
            let hum_name = format!("hum_{i:04}_{q}.wav");
            write_wav_mono(&hums_dir.join(&hum_name), &hum.samples, hum.sample_rate)?;
            let offset = song.melody_starts_s[0];
            let _ = writeln!(
                manifest,
                "hums/{hum_name},songs/{song_name},{},{:?},{},{:.3},{:.1},{:.2},{:.2}",
                difficulty.name(),
                hum_spec.style,
                hum_spec.transpose,
                hum_spec.tempo,
                hum_spec.snr_db,
                offset + hum.melody_start_s,
                offset + hum.melody_end_s
            );
            queries += 1;
        }
        progress(i + 1, spec.songs);
    }
    let manifest_path = out.join("manifest.csv");
    std::fs::write(&manifest_path, manifest)?;
    Ok(TestsetSummary {
        songs_dir,
        manifest: manifest_path,
        songs: spec.songs,
        queries,
        song_seconds,
    })
}
