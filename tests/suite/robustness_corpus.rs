//! Hostile input, measured: a corpus of over a thousand files derived from valid fixtures of
//! every format (truncated at many points, bytes and bits flipped, headers zeroed, wrong
//! extensions, empty files, absurd header values, 8 kHz to 192 kHz, 1 to 8 channels, every
//! sample format) goes through the real indexer (decode → melody → embedding → catalog) and
//! the search. No file may panic anywhere (a caught panic is recorded as "crashed", and
//! counted here as a failure), each file must finish in bounded time, the run in bounded
//! memory, and the library must answer a query afterwards.

use crate::common;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use earworm::engine::Engine;
use earworm::library::IndexOptions;

/// Deterministic xorshift, so a failing corpus can be rebuilt exactly.
struct Bits(u64);
impl Bits {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .collect();
    out.sort();
    out
}

/// A WAV with any header values, written by hand so the values can be absurd.
fn wav_bytes(
    rate: u32,
    channels: u16,
    bits: u16,
    float: bool,
    data: &[u8],
    data_len: u32,
) -> Vec<u8> {
    let block_align = channels.wrapping_mul(bits / 8);
    let mut b = Vec::new();
    b.extend(b"RIFF");
    b.extend((36 + data.len() as u32).to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(16u32.to_le_bytes());
    b.extend((if float { 3u16 } else { 1u16 }).to_le_bytes());
    b.extend(channels.to_le_bytes());
    b.extend(rate.to_le_bytes());
    b.extend(rate.wrapping_mul(block_align as u32).to_le_bytes());
    b.extend(block_align.to_le_bytes());
    b.extend(bits.to_le_bytes());
    b.extend(b"data");
    b.extend(data_len.to_le_bytes());
    b.extend(data);
    b
}

/// 0.4 s of a 330 Hz tone in the given layout, as PCM bytes.
fn tone_pcm(rate: u32, channels: u16, bits: u16, float: bool) -> Vec<u8> {
    let n = (rate as f32 * 0.4) as usize;
    let mut out = Vec::new();
    for i in 0..n {
        let x = 0.5 * (2.0 * std::f32::consts::PI * 330.0 * i as f32 / rate as f32).sin();
        for _ in 0..channels {
            match (bits, float) {
                (32, true) => out.extend(x.to_le_bytes()),
                (64, true) => out.extend((x as f64).to_le_bytes()),
                (8, _) => out.push(((x * 127.0) as i32 + 128) as u8),
                (16, _) => out.extend(((x * 32767.0) as i16).to_le_bytes()),
                (24, _) => out.extend(&((x * 8_388_607.0) as i32).to_le_bytes()[..3]),
                _ => out.extend(((x * 2_147_483_647.0) as i32).to_le_bytes()),
            }
        }
    }
    out
}

/// Valid files: the committed fixtures plus WAVs over rates, channel counts and sample formats.
fn valid_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fixtures()
        .iter()
        .map(|f| {
            let copy = dir.join(f.file_name().unwrap());
            std::fs::copy(f, &copy).unwrap();
            copy
        })
        .collect();
    let formats: [(u16, bool); 6] = [
        (8, false),
        (16, false),
        (24, false),
        (32, false),
        (32, true),
        (64, true),
    ];
    for (k, &rate) in [8_000u32, 11_025, 22_050, 44_100, 48_000, 96_000, 192_000]
        .iter()
        .enumerate()
    {
        for (j, &channels) in [1u16, 2, 6, 8].iter().enumerate() {
            let (bits, float) = formats[(k + j) % formats.len()];
            let pcm = tone_pcm(rate, channels, bits, float);
            let path = dir.join(format!(
                "valid_{rate}_{channels}ch_{bits}{}.wav",
                if float { "f" } else { "" }
            ));
            std::fs::write(
                &path,
                wav_bytes(rate, channels, bits, float, &pcm, pcm.len() as u32),
            )
            .unwrap();
            out.push(path);
        }
    }
    out
}

/// Files with absurd header values.
fn absurd_files(dir: &Path) -> Vec<PathBuf> {
    let pcm = tone_pcm(22_050, 1, 16, false);
    let n = pcm.len() as u32;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("rate0", wav_bytes(0, 1, 16, false, &pcm, n)),
        ("rate_max", wav_bytes(u32::MAX, 1, 16, false, &pcm, n)),
        ("rate1", wav_bytes(1, 1, 16, false, &pcm, n)),
        ("ch0", wav_bytes(22_050, 0, 16, false, &pcm, n)),
        ("ch_max", wav_bytes(22_050, u16::MAX, 16, false, &pcm, n)),
        ("ch_4096", wav_bytes(22_050, 4096, 16, false, &pcm, n)),
        ("bits0", wav_bytes(22_050, 1, 0, false, &pcm, n)),
        ("bits7", wav_bytes(22_050, 1, 7, false, &pcm, n)),
        ("bits_max", wav_bytes(22_050, 1, u16::MAX, false, &pcm, n)),
        ("float16", wav_bytes(22_050, 1, 16, true, &pcm, n)),
        (
            "huge_data_len",
            wav_bytes(22_050, 1, 16, false, &pcm, u32::MAX),
        ),
        ("data_len0", wav_bytes(22_050, 1, 16, false, &pcm, 0)),
        ("odd_data_len", wav_bytes(22_050, 1, 16, false, &pcm, 7)),
    ];
    let mut out = Vec::new();
    for (name, bytes) in cases {
        let p = dir.join(format!("absurd_{name}.wav"));
        std::fs::write(&p, bytes).unwrap();
        out.push(p);
    }
    // FLAC STREAMINFO: sample rate, channels and total samples are bit fields at fixed places.
    let flac = std::fs::read(
        fixtures()
            .iter()
            .find(|p| p.ends_with("tone.flac"))
            .unwrap(),
    )
    .unwrap();
    // "fLaC", block header, then STREAMINFO: min/max block size (2+2), min/max frame size
    // (3+3), then 20 bits rate, 3 bits channels-1, 5 bits bits-1, 36 bits total samples.
    const INFO: usize = 8 + 10;
    let edits: [(&str, fn(&mut [u8])); 5] = [
        ("rate0", |b| {
            b[INFO] = 0;
            b[INFO + 1] = 0;
            b[INFO + 2] &= 0x0f;
        }),
        ("samples_max", |b| {
            b[INFO + 3] |= 0x0f;
            b[INFO + 4..INFO + 8].copy_from_slice(&[0xff; 4]);
        }),
        ("blocksize0", |b| b[8..12].fill(0)),
        ("framesize_max", |b| b[12..18].fill(0xff)),
        ("all_ones", |b| b[INFO..INFO + 8].fill(0xff)),
    ];
    for (name, edit) in edits {
        let mut b = flac.clone();
        edit(&mut b);
        let p = dir.join(format!("absurd_flac_{name}.flac"));
        std::fs::write(&p, b).unwrap();
        out.push(p);
    }
    out
}

/// Damaged variants of one valid file.
fn mutants(src: &Path, dir: &Path, bits: &mut Bits) -> Vec<PathBuf> {
    let bytes = std::fs::read(src).unwrap();
    let stem = src.file_name().unwrap().to_string_lossy().replace('.', "_");
    let ext = src.extension().unwrap().to_string_lossy().into_owned();
    let mut out = Vec::new();
    let mut put = |name: String, ext: &str, b: &[u8]| {
        let p = dir.join(format!("{stem}__{name}.{ext}"));
        std::fs::write(&p, b).unwrap();
        out.push(p);
    };
    for k in 0..12 {
        // Truncated: at a few fixed fractions and random places (headers and mid-stream).
        let at = match k {
            0 => 1,
            1 => 12,
            2 => 44,
            3 => bytes.len() / 2,
            4 => bytes.len() - 1,
            _ => bits.below(bytes.len()),
        }
        .min(bytes.len());
        put(format!("cut{k}"), &ext, &bytes[..at]);
    }
    for k in 0..6 {
        let mut b = bytes.clone();
        for _ in 0..[1, 3, 10, 50, 1, 1][k] {
            let i = bits.below(b.len());
            b[i] = bits.next() as u8;
        }
        put(format!("bytes{k}"), &ext, &b);
    }
    for k in 0..3 {
        let mut b = bytes.clone();
        // Bit flips within the first 256 bytes, where the headers are.
        let i = bits.below(b.len().min(256));
        b[i] ^= 1 << bits.below(8);
        put(format!("bit{k}"), &ext, &b);
    }
    let mut b = bytes.clone();
    b[..bytes.len().min(64)].fill(0);
    put("zerohead".into(), &ext, &b);
    let wrong = ["mp3", "flac", "wav", "ogg", "m4a", "opus"][bits.below(6)];
    put("wrongext".into(), wrong, &bytes);
    put("empty".into(), &ext, &[]);
    out
}

#[test]
fn a_thousand_hostile_files_never_panic_and_the_library_still_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("corpus");
    std::fs::create_dir_all(&music).unwrap();
    let mut bits = Bits(0x9E37_79B9_7F4A_7C15);
    let valid = valid_files(&music);
    let mut files = valid.clone();
    for v in &valid {
        files.extend(mutants(v, &music, &mut bits));
    }
    files.extend(absurd_files(&music));
    // One song that belongs there, so the search has something real to find.
    let songs = common::write_songs(&music.join("real"), 1, 5);
    assert!(files.len() >= 1000, "corpus has {} files", files.len());

    let mut engine = Engine::open(&tmp.path().join("db")).unwrap();
    let mut slowest = Duration::ZERO;
    let mut last = Instant::now();
    let started = Instant::now();
    let report = engine
        .index(&[music.clone()], &IndexOptions::default(), &mut |p| {
            // Two workers: the gap between two files finishing bounds each file's time.
            slowest = slowest.max(last.elapsed());
            last = Instant::now();
            let _ = p;
        })
        .unwrap();
    let elapsed = started.elapsed();
    let errors = engine.catalog().errors().unwrap();
    let crashed: Vec<String> = errors
        .iter()
        .filter(|e| e.reason.contains("crashed"))
        .map(|e| format!("{}: {}", e.path.display(), e.reason))
        .collect();
    eprintln!(
        "robustness corpus: {} files, {} songs, {} failed cleanly, {} crashed; {:.1} s, slowest gap {:.2} s, peak RSS {} MB",
        report.found,
        report.added,
        report.failed,
        crashed.len(),
        elapsed.as_secs_f64(),
        slowest.as_secs_f64(),
        peak_rss_mb()
    );
    assert!(
        crashed.is_empty(),
        "panics caught while indexing:\n{}",
        crashed.join("\n")
    );
    let unique: std::collections::HashSet<&PathBuf> = files.iter().collect();
    assert_eq!(unique.len(), files.len(), "corpus file names collide");
    assert_eq!(report.found, files.len() + songs.len());
    assert_eq!(report.added + report.failed, report.found);
    assert!(report.added >= valid.len(), "every valid file is a song");
    assert!(errors.iter().all(|e| !e.reason.is_empty()));
    assert!(slowest < Duration::from_secs(30), "a file took {slowest:?}");
    assert!(peak_rss_mb() < 3_000, "peak RSS {} MB", peak_rss_mb());
    assert!(engine.catalog().check().unwrap().is_empty());

    // The library of survivors answers a hum, with the real song first.
    let hum = tmp.path().join("hum.wav");
    common::write_hum(&songs[0], &hum, earworm::synth::Difficulty::Clean, 9);
    let found = engine.query_file(&hum, 5).unwrap();
    assert_eq!(
        found.matches[0].song.path,
        std::fs::canonicalize(&songs[0].path).unwrap()
    );
}

#[test]
fn an_hour_long_file_is_indexed_in_bounded_time_and_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("long");
    std::fs::create_dir_all(&music).unwrap();
    // One hour at 8 kHz, 16-bit mono (58 MB): a slow scale, a note every 2 s.
    let rate = 8_000u32;
    let mut pcm = Vec::with_capacity(rate as usize * 3600 * 2);
    let mut phase = 0.0f32;
    for i in 0..rate as usize * 3600 {
        let note = 57.0 + ((i / (2 * rate as usize)) % 12) as f32;
        let hz = 440.0 * 2f32.powf((note - 69.0) / 12.0);
        phase = (phase + hz / rate as f32).fract();
        let x = 0.4 * (2.0 * std::f32::consts::PI * phase).sin();
        pcm.extend(((x * 32767.0) as i16).to_le_bytes());
    }
    let path = music.join("hour.wav");
    std::fs::write(&path, wav_bytes(rate, 1, 16, false, &pcm, pcm.len() as u32)).unwrap();
    drop(pcm);
    let before = peak_rss_mb();
    let mut engine = Engine::open(&tmp.path().join("db")).unwrap();
    let started = Instant::now();
    let report = engine
        .index(&[music], &IndexOptions::default(), &mut |_| {})
        .unwrap();
    let took = started.elapsed();
    eprintln!(
        "one-hour file: {:.1} s, peak RSS {} MB (before {} MB)",
        took.as_secs_f64(),
        peak_rss_mb(),
        before
    );
    assert_eq!(report.added, 1, "{:?}", engine.catalog().errors().unwrap());
    let song = &engine.catalog().songs().unwrap()[0];
    assert!(
        (song.duration_s - 3600.0).abs() < 1.0,
        "{}",
        song.duration_s
    );
    assert!(peak_rss_mb() < 3_000, "peak RSS {} MB", peak_rss_mb());
}

/// The process's peak resident memory (VmHWM), in MB.
fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb / 1024)
}
