//! How one General MIDI program sounds across the keyboard in each SoundFont: per key, the
//! note's loudness, its partials (the octave below, then harmonics 1-6) in dB against it, and
//! the semitone (against the key) where the held note is loudest. Shows a font's registration
//! changing between key ranges, as TimGM6mb's church organ does (docs/MEASURED.md, nineteenth
//! session), and a program that sounds another pitch than its key, as TimGM6mb's whistle does
//! (9 semitones low; twenty-second session).
//!
//! cargo run --example organ_probe -- PROGRAM FONT.sf2...
//! e.g. cargo run --example organ_probe -- 19 /usr/share/sounds/sf2/TimGM6mb.sf2

use std::path::Path;

use anyhow::Context;
use earworm::synth::gm::{load_soundfont, render_notes};

const RATE: u32 = 16_000;

/// Magnitude of `x` at frequency `f` (a single-bin DFT), scaled by its length.
fn magnitude_at(x: &[f32], f: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * f / RATE as f32;
    let (mut re, mut im) = (0f32, 0f32);
    for (n, &v) in x.iter().enumerate() {
        re += v * (w * n as f32).cos();
        im -= v * (w * n as f32).sin();
    }
    (re * re + im * im).sqrt() / x.len() as f32
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: organ_probe PROGRAM FONT.sf2...";
    let program: u8 = args.first().context(usage)?.parse().context(usage)?;
    anyhow::ensure!(args.len() > 1, usage);
    for font in &args[1..] {
        let sf = load_soundfont(Path::new(font))?;
        println!(
            "{font}, program {program}: key, loudness, partials 0.5 and 1-6 (dB against it), loudest semitone"
        );
        for key in (48..=84).step_by(3) {
            let x = render_notes(&sf, program, &[(0.0, 1.0, key, 100)], 1.2, RATE)?;
            // The held part of the note: after the attack, before the release.
            let held = &x[(0.3 * RATE as f32) as usize..(0.9 * RATE as f32) as usize];
            let rms = (held.iter().map(|v| v * v).sum::<f32>() / held.len() as f32).sqrt();
            let f0 = 440.0 * 2f32.powf((key as f32 - 69.0) / 12.0);
            let db = |x: f32| 20.0 * (x + 1e-9).log10();
            let partials: Vec<String> = [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
                .iter()
                .map(|m| format!("{:6.1}", db(magnitude_at(held, f0 * m) / rms)))
                .collect();
            // The loudest semitone from C1 up to the band's edge, against the key.
            let loudest = (24..108)
                .map(|m: i32| (m, 440.0 * 2f32.powf((m as f32 - 69.0) / 12.0)))
                .filter(|&(_, f)| f < 0.49 * RATE as f32)
                .max_by(|a, b| magnitude_at(held, a.1).total_cmp(&magnitude_at(held, b.1)))
                .map_or(0, |(m, _)| m - key as i32);
            let loudest = if rms > 1e-6 {
                format!("{loudest:+}")
            } else {
                "silent".into()
            };
            println!(
                "key {key}  {:6.1} dB  {}  {loudest}",
                db(rms),
                partials.join(" ")
            );
        }
    }
    Ok(())
}
