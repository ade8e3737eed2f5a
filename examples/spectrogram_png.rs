//! Draws log-frequency spectrograms of a song excerpt and a hum of it, one above the other,
//! with the song's true melody (white) and the hum's tracked pitch (white) drawn over them:
//! "listening by looking" at the synthetic data.
//!
//! cargo run --release --example spectrogram_png -- SONG.wav START_S END_S HUM.wav OUT.png

use std::path::Path;

use earworm::audio::{decode_file, SAMPLE_RATE};
use earworm::dsp::{hz_to_midi, LogSpectrogram, PitchTracker};

const FMIN: f32 = 65.41; // C2
const BPO: usize = 36;
const BINS: usize = 36 * 6; // six octaves, C2..C8
const HOP: usize = 160;

fn spectrogram(samples: &[f32]) -> Vec<Vec<f32>> {
    LogSpectrogram::new(SAMPLE_RATE, 2048, HOP, FMIN, BPO, BINS).compute(samples)
}

fn band_of_midi(midi: f32) -> f32 {
    (midi - hz_to_midi(FMIN)) * BPO as f32 / 12.0
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 6,
        "usage: spectrogram_png SONG START_S END_S HUM OUT.png"
    );
    let (song, _) = decode_file(Path::new(&args[1]))?;
    let (start, end): (f32, f32) = (args[2].parse()?, args[3].parse()?);
    let (hum, _) = decode_file(Path::new(&args[4]))?;
    let a = ((start * SAMPLE_RATE as f32) as usize).min(song.len());
    let b = ((end * SAMPLE_RATE as f32) as usize).min(song.len());
    let panels = [(&song[a..b], false), (&hum[..], true)];
    let width = panels
        .iter()
        .map(|(s, _)| s.len() / HOP + 1)
        .max()
        .unwrap_or(1);
    let height = BINS * 2 + 4;
    let mut img = vec![0u8; width * height * 3];
    for (p, (samples, is_hum)) in panels.iter().enumerate() {
        let spec = spectrogram(samples);
        let max = spec.iter().flatten().fold(1e-6f32, |m, &v| m.max(v));
        let y0 = p * (BINS + 4);
        for (x, row) in spec.iter().enumerate().take(width) {
            for (bin, &v) in row.iter().enumerate() {
                let t = (v / max).clamp(0.0, 1.0);
                // Dark blue -> orange -> yellow colour map.
                let rgb = [
                    (255.0 * t.powf(0.8)) as u8,
                    (200.0 * t.powf(1.5)) as u8,
                    (90.0 * (1.0 - t) + 40.0 * t) as u8,
                ];
                let y = y0 + BINS - 1 - bin;
                img[(y * width + x) * 3..][..3].copy_from_slice(&rgb);
            }
        }
        if *is_hum {
            for f in PitchTracker::new(SAMPLE_RATE)
                .track(samples)
                .iter()
                .filter(|f| f.voiced)
            {
                let x = (f.time_s * SAMPLE_RATE as f32 / HOP as f32) as usize;
                let band = band_of_midi(hz_to_midi(f.hz)).round() as isize;
                if x < width && (0..BINS as isize).contains(&band) {
                    let y = y0 + BINS - 1 - band as usize;
                    img[(y * width + x) * 3..][..3].copy_from_slice(&[255, 255, 255]);
                }
            }
        }
    }
    let file = std::fs::File::create(&args[5])?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&img)?;
    eprintln!("wrote {} ({width}x{height}): top, song {start}-{end} s; bottom, the hum with its tracked pitch", args[5]);
    Ok(())
}
