//! Training the melody embedding (`earworm train`) on the pairs corpus from
//! [`crate::synth::pairs`]: (song window, hum window of the same melody) pairs, augmented in
//! the feature domain, with a triplet loss and the batch-wide confidence loss of Hum to Search.
//!
//! Deterministic per seed: batch `n` draws from `Rng::fork(seed, n)`, so a resumed run sees the
//! same batches as an uninterrupted one (optimizer moments restart at a resume).

pub mod batches;
pub mod tracker;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};

use crate::model::features::{
    interval_features, interval_features_tensor, FeatureParams, Spectrogram,
};
use crate::model::{default_net_config, MelodyNet, ModelCard, NetConfig, CARD_FILE, WEIGHTS_FILE};
use crate::synth::pairs::{read_shard, shard_paths, PairsError};
use crate::synth::Rng;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub data: PathBuf,
    /// Pairs rendered from dev melodies: a retrieval check logged during training.
    pub dev: Option<PathBuf>,
    pub out: PathBuf,
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
    pub margin: f32,
    pub temperature: f32,
    /// Weight of the confidence loss; 0 trains with the triplet loss alone (the ablation).
    pub confidence_weight: f32,
    pub checkpoint_every: usize,
    pub eval_every: usize,
    /// Stop after this step (the schedule still spans `steps`): one stage of a longer run.
    #[serde(default)]
    pub until: Option<usize>,
    /// Threads preparing batches ([`batches::default_workers`] when unset).
    #[serde(default)]
    pub batch_workers: Option<usize>,
    /// Steps of linear learning-rate warm-up before the cosine decay.
    #[serde(default = "default_warmup")]
    pub warmup: usize,
    /// Compute the hums' interval features on the training device (tensor ops beside the
    /// network) rather than on the batch-preparation threads: for a GPU fed by few cores. With
    /// 15 threads an H200 trained faster with the threads' features (docs/MEASURED.md, "GPU").
    #[serde(default)]
    pub hum_features_on_device: bool,
}

/// A batch as the preparation threads hand it on.
enum PreparedBatch {
    /// (hum windows, song windows), features computed.
    Ready(Vec<f32>, Vec<f32>),
    /// Hum features still to compute on the device.
    Raw(RawBatch),
}

fn default_warmup() -> usize {
    200
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] PairsError),
    #[error("no training pairs in {0} (make them with `earworm synth pairs`)")]
    NoData(PathBuf),
    #[error("training data in {path} was made with different feature parameters than this build")]
    FeatureMismatch { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// One song of the corpus, ready for sampling.
struct SongData {
    spec: Spectrogram,
    /// Interval features, channel-major.
    feats: Vec<f32>,
    frames: usize,
}

struct HumData {
    spec: Spectrogram,
    map: Vec<f32>,
    song: usize,
    /// Frames whose song position is known: window centres are drawn from these.
    anchored: Vec<usize>,
}

pub struct PairCorpus {
    songs: Vec<SongData>,
    hums: Vec<HumData>,
    /// For each song, its hums.
    hums_of: Vec<Vec<usize>>,
    pub melodies: Vec<String>,
    pub hours_song: f64,
    pub hours_hum: f64,
}

impl PairCorpus {
    /// Loads every shard in `dir` and precomputes the song features (on `threads` threads).
    pub fn load(dir: &Path, params: &FeatureParams, threads: usize) -> Result<Self, TrainError> {
        let paths = shard_paths(dir)?;
        if paths.is_empty() {
            return Err(TrainError::NoData(dir.into()));
        }
        let mut songs_raw = Vec::new();
        let mut hums = Vec::new();
        let mut melodies = Vec::new();
        for path in &paths {
            let shard = read_shard(path)?;
            if shard.header.params != *params {
                return Err(TrainError::FeatureMismatch { path: path.clone() });
            }
            let base = songs_raw.len();
            for (h, (spec, map)) in shard.header.hums.iter().zip(shard.hums) {
                let anchored = (0..map.len())
                    .filter(|&t| map[t].is_finite())
                    .collect::<Vec<_>>();
                if anchored.is_empty() {
                    continue;
                }
                hums.push(HumData {
                    spec,
                    map,
                    song: base + h.song,
                    anchored,
                });
            }
            melodies.extend(shard.header.songs.iter().map(|s| s.melody_id.clone()));
            songs_raw.extend(shard.songs.into_iter().map(|(spec, _labels)| spec));
        }
        let feats: Vec<std::sync::Mutex<Option<Vec<f32>>>> = songs_raw
            .iter()
            .map(|_| std::sync::Mutex::new(None))
            .collect();
        std::thread::scope(|scope| {
            for t in 0..threads.max(1) {
                let (songs_raw, feats) = (&songs_raw, &feats);
                scope.spawn(move || {
                    for i in (t..songs_raw.len()).step_by(threads.max(1)) {
                        let f = interval_features(params, &songs_raw[i]);
                        if let Ok(mut slot) = feats[i].lock() {
                            *slot = Some(f);
                        }
                    }
                });
            }
        });
        let fps = params.frames_per_second() as f64;
        let hours_song = songs_raw.iter().map(|s| s.frames() as f64).sum::<f64>() / fps / 3600.0;
        let hours_hum = hums.iter().map(|h| h.spec.frames() as f64).sum::<f64>() / fps / 3600.0;
        let songs: Vec<SongData> = songs_raw
            .into_iter()
            .zip(feats)
            .map(|(spec, f)| {
                let frames = spec.frames();
                SongData {
                    spec,
                    feats: f.into_inner().ok().flatten().unwrap_or_default(),
                    frames,
                }
            })
            .collect();
        let mut hums_of = vec![Vec::new(); songs.len()];
        for (i, h) in hums.iter().enumerate() {
            hums_of[h.song].push(i);
        }
        Ok(Self {
            songs,
            hums,
            hums_of,
            melodies,
            hours_song,
            hours_hum,
        })
    }

    pub fn songs(&self) -> usize {
        self.songs.len()
    }

    pub fn hums(&self) -> usize {
        self.hums.len()
    }

    /// A batch of `n` pairs from distinct songs: (hum windows, song windows), each
    /// `n × channels × window_frames`. `augment` switches the feature-domain augmentation.
    pub fn batch(
        &self,
        params: &FeatureParams,
        n: usize,
        rng: &mut Rng,
        augment: bool,
    ) -> (Vec<f32>, Vec<f32>) {
        self.raw_batch(params, n, rng, augment)
            .finish_on_cpu(params)
    }

    /// The same batch as [`PairCorpus::batch`] (the same draws from `rng`), with the hums'
    /// interval features not yet computed: the costly part, left to wherever the network runs.
    pub fn raw_batch(
        &self,
        params: &FeatureParams,
        n: usize,
        rng: &mut Rng,
        augment: bool,
    ) -> RawBatch {
        let (ch, w) = (params.channels(), params.window_frames);
        let mut song_out = vec![0.0f32; n * ch * w];
        let with_hums: Vec<usize> = (0..self.songs.len())
            .filter(|&s| !self.hums_of[s].is_empty())
            .collect();
        let mut chosen: Vec<usize> = Vec::with_capacity(n);
        while chosen.len() < n.min(with_hums.len()) {
            let s = *rng.pick(&with_hums);
            if !chosen.contains(&s) {
                chosen.push(s);
            }
        }
        let mut hum_clips = Vec::with_capacity(n);
        let mut hum_dropped = Vec::with_capacity(n);
        for (i, &s) in chosen.iter().enumerate() {
            let hum = &self.hums[*rng.pick(&self.hums_of[s])];
            let song = &self.songs[s];
            // Time stretch of the hum (tempo robustness beyond what the hums already vary).
            let stretch = if augment { rng.range(0.85, 1.18) } else { 1.0 };
            let centre = *rng.pick(&hum.anchored);
            let span = ((w + params.lags[3]) as f32 / stretch).ceil() as usize;
            let start = centre
                .saturating_sub(span / 2)
                .min(hum.spec.frames().saturating_sub(span));
            let end = (start + span).min(hum.spec.frames());
            let mut clip = Spectrogram {
                bins: hum.spec.bins,
                data: hum.spec.data[start * hum.spec.bins..end * hum.spec.bins].to_vec(),
            };
            if augment && (stretch - 1.0).abs() > 1e-3 {
                clip = clip.stretch(stretch);
            }
            if augment && rng.chance(0.3) {
                // Accompaniment leaking into the mic: another song, quietly, in the magnitude domain.
                let other = &self.songs[rng.int(0, self.songs.len() as i32 - 1) as usize].spec;
                let offset = rng.int(0, other.frames().saturating_sub(1) as i32) as usize;
                let gain = 10f32.powf(rng.range(-25.0, -8.0) / 20.0);
                for t in 0..clip.frames() {
                    let o = (offset + t) % other.frames().max(1);
                    for b in 0..clip.bins {
                        let (a, c) = (clip.data[t * clip.bins + b], other.data[o * other.bins + b]);
                        clip.data[t * clip.bins + b] = (a.exp() + gain * (c.exp() - 1.0)).ln();
                    }
                }
            }
            hum_clips.push(clip);
            // The song window centred on where the hum's centre sits in the song.
            let song_centre = hum.map[centre].round() as usize;
            let s0 = song_centre
                .saturating_sub(w / 2)
                .min(song.frames.saturating_sub(w));
            copy_window(
                &song.feats,
                song.frames,
                s0,
                ch,
                w,
                &mut song_out[i * ch * w..(i + 1) * ch * w],
            );
            // Frame dropout: a few frames go silent (breaths, dropouts, masked notes); the hum's
            // are applied once its features exist.
            let mut dropped = Vec::new();
            if augment {
                for _ in 0..rng.int(0, (w / 12) as i32) {
                    dropped.push(rng.int(0, w as i32 - 1) as usize);
                }
                let window = &mut song_out[i * ch * w..(i + 1) * ch * w];
                for _ in 0..rng.int(0, (w / 12) as i32) {
                    let t = rng.int(0, w as i32 - 1) as usize;
                    for c in 0..ch {
                        window[c * w + t] = 0.0;
                    }
                }
            }
            hum_dropped.push(dropped);
        }
        song_out.truncate(hum_clips.len() * ch * w);
        RawBatch {
            hum_clips,
            hum_dropped,
            song_windows: song_out,
        }
    }
}

/// A batch whose song windows are ready and whose hums are still spectrogram clips
/// ([`PairCorpus::raw_batch`]).
pub struct RawBatch {
    /// Hum clips, stretched and with accompaniment mixed in; a window is their first frames.
    hum_clips: Vec<Spectrogram>,
    /// Per hum, the window frames that frame dropout silences.
    hum_dropped: Vec<Vec<usize>>,
    /// `pairs × channels × window_frames`.
    pub song_windows: Vec<f32>,
}

impl RawBatch {
    pub fn pairs(&self) -> usize {
        self.hum_clips.len()
    }

    /// Hum windows computed here, on the calling thread: (hum windows, song windows).
    pub fn finish_on_cpu(self, params: &FeatureParams) -> (Vec<f32>, Vec<f32>) {
        let (ch, w) = (params.channels(), params.window_frames);
        let mut hum_out = vec![0.0f32; self.hum_clips.len() * ch * w];
        for (i, (clip, dropped)) in self.hum_clips.iter().zip(&self.hum_dropped).enumerate() {
            let window = &mut hum_out[i * ch * w..(i + 1) * ch * w];
            copy_window(
                &interval_features(params, clip),
                clip.frames(),
                0,
                ch,
                w,
                window,
            );
            for &t in dropped {
                for c in 0..ch {
                    window[c * w + t] = 0.0;
                }
            }
        }
        (hum_out, self.song_windows)
    }

    /// Hum windows as a `(pairs, channels, window_frames)` tensor computed on `device`
    /// ([`interval_features_tensor`]): the same values as [`RawBatch::finish_on_cpu`] up to
    /// rounding.
    pub fn hum_windows_on(
        &self,
        params: &FeatureParams,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let (n, bins, w) = (self.pairs(), params.n_bins, params.window_frames);
        let frames = self
            .hum_clips
            .iter()
            .map(|c| c.frames())
            .max()
            .unwrap_or(0)
            .max(w);
        let mut clips = vec![0.0f32; n * frames * bins];
        let mut keep = vec![1.0f32; n * w];
        for (i, (clip, dropped)) in self.hum_clips.iter().zip(&self.hum_dropped).enumerate() {
            clips[i * frames * bins..i * frames * bins + clip.data.len()]
                .copy_from_slice(&clip.data);
            for &t in dropped {
                keep[i * w + t] = 0.0;
            }
        }
        let clips = Tensor::from_vec(clips, (n, frames, bins), device)?;
        let keep = Tensor::from_vec(keep, (n, 1, w), device)?;
        interval_features_tensor(params, &clips)?
            .narrow(2, 0, w)?
            .broadcast_mul(&keep)
    }
}

fn copy_window(feats: &[f32], frames: usize, start: usize, ch: usize, w: usize, out: &mut [f32]) {
    let take = frames.saturating_sub(start).min(w);
    for c in 0..ch {
        out[c * w..c * w + take]
            .copy_from_slice(&feats[c * frames + start..c * frames + start + take]);
    }
}

/// Losses of one batch: hum embeddings `h` and song embeddings `s`, both (n, dim), row i a pair.
pub struct Losses {
    pub total: Tensor,
    pub triplet: f32,
    pub confidence: f32,
}

pub fn losses(
    h: &Tensor,
    s: &Tensor,
    margin: f32,
    temperature: f32,
    confidence_weight: f32,
) -> candle_core::Result<Losses> {
    let n = h.dim(0)?;
    let device = h.device();
    let sim = h.matmul(&s.t()?)?; // (n, n): cosine similarities
    let eye = Tensor::eye(n, DType::F32, device)?;
    let pos = (&sim * &eye)?.sum_keepdim(1)?; // (n, 1)
                                              // Triplet (hum anchor, its song segment, other songs' segments), averaged over the
                                              // triplets that still violate the margin.
    let viol = (sim.broadcast_sub(&pos)? + margin as f64)?.relu()?;
    let viol = (viol * (1.0 - &eye)?)?;
    let active = viol
        .gt(1e-6)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?
        .max(1.0);
    let triplet = (viol.sum_all()? / active as f64)?;
    // Confidence: every hum picks its song among all the batch's songs, and every song its hum.
    let targets = Tensor::arange(0u32, n as u32, device)?;
    let logits = (&sim / temperature as f64)?;
    let conf = ((candle_nn::loss::cross_entropy(&logits, &targets)?
        + candle_nn::loss::cross_entropy(&logits.t()?, &targets)?)?
        / 2.0)?;
    let total = if confidence_weight > 0.0 {
        (&triplet + (&conf * confidence_weight as f64)?)?
    } else {
        triplet.clone()
    };
    Ok(Losses {
        triplet: triplet.to_scalar::<f32>()?,
        confidence: conf.to_scalar::<f32>()?,
        total,
    })
}

/// Hum→song retrieval among `n` held-out pairs: (top-1, top-10), each hum ranked against all
/// `n` song windows.
pub fn pair_retrieval(
    net: &MelodyNet,
    corpus: &PairCorpus,
    params: &FeatureParams,
    n: usize,
    device: &Device,
) -> candle_core::Result<(f32, f32)> {
    let mut rng = Rng::new(12345);
    let n = n.min(corpus.songs());
    let (ch, w) = (params.channels(), params.window_frames);
    let mut he = Vec::new();
    let mut se = Vec::new();
    for b0 in (0..n).step_by(64) {
        let b = 64.min(n - b0);
        let (hw, sw) = corpus.batch(params, b, &mut rng, false);
        he.push(net.forward(&Tensor::from_vec(hw, (b, ch, w), device)?)?);
        se.push(net.forward(&Tensor::from_vec(sw, (b, ch, w), device)?)?);
    }
    let h = Tensor::cat(&he, 0)?;
    let s = Tensor::cat(&se, 0)?;
    let sim = h.matmul(&s.t()?)?.to_vec2::<f32>()?;
    // Pairs are drawn batch by batch, so a song can appear twice; its other window then
    // counts against it (a slight underestimate).
    let (mut top1, mut top10) = (0, 0);
    for (i, row) in sim.iter().enumerate() {
        let better = row.iter().filter(|&&v| v > row[i]).count();
        top1 += (better == 0) as usize;
        top10 += (better < 10) as usize;
    }
    Ok((
        top1 as f32 / sim.len() as f32,
        top10 as f32 / sim.len() as f32,
    ))
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    step: usize,
    elapsed_s: f64,
}

/// A training run's checkpoint files in its output folder: weights and (step, time so far).
pub(crate) struct CheckpointFiles {
    weights: PathBuf,
    state: PathBuf,
}

impl CheckpointFiles {
    /// `<prefix>checkpoint.safetensors` and `<prefix>checkpoint.json` in `out`.
    pub(crate) fn new(out: &Path, prefix: &str) -> Self {
        Self {
            weights: out.join(format!("{prefix}checkpoint.safetensors")),
            state: out.join(format!("{prefix}checkpoint.json")),
        }
    }

    /// Loads the checkpoint into `varmap` if there is one: (first step, seconds trained before).
    pub(crate) fn resume(
        &self,
        varmap: &mut VarMap,
        log: &mut dyn FnMut(&str),
    ) -> Result<(usize, f64), TrainError> {
        if !(self.weights.is_file() && self.state.is_file()) {
            return Ok((0, 0.0));
        }
        varmap.load(&self.weights)?;
        let state = std::fs::read_to_string(&self.state)
            .ok()
            .and_then(|t| serde_json::from_str::<Checkpoint>(&t).ok())
            .unwrap_or(Checkpoint {
                step: 0,
                elapsed_s: 0.0,
            });
        log(&format!("resuming from step {}", state.step));
        Ok((state.step, state.elapsed_s))
    }

    /// Writes the weights (through a temporary file and a rename) and the state.
    pub(crate) fn save(
        &self,
        varmap: &VarMap,
        step: usize,
        elapsed_s: f64,
    ) -> Result<(), TrainError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TrainError::Io { path, source }
        };
        let tmp = self.weights.with_extension("tmp.safetensors");
        varmap.save(&tmp)?;
        std::fs::rename(&tmp, &self.weights).map_err(io(&self.weights))?;
        let state = Checkpoint { step, elapsed_s };
        std::fs::write(
            &self.state,
            serde_json::to_string(&state).unwrap_or_default(),
        )
        .map_err(io(&self.state))
    }
}

/// No dev melody may be trained on: an error naming the first one found in both.
pub(crate) fn check_no_dev_melody_trained(
    train: &[String],
    dev: &[String],
    dev_dir: &Path,
) -> Result<(), TrainError> {
    let train_set: std::collections::HashSet<&String> = train.iter().collect();
    match dev.iter().find(|m| train_set.contains(m)) {
        Some(m) => Err(TrainError::Io {
            path: dev_dir.to_path_buf(),
            source: std::io::Error::other(format!("dev melody {m} is also in the training data")),
        }),
        None => Ok(()),
    }
}

/// Starts a training run: the device (logged with why it was chosen) and the output folder.
pub(crate) fn start_run(
    out: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<candle_core::Device, TrainError> {
    let choice = crate::model::device_choice();
    log(&format!("training on {}", choice.describe()));
    std::fs::create_dir_all(out).map_err(|source| TrainError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(choice.device)
}

/// AdamW over every variable, with the weight decay both trainers use.
pub(crate) fn adamw(varmap: &VarMap, lr: f64) -> Result<AdamW, TrainError> {
    Ok(AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?)
}

/// A JSON-lines log, appended to across resumed runs.
pub(crate) fn append_log(path: &Path) -> Result<std::fs::File, TrainError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| TrainError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Runs (or resumes) training; writes checkpoints, `train_log.jsonl`, and finally the weights
/// and model card into `config.out`.
pub fn train(config: &TrainConfig, log: &mut dyn FnMut(&str)) -> Result<ModelCard, TrainError> {
    let params = FeatureParams::default();
    let out = &config.out;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrainError::Io { path, source }
    };
    let device = start_run(out, log)?;
    log(&format!("loading pairs from {}", config.data.display()));
    let t_load = std::time::Instant::now();
    // Every core computes the songs' features while loading (nothing else runs yet).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let corpus = PairCorpus::load(&config.data, &params, cores)?;
    let dev = match &config.dev {
        Some(d) => Some(PairCorpus::load(d, &params, cores)?),
        None => None,
    };
    if let (Some(dev), Some(dev_dir)) = (&dev, &config.dev) {
        check_no_dev_melody_trained(&corpus.melodies, &dev.melodies, dev_dir)?;
    }
    log(&format!(
        "{} songs ({:.1} h), {} hums ({:.1} h) loaded in {:.0} s",
        corpus.songs(),
        corpus.hours_song,
        corpus.hums(),
        corpus.hours_hum,
        t_load.elapsed().as_secs_f64()
    ));
    let songs_with_hums = corpus.hums_of.iter().filter(|h| !h.is_empty()).count();
    if songs_with_hums < config.batch {
        // A batch holds each song once (the others are its negatives).
        log(&format!(
            "warning: batches of {songs_with_hums} pairs, not {}: only {songs_with_hums} songs have hums",
            config.batch
        ));
    }
    let net_config: NetConfig = default_net_config(&params);
    let mut varmap = VarMap::new();
    let net = MelodyNet::new(
        net_config,
        VarBuilder::from_varmap(&varmap, DType::F32, &device),
    )?;
    let checkpoint = CheckpointFiles::new(out, "");
    let (first_step, elapsed_before) = checkpoint.resume(&mut varmap, log)?;
    let mut opt = adamw(&varmap, config.lr)?;
    let mut log_file = append_log(&out.join("train_log.jsonl"))?;
    let (ch, w) = (params.channels(), params.window_frames);
    let started = std::time::Instant::now();
    // Batches are prepared on worker threads while the network trains on the current one.
    let workers = batches::default_workers(config.batch_workers);
    let hum_features_on_device = config.hum_features_on_device;
    log(&format!(
        "{workers} batch-preparation threads; hum features computed {}",
        if hum_features_on_device {
            "on the training device"
        } else {
            "by those threads"
        }
    ));
    let (mut acc_t, mut acc_c, mut acc_n) = (0.0f32, 0.0f32, 0);
    let mut last_report = std::time::Instant::now();
    let mut pairs_since = 0usize;
    let last_step = config.until.unwrap_or(config.steps).min(config.steps);
    let make = |step: usize| {
        let mut rng = Rng::fork(config.seed, step as u64);
        let raw = corpus.raw_batch(&params, config.batch, &mut rng, true);
        if hum_features_on_device {
            PreparedBatch::Raw(raw)
        } else {
            let (hw, sw) = raw.finish_on_cpu(&params);
            PreparedBatch::Ready(hw, sw)
        }
    };
    let result = batches::for_each_batch(
        first_step..last_step,
        workers,
        2 * workers + 1,
        make,
        |step, batch| -> Result<(), TrainError> {
            let (hums, sw) = match batch {
                PreparedBatch::Ready(hw, sw) => {
                    let n = hw.len() / (ch * w);
                    (Tensor::from_vec(hw, (n, ch, w), &device)?, sw)
                }
                PreparedBatch::Raw(raw) => {
                    (raw.hum_windows_on(&params, &device)?, raw.song_windows)
                }
            };
            let n = sw.len() / (ch * w);
            // Warm-up then cosine decay.
            let progress = step as f64 / config.steps.max(1) as f64;
            let lr = config.lr
                * (step as f64 / config.warmup.max(1) as f64).min(1.0)
                * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            opt.set_learning_rate(lr);
            let h = net.forward(&hums)?;
            let s = net.forward(&Tensor::from_vec(sw, (n, ch, w), &device)?)?;
            let l = losses(
                &h,
                &s,
                config.margin,
                config.temperature,
                config.confidence_weight,
            )?;
            opt.backward_step(&l.total)?;
            acc_t += l.triplet;
            acc_c += l.confidence;
            acc_n += 1;
            pairs_since += n;
            let done = step + 1;
            if done % 25 == 0 || done == config.steps {
                let secs = last_report.elapsed().as_secs_f64();
                let line = serde_json::json!({
                    "step": done,
                    "triplet": acc_t / acc_n as f32,
                    "confidence": acc_c / acc_n as f32,
                    "lr": lr,
                    "pairs_per_s": pairs_since as f64 / secs.max(1e-9),
                    "elapsed_s": elapsed_before + started.elapsed().as_secs_f64(),
                });
                let _ = writeln!(log_file, "{line}");
                log(&line.to_string());
                (acc_t, acc_c, acc_n, pairs_since) = (0.0, 0.0, 0, 0);
                last_report = std::time::Instant::now();
            }
            if let Some(dev) = &dev {
                if done % config.eval_every == 0 || done == config.steps {
                    let (top1, top10) = pair_retrieval(&net, dev, &params, 512, &device)?;
                    let line = serde_json::json!({"step": done, "dev_pairs_top1": top1, "dev_pairs_top10": top10});
                    let _ = writeln!(log_file, "{line}");
                    log(&line.to_string());
                }
            }
            if done % config.checkpoint_every == 0
                || done == config.steps
                || Some(done) == config.until
            {
                checkpoint.save(
                    &varmap,
                    done,
                    elapsed_before + started.elapsed().as_secs_f64(),
                )?;
            }
            Ok(())
        },
    );
    result?;
    let wall = elapsed_before + started.elapsed().as_secs_f64();
    let dev_pairs = match &dev {
        Some(d) => {
            let (top1, top10) = pair_retrieval(&net, d, &params, 512, &device)?;
            serde_json::json!({"top1": top1, "top10": top10, "pairs": 512.min(d.songs())})
        }
        None => serde_json::Value::Null,
    };
    varmap.save(out.join(WEIGHTS_FILE))?;
    let command = format!(
        "earworm train --data {} --out {} --steps {} --batch {} --lr {} --seed {} --confidence-weight {}{}",
        config.data.display(), out.display(), config.steps, config.batch, config.lr, config.seed, config.confidence_weight,
        config.until.map(|u| format!(" --until {u}")).unwrap_or_default()
    );
    // Every stage (run or resumed run) of this output folder, oldest first.
    let stages_path = out.join("train_stages.jsonl");
    let stage = serde_json::json!({
        "command": command,
        "from_step": first_step,
        "to_step": config.until.unwrap_or(config.steps).min(config.steps),
        "wall_time_s": started.elapsed().as_secs_f64(),
    });
    let mut stages: Vec<serde_json::Value> = std::fs::read_to_string(&stages_path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    stages.push(stage);
    let _ = std::fs::write(
        &stages_path,
        stages.iter().map(|s| format!("{s}\n")).collect::<String>(),
    );
    let card = ModelCard {
        name: "earworm-melody".into(),
        version: format!("{}-{}", env!("CARGO_PKG_VERSION"), if config.confidence_weight > 0.0 { "triplet+confidence" } else { "triplet" }),
        architecture: format!(
            "interval features ({} channels: lags {:?} frames, ±{} bins) → conv1d k3, time/2 → {} residual blocks (2× conv1d k3, ReLU, time/2) → mean+max pool over time → linear {} → L2 norm; hidden {}",
            params.channels(), params.lags, params.max_shift, net_config.blocks, net_config.embedding_dim, net_config.hidden
        ),
        net: net_config,
        features: params,
        training: serde_json::json!({
            "command": command,
            "stages": stages,
            "config": config,
            "songs": corpus.songs(),
            "hums": corpus.hums(),
            "song_hours": corpus.hours_song,
            "hum_hours": corpus.hours_hum,
            "losses": if config.confidence_weight > 0.0 { "triplet (batch-all, margin) + confidence (softmax over the batch, both directions)" } else { "triplet only" },
            "wall_time_s": wall,
            "device": crate::model::device_name(&device),
            "dev_pairs_retrieval": dev_pairs,
        }),
        metrics: serde_json::Value::Null,
    };
    card.write(&out.join(CARD_FILE))
        .map_err(io(&out.join(CARD_FILE)))?;
    Ok(card)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few steps on a few pairs (rendered with the small GM font CI installs) lower the loss.
    #[test]
    fn a_tiny_training_run_lowers_the_loss() {
        let font = std::path::Path::new(crate::synth::gm::TIMGM6MB);
        let corpus_path = crate::synth::corpus::default_path();
        if !font.exists() || !corpus_path.exists() {
            panic!(
                "needs {} (apt: timgm6mb-soundfont) and {}",
                font.display(),
                corpus_path.display()
            );
        }
        let melodies = crate::synth::corpus::load(&corpus_path).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let spec = crate::synth::pairs::PairsSpec {
            split: crate::synth::corpus::Split::Train,
            songs: 6,
            hums_per_song: 1,
            voices: crate::synth::VoicePool::Train,
            seed: 3,
            soundfont: font.into(),
            threads: 2,
            textured: 0.0,
            textures: Vec::new(),
            descants: true,
            labels: crate::synth::pairs::SongLabels::Melody,
            leads: Vec::new(),
        };
        crate::synth::pairs::generate(&melodies, dir.path(), &spec, &|_, _| {}).unwrap();
        let params = FeatureParams::default();
        let corpus = PairCorpus::load(dir.path(), &params, 2).unwrap();
        assert_eq!((corpus.songs(), corpus.hums()), (6, 6));
        let device = Device::Cpu;
        // Hum features as tensor ops (how a GPU run computes them) equal the threads' ones,
        // augmentation and frame dropout included.
        for seed in 0..3 {
            let (hw, sw) = corpus.batch(&params, 5, &mut Rng::fork(9, seed), true);
            let raw = corpus.raw_batch(&params, 5, &mut Rng::fork(9, seed), true);
            assert_eq!(raw.song_windows, sw);
            let on_device: Vec<f32> = raw
                .hum_windows_on(&params, &device)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(on_device.len(), hw.len());
            let worst = hw
                .iter()
                .zip(&on_device)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-3, "batch {seed}: largest difference {worst}");
        }
        let varmap = VarMap::new();
        let net = MelodyNet::new(
            default_net_config(&params),
            VarBuilder::from_varmap(&varmap, DType::F32, &device),
        )
        .unwrap();
        let mut opt = AdamW::new(
            varmap.all_vars(),
            ParamsAdamW {
                lr: 1e-3,
                ..Default::default()
            },
        )
        .unwrap();
        let (ch, w) = (params.channels(), params.window_frames);
        let (hw, sw) = corpus.batch(&params, 6, &mut Rng::new(1), false);
        let x_h = Tensor::from_vec(hw, (6, ch, w), &device).unwrap();
        let x_s = Tensor::from_vec(sw, (6, ch, w), &device).unwrap();
        let batch_losses = |net: &MelodyNet| {
            losses(
                &net.forward(&x_h).unwrap(),
                &net.forward(&x_s).unwrap(),
                0.2,
                0.1,
                1.0,
            )
            .unwrap()
        };
        let loss = |net: &MelodyNet| batch_losses(net).total.to_scalar::<f32>().unwrap();
        let before = loss(&net);
        for _ in 0..15 {
            opt.backward_step(&batch_losses(&net).total).unwrap();
        }
        let after = loss(&net);
        assert!(after < 0.7 * before, "loss {before} -> {after}");
    }

    #[test]
    fn losses_prefer_matching_pairs() {
        let dev = Device::Cpu;
        let h = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 1.0], (2, 2), &dev).unwrap();
        let good = losses(&h, &h, 0.2, 0.1, 1.0).unwrap();
        let swapped = Tensor::from_vec(vec![0.0f32, 1.0, 1.0, 0.0], (2, 2), &dev).unwrap();
        let bad = losses(&h, &swapped, 0.2, 0.1, 1.0).unwrap();
        assert!(good.triplet < 1e-6 && bad.triplet > 1.0);
        assert!(good.confidence < bad.confidence);
    }
}
