//! Streaming decode of library files with symphonia: any supported container and codec
//! in, mono f32 at [`super::SAMPLE_RATE`] out, chunk by chunk.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CodecRegistry, DecoderOptions, CODEC_TYPE_NULL};
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
    #[error("{path}: {what} exceeds the limit of {limit}")]
    OverLimit {
        path: PathBuf,
        what: String,
        limit: String,
    },
}

/// Bounds on one file's decode, so a hostile or absurd file (a header claiming 2^31 channels,
/// a stream of empty packets, a day of audio) fails on its own instead of hanging or
/// exhausting an indexing run.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeLimits {
    /// Longest audio decoded, in seconds.
    pub max_duration_s: f64,
    /// Wall-clock time for the whole decode (including what the sink does with the audio).
    pub max_wall_s: f64,
    /// Most channels in a stream.
    pub max_channels: usize,
    /// Source sample rates outside this range are refused.
    pub min_rate: u32,
    pub max_rate: u32,
    /// Packets in a row that decode to nothing before the stream counts as corrupt.
    pub max_empty_packets: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            // Longer than any album side or DJ mix one would hum from; a day-long recording is
            // not a song.
            max_duration_s: 4.0 * 3600.0,
            // A one-hour file decodes and is analysed in well under a minute on two cores.
            max_wall_s: 600.0,
            max_channels: 32,
            min_rate: 1_000,
            max_rate: 768_000,
            max_empty_packets: 100_000,
        }
    }
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
    let ext = path.extension().and_then(|e| e.to_str());
    open_source(path, Box::new(file), ext)
}

/// Opens any byte source; `path` only names it in errors, `ext` hints at the format.
fn open_source(
    path: &Path,
    source: Box<dyn symphonia::core::io::MediaSource>,
    ext: Option<&str>,
) -> Result<Opened, DecodeError> {
    let mss = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = ext {
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

/// Symphonia's codecs plus libopus for Opus (symphonia 0.5 has no Opus decoder), built once.
fn codecs() -> &'static CodecRegistry {
    static REGISTRY: OnceLock<CodecRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut registry);
        registry.register_all::<symphonia_adapter_libopus::OpusDecoder>();
        registry
    })
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
    decode_file_streaming_limited(path, &DecodeLimits::default(), sink)
}

/// [`decode_file_streaming`] within explicit [`DecodeLimits`].
pub fn decode_file_streaming_limited(
    path: &Path,
    limits: &DecodeLimits,
    sink: &mut dyn FnMut(&[f32]),
) -> Result<DecodeInfo, DecodeError> {
    decode_opened(path, open(path)?, limits, Some(SAMPLE_RATE), sink)
}

/// Decodes audio held in memory (`ext` hints at the format, as a file's extension would);
/// errors name the source as `<memory>`. For fuzzing and for audio that never was a file.
pub fn decode_bytes_streaming(
    bytes: Vec<u8>,
    ext: Option<&str>,
    limits: &DecodeLimits,
    sink: &mut dyn FnMut(&[f32]),
) -> Result<DecodeInfo, DecodeError> {
    let path = Path::new("<memory>");
    if bytes.is_empty() {
        return Err(DecodeError::Empty { path: path.into() });
    }
    let opened = open_source(path, Box::new(std::io::Cursor::new(bytes)), ext)?;
    decode_opened(path, opened, limits, Some(SAMPLE_RATE), sink)
}

/// Decodes a whole file to mono at its own sample rate, for playing it back (rodio's own
/// decoder has no Opus): (samples, sample rate).
pub fn decode_file_native(path: &Path) -> Result<(Vec<f32>, u32), DecodeError> {
    let mut samples = Vec::new();
    let info = decode_opened(
        path,
        open(path)?,
        &DecodeLimits::default(),
        None,
        &mut |c| samples.extend_from_slice(c),
    )?;
    Ok((samples, info.source_rate))
}

/// The decode loop: mono at `out_rate` (or the stream's own rate when `None`).
fn decode_opened(
    path: &Path,
    opened: Opened,
    limits: &DecodeLimits,
    out_rate: Option<u32>,
    sink: &mut dyn FnMut(&[f32]),
) -> Result<DecodeInfo, DecodeError> {
    let started = std::time::Instant::now();
    let over = |what: String, limit: String| DecodeError::OverLimit {
        path: path.into(),
        what,
        limit,
    };
    let Opened { mut format, tags } = opened;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL && t.codec_params.sample_rate.is_some())
        .ok_or_else(|| DecodeError::NoAudioTrack { path: path.into() })?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let mut source_rate = params.sample_rate.unwrap_or(SAMPLE_RATE);
    if !(limits.min_rate..=limits.max_rate).contains(&source_rate) {
        return Err(DecodeError::Corrupt {
            path: path.into(),
            reason: format!("sample rate {source_rate} Hz"),
        });
    }
    if let Some(n) = params.channels.map(|c| c.count()) {
        if n > limits.max_channels {
            return Err(over(
                format!("{n} channels"),
                limits.max_channels.to_string(),
            ));
        }
    }
    let declared_frames = params.n_frames;
    let mut empty_in_a_row = 0usize;
    let mut decoder = codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| DecodeError::UnsupportedCodec {
            path: path.into(),
            reason: e.to_string(),
        })?;
    let mut resampler = StreamResampler::new(source_rate, out_rate.unwrap_or(source_rate))
        .map_err(|reason| DecodeError::Corrupt {
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
        if started.elapsed().as_secs_f64() > limits.max_wall_s {
            return Err(over(
                "decoding time".into(),
                format!("{:.0} s", limits.max_wall_s),
            ));
        }
        match decoder.decode(&packet) {
            Ok(decoded) => {
                good += 1;
                let spec = *decoded.spec();
                let frames = decoded.frames();
                if frames == 0 {
                    empty_in_a_row += 1;
                    if empty_in_a_row > limits.max_empty_packets {
                        return Err(DecodeError::Corrupt {
                            path: path.into(),
                            reason: format!("{empty_in_a_row} empty packets in a row"),
                        });
                    }
                    continue;
                }
                empty_in_a_row = 0;
                channels = spec.channels.count();
                if channels == 0 || channels > limits.max_channels {
                    return Err(over(
                        format!("{channels} channels"),
                        limits.max_channels.to_string(),
                    ));
                }
                if spec.rate != source_rate {
                    if source_frames > 0
                        || !(limits.min_rate..=limits.max_rate).contains(&spec.rate)
                    {
                        // A rate that changes mid-stream (chained Ogg) would be resampled
                        // wrongly: refuse it rather than index nonsense.
                        return Err(DecodeError::UnsupportedCodec {
                            path: path.into(),
                            reason: format!(
                                "sample rate changes from {source_rate} to {} Hz",
                                spec.rate
                            ),
                        });
                    }
                    // The container's rate was wrong; the codec's is what plays.
                    source_rate = spec.rate;
                    resampler = StreamResampler::new(source_rate, out_rate.unwrap_or(source_rate))
                        .map_err(|reason| DecodeError::Corrupt {
                            path: path.into(),
                            reason,
                        })?;
                }
                if (source_frames + frames as u64) as f64
                    > limits.max_duration_s * source_rate as f64
                {
                    return Err(over(
                        "duration".into(),
                        format!("{:.0} min", limits.max_duration_s / 60.0),
                    ));
                }
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

/// Float samples beyond this are damage, not audio (legitimate float files peak near 1).
const MAX_SAMPLE: f32 = 64.0;

fn downmix_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    out.clear();
    // NaN, infinities and absurd values (a damaged float file) would poison every FFT
    // downstream: they become silence / are clamped here, once.
    let clean = |x: f32| {
        if x.is_finite() {
            x.clamp(-MAX_SAMPLE, MAX_SAMPLE)
        } else {
            0.0
        }
    };
    if channels <= 1 {
        out.extend(interleaved.iter().map(|&x| clean(x)));
        return;
    }
    let scale = 1.0 / channels as f32;
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().map(|&x| clean(x)).sum::<f32>() * scale),
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

    #[test]
    fn downmix_turns_broken_float_samples_into_silence_or_clamps_them() {
        let mut out = Vec::new();
        downmix_into(&[f32::NAN, f32::INFINITY, 1e30, -0.5], 1, &mut out);
        assert_eq!(out, vec![0.0, 0.0, MAX_SAMPLE, -0.5]);
        downmix_into(&[f32::NAN, 0.5], 2, &mut out);
        assert_eq!(out, vec![0.25]);
    }
}
