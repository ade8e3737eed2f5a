//! Training the melody tracker (`earworm train-tracker`, see [`crate::model::tracker`]) on the
//! songs of pairs shards: each song's spectrogram with the melody's MIDI pitch at every frame.
//! Per-frame cross-entropy over semitones and "no melody"; augmented by transposing the
//! spectrogram (whole semitones, labels moved with it). Resumable like `earworm train`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Optimizer, VarBuilder, VarMap};

use super::TrainError;
use crate::dsp::spectrum::{equalise_log_bands, equaliser_gains_db};
use crate::model::features::{FeatureParams, Spectrogram};
use crate::model::tracker::{
    label_class, prepare, TrackerConfig, TrackerNet, CLASSES, SEMITONES, TRACKER_CARD,
    TRACKER_WEIGHTS,
};
use crate::synth::pairs::{read_shard, shard_paths};
use crate::synth::Rng;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrackerTrainConfig {
    /// Pairs folders (their songs and melody labels are the training data).
    pub data: Vec<PathBuf>,
    /// Pairs from dev melodies: frame accuracy logged during training.
    pub dev: Option<PathBuf>,
    pub out: PathBuf,
    pub steps: usize,
    /// Song excerpts per batch, each `frames` long.
    pub batch: usize,
    pub frames: usize,
    pub lr: f64,
    pub seed: u64,
    /// Weights to start from (a fine-tune), when there is no checkpoint to resume.
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// The network's size ([`TrackerConfig`]).
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    #[serde(default = "default_blocks")]
    pub blocks: usize,
    /// Dilated blocks after them ([`TrackerConfig::dilated_blocks`]).
    #[serde(default)]
    pub dilated_blocks: usize,
    /// End the run after this many steps of the schedule (which still spans `steps`): the
    /// weights as they are then, learning rate still high.
    #[serde(default)]
    pub stop_after: Option<usize>,
    /// Random equalisation of each training excerpt ([`random_timbre_eq`]); off in runs before
    /// it.
    #[serde(default)]
    pub timbre_eq: bool,
}

/// The band gains of `--timbre-eq` for one excerpt: with probability 0.8 a tilt of -9 to +3 dB
/// per octave (mostly duller: real pianos, distant mics and lossy files lose their top more
/// often than they gain one), and with probability 0.5 a bell of -9 to +6 dB, 0.3 to 1 octave
/// wide, anywhere in the five octaves.
fn random_timbre_eq(rng: &mut Rng, bins: usize, bins_per_octave: usize) -> Vec<f32> {
    let tilt = if rng.chance(0.8) {
        rng.range(-9.0, 3.0)
    } else {
        0.0
    };
    let (centre, bell, width) = if rng.chance(0.5) {
        (
            rng.range(0.0, bins as f32),
            rng.range(-9.0, 6.0),
            rng.range(0.3, 1.0),
        )
    } else {
        (0.0, 0.0, 1.0)
    };
    equaliser_gains_db(bins, bins_per_octave, tilt, centre, bell, width)
}

fn default_hidden() -> usize {
    TrackerConfig::default().hidden
}

fn default_blocks() -> usize {
    TrackerConfig::default().blocks
}

struct Song {
    spec: Spectrogram,
    labels: Vec<u8>,
}

fn load_songs(
    dirs: &[PathBuf],
    params: &FeatureParams,
) -> Result<(Vec<Song>, Vec<String>), TrainError> {
    let mut songs = Vec::new();
    let mut melodies = Vec::new();
    for dir in dirs {
        let paths = shard_paths(dir)?;
        if paths.is_empty() {
            return Err(TrainError::NoData(dir.clone()));
        }
        for path in paths {
            let shard = read_shard(&path)?;
            if shard.header.params != *params {
                return Err(TrainError::FeatureMismatch { path });
            }
            melodies.extend(shard.header.songs.iter().map(|s| s.melody_id.clone()));
            songs.extend(
                shard
                    .songs
                    .into_iter()
                    .map(|(spec, labels)| Song { spec, labels }),
            );
        }
    }
    Ok((songs, melodies))
}

/// How a batch's excerpts are varied.
#[derive(Clone, Copy)]
struct Augment {
    /// By whole semitones, -4 to +4 (labels moved with them).
    transpose: bool,
    timbre_eq: bool,
}

impl Augment {
    const NONE: Augment = Augment {
        transpose: false,
        timbre_eq: false,
    };
}

/// A batch: inputs (batch × frames × (bins+1)) and class targets (batch × frames).
fn batch(
    songs: &[Song],
    n: usize,
    frames: usize,
    rng: &mut Rng,
    augment: Augment,
) -> (Vec<f32>, Vec<u32>) {
    let bins = songs[0].spec.bins;
    let bins_per_octave = FeatureParams::default().bins_per_octave;
    let width = bins + 1;
    let mut x = vec![0.0f32; n * frames * width];
    let mut y = vec![SEMITONES as u32; n * frames];
    for i in 0..n {
        let song = &songs[rng.int(0, songs.len() as i32 - 1) as usize];
        let total = song.spec.frames();
        let start = rng.int(0, total.saturating_sub(frames) as i32) as usize;
        let len = frames.min(total - start);
        // Transpose by whole semitones: two bins per semitone.
        let shift = if augment.transpose { rng.int(-4, 4) } else { 0 };
        let eq = augment
            .timbre_eq
            .then(|| random_timbre_eq(rng, bins, bins_per_octave));
        let mut clip = Spectrogram {
            bins,
            data: vec![0.0; len * bins],
        };
        for t in 0..len {
            let src = song.spec.frame(start + t);
            let dst = &mut clip.data[t * bins..(t + 1) * bins];
            for (b, d) in dst.iter_mut().enumerate() {
                let from = b as i32 - 2 * shift;
                if (0..bins as i32).contains(&from) {
                    *d = src[from as usize];
                }
            }
            if let Some(gains) = &eq {
                equalise_log_bands(dst, gains);
            }
            let label = song.labels.get(start + t).copied().unwrap_or(0);
            let moved = if label == 0 {
                0
            } else {
                (label as i32 + shift).clamp(1, 127) as u8
            };
            y[i * frames + t] = label_class(moved);
        }
        prepare(
            &clip,
            0,
            frames,
            &mut x[i * frames * width..(i + 1) * frames * width],
        );
    }
    (x, y)
}

/// Frame accuracy on `songs` (no augmentation): pitch exact to the semitone where there is a
/// melody, and voicing (melody / none) right.
fn accuracy(
    net: &TrackerNet,
    songs: &[Song],
    frames: usize,
    device: &candle_core::Device,
) -> Result<(f32, f32), TrainError> {
    let mut rng = Rng::new(12345);
    let (x, y) = batch(
        songs,
        64.min(songs.len() * 4),
        frames,
        &mut rng,
        Augment::NONE,
    );
    let n = y.len() / frames;
    let width = x.len() / y.len();
    let logits = net.forward(&Tensor::from_vec(x, (n, frames, width), device)?)?;
    let pred = logits.argmax(D::Minus1)?.flatten_all()?.to_vec1::<u32>()?;
    let (mut pitched, mut right, mut voicing) = (0, 0, 0);
    for (p, t) in pred.iter().zip(&y) {
        let (pv, tv) = (*p < SEMITONES as u32, *t < SEMITONES as u32);
        voicing += (pv == tv) as usize;
        if tv {
            pitched += 1;
            right += (p == t) as usize;
        }
    }
    Ok((
        right as f32 / pitched.max(1) as f32,
        voicing as f32 / y.len().max(1) as f32,
    ))
}

/// Trains (or resumes); writes checkpoints, `tracker_log.jsonl`, and finally the tracker's
/// weights and card into `config.out`. Returns the card.
pub fn train_tracker(
    config: &TrackerTrainConfig,
    log: &mut dyn FnMut(&str),
) -> Result<serde_json::Value, TrainError> {
    let params = FeatureParams::default();
    let out = &config.out;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrainError::Io { path, source }
    };
    let device = super::start_run(out, log)?;
    let (songs, melodies) = load_songs(&config.data, &params)?;
    let dev = match &config.dev {
        Some(d) => {
            let (dev_songs, dev_melodies) = load_songs(std::slice::from_ref(d), &params)?;
            super::check_no_dev_melody_trained(&melodies, &dev_melodies, d)?;
            Some(dev_songs)
        }
        None => None,
    };
    let hours = songs.iter().map(|s| s.spec.frames()).sum::<usize>() as f64
        / params.frames_per_second() as f64
        / 3600.0;
    log(&format!("{} songs ({hours:.1} h) loaded", songs.len()));
    let net_config = TrackerConfig {
        bins: params.n_bins,
        hidden: config.hidden,
        blocks: config.blocks,
        dilated_blocks: config.dilated_blocks,
    };
    let mut varmap = VarMap::new();
    let net = TrackerNet::new(
        net_config,
        VarBuilder::from_varmap(&varmap, DType::F32, &device),
    )?;
    let checkpoint = super::CheckpointFiles::new(out, "tracker_");
    let (first_step, elapsed_before) = checkpoint.resume(&mut varmap, log)?;
    if let (0, Some(init)) = (first_step, &config.init) {
        let grown = load_growing(&varmap, init, &device)?;
        log(&format!("starting from {}", init.display()));
        if grown > 0 {
            log(&format!(
                "{grown} new blocks added after the given ones; their residual branches start at zero"
            ));
        }
    }
    let mut opt = super::adamw(&varmap, config.lr)?;
    let mut log_file = super::append_log(&out.join("tracker_log.jsonl"))?;
    let width = params.n_bins + 1;
    let started = std::time::Instant::now();
    let mut last = serde_json::Value::Null;
    let workers = super::batches::default_workers(None);
    let make = |step: usize| {
        let mut rng = Rng::fork(config.seed, step as u64);
        let augment = Augment {
            transpose: true,
            timbre_eq: config.timbre_eq,
        };
        batch(&songs, config.batch, config.frames, &mut rng, augment)
    };
    let (mut acc_loss, mut acc_n) = (0.0f32, 0);
    super::batches::for_each_batch(
        first_step
            ..config
                .stop_after
                .map_or(config.steps, |s| s.min(config.steps)),
        workers,
        2 * workers + 1,
        make,
        |step, (x, y)| -> Result<(), TrainError> {
            let progress = step as f64 / config.steps.max(1) as f64;
            let lr = config.lr
                * (step as f64 / 100.0).min(1.0)
                * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            opt.set_learning_rate(lr);
            let n = y.len() / config.frames;
            let logits = net
                .forward(&Tensor::from_vec(x, (n, config.frames, width), &device)?)?
                .reshape((n * config.frames, CLASSES))?;
            let targets = Tensor::from_vec(y, n * config.frames, &device)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &targets)?;
            opt.backward_step(&loss)?;
            acc_loss += loss.to_scalar::<f32>()?;
            acc_n += 1;
            let done = step + 1;
            let last_step = done == config.steps || Some(done) == config.stop_after;
            if done % 25 == 0 || last_step {
                let mut line = serde_json::json!({
                    "step": done,
                    "loss": acc_loss / acc_n as f32,
                    "lr": lr,
                    "elapsed_s": elapsed_before + started.elapsed().as_secs_f64(),
                });
                if let Some(dev) = &dev {
                    if done % 100 == 0 || last_step {
                        let (pitch, voicing) = accuracy(&net, dev, config.frames, &device)?;
                        line["dev_pitch_accuracy"] = pitch.into();
                        line["dev_voicing_accuracy"] = voicing.into();
                    }
                }
                let _ = writeln!(log_file, "{line}");
                log(&line.to_string());
                last = line;
                (acc_loss, acc_n) = (0.0, 0);
            }
            if done % 100 == 0 || last_step {
                checkpoint.save(
                    &varmap,
                    done,
                    elapsed_before + started.elapsed().as_secs_f64(),
                )?;
            }
            Ok(())
        },
    )?;
    let weights = out.join(TRACKER_WEIGHTS);
    varmap.save(&weights)?;
    let card = serde_json::json!({
        "name": "earworm-tracker",
        "config": net_config,
        "classes": format!("MIDI {}..{} and no melody", crate::model::tracker::LOWEST_MIDI,
            crate::model::tracker::LOWEST_MIDI as usize + SEMITONES - 1),
        "training": {
            "config": config,
            "songs": songs.len(),
            "song_hours": hours,
            "wall_time_s": elapsed_before + started.elapsed().as_secs_f64(),
            "device": crate::model::device_name(&device),
            "last_log": last,
        },
    });
    let card_path = out.join(TRACKER_CARD);
    std::fs::write(
        &card_path,
        serde_json::to_string_pretty(&card).unwrap_or_default(),
    )
    .map_err(io(&card_path))?;
    Ok(card)
}

/// Loads `init` into `varmap`, which may be deeper than the network that wrote it: the
/// residual blocks it lacks keep their random first convolution and get a zero second one, so
/// each adds nothing (`h + 0`, after a ReLU of what is already non-negative) and the grown
/// network starts as exactly the given one. Returns how many blocks were added. Any other
/// missing or misshapen tensor is an error.
fn load_growing(varmap: &VarMap, init: &Path, device: &Device) -> Result<usize, TrainError> {
    let given = candle_core::safetensors::load(init, device)?;
    let mut grown = std::collections::BTreeSet::new();
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| TrainError::Candle(candle_core::Error::Msg("variable map poisoned".into())))?;
    for (name, var) in vars.iter() {
        match given.get(name) {
            Some(t) => var.set(t)?,
            None => {
                let block = ["block", "dilated"].iter().find_map(|kind| {
                    name.strip_prefix(kind)
                        .and_then(|rest| rest.split_once('.'))
                        .filter(|(i, _)| i.parse::<usize>().is_ok())
                        .map(|(i, rest)| (format!("{kind}{i}"), rest))
                });
                match block {
                    Some((i, rest)) => {
                        grown.insert(i);
                        if rest.starts_with("b.") {
                            var.set(&var.zeros_like()?)?;
                        }
                    }
                    None => {
                        return Err(TrainError::Candle(candle_core::Error::Msg(format!(
                            "{}: no tensor {name}",
                            init.display()
                        ))))
                    }
                }
            }
        }
    }
    Ok(grown.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::gm::Texture;

    /// End to end on a few homophonic songs (rendered with the small GM font CI installs): a
    /// run writes a loadable tracker of the asked size, and a fine-tune of no steps from it
    /// gives back exactly its weights.
    #[test]
    fn trains_a_tracker_of_the_asked_size_and_fine_tunes_from_given_weights() {
        let font = Path::new(crate::synth::gm::TIMGM6MB);
        let corpus_path = crate::synth::corpus::default_path();
        assert!(
            font.exists() && corpus_path.exists(),
            "needs {} (apt: timgm6mb-soundfont) and {}",
            font.display(),
            corpus_path.display()
        );
        let melodies = crate::synth::corpus::load(&corpus_path).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("pairs");
        let spec = crate::synth::pairs::PairsSpec {
            split: crate::synth::corpus::Split::Train,
            songs: 3,
            hums_per_song: 0,
            voices: crate::synth::VoicePool::Train,
            seed: 4,
            soundfont: font.into(),
            threads: 2,
            textured: 1.0,
            textures: vec![Texture::Homophonic],
            descants: true,
            labels: crate::synth::pairs::SongLabels::Melody,
            leads: Vec::new(),
        };
        crate::synth::pairs::generate(&melodies, &data, &spec, &|_, _| {}).unwrap();
        let config = TrackerTrainConfig {
            data: vec![data.clone()],
            dev: None,
            out: dir.path().join("first"),
            steps: 30,
            batch: 4,
            frames: 64,
            lr: 1e-3,
            seed: 1,
            init: None,
            hidden: 16,
            blocks: 1,
            dilated_blocks: 0,
            stop_after: None,
            timbre_eq: false,
        };
        let card = train_tracker(&config, &mut |_| {}).unwrap();
        assert_eq!(card["config"]["hidden"], 16);
        assert_eq!(card["config"]["blocks"], 1);
        let first = crate::model::tracker::Tracker::load(&config.out).unwrap();
        let params = FeatureParams::default();
        let (songs, _) = load_songs(&config.data, &params).unwrap();
        let probs = first.probabilities(&songs[0].spec).unwrap();
        assert_eq!(probs.len(), songs[0].spec.frames() * CLASSES);

        let mut lines = Vec::new();
        let tuned = TrackerTrainConfig {
            out: dir.path().join("tuned"),
            steps: 0,
            init: Some(config.out.join(TRACKER_WEIGHTS)),
            ..config.clone()
        };
        train_tracker(&tuned, &mut |l| lines.push(l.to_string())).unwrap();
        assert!(
            lines.iter().any(|l| l.starts_with("starting from")),
            "{lines:?}"
        );
        let again = crate::model::tracker::Tracker::load(&tuned.out).unwrap();
        assert_eq!(again.probabilities(&songs[0].spec).unwrap(), probs);

        // A deeper network grown from those weights (two plain blocks more, and two dilated
        // ones that hear 4 and 8 frames apart) starts as the same tracker.
        let mut lines = Vec::new();
        let deeper = TrackerTrainConfig {
            out: dir.path().join("deeper"),
            blocks: 3,
            dilated_blocks: 2,
            ..tuned.clone()
        };
        let card = train_tracker(&deeper, &mut |l| lines.push(l.to_string())).unwrap();
        assert_eq!(card["config"]["blocks"], 3);
        assert_eq!(card["config"]["dilated_blocks"], 2);
        assert!(
            lines.iter().any(|l| l.starts_with("4 new blocks")),
            "{lines:?}"
        );
        let grown = crate::model::tracker::Tracker::load(&deeper.out).unwrap();
        let grown_probs = grown.probabilities(&songs[0].spec).unwrap();
        let most = probs
            .iter()
            .zip(&grown_probs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(most < 1e-5, "grown tracker differs by {most}");
        // A run stopped early ends at that step of the longer schedule.
        let stopped = TrackerTrainConfig {
            out: dir.path().join("stopped"),
            init: None,
            stop_after: Some(10),
            ..config.clone()
        };
        let card = train_tracker(&stopped, &mut |_| {}).unwrap();
        assert_eq!(card["training"]["last_log"]["step"], 10);
        // (Its learning rate is the 30-step schedule's at step 10, not a finished schedule's.)
        assert!(card["training"]["last_log"]["lr"].as_f64().unwrap() > 5e-5);
        assert!(crate::model::tracker::Tracker::load(&stopped.out).is_ok());
        // A narrower or wider network cannot start from them.
        let wider = TrackerTrainConfig {
            out: dir.path().join("wider"),
            hidden: 24,
            ..tuned.clone()
        };
        assert!(train_tracker(&wider, &mut |_| {}).is_err());
    }

    #[test]
    fn timbre_eq_changes_the_excerpts_not_their_labels() {
        let bins = FeatureParams::default().n_bins;
        let frames = 16;
        let songs = vec![Song {
            spec: Spectrogram {
                bins,
                data: (0..frames * bins)
                    .map(|i| 1.0 + (i % 7) as f32 * 0.3)
                    .collect(),
            },
            labels: (0..frames).map(|t| 60 + (t % 5) as u8).collect(),
        }];
        let draw = |timbre_eq| {
            let augment = Augment {
                transpose: false,
                timbre_eq,
            };
            batch(&songs, 8, frames, &mut Rng::new(3), augment)
        };
        let (plain, plain_labels) = draw(false);
        let (equalised, eq_labels) = draw(true);
        assert_eq!(plain_labels, eq_labels);
        let changed = plain
            .iter()
            .zip(&equalised)
            .filter(|(a, b)| (*a - *b).abs() > 1e-3)
            .count();
        assert!(
            changed > plain.len() / 4,
            "{changed} of {} inputs changed",
            plain.len()
        );
        assert!(equalised.iter().all(|v| v.is_finite()));
    }
}
