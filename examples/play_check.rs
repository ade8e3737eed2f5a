//! Plays a song through the app's player (rodio) from a start time, checks that the position
//! advances, seeks, pauses and resumes, then plays a recording-like buffer.
//! tools/virtual_mic_test.sh runs it against a PulseAudio null sink and records what came out.
//!
//! cargo run --release --example play_check -- SONG START_S

use std::time::Duration;

use anyhow::{bail, Context};
use earworm::app::playback::{Output, Player};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::PathBuf::from(args.get(1).context("usage: play_check SONG START_S")?);
    let start: f32 = args.get(2).map_or(Ok(10.0), |s| s.parse())?;
    // The app makes its player at start-up, so the output is open before anyone clicks.
    let opening = std::time::Instant::now();
    let mut player = Player::new(Output::Device);
    player.wait_ready().map_err(anyhow::Error::msg)?;
    println!("output opened in {} ms", opening.elapsed().as_millis());
    // The audio system's own start-up (PulseAudio took 1-2 s here before the first sound
    // came out): half a second of silence played through. The app pays this at start-up, when
    // it makes its player, not on a click.
    let probe = std::time::Instant::now();
    player
        .play_samples(vec![0.0; 8_000], 16_000)
        .map_err(anyhow::Error::msg)?;
    while player.now.is_some() && probe.elapsed() < Duration::from_secs(5) {
        player.tick();
        std::thread::sleep(Duration::from_millis(2));
    }
    println!(
        "audio start-up: 0.5 s of silence played through in {:.0} ms",
        probe.elapsed().as_secs_f64() * 1000.0
    );
    // The app decodes the selected song while the results are read.
    player.prefetch(&path);
    while player.tick().is_none() && !player.is_prefetched(&path) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let clicked = std::time::Instant::now();
    player
        .play_file(&path, "check", start, 60.0)
        .map_err(anyhow::Error::msg)?;
    // Click to sound: until the output has consumed the first samples.
    while player.position_s() <= start && clicked.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(2));
    }
    println!(
        "click to playing: {:.0} ms",
        clicked.elapsed().as_secs_f64() * 1000.0
    );
    std::thread::sleep(Duration::from_millis(1500));
    let pos = player.position_s();
    println!("playing from {start:.1} s: position after 1.5 s = {pos:.2} s");
    if !(pos > start + 0.8 && pos < start + 2.5) {
        bail!("position {pos:.2} s does not follow the start {start:.1} s");
    }
    player.seek(start + 20.0);
    std::thread::sleep(Duration::from_millis(300));
    let after_seek = player.position_s();
    println!("after seeking to {:.1} s: {after_seek:.2} s", start + 20.0);
    if (after_seek - (start + 20.0)).abs() > 1.5 {
        bail!("seek landed at {after_seek:.2} s");
    }
    player.toggle_pause();
    let paused_at = player.position_s();
    std::thread::sleep(Duration::from_millis(500));
    if !player.is_paused() || (player.position_s() - paused_at).abs() > 0.1 {
        bail!("pause did not hold the position");
    }
    player.toggle_pause();
    std::thread::sleep(Duration::from_millis(500));
    player.stop();
    let tone: Vec<f32> = (0..16_000)
        .map(|i| 0.3 * (std::f32::consts::TAU * 440.0 * i as f32 / 16_000.0).sin())
        .collect();
    player
        .play_samples(tone, 16_000)
        .map_err(anyhow::Error::msg)?;
    std::thread::sleep(Duration::from_millis(1200));
    player.tick();
    println!("OK: play from a start, seek, pause/resume, stop, play a recording");
    Ok(())
}
