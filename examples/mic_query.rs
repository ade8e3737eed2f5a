//! Records from the system microphone through the app's capture code (cpal → lock-free ring
//! buffer → live analysis), stops on silence like the app does, and searches the library.
//! tools/virtual_mic_test.sh runs it against a PulseAudio virtual microphone fed from a hum.
//!
//! cargo run --release --example mic_query -- --db DIR [--expect TEXT] [--max-seconds N]

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use earworm::app::capture::Capture;
use earworm::app::live::{LiveAnalysis, StopRules};
use earworm::engine::Engine;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let db = arg("--db").context("--db DIR is required")?;
    let expect = arg("--expect");
    let max_s: f32 = arg("--max-seconds").map_or(Ok(25.0), |s| s.parse())?;

    let mut capture = Capture::open_microphone(None)?;
    eprintln!(
        "recording from {} at {} Hz",
        capture.source_name, capture.sample_rate
    );
    let mut live = LiveAnalysis::new(capture.sample_rate);
    let rules = StopRules {
        silence_s: 2.0,
        max_s,
    };
    let mut buffer = Vec::new();
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(30));
        capture.drain(&mut buffer);
        live.push(&buffer);
        buffer.clear();
        if let Some(reason) = live.should_stop(&rules) {
            eprintln!(
                "stopped ({reason:?}) after {:.1} s of audio, {:.1} s wall; {} voiced frames, {} samples dropped",
                live.duration_s(),
                started.elapsed().as_secs_f32(),
                live.voiced_frames,
                capture.dropped_samples()
            );
            break;
        }
    }
    let mut engine = Engine::open(std::path::Path::new(&db))?;
    let t = Instant::now();
    let result = engine.query_samples(&live.samples, 5)?;
    eprintln!("search took {} ms", t.elapsed().as_millis());
    for (i, m) in result.matches.iter().enumerate() {
        println!(
            "{}. {} ({:.2}) at {:.1}-{:.1} s",
            i + 1,
            m.song.title,
            m.found.score,
            m.found.start_s,
            m.found.end_s
        );
    }
    if let Some(expect) = expect {
        let top = result
            .matches
            .first()
            .map(|m| format!("{} {}", m.song.title, m.song.path.display()));
        match top {
            Some(t) if t.contains(&expect) => println!("OK: the recorded hum found {expect}"),
            other => bail!("expected {expect} first, got {other:?}"),
        }
    }
    Ok(())
}
