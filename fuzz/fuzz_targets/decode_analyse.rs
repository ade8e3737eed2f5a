//! Any bytes, under any of the extensions a library holds, through the path every library file
//! takes: probe and decode (symphonia + libopus) within the indexer's limits, resample to
//! 16 kHz, melody extraction, and the spectrogram and interval features the network reads.
//! The first byte picks the extension hint, so one corpus covers every format.
#![no_main]

use earworm::audio::{decode_bytes_streaming, DecodeLimits};
use earworm::melody::MelodyExtractor;
use earworm::model::features::{interval_features, StreamingSpectrogram};
use earworm::model::FeatureParams;
use libfuzzer_sys::fuzz_target;

const EXTENSIONS: [&str; 12] = [
    "wav", "mp3", "flac", "ogg", "opus", "m4a", "webm", "mka", "aiff", "caf", "mp4", "aac",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let ext = EXTENSIONS[pick as usize % EXTENSIONS.len()];
    // Tighter than the indexer's defaults so a slow input is found quickly, same checks.
    let limits = DecodeLimits {
        max_duration_s: 600.0,
        max_wall_s: 10.0,
        ..DecodeLimits::default()
    };
    let params = FeatureParams::default();
    let mut melody = MelodyExtractor::new();
    let mut spec = StreamingSpectrogram::new(&params);
    let decoded = decode_bytes_streaming(bytes.to_vec(), Some(ext), &limits, &mut |chunk| {
        melody.push(chunk);
        spec.push(chunk);
    });
    if decoded.is_ok() {
        let _ = melody.finish();
        let spec = spec.finish();
        let _ = interval_features(&params, &spec);
    }
});
