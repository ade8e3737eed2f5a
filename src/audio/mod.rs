//! Audio in and out: decoding library files, resampling, and writing WAV.

mod decode;
mod resample;
mod wav;

pub use decode::{
    decode_bytes_streaming, decode_file, decode_file_native, decode_file_streaming,
    decode_file_streaming_limited, probe_tags, DecodeError, DecodeInfo, DecodeLimits, Tags,
};
pub use resample::{resample_all, StreamResampler};
pub use wav::{read_wav_mono, write_wav_mono};

/// The one internal sample rate: everything downstream of decoding runs at it.
/// 16 kHz keeps melody harmonics up to 8 kHz, plenty for pitch, and halves DSP cost vs 32 kHz.
pub const SAMPLE_RATE: u32 = 16_000;
