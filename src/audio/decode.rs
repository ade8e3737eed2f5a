//! Streaming decode of library files with symphonia: any supported container and codec
//! in, mono f32 at [`super::SAMPLE_RATE`] out, chunk by chunk.

use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::{MetadataOptions, MetadataRevision, StandardTagKey};
use symphonia::core::probe::Hint;

use super::resample::StreamResampler;
use super::SAMPLE_RATE;

/// Why a file could not be decoded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: empty file (0 bytes)")]
    Empty { path: PathBuf },
    #[error("{path}: not a recognised audio format ({reason})")]
    UnknownFormat { path: PathBuf, reason: String },
    #[error("{path}: no audio track")]
    NoAudioTrack { path: PathBuf },
    #[error("{path}: unsupported codec ({reason})")]
    UnsupportedCodec { path: PathBuf, reason: String },
    #[error("{path}: corrupt audio ({reason})")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: truncated: decoded {decoded_s:.1} s of {declared_s:.1} s")]
    Truncated {
        path: PathBuf,
        decoded_s: f64,
        declared_s: f64,
    },
    #[error("{path}: no audio could be decoded")]
    NoAudio { path: PathBuf },
}

/// Title, artist and album tags, where the file has them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tags {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
}

/// What a finished decode reports besides the samples.
#[derive(Debug, Clone)]
pub struct DecodeInfo {
    pub source_rate: u32,
    pub channels: usize,
    /// Duration of the decoded audio, in seconds.
    pub duration_s: f64,
    pub tags: Tags,
    /// Packets that failed to decode and were skipped (a few are tolerated).
    pub skipped_packets: usize,
}

/// A packet decode failure rate above this marks the whole file corrupt.
const MAX_BAD_PACKET_FRACTION: f64 = 0.2;
/// Decoded length below this fraction of the declared length counts as truncated.
const TRUNCATION_FRACTION: f64 = 0.9;

struct Opened {
    format: Box<dyn FormatReader>,
    tags: Tags,
}

fn open(path: &Path) -> Result<Opened, DecodeError> {
    let file = File::open(path).map_err(|source| DecodeError::Open {
        path: path.into(),
        source,
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Err(DecodeError::Empty { path: path.into() });
    }
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| DecodeError::UnknownFormat {
            path: path.into(),
            reason: e.to_string(),
        })?;
    let mut tags = Tags::default();
    // Tags found while probing (ID3 ahead of the stream) and in the container itself.
    if let Some(rev) = probed.metadata.get().as_ref().and_then(|m| m.current()) {
        merge_tags(&mut tags, rev);
    }
    if let Some(rev) = probed.format.metadata().current() {
        merge_tags(&mut tags, rev);
    }
    Ok(Opened {
        format: probed.format,
        tags,
    })
}

fn merge_tags(tags: &mut Tags, rev: &MetadataRevision) {
    for tag in rev.tags() {
        let value = tag.value.to_string().trim().to_string();
        if value.is_empty() {
            continue;
        }
        let slot = match tag.std_key {
            Some(StandardTagKey::TrackTitle) => &mut tags.title,
            Some(StandardTagKey::Artist) => &mut tags.artist,
            Some(StandardTagKey::Album) => &mut tags.album,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
}

/// Reads only the tags of a file (cheap: no audio is decoded).
pub fn probe_tags(path: &Path) -> Result<Tags, DecodeError> {
    open(path).map(|o| o.tags)
}

/// Decodes `path` to mono at [`SAMPLE_RATE`], handing chunks to `sink` as they are produced,
/// so a two-hour file needs no more memory than a short one.
pub fn decode_file_streaming(
    path: &Path,
    sink: &mut dyn FnMut(&[f32]),
) -> Result<DecodeInfo, DecodeError> {
    let Opened { mut format, tags } = open(path)?;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL && t.codec_params.sample_rate.is_some())
        .ok_or_else(|| DecodeError::NoAudioTrack { path: path.into() })?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let source_rate = params.sample_rate.unwrap_or(SAMPLE_RATE);
    let declared_frames = params.n_frames;
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| DecodeError::UnsupportedCodec {
            path: path.into(),
            reason: e.to_string(),
        })?;
    let mut resampler =
        StreamResampler::new(source_rate, SAMPLE_RATE).map_err(|reason| DecodeError::Corrupt {
            path: path.into(),
            reason,
        })?;

    let mut sample_buf: Option<SampleBuffer<f32>> = None;
    let mut mono: Vec<f32> = Vec::new();
    let mut channels = params.channels.map_or(0, |c| c.count());
    let (mut good, mut bad) = (0usize, 0usize);
    let mut source_frames: u64 = 0;
    let mut last_error = String::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                // A broken container mid-stream: keep what decoded, judge below.
                last_error = e.to_string();
                bad += 1;
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(decoded) => {
                good += 1;
                let spec = *decoded.spec();
                let frames = decoded.frames();
                if frames == 0 {
                    continue;
                }
                channels = spec.channels.count();
                let buf = match &mut sample_buf {
                    Some(b) if b.capacity() >= decoded.capacity() * channels => b,
                    _ => sample_buf.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
                };
                buf.copy_interleaved_ref(decoded);
                downmix_into(buf.samples(), channels, &mut mono);
                source_frames += frames as u64;
                resampler.push(&mono, sink);
            }
            Err(SymError::DecodeError(e)) => {
                bad += 1;
                last_error = e.to_string();
            }
            Err(SymError::IoError(e)) => {
                last_error = e.to_string();
                break;
            }
            Err(e) => {
                return Err(DecodeError::Corrupt {
                    path: path.into(),
                    reason: e.to_string(),
                });
            }
        }
    }
    resampler.finish(sink);
    if good == 0 || source_frames == 0 {
        return Err(if bad > 0 {
            DecodeError::Corrupt {
                path: path.into(),
                reason: last_error,
            }
        } else {
            DecodeError::NoAudio { path: path.into() }
        });
    }
    if bad as f64 > MAX_BAD_PACKET_FRACTION * (good + bad) as f64 {
        return Err(DecodeError::Corrupt {
            path: path.into(),
            reason: format!("{bad} of {} packets failed: {last_error}", good + bad),
        });
    }
    let duration_s = source_frames as f64 / source_rate as f64;
    if let Some(declared) = declared_frames {
        if (source_frames as f64) < TRUNCATION_FRACTION * declared as f64 {
            return Err(DecodeError::Truncated {
                path: path.into(),
                decoded_s: duration_s,
                declared_s: declared as f64 / source_rate as f64,
            });
        }
    }
    Ok(DecodeInfo {
        source_rate,
        channels,
        duration_s,
        tags,
        skipped_packets: bad,
    })
}

/// Decodes a whole file into memory (for short clips such as queries).
pub fn decode_file(path: &Path) -> Result<(Vec<f32>, DecodeInfo), DecodeError> {
    let mut samples = Vec::new();
    let info = decode_file_streaming(path, &mut |chunk| samples.extend_from_slice(chunk))?;
    Ok((samples, info))
}

fn downmix_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    out.clear();
    if channels <= 1 {
        out.extend_from_slice(interleaved);
        return;
    }
    let scale = 1.0 / channels as f32;
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downmix_averages_channels() {
        let mut out = Vec::new();
        downmix_into(&[1.0, 0.0, 0.5, 0.5], 2, &mut out);
        assert_eq!(out, vec![0.5, 0.5]);
    }
}
