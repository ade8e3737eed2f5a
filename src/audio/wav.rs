//! Minimal WAV helpers for synthesized audio (tests, fixtures, data generation).

use std::path::Path;

/// Writes mono f32 samples as 16-bit PCM WAV, clipping to [-1, 1].
pub fn write_wav_mono(path: &Path, samples: &[f32], rate: u32) -> std::io::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let io = |e: hound::Error| std::io::Error::other(e.to_string());
    let tmp = path.with_extension("wav.partial");
    let mut writer = hound::WavWriter::create(&tmp, spec).map_err(io)?;
    for &s in samples {
        writer
            .write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .map_err(io)?;
    }
    writer.finalize().map_err(io)?;
    std::fs::rename(&tmp, path)
}

/// Reads a WAV file as mono f32 (channels averaged), returning samples and rate.
pub fn read_wav_mono(path: &Path) -> std::io::Result<(Vec<f32>, u32)> {
    let io = |e: hound::Error| std::io::Error::other(e.to_string());
    let mut reader = hound::WavReader::open(path).map_err(io)?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    let raw: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(io)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(io)?
        }
    };
    let mono = raw
        .chunks_exact(channels)
        .map(|f| f.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok((mono, spec.sample_rate))
}
