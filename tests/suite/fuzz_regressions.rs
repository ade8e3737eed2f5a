//! Replays every input the fuzzer (tools/fuzz.sh) ever crashed on, through the same
//! decode-and-analyse path as the fuzz target: each must now end in a result or a typed error.
//! The first byte of each file selects the extension hint, as in the fuzz target.

use std::path::Path;

use earworm::audio::{decode_bytes_streaming, DecodeLimits};
use earworm::melody::MelodyExtractor;
use earworm::model::features::{interval_features, StreamingSpectrogram};
use earworm::model::FeatureParams;

const EXTENSIONS: [&str; 12] = [
    "wav", "mp3", "flac", "ogg", "opus", "m4a", "webm", "mka", "aiff", "caf", "mp4", "aac",
];

#[test]
fn every_former_fuzz_crasher_decodes_or_fails_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    inputs.sort();
    for path in inputs
        .iter()
        .filter(|p| p.is_file() && !p.ends_with("README.md"))
    {
        let data = std::fs::read(path).unwrap();
        let Some((&pick, bytes)) = data.split_first() else {
            continue;
        };
        let ext = EXTENSIONS[pick as usize % EXTENSIONS.len()];
        let params = FeatureParams::default();
        let mut melody = MelodyExtractor::new();
        let mut spec = StreamingSpectrogram::new(&params);
        let limits = DecodeLimits {
            max_wall_s: 30.0,
            ..DecodeLimits::default()
        };
        let started = std::time::Instant::now();
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let r = decode_bytes_streaming(bytes.to_vec(), Some(ext), &limits, &mut |c| {
                melody.push(c);
                spec.push(c);
            });
            if r.is_ok() {
                let _ = melody.finish();
                let _ = interval_features(&params, &spec.finish());
            }
            r.map(|_| ()).map_err(|e| e.to_string())
        }));
        assert!(decoded.is_ok(), "{} panics", path.display());
        assert!(
            started.elapsed().as_secs() < 30,
            "{} is slow",
            path.display()
        );
    }
}
