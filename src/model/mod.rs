//! The learned melody embedding: features ([`features`]), network ([`net`]), the model card
//! that ships beside the weights, and [`Embedder`], which turns audio into window embeddings.

pub mod features;
pub mod net;
pub mod tracker;

use crate::melody::Contour;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

pub use features::{FeatureParams, Spectrogram};
pub use net::{CpuMelodyNet, FastMelodyNet, MelodyNet, NetConfig};

/// File names of the shipped model inside a model directory.
pub const WEIGHTS_FILE: &str = "melody.safetensors";
pub const CARD_FILE: &str = "melody.card.json";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("no model found (looked for {WEIGHTS_FILE} in {searched}); build one with `earworm train` or use --method baseline")]
    NotFound { searched: String },
    #[error("model card {path}: {why}")]
    Card { path: PathBuf, why: String },
    #[error("model {path} was trained with feature parameters {card} but this build computes {ours}; retrain it or use a matching build")]
    FeatureMismatch {
        path: PathBuf,
        card: String,
        ours: String,
    },
    #[error("model weights {path}: {source}")]
    Weights {
        path: PathBuf,
        source: candle_core::Error,
    },
    #[error("inference failed: {0}")]
    Inference(#[from] candle_core::Error),
}

/// What ships beside the weights: enough to know what the model is, how it was made, how good
/// it is, and to refuse it if this build would feed it different features.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ModelCard {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub net: NetConfig,
    pub features: FeatureParams,
    /// Training set-up: data, seeds, steps, losses, wall time.
    pub training: serde_json::Value,
    /// Dev-set figures measured with `earworm eval`.
    pub metrics: serde_json::Value,
}

impl ModelCard {
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Card {
            path: path.into(),
            why: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| ModelError::Card {
            path: path.into(),
            why: e.to_string(),
        })
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(tmp, path)
    }
}

/// Where the shipped model is looked for: `$EARWORM_MODEL_DIR`, `models/` beside the
/// executable (and two levels up, for `target/release`), then the source tree's `models/`.
pub fn model_dir_candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("EARWORM_MODEL_DIR") {
        dirs.push(PathBuf::from(d));
    }
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(3) {
            dirs.push(up.join("models"));
        }
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    dirs
}

pub fn find_model_dir() -> Result<PathBuf, ModelError> {
    let candidates = model_dir_candidates();
    candidates
        .iter()
        .find(|d| d.join(WEIGHTS_FILE).is_file() && d.join(CARD_FILE).is_file())
        .cloned()
        .ok_or_else(|| ModelError::NotFound {
            searched: candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The device inference and training run on, and why that one.
#[derive(Debug, Clone)]
pub struct DeviceChoice {
    pub device: Device,
    pub reason: String,
}

impl DeviceChoice {
    /// "CPU (reason)" / "GPU (CUDA) (reason)": what the CLI and the app show.
    pub fn describe(&self) -> String {
        format!("{} ({})", device_name(&self.device), self.reason)
    }
}

/// Chooses the device for a preference (`EARWORM_DEVICE`: `cpu`, `cuda`, or unset for the
/// best available). A CUDA device that was wanted but cannot be used falls back to the CPU with
/// the reason, never an error.
pub fn choose_device(preference: Option<&str>) -> DeviceChoice {
    let cpu = |reason: String| DeviceChoice {
        device: Device::Cpu,
        reason,
    };
    let wanted = preference.map(|p| p.trim().to_ascii_lowercase());
    match wanted.as_deref() {
        Some("cpu") => cpu("EARWORM_DEVICE=cpu".into()),
        Some("cuda") | None | Some("") => {
            let asked = wanted.as_deref() == Some("cuda");
            #[cfg(feature = "cuda")]
            {
                // candle's errors carry a backtrace when RUST_BACKTRACE is set: the reason is
                // its first line.
                let first_line = |e: candle_core::Error| {
                    e.to_string().lines().next().unwrap_or_default().to_string()
                };
                match Device::new_cuda(0) {
                    Ok(d) => DeviceChoice {
                        device: d,
                        reason: "CUDA device 0".into(),
                    },
                    Err(e) if asked => cpu(format!(
                        "CUDA was asked for but is unavailable: {}",
                        first_line(e)
                    )),
                    Err(e) => cpu(format!("CUDA unavailable: {}", first_line(e))),
                }
            }
            #[cfg(not(feature = "cuda"))]
            {
                cpu(if asked {
                    "CUDA was asked for, but this build has no CUDA support (build with --features cuda, tools/build_cuda.sh)".into()
                } else {
                    "this build has no CUDA support".into()
                })
            }
        }
        Some(other) => cpu(format!(
            "EARWORM_DEVICE={other} is neither cpu nor cuda; using the CPU"
        )),
    }
}

/// [`choose_device`] for the `EARWORM_DEVICE` environment variable, read when a model or a
/// training run starts.
pub fn device_choice() -> DeviceChoice {
    choose_device(std::env::var("EARWORM_DEVICE").ok().as_deref())
}

/// The inference device (see [`device_choice`] for the reason).
pub fn default_device() -> Device {
    device_choice().device
}

pub fn device_name(device: &Device) -> &'static str {
    if device.is_cuda() {
        "GPU (CUDA)"
    } else {
        "CPU"
    }
}

/// The network's inference form for the device: plain arrays on the CPU (faster there than
/// candle on a query's few dozen windows), candle's conv1d form on a GPU.
enum InferenceNet {
    Cpu(CpuMelodyNet),
    Candle(FastMelodyNet),
}

/// Turns audio into window embeddings with a loaded model.
pub struct Embedder {
    /// The training form of the network (reference for the fast one).
    net: MelodyNet,
    /// The same weights in the form embedding runs on this device.
    inference: InferenceNet,
    /// Identity of the weights (name and content hash): stored with every segment, so a
    /// new model makes the catalog re-embed.
    pub id: String,
    pub card: ModelCard,
    pub params: FeatureParams,
    pub device: Device,
    /// The device and why it was chosen.
    pub device_choice: DeviceChoice,
    pub dir: PathBuf,
    /// The learned melody tracker shipped beside the model, if any: song melodies come from
    /// it instead of the harmonic-summation extractor.
    pub tracker: Option<tracker::Tracker>,
}

impl Embedder {
    /// Loads the model in `dir`, refusing it if its feature parameters differ from this build's.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let card_path = dir.join(CARD_FILE);
        let card = ModelCard::read(&card_path)?;
        let ours = FeatureParams::default();
        if card.features != ours {
            return Err(ModelError::FeatureMismatch {
                path: card_path,
                card: format!("{:?}", card.features),
                ours: format!("{ours:?}"),
            });
        }
        if card.net.in_channels != ours.channels() {
            return Err(ModelError::Card {
                path: card_path,
                why: format!(
                    "network expects {} input channels, features have {}",
                    card.net.in_channels,
                    ours.channels()
                ),
            });
        }
        let device_choice = device_choice();
        let device = device_choice.device.clone();
        let weights = dir.join(WEIGHTS_FILE);
        let werr = |source| ModelError::Weights {
            path: weights.clone(),
            source,
        };
        let bytes = std::fs::read(&weights).map_err(|e| werr(e.into()))?;
        let id = format!("{}@{}", card.name, &blake3::hash(&bytes).to_hex()[..12]);
        let tensors = candle_core::safetensors::load_buffer(&bytes, &device).map_err(werr)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let net = MelodyNet::new(card.net, vb).map_err(werr)?;
        let inference = if device.is_cuda() {
            InferenceNet::Candle(FastMelodyNet::new(&net).map_err(werr)?)
        } else {
            InferenceNet::Cpu(CpuMelodyNet::new(&net).map_err(werr)?)
        };
        Ok(Self {
            net,
            inference,
            id,
            card,
            params: ours,
            device,
            device_choice,
            dir: dir.to_path_buf(),
            tracker: tracker::load_beside(dir)?,
        })
    }

    /// Loads the shipped model (see [`find_model_dir`]).
    pub fn load_default() -> Result<Self, ModelError> {
        Self::load(&find_model_dir()?)
    }

    pub fn dim(&self) -> usize {
        self.card.net.embedding_dim
    }

    /// Embeds windows (each `channels × window_frames`, concatenated), in batches.
    pub fn embed_windows(&self, windows: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
        let (ch, w) = (self.params.channels(), self.params.window_frames);
        let fast = match &self.inference {
            InferenceNet::Cpu(cpu) => return Ok(cpu.embed_many(windows, w)),
            InferenceNet::Candle(fast) => fast,
        };
        let n = windows.len() / (ch * w);
        let mut out = Vec::with_capacity(n);
        const BATCH: usize = 64;
        for b0 in (0..n).step_by(BATCH) {
            let b = BATCH.min(n - b0);
            let x = Tensor::from_slice(
                &windows[b0 * ch * w..(b0 + b) * ch * w],
                (b, ch, w),
                &self.device,
            )?;
            let e = fast.forward(&x)?.to_vec2::<f32>()?;
            out.extend(e);
        }
        Ok(out)
    }

    /// Embeds windows with the training form of the network (slower; for checking the fast
    /// form against it).
    pub fn embed_windows_reference(&self, windows: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
        let (ch, w) = (self.params.channels(), self.params.window_frames);
        let n = windows.len() / (ch * w);
        let x = Tensor::from_slice(windows, (n, ch, w), &self.device)?;
        Ok(self.net.forward(&x)?.to_vec2::<f32>()?)
    }

    /// Window embeddings of a clip's spectrogram, windows `hop` frames apart: (start frame, embedding).
    pub fn embed_spectrogram(
        &self,
        spec: &Spectrogram,
        hop: usize,
    ) -> Result<Vec<(usize, Vec<f32>)>, ModelError> {
        let (starts, wins) = self.cut_windows(spec, hop);
        Ok(starts.into_iter().zip(self.embed_windows(&wins)?).collect())
    }

    /// The network's input for a clip's windows `hop` frames apart, concatenated (what
    /// [`Self::embed_windows`] takes), without embedding them.
    pub fn query_windows(&self, spec: &Spectrogram, hop: usize) -> Vec<f32> {
        self.cut_windows(spec, hop).1
    }

    fn cut_windows(&self, spec: &Spectrogram, hop: usize) -> (Vec<usize>, Vec<f32>) {
        let feats = features::interval_features(&self.params, spec);
        let frames = spec.frames();
        let starts = features::window_starts(&self.params, frames, hop);
        let wins = features::windows(&self.params, &feats, frames, &starts);
        (starts, wins)
    }
}

/// Segment hop used when indexing songs: one embedding per second.
pub const SONG_SEGMENT_HOP: usize = 25;

/// A song window whose loudest spectrogram cell stays below this is silent (digital silence,
/// dither, a fade's tail: below about -95 dBFS). Its embedding is stored as all zeros, which
/// the search keeps out of its index: silence matches every quiet hum window equally well.
pub const SILENT_WINDOW_LEVEL: f32 = 0.5;

impl Embedder {
    /// Segment embeddings of a song: (start s, embedding), one per [`SONG_SEGMENT_HOP`] frames;
    /// silent windows (see [`SILENT_WINDOW_LEVEL`]) get the zero vector.
    pub fn embed_song(&self, spec: &Spectrogram) -> Result<Vec<(f32, Vec<f32>)>, ModelError> {
        let fps = self.params.frames_per_second();
        let w = self.params.window_frames;
        Ok(self
            .embed_spectrogram(spec, SONG_SEGMENT_HOP)?
            .into_iter()
            .map(|(start, e)| {
                let e = if window_is_silent(spec, start, w) {
                    vec![0.0; e.len()]
                } else {
                    e
                };
                (start as f32 / fps, e)
            })
            .collect())
    }
}

/// What [`melody_model_id`] appends to the model's id.
pub const MELODY_MODEL_SUFFIX: &str = "#melody";

/// The id under which songs' melody segments ([`Embedder::embed_melody`]) made by model
/// `model_id` are stored: a second segment index beside the audio's, found by the same hum
/// windows.
pub fn melody_model_id(model_id: &str) -> String {
    format!("{model_id}{MELODY_MODEL_SUFFIX}")
}

impl Embedder {
    /// [`melody_model_id`] of this model.
    pub fn melody_model_id(&self) -> String {
        melody_model_id(&self.id)
    }

    /// Segment embeddings of a song's melody alone, played as a sine
    /// ([`Contour::render_sine`]), one per [`SONG_SEGMENT_HOP`] frames like [`Self::embed_song`].
    /// A melody with no voiced window still gets one (silent, all-zero) segment, so the catalog
    /// records that it was embedded.
    pub fn embed_melody(&self, melody: &Contour) -> Result<Vec<(f32, Vec<f32>)>, ModelError> {
        let spec = features::spectrogram(&self.params, &melody.render_sine());
        let mut segments = if spec.frames() == 0 {
            Vec::new()
        } else {
            self.embed_song(&spec)?
        };
        if segments.is_empty() {
            segments.push((0.0, vec![0.0; self.dim()]));
        }
        Ok(segments)
    }
}

/// True when frames `start..start + len` of `spec` (those that exist) are all below
/// [`SILENT_WINDOW_LEVEL`].
pub fn window_is_silent(spec: &Spectrogram, start: usize, len: usize) -> bool {
    let end = (start + len).min(spec.frames());
    let from = start.min(end) * spec.bins;
    spec.data[from..end * spec.bins]
        .iter()
        .all(|&v| v < SILENT_WINDOW_LEVEL)
}

/// Builds a fresh, randomly initialised network config for these features.
pub fn default_net_config(params: &FeatureParams) -> NetConfig {
    NetConfig {
        in_channels: params.channels(),
        hidden: 128,
        blocks: 3,
        embedding_dim: 128,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window of `dbfs` 440 Hz tone (or digital silence for `None`) plus ±1 LSB of 16-bit
    /// dither noise.
    fn window(dbfs: Option<f32>, dither: bool) -> Spectrogram {
        let params = FeatureParams::default();
        let n = params.sample_rate as usize * 6;
        let amp = dbfs.map_or(0.0, |d| 10f32.powf(d / 20.0));
        let mut x = 12345u32;
        let samples: Vec<f32> = (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let lsb = if dither {
                    ((x % 3) as f32 - 1.0) / 32768.0
                } else {
                    0.0
                };
                let t = i as f32 / params.sample_rate as f32;
                amp * (2.0 * std::f32::consts::PI * 440.0 * t).sin() + lsb
            })
            .collect();
        features::spectrogram(&params, &samples)
    }

    #[test]
    fn silence_and_dither_are_silent_windows_but_a_quiet_tone_is_not() {
        let w = FeatureParams::default().window_frames;
        assert!(window_is_silent(&window(None, false), 0, w));
        assert!(window_is_silent(&window(None, true), 0, w));
        assert!(!window_is_silent(&window(Some(-60.0), true), 0, w));
        assert!(!window_is_silent(&window(Some(-75.0), false), 0, w));
        // Past the end of the clip counts only what exists.
        assert!(window_is_silent(&window(None, false), 10_000, w));
    }
}
