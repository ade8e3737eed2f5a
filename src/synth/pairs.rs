//! Training pairs for the learned model: songs rendered from training melodies and hums of
//! excerpts of them, stored as quantised spectrograms with frame-level ground truth.
//!
//! Storing spectrograms (3 KB per second of audio) rather than audio or finished pairs lets the
//! trainer cut any number of (song window, hum window) pairs from them and augment them in the
//! feature domain, with no audio work at training time.
//!
//! A shard file holds up to `SONGS_PER_SHARD` songs and their hums:
//! `b"EWPAIRS1"`, u64 LE header length, a JSON [`ShardHeader`], then for each song its
//! spectrogram (`frames × bins` u8) and melody labels (`frames` u8, MIDI, 0 = no melody), then
//! for each hum its spectrogram and its map to the song (`frames` f32 LE: the song frame each
//! hum frame imitates, NaN where the hummer is between phrases).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::corpus::{CorpusMelody, Split};
use super::devset::pick_melodies;
use super::gm::{load_soundfont, render_gm_song, Arrangement, Lead, RenderError, Texture};
use super::hum::{render_hum, Difficulty, HumSpec, SongTiming, VoicePool};
use super::rng::Rng;
use crate::model::features::{spectrogram, FeatureParams, Spectrogram};

pub const SONGS_PER_SHARD: usize = 100;
const MAGIC: &[u8; 8] = b"EWPAIRS1";

#[derive(Debug, Clone)]
pub struct PairsSpec {
    pub split: Split,
    pub songs: usize,
    pub hums_per_song: usize,
    pub voices: VoicePool,
    pub seed: u64,
    pub soundfont: PathBuf,
    pub threads: usize,
    /// Share of songs arranged in a stress texture (homophonic, inner voice, dense band, passed,
    /// sung lead, produced) instead of a distinct lead: the song-side augmentation.
    pub textured: f32,
    /// The textures those songs are drawn from, evenly.
    pub textures: Vec<Texture>,
    /// Whether inner-voice songs may put a descant over the tune. A descant in the tune's own
    /// timbre and rhythm sounds exactly like a four-part choir's top voice, so a tracker trained
    /// on both learns to split its belief between the two upper voices (docs/MEASURED.md
    /// "Real recordings, stage 4"); without them inner-voice songs are octave doublings.
    pub descants: bool,
    /// What the songs' frame labels mark: the melody (the tracker's target) or the
    /// second-highest part of one-timbre ensembles (the second-voice tracker's).
    pub labels: SongLabels,
    /// GM programs the songs' lead is drawn from ([`crate::synth::gm::parse_lead_programs`]);
    /// empty: any lead, the sung voice too. Whole arrangements, texture included, are redrawn
    /// until one has such a lead, at most [`LEAD_REDRAWS`] times: a texture whose lead is fixed
    /// (four-part ensembles, the sung lead) mostly gives way to others.
    pub leads: Vec<u8>,
}

/// How many times an arrangement is redrawn for a lead in [`PairsSpec::leads`].
pub const LEAD_REDRAWS: usize = 200;

/// The part a pairs set labels frame by frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SongLabels {
    #[default]
    Melody,
    SecondVoice,
}

impl SongLabels {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "melody" => Some(Self::Melody),
            "second-voice" => Some(Self::SecondVoice),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PairsError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a training-pairs shard ({why})")]
    Format { path: PathBuf, why: String },
    #[error("the {split} split has only {available} melodies, {wanted} songs were asked for")]
    TooFewMelodies {
        split: &'static str,
        available: usize,
        wanted: usize,
    },
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SongEntry {
    pub melody_id: String,
    pub frames: usize,
    pub lead: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct HumEntry {
    /// Index of its song within the shard.
    pub song: usize,
    pub frames: usize,
    pub difficulty: String,
    pub style: String,
    pub transpose: f32,
    pub tempo: f32,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ShardHeader {
    pub params: FeatureParams,
    pub seed: u64,
    pub soundfont: String,
    pub songs: Vec<SongEntry>,
    pub hums: Vec<HumEntry>,
}

/// A loaded shard.
pub struct Shard {
    pub header: ShardHeader,
    pub songs: Vec<(Spectrogram, Vec<u8>)>,
    pub hums: Vec<(Spectrogram, Vec<f32>)>,
}

#[derive(Debug, Clone, Default)]
pub struct PairsSummary {
    pub shards_written: usize,
    pub shards_skipped: usize,
    pub songs: usize,
    pub hums: usize,
    pub song_seconds: f64,
    pub hum_seconds: f64,
    pub bytes: u64,
    pub seconds: f64,
}

struct RenderedPair {
    song: SongEntry,
    song_spec: Vec<u8>,
    labels: Vec<u8>,
    hums: Vec<(HumEntry, Vec<u8>, Vec<f32>)>,
}

/// Renders the pairs corpus into `out` as shards; shards already present are kept, so an
/// interrupted run resumes where it stopped.
pub fn generate(
    corpus: &[CorpusMelody],
    out: &Path,
    spec: &PairsSpec,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<PairsSummary, PairsError> {
    let started = std::time::Instant::now();
    let melodies = pick_melodies(corpus, spec.split, spec.songs, spec.seed);
    if melodies.len() < spec.songs {
        return Err(PairsError::TooFewMelodies {
            split: spec.split.name(),
            available: melodies.len(),
            wanted: spec.songs,
        });
    }
    let font = load_soundfont(&spec.soundfont)?;
    std::fs::create_dir_all(out).map_err(|source| PairsError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let params = FeatureParams::default();
    let font_name = spec
        .soundfont
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut summary = PairsSummary::default();
    let shards = melodies.len().div_ceil(SONGS_PER_SHARD);
    let done = std::sync::atomic::AtomicUsize::new(0);
    for shard in 0..shards {
        let path = out.join(format!("pairs_{shard:04}.ewp"));
        let range = shard * SONGS_PER_SHARD..((shard + 1) * SONGS_PER_SHARD).min(melodies.len());
        if path.exists() {
            summary.shards_skipped += 1;
            let n = done.fetch_add(range.len(), std::sync::atomic::Ordering::Relaxed);
            progress(n + range.len(), melodies.len());
            continue;
        }
        let slots: std::sync::Mutex<Vec<Option<Result<RenderedPair, PairsError>>>> =
            std::sync::Mutex::new((0..range.len()).map(|_| None).collect());
        let threads = spec.threads.max(1);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (melodies, font, slots, done, range, params) =
                    (&melodies, &font, &slots, &done, range.clone(), &params);
                scope.spawn(move || {
                    for i in range.clone().skip(t).step_by(threads) {
                        let r = render_pair(i, melodies[i], font, spec, params);
                        if let Ok(mut s) = slots.lock() {
                            s[i - range.start] = Some(r);
                        }
                        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        progress(n, melodies.len());
                    }
                });
            }
        });
        let rendered: Vec<RenderedPair> = slots
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect::<Result<_, _>>()?;
        let bytes = write_shard(&path, &params, spec.seed, &font_name, &rendered)?;
        summary.shards_written += 1;
        summary.bytes += bytes;
        for r in &rendered {
            summary.songs += 1;
            summary.song_seconds += r.song.frames as f64 / params.frames_per_second() as f64;
            for h in &r.hums {
                summary.hums += 1;
                summary.hum_seconds += h.0.frames as f64 / params.frames_per_second() as f64;
            }
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The arrangement of one pair's song: a distinct lead, or one of `spec.textures`.
fn draw_arrangement(rng: &mut Rng, melody: &CorpusMelody, spec: &PairsSpec) -> Arrangement {
    let mut arr = draw_any_arrangement(rng, melody, spec);
    // (No redraw without a lead list, so such sets stay identical to older ones.)
    if !spec.leads.is_empty() {
        for _ in 0..LEAD_REDRAWS {
            if matches!(arr.lead, Lead::Program(p) if spec.leads.contains(&p)) {
                break;
            }
            arr = draw_any_arrangement(rng, melody, spec);
        }
    }
    arr
}

fn draw_any_arrangement(rng: &mut Rng, melody: &CorpusMelody, spec: &PairsSpec) -> Arrangement {
    let arr = Arrangement::random(rng, melody);
    // (No draw at all when textures are off, so such sets stay identical to older ones.)
    if spec.textured > 0.0 && rng.chance(spec.textured) {
        let texture = *rng.pick(&spec.textures);
        loop {
            let arr = Arrangement::random_textured(rng, melody, texture);
            // Redrawn, not edited, so the other choices keep their distribution.
            if spec.descants || !arr.descant {
                return arr;
            }
        }
    }
    arr
}

fn render_pair(
    i: usize,
    melody: &CorpusMelody,
    font: &std::sync::Arc<rustysynth::SoundFont>,
    spec: &PairsSpec,
    params: &FeatureParams,
) -> Result<RenderedPair, PairsError> {
    let mut rng = Rng::fork(spec.seed, i as u64);
    let mut arr = draw_arrangement(&mut rng, melody, spec);
    // One pass of the melody is all a pair needs: no long intros, breaks or repeats to render.
    arr.passes = 1;
    arr.intro_bars = 1;
    arr.break_bars = 0;
    let song = render_gm_song(melody, &arr, font, params.sample_rate, rng.next_u64())?;
    let spec_song = spectrogram(params, &song.samples);
    let fps = params.frames_per_second();
    let frames = spec_song.frames();
    let truth = match spec.labels {
        SongLabels::Melody => song.melody_labels(fps),
        SongLabels::SecondVoice => song.second_voice_labels(fps),
    };
    let mut labels: Vec<u8> = truth
        .iter()
        .map(|m| {
            if m.is_finite() {
                m.round().clamp(1.0, 127.0) as u8
            } else {
                0
            }
        })
        .collect();
    labels.resize(frames, 0);
    let timing = SongTiming {
        seconds_per_beat: song.seconds_per_beat,
        transpose: arr.transpose as f32,
    };
    let mut hums = Vec::new();
    for _ in 0..spec.hums_per_song {
        let difficulty = match rng.f32() {
            x if x < 0.3 => Difficulty::Clean,
            x if x < 0.7 => Difficulty::Medium,
            _ => Difficulty::Hard,
        };
        let mut hs = HumSpec::random(
            &mut rng,
            &melody.score,
            timing,
            difficulty,
            params.sample_rate,
        );
        spec.voices.apply(&mut hs, &mut rng);
        let hum = render_hum(&melody.score, timing, &hs, rng.next_u64());
        let hum_spec = spectrogram(params, &hum.samples);
        let first = hs
            .start_note
            .min(melody.score.notes.len().saturating_sub(1));
        let map = hum_to_song_frames(
            &hum.intended,
            &song.melody_notes[first..],
            hum_spec.frames(),
            fps,
        );
        hums.push((
            HumEntry {
                song: 0,
                frames: hum_spec.frames(),
                difficulty: difficulty.name().into(),
                style: format!("{:?}", hs.style),
                transpose: hs.transpose,
                tempo: hs.tempo,
            },
            hum_spec.quantize(),
            map,
        ));
    }
    Ok(RenderedPair {
        song: SongEntry {
            melody_id: melody.id.clone(),
            frames,
            lead: arr.lead_name(),
        },
        song_spec: spec_song.quantize(),
        labels,
        hums,
    })
}

/// For each hum frame, the song frame it imitates: linear within each intended note, from the
/// note's start in the hum to the same note's start in the song. NaN outside the notes.
pub fn hum_to_song_frames(
    intended: &[(f32, f32, f32)],
    song_notes: &[(f32, f32, f32)],
    hum_frames: usize,
    fps: f32,
) -> Vec<f32> {
    let mut map = vec![f32::NAN; hum_frames];
    for (k, (&(hs, he, _), &(ss, _, _))) in intended.iter().zip(song_notes).enumerate() {
        // A note spans to the next note's start in the song (its sounding end is shortened).
        let se = song_notes.get(k + 1).map_or(song_notes[k].1, |n| n.0);
        let (a, b) = (
            (hs * fps).round() as usize,
            ((he * fps).round() as usize).min(hum_frames),
        );
        for (t, slot) in map.iter_mut().enumerate().take(b).skip(a) {
            let frac = ((t as f32 / fps - hs) / (he - hs).max(1e-3)).clamp(0.0, 1.0);
            *slot = (ss + frac * (se - ss)) * fps;
        }
    }
    map
}

fn write_shard(
    path: &Path,
    params: &FeatureParams,
    seed: u64,
    font_name: &str,
    rendered: &[RenderedPair],
) -> Result<u64, PairsError> {
    let io = |source| PairsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut header = ShardHeader {
        params: *params,
        seed,
        soundfont: font_name.into(),
        songs: Vec::new(),
        hums: Vec::new(),
    };
    for (s, r) in rendered.iter().enumerate() {
        header.songs.push(r.song.clone());
        for h in &r.hums {
            header.hums.push(HumEntry {
                song: s,
                ..h.0.clone()
            });
        }
    }
    let json = serde_json::to_vec(&header).map_err(|e| io(std::io::Error::other(e)))?;
    let tmp = path.with_extension("ewp.tmp");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
    f.write_all(MAGIC).map_err(io)?;
    f.write_all(&(json.len() as u64).to_le_bytes())
        .map_err(io)?;
    f.write_all(&json).map_err(io)?;
    for r in rendered {
        f.write_all(&r.song_spec).map_err(io)?;
        f.write_all(&r.labels).map_err(io)?;
    }
    for r in rendered {
        for (_, spec, map) in &r.hums {
            f.write_all(spec).map_err(io)?;
            for v in map {
                f.write_all(&v.to_le_bytes()).map_err(io)?;
            }
        }
    }
    let file = f.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(std::fs::metadata(path).map_err(io)?.len())
}

/// Reads one shard written by [`generate`].
pub fn read_shard(path: &Path) -> Result<Shard, PairsError> {
    let io = |source| PairsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bad = |why: &str| PairsError::Format {
        path: path.to_path_buf(),
        why: why.into(),
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io)?;
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad("bad magic"));
    }
    let hlen = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| bad("header"))?) as usize;
    let header: ShardHeader = bytes
        .get(16..16 + hlen)
        .ok_or_else(|| bad("truncated header"))
        .and_then(|h| serde_json::from_slice(h).map_err(|e| bad(&e.to_string())))?;
    let bins = header.params.n_bins;
    let mut pos = 16 + hlen;
    let mut take = |n: usize| -> Result<&[u8], PairsError> {
        let s = bytes
            .get(pos..pos + n)
            .ok_or_else(|| bad("truncated data"))?;
        pos += n;
        Ok(s)
    };
    let mut songs = Vec::new();
    for s in &header.songs {
        let spec = Spectrogram::dequantize(bins, take(s.frames * bins)?);
        let labels = take(s.frames)?.to_vec();
        songs.push((spec, labels));
    }
    let mut hums = Vec::new();
    for h in &header.hums {
        let spec = Spectrogram::dequantize(bins, take(h.frames * bins)?);
        let map = take(h.frames * 4)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        hums.push((spec, map));
    }
    Ok(Shard {
        header,
        songs,
        hums,
    })
}

/// All shards in `dir`, sorted by name.
pub fn shard_paths(dir: &Path) -> Result<Vec<PathBuf>, PairsError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| PairsError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "ewp"))
        .collect();
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hum_frames_map_linearly_onto_song_notes() {
        // Two notes hummed at half speed, starting 1 s into the hum; in the song at 10 s.
        let intended = [(1.0, 2.0, 60.0), (2.0, 3.0, 62.0)];
        let song = [(10.0, 10.45, 60.0), (10.5, 10.95, 62.0)];
        let map = hum_to_song_frames(&intended, &song, 100, 25.0);
        assert!(map[10].is_nan());
        assert!((map[25] - 250.0).abs() < 1e-3);
        assert!((map[50] - 262.5).abs() < 1e-3);
        assert!((map[62] - 25.0 * (10.5 + 0.48 * 0.45)).abs() < 0.1);
        assert!(map[80].is_nan());
    }

    /// A spec for drawing arrangements only (nothing is rendered).
    fn draw_spec(
        textured: f32,
        textures: Vec<Texture>,
        descants: bool,
        leads: Vec<u8>,
    ) -> PairsSpec {
        PairsSpec {
            split: Split::Train,
            songs: 1,
            hums_per_song: 0,
            voices: VoicePool::Train,
            seed: 3,
            soundfont: crate::synth::gm::TIMGM6MB.into(),
            threads: 1,
            textured,
            textures,
            descants,
            labels: SongLabels::Melody,
            leads,
        }
    }

    /// The arrangements of the first 40 corpus melodies under `spec`.
    fn forty_draws(spec: &PairsSpec) -> Vec<Arrangement> {
        let melodies = crate::synth::corpus::load(&crate::synth::corpus::default_path()).unwrap();
        (0..40)
            .map(|i| draw_arrangement(&mut Rng::fork(3, i), &melodies[i as usize], spec))
            .collect()
    }

    #[test]
    fn inner_voice_songs_without_descants_are_octave_doublings() {
        let spec = |descants| draw_spec(1.0, vec![Texture::InnerVoice], descants, Vec::new());
        let with = forty_draws(&spec(true));
        let descants = with.iter().filter(|a| a.descant).count();
        assert!(
            (5..35).contains(&descants),
            "{descants} of 40 under a descant"
        );
        let without = forty_draws(&spec(false));
        assert!(without
            .iter()
            .all(|a| !a.descant && a.doubling.abs() == 12 && a.texture == Texture::InnerVoice));
    }

    #[test]
    fn a_lead_list_limits_the_songs_leads() {
        let spec = |textures, leads| draw_spec(0.9, textures, false, leads);
        let leads = |spec: &PairsSpec| -> Vec<Lead> {
            forty_draws(spec).into_iter().map(|a| a.lead).collect()
        };
        let any = leads(&spec(vec![Texture::DenseBand], Vec::new()));
        assert!(any.iter().any(|l| *l != Lead::Program(11)));
        let limited = leads(&spec(vec![Texture::DenseBand], vec![11, 24]));
        assert!(limited
            .iter()
            .all(|l| matches!(l, Lead::Program(11) | Lead::Program(24))));
        assert!(limited.contains(&Lead::Program(11)) && limited.contains(&Lead::Program(24)));
        // The sung-lead texture has no program lead: a song keeps it only where no redraw found
        // the lead among the untextured tenth.
        let sung = leads(&spec(vec![Texture::SungLead], vec![11]));
        assert!(sung.iter().any(|l| matches!(l, Lead::SungVoice { .. })));
        assert!(sung
            .iter()
            .all(|l| matches!(l, Lead::SungVoice { .. } | Lead::Program(11))));
        assert_eq!(
            crate::synth::gm::parse_lead_programs("vibraphone, 24"),
            Ok(vec![11, 24])
        );
        // An ensemble's program leads its homophonic and inner-voice songs.
        assert_eq!(
            crate::synth::gm::parse_lead_programs("Church Organ,0"),
            Ok(vec![19, 0])
        );
        let organ = leads(&spec(vec![Texture::Homophonic], vec![19]));
        let organs = organ.iter().filter(|l| **l == Lead::Program(19)).count();
        assert!(
            organs * 10 >= organ.len() * 9,
            "{organs} of {}",
            organ.len()
        );
        assert!(crate::synth::gm::parse_lead_programs("11,banjo").is_err());
        assert!(crate::synth::gm::parse_lead_programs(" ,").is_err());
    }

    #[test]
    fn pairs_are_deterministic_per_seed_and_read_back() {
        let melodies = crate::synth::corpus::load(&crate::synth::corpus::default_path()).unwrap();
        let make = |seed: u64| {
            let dir = tempfile::tempdir().unwrap();
            let spec = PairsSpec {
                split: Split::Train,
                songs: 2,
                hums_per_song: 2,
                voices: VoicePool::Train,
                seed,
                soundfont: crate::synth::gm::TIMGM6MB.into(),
                threads: 2,
                textured: 0.0,
                textures: Vec::new(),
                descants: true,
                labels: SongLabels::Melody,
                leads: Vec::new(),
            };
            generate(&melodies, dir.path(), &spec, &|_, _| {}).unwrap();
            let path = dir.path().join("pairs_0000.ewp");
            (std::fs::read(&path).unwrap(), read_shard(&path).unwrap())
        };
        let (a, shard) = make(4);
        assert_eq!(a, make(4).0);
        assert_ne!(a, make(5).0);
        assert_eq!((shard.songs.len(), shard.hums.len()), (2, 4));
        // Every hum is anchored to its song: mapped frames fall inside the song, and the song's
        // melody labels are voiced where the map points for most frames.
        for (h, (_, map)) in shard.header.hums.iter().zip(&shard.hums) {
            let (_, labels) = &shard.songs[h.song];
            let mapped: Vec<usize> = map
                .iter()
                .filter(|m| m.is_finite())
                .map(|&m| m.round() as usize)
                .collect();
            assert!(mapped.len() > 100, "{} anchored frames", mapped.len());
            let voiced = mapped
                .iter()
                .filter(|&&f| labels.get(f).is_some_and(|&l| l > 0))
                .count();
            assert!(
                voiced as f32 > 0.8 * mapped.len() as f32,
                "{voiced}/{}",
                mapped.len()
            );
        }
    }
}
