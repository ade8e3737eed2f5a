//! Song corpora and evaluation sets from the melody corpus, rendered through SoundFonts:
//! `earworm synth songs` (songs only, e.g. for training) and `earworm synth devset`
//! (songs plus hummed queries across difficulties, with a manifest for `earworm eval`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::corpus::{CorpusMelody, Split};
use super::gm::{load_soundfont, render_gm_song, Arrangement, RenderError, Texture};
use super::hum::{render_hum, Difficulty, HumSpec, SongTiming, VoicePool};
use super::rng::Rng;
use crate::audio::write_wav_mono;

#[derive(Debug, Clone)]
pub struct SongSetSpec {
    pub split: Split,
    pub songs: usize,
    /// Hummed queries per song (0 for a song corpus); difficulties cycle through `difficulties`.
    pub queries_per_song: usize,
    pub difficulties: Vec<Difficulty>,
    pub seed: u64,
    pub soundfont: PathBuf,
    pub song_rate: u32,
    pub hum_rate: u32,
    /// Which singers hum the queries.
    pub voices: VoicePool,
    pub threads: usize,
    /// Song textures, cycled song by song (empty: every song `Standard`, as training songs are).
    pub textures: Vec<Texture>,
    /// The SoundFont of `Texture::UnseenFont` songs (one no training song is rendered with).
    pub unseen_soundfont: Option<PathBuf>,
    /// Encode `Texture::Produced` songs at a low bit rate with ffmpeg (MP3 or Opus).
    pub lossy: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SongSetError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("texture unseen_font needs a SoundFont (--unseen-soundfont) other than the main one")]
    NoUnseenFont,
    #[error("encoding {path} with ffmpeg: {reason}")]
    Encode { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    BadSongList { path: PathBuf, reason: String },
    #[error("the {split} split has only {available} melodies, {wanted} songs were asked for")]
    TooFewMelodies {
        split: &'static str,
        available: usize,
        wanted: usize,
    },
}

#[derive(Debug, Clone, Default)]
pub struct SongSetSummary {
    pub songs: usize,
    pub queries: usize,
    pub song_seconds: f64,
    pub query_counts: Vec<(String, usize)>,
    pub render_seconds: f64,
}

struct Rendered {
    song_row: String,
    notes_row: String,
    query_rows: Vec<String>,
    seconds: f64,
}

/// Picks `n` melodies of `split`, in a seeded order (so a smaller set is a prefix of a larger one).
pub fn pick_melodies<'a>(
    corpus: &'a [CorpusMelody],
    split: Split,
    n: usize,
    seed: u64,
) -> Vec<&'a CorpusMelody> {
    let mut pool: Vec<&CorpusMelody> = corpus.iter().filter(|m| m.split == split).collect();
    pool.sort_by(|a, b| a.id.cmp(&b.id));
    // Seeded Fisher–Yates.
    let mut rng = Rng::new(seed ^ 0x5EED);
    for i in (1..pool.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        pool.swap(i, j);
    }
    pool.truncate(n);
    pool
}

/// The bundled demo library's tunes, in its order: the first 20 demo-split melodies with seed
/// 11 (tools/make_demo_library.sh numbers the files 01..20).
pub fn demo_tunes(corpus: &[CorpusMelody]) -> Vec<&CorpusMelody> {
    pick_melodies(corpus, Split::Demo, 20, 11)
}

/// A tune's first phrase: the notes of its first four bars, and at least eight notes.
pub fn first_phrase(score: &super::score::Score) -> &[super::score::Note] {
    let bar = score.beats_per_bar as f32;
    let n = score
        .notes
        .iter()
        .enumerate()
        .take_while(|(i, n)| n.onset < 4.0 * bar || *i < 8)
        .count();
    &score.notes[..n]
}

/// Renders the set into `out`: songs/*.wav, songs.csv, melody_notes.jsonl and, with queries,
/// hums/*.wav and manifest.csv.
pub fn generate(
    corpus: &[CorpusMelody],
    out: &Path,
    spec: &SongSetSpec,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SongSetSummary, SongSetError> {
    let started = std::time::Instant::now();
    let melodies = pick_melodies(corpus, spec.split, spec.songs, spec.seed);
    if melodies.len() < spec.songs {
        return Err(SongSetError::TooFewMelodies {
            split: spec.split.name(),
            available: melodies.len(),
            wanted: spec.songs,
        });
    }
    let font_name = |path: &Path| {
        path.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let main_font = (load_soundfont(&spec.soundfont)?, font_name(&spec.soundfont));
    let unseen_font = if spec.textures.contains(&Texture::UnseenFont) {
        let path = spec
            .unseen_soundfont
            .as_ref()
            .filter(|p| *p != &spec.soundfont)
            .ok_or(SongSetError::NoUnseenFont)?;
        Some((load_soundfont(path)?, font_name(path)))
    } else {
        None
    };
    let songs_dir = out.join("songs");
    let hums_dir = out.join("hums");
    for d in [&songs_dir, &hums_dir] {
        std::fs::create_dir_all(d).map_err(|source| SongSetError::Write {
            path: d.clone(),
            source,
        })?;
    }
    let prefix = spec.split.name();
    let results: Mutex<Vec<Option<Result<Rendered, SongSetError>>>> =
        Mutex::new((0..melodies.len()).map(|_| None).collect());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let threads = spec.threads.max(1);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (melodies, results, done, songs_dir, hums_dir) =
                (&melodies, &results, &done, &songs_dir, &hums_dir);
            let (main_font, unseen_font) = (&main_font, &unseen_font);
            scope.spawn(move || {
                for i in (t..melodies.len()).step_by(threads) {
                    let texture = if spec.textures.is_empty() {
                        Texture::Standard
                    } else {
                        spec.textures[i % spec.textures.len()]
                    };
                    let (font, font_name) = match (texture, unseen_font) {
                        (Texture::UnseenFont, Some(f)) => f,
                        _ => main_font,
                    };
                    let r = render_one(
                        i,
                        melodies[i],
                        texture,
                        font,
                        spec,
                        prefix,
                        songs_dir,
                        hums_dir,
                        font_name,
                    );
                    if let Ok(mut slot) = results.lock() {
                        slot[i] = Some(r);
                    }
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    progress(n, melodies.len());
                }
            });
        }
    });
    let mut songs_csv = String::from(
        "file,melody_id,collection,title,lead,soundfont,bpm,transpose,passes,duration_s,texture\n",
    );
    let mut notes = String::new();
    let mut manifest = String::from(
        "query_file,target_file,difficulty,style,transpose,tempo,snr_db,start_s,end_s,melody_id,texture\n",
    );
    let mut summary = SongSetSummary {
        songs: melodies.len(),
        ..Default::default()
    };
    for r in results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
    {
        let r = r?;
        songs_csv.push_str(&r.song_row);
        notes.push_str(&r.notes_row);
        summary.song_seconds += r.seconds;
        for q in r.query_rows {
            let difficulty = q.split(',').nth(2).unwrap_or("").to_string();
            match summary
                .query_counts
                .iter_mut()
                .find(|(d, _)| *d == difficulty)
            {
                Some(c) => c.1 += 1,
                None => summary.query_counts.push((difficulty, 1)),
            }
            manifest.push_str(&q);
            summary.queries += 1;
        }
    }
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|source| SongSetError::Write { path, source })
    };
    write("songs.csv", &songs_csv)?;
    write("melody_notes.jsonl", &notes)?;
    if summary.queries > 0 {
        write("manifest.csv", &manifest)?;
    }
    summary.render_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn render_one(
    i: usize,
    melody: &CorpusMelody,
    texture: Texture,
    font: &std::sync::Arc<rustysynth::SoundFont>,
    spec: &SongSetSpec,
    prefix: &str,
    songs_dir: &Path,
    hums_dir: &Path,
    font_name: &str,
) -> Result<Rendered, SongSetError> {
    let mut rng = Rng::fork(spec.seed, i as u64);
    let arr = Arrangement::random_textured(&mut rng, melody, texture);
    let song = render_gm_song(melody, &arr, font, spec.song_rate, rng.next_u64())?;
    let mut file = format!("{prefix}_{i:05}.wav");
    let path = songs_dir.join(&file);
    write_wav_mono(&path, &song.samples, song.sample_rate).map_err(|source| {
        SongSetError::Write {
            path: path.clone(),
            source,
        }
    })?;
    if texture == Texture::Produced && spec.lossy {
        let bitrate = ["48k", "64k", "96k"][i % 3];
        let (ext, codec) = if i.is_multiple_of(2) {
            ("mp3", "libmp3lame")
        } else {
            ("opus", "libopus")
        };
        file = format!("{prefix}_{i:05}.{ext}");
        encode_lossy(&path, &songs_dir.join(&file), codec, bitrate)?;
    }
    let seconds = song.samples.len() as f64 / song.sample_rate as f64;
    let clean = |s: &str| s.replace([',', '\n', '"'], " ");
    let song_row = format!(
        "songs/{file},{},{},{},{},{font_name},{:.1},{},{},{seconds:.2},{}\n",
        clean(&melody.id),
        melody.collection,
        clean(&melody.title),
        arr.lead_name(),
        arr.bpm,
        arr.transpose,
        arr.passes,
        texture.name()
    );
    let notes_json: Vec<[f32; 3]> = song
        .melody_notes
        .iter()
        .map(|&(s, e, m)| {
            [
                (s * 1000.0).round() / 1000.0,
                (e * 1000.0).round() / 1000.0,
                m,
            ]
        })
        .collect();
    let notes_row = format!(
        "{}\n",
        serde_json::json!({"file": format!("songs/{file}"), "notes": notes_json})
    );
    let timing = SongTiming {
        seconds_per_beat: song.seconds_per_beat,
        transpose: arr.transpose as f32,
    };
    let mut query_rows = Vec::new();
    for q in 0..spec.queries_per_song {
        let difficulty =
            spec.difficulties[(i * spec.queries_per_song + q) % spec.difficulties.len()];
        let mut hum_spec =
            HumSpec::random(&mut rng, &melody.score, timing, difficulty, spec.hum_rate);
        spec.voices.apply(&mut hum_spec, &mut rng);
        let hum = render_hum(&melody.score, timing, &hum_spec, rng.next_u64());
        let hum_file = format!("{prefix}_{i:05}_{q}.wav");
        let path = hums_dir.join(&hum_file);
        write_wav_mono(&path, &hum.samples, hum.sample_rate)
            .map_err(|source| SongSetError::Write { path, source })?;
        let offset = song.pass_starts_s[0];
        let mut row = String::new();
        let _ = writeln!(
            row,
            "hums/{hum_file},songs/{file},{},{:?},{},{:.3},{:.1},{:.2},{:.2},{},{}",
            difficulty.name(),
            hum_spec.style,
            hum_spec.transpose,
            hum_spec.tempo,
            hum_spec.snr_db,
            offset + hum.melody_start_s,
            offset + hum.melody_end_s,
            clean(&melody.id),
            texture.name()
        );
        query_rows.push(row);
    }
    Ok(Rendered {
        song_row,
        notes_row,
        query_rows,
        seconds,
    })
}

/// Re-encodes `wav` as `out` (lossy, low bit rate) with ffmpeg and removes the WAV: the stress
/// set's production texture. Dev-data tooling only; Earworm itself never runs ffmpeg.
fn encode_lossy(wav: &Path, out: &Path, codec: &str, bitrate: &str) -> Result<(), SongSetError> {
    let fail = |reason: String| SongSetError::Encode {
        path: out.to_path_buf(),
        reason,
    };
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(wav)
        .args(["-c:a", codec, "-b:a", bitrate])
        .arg(out)
        .status()
        .map_err(|e| fail(format!("{e} (install ffmpeg, or pass --no-lossy)")))?;
    if !status.success() {
        return Err(fail(format!("ffmpeg exited with {status}")));
    }
    std::fs::remove_file(wav).map_err(|source| SongSetError::Write {
        path: wav.to_path_buf(),
        source,
    })
}

/// Hums only (`earworm synth hums`): one hum per difficulty of each of `n` melodies of `split`,
/// at the melody's own tempo and key, with ground truth in hums.csv. Returns the hum count.
pub fn generate_hums(
    corpus: &[CorpusMelody],
    out: &Path,
    split: Split,
    n: usize,
    voices: VoicePool,
    seed: u64,
) -> Result<usize, SongSetError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SongSetError::Write { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut csv = String::from(
        "file,melody_id,difficulty,style,transpose,tempo,snr_db,voice_centre,formant_scale,melody_start_s,melody_end_s\n",
    );
    let mut count = 0;
    for (i, melody) in pick_melodies(corpus, split, n, seed)
        .into_iter()
        .enumerate()
    {
        let mut rng = Rng::fork(seed, i as u64);
        let timing = SongTiming {
            seconds_per_beat: 60.0 / melody.tempo_bpm.unwrap_or(100.0),
            transpose: 0.0,
        };
        for difficulty in [Difficulty::Clean, Difficulty::Medium, Difficulty::Hard] {
            let mut hs = HumSpec::random(&mut rng, &melody.score, timing, difficulty, 44_100);
            voices.apply(&mut hs, &mut rng);
            let hum = render_hum(&melody.score, timing, &hs, rng.next_u64());
            let file = format!("hum_{i:04}_{}.wav", difficulty.name());
            let path = out.join(&file);
            write_wav_mono(&path, &hum.samples, hum.sample_rate).map_err(io(&path))?;
            let _ = writeln!(
                csv,
                "{file},{},{},{:?},{},{:.3},{:.1},{:.1},{:.3},{:.2},{:.2}",
                melody.id.replace(',', " "),
                difficulty.name(),
                hs.style,
                hs.transpose,
                hs.tempo,
                hs.snr_db,
                hs.voice_centre,
                hs.formant_scale,
                hum.melody_start_s,
                hum.melody_end_s
            );
            count += 1;
        }
    }
    let path = out.join("hums.csv");
    std::fs::write(&path, csv).map_err(io(&path))?;
    Ok(count)
}
