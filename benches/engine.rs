//! Speed of the engine's stages on synthesized audio:
//! `cargo bench --bench engine` (release). Prints per-stage times; divide audio length by
//! time for the real-time multiple.

use criterion::{criterion_group, criterion_main, Criterion};

use earworm::audio::{resample_all, SAMPLE_RATE};
use earworm::melody::{extract_melody, Contour, CONTOUR_FPS};
use earworm::search::{hum_contour, MelodySearcher};
use earworm::synth::{random_melody, render_hum, render_song, Difficulty, HumSpec, Rng, SongSpec};

fn song_and_hum() -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(11);
    let score = random_melody(&mut rng, 8);
    let spec = SongSpec::random(&mut rng, SAMPLE_RATE);
    let song = render_song(&score, &spec, 1);
    let mut hum_spec = HumSpec::random(&mut rng, &score, &spec, Difficulty::Medium, SAMPLE_RATE);
    hum_spec.target_song_s = 10.0 * hum_spec.tempo;
    let hum = render_hum(&score, &spec, &hum_spec, 2);
    (song.samples, hum.samples)
}

/// Melody contours straight from synthesized scores (no audio): a large library, cheaply.
fn synthetic_library(n: usize) -> Vec<(i64, Contour)> {
    (0..n)
        .map(|i| {
            let mut rng = Rng::fork(99, i as u64);
            let score = random_melody(&mut rng, 8);
            let spb = 60.0 / rng.range(80.0, 150.0);
            let frames = (score.length_beats() * spb * 2.0 * CONTOUR_FPS) as usize;
            let melody_s = score.length_beats() * spb;
            let midi = (0..frames)
                .map(|f| {
                    let t = (f as f32 / CONTOUR_FPS) % melody_s / spb;
                    score
                        .notes
                        .iter()
                        .find(|n| t >= n.onset && t < n.onset + n.duration)
                        .map_or(f32::NAN, |n| n.midi)
                })
                .collect();
            (i as i64, Contour::new(CONTOUR_FPS, midi))
        })
        .collect()
}

fn stages(c: &mut Criterion) {
    let (song, hum) = song_and_hum();
    let song_s = song.len() as f32 / SAMPLE_RATE as f32;
    let hum_s = hum.len() as f32 / SAMPLE_RATE as f32;
    eprintln!("song {song_s:.1} s, hum {hum_s:.1} s");
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.bench_function(format!("melody extraction, {song_s:.0} s song"), |b| {
        b.iter(|| extract_melody(&song))
    });
    let song_44k = resample_all(&song, SAMPLE_RATE, 44_100).expect("resample");
    group.bench_function(format!("resample 44.1k->16k, {song_s:.0} s"), |b| {
        b.iter(|| resample_all(&song_44k, 44_100, SAMPLE_RATE))
    });
    group.bench_function(format!("hum pitch contour, {hum_s:.0} s"), |b| {
        b.iter(|| hum_contour(&hum))
    });
    let query = hum_contour(&hum);
    for n in [100, 1000] {
        let searcher = MelodySearcher::new(synthetic_library(n));
        group.bench_function(format!("baseline search, {n} songs"), |b| {
            b.iter(|| searcher.search(&query, 10))
        });
    }
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
