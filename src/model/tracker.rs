//! The learned melody tracker: for every spectrogram frame of a song, which semitone the
//! melody is on (or none). Trained on our own renders, where every part's notes are known, in
//! every texture of the stress set (homophonic choirs, inner voices, dense bands, passed
//! melodies, sung leads, heavy production), so it learns to follow the tune where a
//! predominant-pitch extractor follows whatever is loudest. Its contour replaces the
//! harmonic-summation melody on the song side when the model is present.
//!
//! Input: the same log-frequency spectrogram the embedding reads (24 bins/octave, 25 fps),
//! each frame centred on its mean (loudness-free) plus that mean as one more channel.
//! Network: 1-D convolutions over time (bins as channels, as in [`super::net`]) with residual
//! blocks at full time resolution, then a per-frame linear layer over the classes: MIDI
//! [`LOWEST_MIDI`]..+[`SEMITONES`] and "no melody".

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Result as CResult, Tensor, D};
use candle_nn::{linear, Linear, VarBuilder};

use super::features::Spectrogram;
use super::net::{CpuConv, TimeConv};
use super::ModelError;
use crate::melody::{Contour, CONTOUR_FPS};

/// Lowest melody pitch the tracker names (A2).
pub const LOWEST_MIDI: u8 = 45;
/// Semitones it names: A2..G#6.
pub const SEMITONES: usize = 48;
/// Classes: one per semitone, then "no melody".
pub const CLASSES: usize = SEMITONES + 1;
pub const TRACKER_WEIGHTS: &str = "tracker.safetensors";
pub const TRACKER_CARD: &str = "tracker.card.json";

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackerConfig {
    pub bins: usize,
    pub hidden: usize,
    pub blocks: usize,
    /// Residual blocks after `blocks` whose convolutions read frames 2, 4, 8, ... apart, so
    /// the tracker hears several seconds around a frame (which voice moves like a tune) where
    /// the plain blocks hear 1.5 s. Absent (0) in trackers made before them.
    #[serde(default)]
    pub dilated_blocks: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            bins: 120,
            hidden: 128,
            blocks: 3,
            dilated_blocks: 0,
        }
    }
}

impl TrackerConfig {
    /// Frames between the taps of dilated block `i`.
    fn dilation(i: usize) -> usize {
        2usize.pow(i as u32 + 1)
    }

    /// Frames either side of a frame that the dilated blocks add to what the network hears
    /// (the plain ones hear 2 + `blocks` x 2).
    pub fn dilated_reach(&self) -> usize {
        (0..self.dilated_blocks)
            .map(|i| 2 * Self::dilation(i))
            .sum()
    }
}

pub struct TrackerNet {
    input: TimeConv,
    /// The plain blocks, then the dilated ones.
    blocks: Vec<(TimeConv, TimeConv)>,
    head: Linear,
    pub config: TrackerConfig,
}

impl TrackerNet {
    pub fn new(config: TrackerConfig, vb: VarBuilder) -> CResult<Self> {
        let input = TimeConv::new(config.bins + 1, config.hidden, 5, vb.pp("input"))?;
        let block = |name: String, dilation: usize| -> CResult<(TimeConv, TimeConv)> {
            let vb = vb.pp(name);
            Ok((
                TimeConv::dilated(config.hidden, config.hidden, 3, dilation, vb.pp("a"))?,
                TimeConv::dilated(config.hidden, config.hidden, 3, dilation, vb.pp("b"))?,
            ))
        };
        let blocks = (0..config.blocks)
            .map(|i| block(format!("block{i}"), 1))
            .chain(
                (0..config.dilated_blocks)
                    .map(|i| block(format!("dilated{i}"), TrackerConfig::dilation(i))),
            )
            .collect::<CResult<Vec<_>>>()?;
        let head = linear(config.hidden, CLASSES, vb.pp("head"))?;
        Ok(Self {
            input,
            blocks,
            head,
            config,
        })
    }

    /// `x`: (batch, frames, bins + 1) prepared by [`prepare`] → logits (batch, frames, CLASSES).
    pub fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let mut h = self.input.forward(x)?.relu()?;
        for (a, b) in &self.blocks {
            let r = b.forward(&a.forward(&h)?.relu()?)?;
            h = (h + r)?.relu()?;
        }
        self.head.forward(&h)
    }
}

/// Inference form of a [`TrackerNet`] for the CPU, without candle: the same weights as plain
/// arrays, each convolution one single-threaded matrix product ([`CpuConv`]). Indexing runs
/// both trackers three times per song; through candle each small product was split over the
/// cores that the indexer's workers already keep busy.
pub struct CpuTrackerNet {
    input: CpuConv,
    blocks: Vec<[CpuConv; 2]>,
    /// (CLASSES × hidden), row-major.
    head: Vec<f32>,
    head_bias: Vec<f32>,
}

impl CpuTrackerNet {
    pub fn new(net: &TrackerNet) -> CResult<Self> {
        Ok(Self {
            input: CpuConv::new(&net.input)?,
            blocks: net
                .blocks
                .iter()
                .map(|(a, b)| Ok([CpuConv::new(a)?, CpuConv::new(b)?]))
                .collect::<CResult<_>>()?,
            head: net.head.weight().flatten_all()?.to_vec1::<f32>()?,
            head_bias: match net.head.bias() {
                Some(b) => b.to_vec1::<f32>()?,
                None => vec![0.0; CLASSES],
            },
        })
    }

    /// `x`: `frames × (bins + 1)` prepared by [`prepare`] → class probabilities, `frames ×
    /// CLASSES` (as [`TrackerNet::forward`] followed by a softmax per frame).
    pub fn probabilities(&self, x: &[f32], frames: usize) -> Vec<f32> {
        let (mut padded, mut h, mut a, mut r) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        self.input.forward(x, frames, &mut padded, &mut h);
        h.iter_mut().for_each(|v| *v = v.max(0.0));
        for [conv_a, conv_b] in &self.blocks {
            conv_a.forward(&h, frames, &mut padded, &mut a);
            a.iter_mut().for_each(|v| *v = v.max(0.0));
            conv_b.forward(&a, frames, &mut padded, &mut r);
            for (hv, rv) in h.iter_mut().zip(&r) {
                *hv = (*hv + rv).max(0.0);
            }
        }
        let hidden = self.input.outputs;
        let mut out = Vec::with_capacity(frames * CLASSES);
        for frame in h.chunks_exact(hidden).take(frames) {
            let start = out.len();
            out.extend(
                self.head
                    .chunks_exact(hidden)
                    .zip(&self.head_bias)
                    .map(|(w, b)| b + crate::dsp::dot(w, frame)),
            );
            let row = &mut out[start..];
            let max = row.iter().copied().fold(f32::MIN, f32::max);
            let mut total = 0.0;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                total += *v;
            }
            row.iter_mut().for_each(|v| *v /= total);
        }
        out
    }
}

/// Network input for frames `start..start+len` of `spec` (zero-padded past the end): per
/// frame the bins minus their mean, then the mean, time-major.
pub fn prepare(spec: &Spectrogram, start: usize, len: usize, out: &mut [f32]) {
    let bins = spec.bins;
    let width = bins + 1;
    for t in 0..len {
        let row = &mut out[t * width..(t + 1) * width];
        if start + t >= spec.frames() {
            row.iter_mut().for_each(|v| *v = 0.0);
            continue;
        }
        let frame = spec.frame(start + t);
        let mean = frame.iter().sum::<f32>() / bins as f32;
        for (o, v) in row.iter_mut().zip(frame) {
            *o = (v - mean) * 0.5;
        }
        row[bins] = mean * 0.25;
    }
}

/// Class of a MIDI label (0 = no melody, as stored in pairs shards).
pub fn label_class(midi: u8) -> u32 {
    if midi >= LOWEST_MIDI && ((midi - LOWEST_MIDI) as usize) < SEMITONES {
        (midi - LOWEST_MIDI) as u32
    } else {
        SEMITONES as u32
    }
}

/// A loaded tracker.
pub struct Tracker {
    net: LoadedNet,
    /// Further melody trackers whose probabilities are averaged with the first's, where their
    /// files lie beside it ([`partner_files`]; none ship): a way to try tracker ensembles,
    /// since trackers trained on different songs err in different places.
    partners: Vec<LoadedNet>,
    /// The second-voice tracker shipped beside it, if any: trained on the second-highest part
    /// of one-timbre ensembles ([`crate::synth::pairs::SongLabels::SecondVoice`]).
    second_voice: Option<LoadedNet>,
    /// Semitone shifts of extra listening passes ([`read_pitch_shifts`]; none by default).
    pitch_shifts: Vec<i32>,
    /// Spectral tilts of extra listening passes ([`read_tilts`]; none by default).
    tilts: Vec<f32>,
    device: Device,
    /// Identity of the weights (content hash of both networks, and of the listening passes):
    /// part of the stored melodies' version.
    pub id: String,
    pub dir: PathBuf,
}

/// The partner melody trackers' files beside the tracker's ([`Tracker::probabilities`]):
/// `tracker_partner*.safetensors`, each with its `.card.json`, in name order.
pub fn partner_files(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut found: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name
                .strip_prefix("tracker_partner")
                .and_then(|rest| rest.strip_suffix(".safetensors"))?;
            let card = format!("tracker_partner{stem}.card.json");
            Some((dir.join(&name), dir.join(card)))
        })
        .collect();
    found.sort();
    found
}

/// The second-voice tracker's files beside the tracker's.
pub const SECOND_VOICE_WEIGHTS: &str = "second_voice.safetensors";
pub const SECOND_VOICE_CARD: &str = "second_voice.card.json";

/// Frames per inference chunk, and context frames added on each side of it (plus the reach
/// of a tracker's dilated blocks, [`chunk_context`]).
const CHUNK: usize = 512;
const CONTEXT: usize = 16;

/// Context frames either side of an inference chunk: [`CONTEXT`] for the plain blocks (as the
/// shipped trackers were measured with), plus what dilated blocks reach beyond them.
fn chunk_context(config: &TrackerConfig) -> usize {
    CONTEXT + config.dilated_reach()
}

/// A song's lines as Earworm stores them ([`Tracker::melody_lines`]).
pub struct SongLines {
    pub melody: Contour,
    pub second_line: Contour,
    pub second_voice: Option<Contour>,
}

/// The least share of a song's frames in which the second-voice tracker must hear a second
/// voice for the song to keep one: it hears one throughout a choir or a descant and almost
/// nowhere else (on the stress set 100 songs above 0.4, 110 above 0.1 of 392; docs/MEASURED.md).
pub const MIN_SECOND_VOICE_SHARE: f32 = 0.1;

/// A tracker network for inference, with its plain-array form when it runs on the CPU.
struct LoadedNet {
    net: TrackerNet,
    cpu: Option<CpuTrackerNet>,
}

/// One tracker network from its weights and card: the network and the weights' bytes.
fn load_net(
    weights: &Path,
    card_path: &Path,
    device: &Device,
) -> Result<(LoadedNet, Vec<u8>), ModelError> {
    let card: serde_json::Value = std::fs::read_to_string(card_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| ModelError::Card {
            path: card_path.to_path_buf(),
            why: "missing or not JSON".into(),
        })?;
    let config: TrackerConfig =
        serde_json::from_value(card["config"].clone()).map_err(|e| ModelError::Card {
            path: card_path.to_path_buf(),
            why: e.to_string(),
        })?;
    let werr = |source| ModelError::Weights {
        path: weights.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(weights).map_err(|e| werr(e.into()))?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, device).map_err(werr)?;
    let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
    let net = TrackerNet::new(config, vb).map_err(werr)?;
    let cpu = match device {
        Device::Cpu => Some(CpuTrackerNet::new(&net).map_err(werr)?),
        _ => None,
    };
    Ok((LoadedNet { net, cpu }, bytes))
}

impl Tracker {
    /// The tracker in `dir`, with the second-voice tracker where its files are there too.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let device = super::default_device();
        let (net, bytes) = load_net(&dir.join(TRACKER_WEIGHTS), &dir.join(TRACKER_CARD), &device)?;
        let mut hasher = blake3::Hasher::new();
        hasher.update(&bytes);
        let mut partners = Vec::new();
        for (weights, card) in partner_files(dir) {
            let (partner, partner_bytes) = load_net(&weights, &card, &device)?;
            hasher.update(&partner_bytes);
            partners.push(partner);
        }
        let voice_weights = dir.join(SECOND_VOICE_WEIGHTS);
        let second_voice = if voice_weights.is_file() {
            let (voice, voice_bytes) =
                load_net(&voice_weights, &dir.join(SECOND_VOICE_CARD), &device)?;
            hasher.update(&voice_bytes);
            Some(voice)
        } else {
            None
        };
        let pitch_shifts = read_pitch_shifts(&dir.join(TRACKER_CARD))?;
        if !pitch_shifts.is_empty() {
            hasher.update(format!("pitch_shifts {pitch_shifts:?}").as_bytes());
        }
        let tilts = read_tilts(&dir.join(TRACKER_CARD))?;
        if !tilts.is_empty() {
            hasher.update(format!("tilts {tilts:?}").as_bytes());
        }
        let id = format!("tracker@{}", &hasher.finalize().to_hex()[..12]);
        Ok(Self {
            net,
            partners,
            second_voice,
            pitch_shifts,
            tilts,
            device,
            id,
            dir: dir.to_path_buf(),
        })
    }

    /// Whether a second-voice tracker came with it.
    pub fn has_second_voice(&self) -> bool {
        self.second_voice.is_some()
    }

    /// The catalog version of melodies this tracker made: distinct per weights (from their
    /// hash) and never [`crate::library::catalog::MELODY_VERSION`], so a new tracker, or going
    /// back to the extractor, re-analyses the songs.
    pub fn melody_version(&self) -> i64 {
        let hex = self.id.rsplit('@').next().unwrap_or("0");
        // The base counts revisions of how the contour is made (2: fused with the extractor).
        2_000_000 + (i64::from_str_radix(&hex[..hex.len().min(8)], 16).unwrap_or(0) % 1_000_000_000)
    }

    /// Per-frame class probabilities of a whole song, (frames × CLASSES) row-major.
    /// With partner trackers, the mean of all their probabilities.
    pub fn probabilities(&self, spec: &Spectrogram) -> Result<Vec<f32>, ModelError> {
        let mut probs = self.probabilities_of(&self.net, spec)?;
        for partner in &self.partners {
            let other = self.probabilities_of(partner, spec)?;
            for (p, o) in probs.iter_mut().zip(other) {
                *p += o;
            }
        }
        if !self.partners.is_empty() {
            let share = 1.0 / (1 + self.partners.len()) as f32;
            probs.iter_mut().for_each(|p| *p *= share);
        }
        Ok(probs)
    }

    /// The second-voice tracker's probabilities, where there is one.
    pub fn second_voice_probabilities(
        &self,
        spec: &Spectrogram,
    ) -> Option<Result<Vec<f32>, ModelError>> {
        let net = self.second_voice.as_ref()?;
        Some(self.probabilities_of(net, spec))
    }

    /// One network's probabilities: one pass over the song, or with the card's `pitch_shifts` the
    /// mean of that pass and one over the song shifted by each, shifted back
    /// ([`add_shifted_back`]), and with its `tilts` one more over the song tilted by each
    /// ([`tilt_spectrogram`]); each frame's row sums to 1 again.
    fn probabilities_of(
        &self,
        net: &LoadedNet,
        spec: &Spectrogram,
    ) -> Result<Vec<f32>, ModelError> {
        let plain = self.one_pass(net, spec)?;
        if self.pitch_shifts.is_empty() && self.tilts.is_empty() {
            return Ok(plain);
        }
        let mut sum = plain.clone();
        for &semitones in &self.pitch_shifts {
            let bins = BINS_PER_SEMITONE * semitones;
            let shifted = self.one_pass(net, &shift_spectrogram(spec, bins))?;
            add_shifted_back(&mut sum, &shifted, &plain, semitones);
        }
        for &tilt in &self.tilts {
            let tilted = self.one_pass(net, &tilt_spectrogram(spec, tilt))?;
            sum.iter_mut().zip(tilted).for_each(|(s, t)| *s += t);
        }
        for row in sum.chunks_exact_mut(CLASSES) {
            let total: f32 = row.iter().sum();
            row.iter_mut()
                .for_each(|p| *p /= total.max(f32::MIN_POSITIVE));
        }
        Ok(sum)
    }

    fn one_pass(&self, loaded: &LoadedNet, spec: &Spectrogram) -> Result<Vec<f32>, ModelError> {
        let net = &loaded.net;
        let n = spec.frames();
        let width = spec.bins + 1;
        let mut out = Vec::with_capacity(n * CLASSES);
        let context = chunk_context(&net.config);
        let mut input = vec![0.0f32; (CHUNK + 2 * context) * width];
        let mut start = 0;
        while start < n {
            let len = CHUNK.min(n - start);
            let from = start.saturating_sub(context);
            let lead = start - from;
            let total = lead + len + context;
            prepare(spec, from, total, &mut input[..total * width]);
            if let Some(cpu) = &loaded.cpu {
                let p = cpu.probabilities(&input[..total * width], total);
                out.extend_from_slice(&p[lead * CLASSES..(lead + len) * CLASSES]);
                start += len;
                continue;
            }
            let x = Tensor::from_slice(&input[..total * width], (1, total, width), &self.device)?;
            let p = candle_nn::ops::softmax(&net.forward(&x)?, D::Minus1)?
                .squeeze(0)?
                .narrow(0, lead, len)?
                .to_vec2::<f32>()?;
            for row in p {
                out.extend(row);
            }
            start += len;
        }
        Ok(out)
    }

    /// The song contour Earworm stores ([`fuse_contours`] of the tracker's and `extracted`,
    /// the harmonic-summation extractor's), its second line ([`alternative_contour`]) and, with
    /// a second-voice tracker, its second voice (where that tracker hears one).
    pub fn melody_lines(
        &self,
        spec: &Spectrogram,
        extracted: &Contour,
    ) -> Result<SongLines, ModelError> {
        let probs = self.probabilities(spec)?;
        let tracked = Contour::new(CONTOUR_FPS, contour_from_probabilities(&probs));
        let melody = fuse_contours(&tracked, extracted);
        let second_line = alternative_contour(&probs, &melody, SECOND_LINE_MIN_PROB);
        let second_voice = match self.second_voice_probabilities(spec) {
            Some(p) => Some(Contour::new(CONTOUR_FPS, contour_from_probabilities(&p?)))
                .filter(|v| v.voiced_fraction() >= MIN_SECOND_VOICE_SHARE),
            None => None,
        };
        Ok(SongLines {
            melody,
            second_line,
            second_voice,
        })
    }

    /// The song's melody contour at [`CONTOUR_FPS`] (the spectrogram's frame rate): the most
    /// likely semitone where "no melody" is less likely than all pitches together, refined
    /// between neighbouring semitones.
    pub fn contour(&self, spec: &Spectrogram) -> Result<Contour, ModelError> {
        let probs = self.probabilities(spec)?;
        Ok(Contour::new(
            CONTOUR_FPS,
            contour_from_probabilities(&probs),
        ))
    }
}

/// Per-frame decision from class probabilities (frames × CLASSES).
pub fn contour_from_probabilities(probs: &[f32]) -> Vec<f32> {
    probs
        .chunks_exact(CLASSES)
        .map(|p| {
            if p[SEMITONES] >= 0.5 {
                return f32::NAN;
            }
            let (k, _) = p[..SEMITONES]
                .iter()
                .enumerate()
                .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
            refined_midi(p, k)
        })
        .collect()
}

/// Semitone class `k` of one frame's probabilities as MIDI, refined by the centre of mass over
/// it and its neighbours.
fn refined_midi(p: &[f32], k: usize) -> f32 {
    let (mut w, mut s) = (0.0f32, 0.0f32);
    let lo = k.saturating_sub(1);
    for (j, &pj) in p.iter().enumerate().take((k + 2).min(SEMITONES)).skip(lo) {
        w += pj;
        s += pj * j as f32;
    }
    LOWEST_MIDI as f32 + s / w.max(1e-9)
}

/// The least class and its value.
fn argmin(values: &[f32]) -> (usize, f32) {
    values.iter().enumerate().fold(
        (0, f32::INFINITY),
        |b, (k, &c)| if c < b.1 { (k, c) } else { b },
    )
}

/// The most likely sequence of classes through per-frame probabilities (frames × CLASSES)
/// when changing semitone costs `change_cost` and starting or ending a melody costs
/// `voicing_cost` (both in nats, against each frame's −ln p): a Viterbi decoding. Where the
/// tracker wavers between two voices inside one note (four-part choirs: the soprano and the
/// alto trade the top guess frame by frame), the path keeps whichever the whole note favours.
/// An analysis tool, not the stored contour: it raised frame accuracy but found fewer songs
/// (docs/MEASURED.md, stage 4).
pub fn smoothed_classes(probs: &[f32], change_cost: f32, voicing_cost: f32) -> Vec<usize> {
    let frames = probs.len() / CLASSES;
    if frames == 0 {
        return Vec::new();
    }
    let emit = |p: f32| -(p.max(1e-6)).ln();
    let mut cost: Vec<f32> = probs[..CLASSES].iter().map(|&p| emit(p)).collect();
    // back[t * CLASSES + k]: the class before k at frame t.
    let mut back = vec![0u8; frames * CLASSES];
    let mut next = vec![0.0f32; CLASSES];
    for t in 1..frames {
        let (best_pitch, best_pitch_cost) = argmin(&cost[..SEMITONES]);
        let none = cost[SEMITONES];
        let row = &probs[t * CLASSES..(t + 1) * CLASSES];
        for k in 0..SEMITONES {
            let mut from = (k, cost[k]);
            if best_pitch_cost + change_cost < from.1 {
                from = (best_pitch, best_pitch_cost + change_cost);
            }
            if none + voicing_cost < from.1 {
                from = (SEMITONES, none + voicing_cost);
            }
            next[k] = from.1 + emit(row[k]);
            back[t * CLASSES + k] = from.0 as u8;
        }
        let from = if best_pitch_cost + voicing_cost < none {
            (best_pitch, best_pitch_cost + voicing_cost)
        } else {
            (SEMITONES, none)
        };
        next[SEMITONES] = from.1 + emit(row[SEMITONES]);
        back[t * CLASSES + SEMITONES] = from.0 as u8;
        std::mem::swap(&mut cost, &mut next);
    }
    let mut k = argmin(&cost).0;
    let mut path = vec![0usize; frames];
    for t in (0..frames).rev() {
        path[t] = k;
        k = back[t * CLASSES + k] as usize;
    }
    path
}

/// A contour from a class path ([`smoothed_classes`]): NaN where it says "no melody", else its
/// semitone refined between the neighbours as in [`contour_from_probabilities`].
pub fn contour_from_path(probs: &[f32], path: &[usize]) -> Vec<f32> {
    probs
        .chunks_exact(CLASSES)
        .zip(path)
        .map(|(p, &k)| {
            if k >= SEMITONES {
                return f32::NAN;
            }
            refined_midi(p, k)
        })
        .collect()
}

/// The least probability of a second line's pitch: chosen on the tuning half of the stress set
/// (0.05 and 0.1 alike, 0.2 and above lose the gain; docs/MEASURED.md).
pub const SECOND_LINE_MIN_PROB: f32 = 0.1;

/// A second line beside `primary` (the stored contour): in each frame where the tracker hears a
/// melody, its most likely semitone that is not the primary's, where its probability is at
/// least `min_prob`.
/// Where a melody is one of several voices in one timbre (a four-part choir, a descant over
/// the tune) the tracker often splits its belief between them: in homophonic songs the shipped
/// tracker's best guess sits on the melody in 76% of frames, one of its two best in 90%
/// (`examples/tracker_topk.rs`, docs/MEASURED.md).
pub fn alternative_contour(probs: &[f32], primary: &Contour, min_prob: f32) -> Contour {
    let midi = probs
        .chunks_exact(CLASSES)
        .enumerate()
        .map(|(i, p)| {
            // Only where the tracker hears a melody: elsewhere (timbres unlike its training
            // renders) its guesses let wrong songs fit hums (docs/MEASURED.md).
            if p[SEMITONES] >= 0.5 {
                return f32::NAN;
            }
            let taken = primary
                .midi
                .get(i)
                .filter(|m| !m.is_nan())
                .map(|m| m.round() as i32 - LOWEST_MIDI as i32);
            let mut best: Option<(usize, f32)> = None;
            for (k, &pk) in p[..SEMITONES].iter().enumerate() {
                if Some(k as i32) != taken && pk >= min_prob && best.is_none_or(|b| pk > b.1) {
                    best = Some((k, pk));
                }
            }
            best.map_or(f32::NAN, |(k, _)| LOWEST_MIDI as f32 + k as f32)
        })
        .collect();
    Contour::new(primary.fps, midi)
}

/// The song contour Earworm stores: the tracker's pitch where it hears a melody, the
/// harmonic-summation extractor's elsewhere. The tracker knows timbres like its training
/// renders; on others (our additive-synthesis test songs) it agrees with the extractor on the
/// pitch where both hear one (91% of frames) but calls a third of the melody "none" — there
/// the extractor's pitch is the better guess.
pub fn fuse_contours(tracked: &Contour, extracted: &Contour) -> Contour {
    let midi = tracked
        .midi
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            if m.is_nan() {
                extracted.midi.get(i).copied().unwrap_or(f32::NAN)
            } else {
                m
            }
        })
        .collect();
    Contour::new(tracked.fps, midi)
}

/// The tracker's spectrogram bins per semitone (24 per octave, [`super::features::FeatureParams`]).
const BINS_PER_SEMITONE: i32 = 2;

/// Largest listening shift accepted from a card: a tracker trained on songs transposed by a
/// few semitones hears a song a third away much as it is.
pub const MAX_PITCH_SHIFT: i32 = 4;

/// The listening passes a tracker's card asks for: `"listening": {"pitch_shifts": [-1, 1]}`
/// makes the index hear each song three times, as it is and a semitone down and up, and
/// average what the tracker hears (test-time augmentation: where a timbre misleads the
/// tracker at one pitch it often does not at the next). Absent: none. Shifts must be nonzero,
/// distinct and within ±[`MAX_PITCH_SHIFT`].
pub fn read_pitch_shifts(card_path: &Path) -> Result<Vec<i32>, ModelError> {
    let shifts: Vec<i32> = read_listening_entry(card_path, "pitch_shifts")?;
    for (i, &s) in shifts.iter().enumerate() {
        if s == 0 || s.abs() > MAX_PITCH_SHIFT || shifts[..i].contains(&s) {
            return Err(card_error(card_path, format!(
                "listening.pitch_shifts: {s} (shifts are nonzero, distinct semitones within ±{MAX_PITCH_SHIFT})"
            )));
        }
    }
    Ok(shifts)
}

fn card_error(card_path: &Path, why: String) -> ModelError {
    ModelError::Card {
        path: card_path.to_path_buf(),
        why,
    }
}

/// The list under `listening.<key>` in a tracker's card; empty where the card has none.
fn read_listening_entry<T: serde::de::DeserializeOwned>(
    card_path: &Path,
    key: &str,
) -> Result<Vec<T>, ModelError> {
    let card: serde_json::Value = std::fs::read_to_string(card_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| card_error(card_path, "missing or not JSON".into()))?;
    let value = &card["listening"][key];
    if value.is_null() {
        return Ok(Vec::new());
    }
    serde_json::from_value(value.clone())
        .map_err(|e| card_error(card_path, format!("listening.{key}: {e}")))
}

/// Largest listening tilt accepted from a card, in dB per octave.
pub const MAX_TILT_DB_PER_OCTAVE: f32 = 12.0;

/// The spectral tilts of extra listening passes a tracker's card asks for: `"listening":
/// {"tilts_db_per_octave": [-6]}` makes the index also hear each song as if every octave up were
/// 6 dB quieter — a timbre whose upper partials outweigh its fundamental (an organ's 4' rank over
/// a soft 8') misleads the tracker less when the top is turned down. Absent: none. Tilts must be
/// nonzero, distinct and within ±[`MAX_TILT_DB_PER_OCTAVE`].
pub fn read_tilts(card_path: &Path) -> Result<Vec<f32>, ModelError> {
    let tilts: Vec<f32> = read_listening_entry(card_path, "tilts_db_per_octave")?;
    for (i, &t) in tilts.iter().enumerate() {
        if t == 0.0 || !(t.abs() <= MAX_TILT_DB_PER_OCTAVE) || tilts[..i].contains(&t) {
            return Err(card_error(card_path, format!(
                "listening.tilts_db_per_octave: {t} (tilts are nonzero, distinct dB per octave within ±{MAX_TILT_DB_PER_OCTAVE})"
            )));
        }
    }
    Ok(tilts)
}

/// `spec` as if each band's magnitude were scaled by `db_per_octave` per octave above the
/// middle of its range (and the opposite below): exact on the spectrogram's log scale
/// ([`crate::dsp::spectrum::equalise_log_bands`]), so silence stays silent.
pub fn tilt_spectrogram(spec: &Spectrogram, db_per_octave: f32) -> Spectrogram {
    let n = spec.bins;
    let mut out = spec.clone();
    if n == 0 {
        return out;
    }
    let bins_per_octave = (12 * BINS_PER_SEMITONE) as usize;
    let gains =
        crate::dsp::spectrum::equaliser_gains_db(n, bins_per_octave, db_per_octave, 0.0, 0.0, 1.0);
    for frame in out.data.chunks_exact_mut(n) {
        crate::dsp::spectrum::equalise_log_bands(frame, &gains);
    }
    out
}

/// `spec` moved up by `bins` frequency bins (down when negative); the bins it leaves empty
/// take each frame's quietest value, the spectrogram's floor.
pub fn shift_spectrogram(spec: &Spectrogram, bins: i32) -> Spectrogram {
    let n = spec.bins;
    let mut data = spec.data.clone();
    if n == 0 {
        return Spectrogram { bins: n, data };
    }
    for (frame, out) in spec.data.chunks_exact(n).zip(data.chunks_exact_mut(n)) {
        let floor = frame.iter().copied().fold(f32::INFINITY, f32::min);
        for (b, o) in out.iter_mut().enumerate() {
            let from = b as i64 - bins as i64;
            *o = if (0..n as i64).contains(&from) {
                frame[from as usize]
            } else {
                floor
            };
        }
    }
    Spectrogram { bins: n, data }
}

/// Adds to `sum` the probabilities of a pass over the song shifted up by `semitones`, moved
/// back to the song's pitches; the semitones that pass could not hear (shifted off the
/// tracker's range) take the unshifted pass's `plain` probability instead.
pub fn add_shifted_back(sum: &mut [f32], shifted: &[f32], plain: &[f32], semitones: i32) {
    let rows = sum
        .chunks_exact_mut(CLASSES)
        .zip(shifted.chunks_exact(CLASSES))
        .zip(plain.chunks_exact(CLASSES));
    for ((row, heard), base) in rows {
        for k in 0..SEMITONES {
            let from = k as i64 + semitones as i64;
            row[k] += if (0..SEMITONES as i64).contains(&from) {
                heard[from as usize]
            } else {
                base[k]
            };
        }
        row[SEMITONES] += heard[SEMITONES];
    }
}

/// Loads the tracker beside the embedding model if there is one (it is optional: without
/// it the song side uses the harmonic-summation extractor). Tracker files that are there but
/// cannot be loaded (a missing card, a partner without its card, damaged weights) are an
/// error that names the file, not a silent fall-back to the extractor.
pub fn load_beside(model_dir: &Path) -> Result<Option<Tracker>, ModelError> {
    if !model_dir.join(TRACKER_WEIGHTS).is_file() {
        return Ok(None);
    }
    Tracker::load(model_dir).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_form_gives_candles_probabilities() {
        // Random weights, plain and dilated blocks, lengths shorter and longer than the reach.
        let varmap = candle_nn::VarMap::new();
        let config = TrackerConfig {
            bins: 10,
            hidden: 12,
            blocks: 2,
            dilated_blocks: 2,
        };
        let net = TrackerNet::new(
            config,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )
        .unwrap();
        let cpu = CpuTrackerNet::new(&net).unwrap();
        for frames in [1, 3, 17, 40] {
            let x: Vec<f32> = (0..frames * 11)
                .map(|i| ((i * 7919) % 29) as f32 / 7.0 - 2.0)
                .collect();
            let tensor = Tensor::from_slice(&x, (1, frames, 11), &Device::Cpu).unwrap();
            let want: Vec<f32> = candle_nn::ops::softmax(&net.forward(&tensor).unwrap(), D::Minus1)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let got = cpu.probabilities(&x, frames);
            assert_eq!(got.len(), frames * CLASSES);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-5, "{frames} frames: differ by {worst}");
        }
    }

    #[test]
    fn labels_map_to_classes_and_back() {
        assert_eq!(label_class(0), SEMITONES as u32);
        assert_eq!(label_class(LOWEST_MIDI), 0);
        assert_eq!(label_class(69), 24);
        assert_eq!(label_class(LOWEST_MIDI + SEMITONES as u8), SEMITONES as u32);
        let mut probs = vec![0.0f32; 2 * CLASSES];
        probs[24] = 0.9; // frame 0: A4
        probs[25] = 0.1;
        probs[CLASSES + SEMITONES] = 0.8; // frame 1: no melody
        let c = contour_from_probabilities(&probs);
        assert!((c[0] - 69.1).abs() < 1e-4, "{c:?}");
        assert!(c[1].is_nan());
    }

    #[test]
    fn smoothed_path_keeps_a_wavering_note_and_follows_real_changes() {
        // Ten frames: A4 and F#4 trade the lead every frame for six frames (A4 ahead overall),
        // then C5 for four; one frame in the middle leans to "no melody".
        let mut probs = vec![0.0f32; 10 * CLASSES];
        for t in 0..10 {
            let p = &mut probs[t * CLASSES..(t + 1) * CLASSES];
            if t < 6 {
                let (a, f) = if t % 2 == 0 { (0.6, 0.3) } else { (0.4, 0.5) };
                p[24] = a;
                p[21] = f;
                p[SEMITONES] = 1.0 - a - f;
            } else {
                p[27] = 0.8;
                p[SEMITONES] = 0.2;
            }
        }
        probs[3 * CLASSES + SEMITONES] = 0.55;
        probs[3 * CLASSES + 24] = 0.25;
        probs[3 * CLASSES + 21] = 0.2;
        let path = smoothed_classes(&probs, 1.0, 2.0);
        assert_eq!(path, vec![24, 24, 24, 24, 24, 24, 27, 27, 27, 27]);
        // Free changes give back the frame-by-frame choice.
        let free = smoothed_classes(&probs, 0.0, 0.0);
        assert_eq!(&free[..4], &[24, 21, 24, SEMITONES]);
        let c = contour_from_path(&probs, &path);
        assert!(
            (c[6] - 72.0).abs() < 1e-4 && (c[0] - 69.0).abs() < 0.5,
            "{c:?}"
        );
        assert!(smoothed_classes(&[], 1.0, 1.0).is_empty());
    }

    #[test]
    fn alternative_line_is_the_best_other_semitone_above_the_threshold() {
        let mut probs = vec![0.0f32; 3 * CLASSES];
        // Frame 0: A4 0.5, F#4 0.3 → primary A4, alternative F#4.
        probs[24] = 0.5;
        probs[21] = 0.3;
        probs[SEMITONES] = 0.2;
        // Frame 1: the tracker hears no melody (the primary is the extractor's C5): its
        // guess A4 is not a second line.
        probs[CLASSES + 24] = 0.4;
        probs[CLASSES + SEMITONES] = 0.6;
        // Frame 2: nothing but "no melody" and a weak guess.
        probs[2 * CLASSES + 10] = 0.04;
        probs[2 * CLASSES + SEMITONES] = 0.96;
        let primary = Contour::new(CONTOUR_FPS, vec![69.1, 72.0, f32::NAN]);
        let alt = alternative_contour(&probs, &primary, 0.05);
        assert_eq!(alt.midi[0], 66.0);
        assert!(alt.midi[1].is_nan());
        assert!(alt.midi[2].is_nan());
        assert_eq!(alt.len(), 3);
    }

    #[test]
    fn fused_contour_keeps_the_tracker_and_fills_its_gaps() {
        let tracked = Contour::new(CONTOUR_FPS, vec![60.0, f32::NAN, f32::NAN, 64.0]);
        let extracted = Contour::new(CONTOUR_FPS, vec![48.0, 62.0, f32::NAN]);
        let fused = fuse_contours(&tracked, &extracted);
        assert_eq!(fused.midi[0], 60.0);
        assert_eq!(fused.midi[1], 62.0);
        assert!(fused.midi[2].is_nan());
        assert_eq!(fused.midi[3], 64.0);
        assert_eq!(fused.len(), 4);
    }

    #[test]
    fn prepared_input_ignores_loudness_within_the_frame() {
        let spec = Spectrogram {
            bins: 4,
            data: vec![1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 5.0, 6.0],
        };
        let mut out = vec![9.0f32; 3 * 5];
        prepare(&spec, 0, 3, &mut out);
        assert_eq!(&out[0..4], &out[5..9]);
        assert!(out[9] > out[4]);
        assert!(out[10..].iter().all(|v| *v == 0.0), "padding past the end");
    }

    /// 40 frames of 6 bins with varied values, for the small trackers of [`write_random_tracker`].
    fn small_test_spectrogram() -> Spectrogram {
        Spectrogram {
            bins: 6,
            data: (0..6 * 40)
                .map(|i| ((i * 7919) % 13) as f32 / 13.0)
                .collect(),
        }
    }

    /// A small randomly initialised tracker's files in `dir` under `stem` (weights and card).
    fn write_random_tracker(dir: &Path, stem: &str) {
        let device = Device::Cpu;
        let varmap = candle_nn::VarMap::new();
        let config = TrackerConfig {
            bins: 6,
            hidden: 8,
            blocks: 1,
            dilated_blocks: 0,
        };
        TrackerNet::new(
            config,
            VarBuilder::from_varmap(&varmap, DType::F32, &device),
        )
        .unwrap();
        varmap
            .save(dir.join(format!("{stem}.safetensors")))
            .unwrap();
        let card = serde_json::json!({ "config": config });
        std::fs::write(dir.join(format!("{stem}.card.json")), card.to_string()).unwrap();
    }

    #[test]
    fn partner_trackers_are_averaged_in() {
        let spec = small_test_spectrogram();
        let (alone, other, pair) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        write_random_tracker(alone.path(), "tracker");
        write_random_tracker(other.path(), "tracker");
        for (from, stem) in [(&alone, "tracker"), (&other, "tracker_partner")] {
            for ext in ["safetensors", "card.json"] {
                let source = from.path().join(format!("tracker.{ext}"));
                std::fs::copy(source, pair.path().join(format!("{stem}.{ext}"))).unwrap();
            }
        }
        let p1 = Tracker::load(alone.path()).unwrap();
        let p2 = Tracker::load(other.path()).unwrap();
        let both = Tracker::load(pair.path()).unwrap();
        assert_ne!(
            both.id, p1.id,
            "the partner's weights are part of the identity"
        );
        let (a, b) = (
            p1.probabilities(&spec).unwrap(),
            p2.probabilities(&spec).unwrap(),
        );
        assert!(
            a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-3),
            "two different trackers"
        );
        let mean = both.probabilities(&spec).unwrap();
        for ((m, x), y) in mean.iter().zip(&a).zip(&b) {
            assert!((m - 0.5 * (x + y)).abs() < 1e-5);
        }
        // A partner without its card is an error that names the card, not a silent single tracker.
        std::fs::remove_file(pair.path().join("tracker_partner.card.json")).unwrap();
        let err = Tracker::load(pair.path()).err().expect("missing card");
        assert!(
            err.to_string().contains("tracker_partner.card.json"),
            "{err}"
        );
    }

    #[test]
    fn a_shifted_spectrogram_moves_its_peak_and_fills_with_the_floor() {
        let spec = Spectrogram {
            bins: 6,
            data: vec![
                0.0, 1.0, 5.0, 1.0, 0.5, 0.5, /* frame 2 */ 2.0, 2.0, 2.0, 2.0, 2.0, 9.0,
            ],
        };
        let up = shift_spectrogram(&spec, 2);
        assert_eq!(up.data[..6], [0.0, 0.0, 0.0, 1.0, 5.0, 1.0]);
        assert_eq!(up.data[6..], [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]);
        let down = shift_spectrogram(&spec, -2);
        assert_eq!(down.data[..6], [5.0, 1.0, 0.5, 0.5, 0.0, 0.0]);
        assert_eq!(down.data[6..], [2.0, 2.0, 2.0, 9.0, 2.0, 2.0]);
    }

    #[test]
    fn a_shifted_pass_is_moved_back_to_the_songs_pitches() {
        let one_hot = |k: usize| {
            let mut row = vec![0.0f32; CLASSES];
            row[k] = 1.0;
            row
        };
        // The song's note is class 10; a pass over it shifted a semitone up hears class 11.
        let plain = one_hot(10);
        let mut sum = plain.clone();
        add_shifted_back(&mut sum, &one_hot(11), &plain, 1);
        assert_eq!(sum[10], 2.0);
        assert_eq!(sum.iter().sum::<f32>(), 2.0);
        // "No melody" stays where it is.
        let silent = one_hot(SEMITONES);
        let mut sum = silent.clone();
        add_shifted_back(&mut sum, &silent, &silent, -1);
        assert_eq!(sum[SEMITONES], 2.0);
        // The top semitone shifted up is off the range: the unshifted pass stands in for it.
        let top = one_hot(SEMITONES - 1);
        let mut sum = top.clone();
        add_shifted_back(&mut sum, &one_hot(SEMITONES), &top, 1);
        assert_eq!(sum[SEMITONES - 1], 2.0);
        assert_eq!(sum[SEMITONES], 1.0);
    }

    /// A card without `key` reads as no passes (`reads_none`); a tracker whose card asks for
    /// `key: good` in its `listening` entry hears the song differently, takes a new identity and
    /// still gives each frame probabilities summing to 1; each of `bads` there stops it loading
    /// with an error naming `key`.
    fn check_listening_entry(
        key: &str,
        reads_none: impl Fn(&Path) -> bool,
        good: serde_json::Value,
        bads: &[&str],
    ) {
        let spec = small_test_spectrogram();
        let dir = tempfile::tempdir().unwrap();
        write_random_tracker(dir.path(), "tracker");
        let card_path = dir.path().join(TRACKER_CARD);
        assert!(reads_none(&card_path), "a card without {key}");
        let plain = Tracker::load(dir.path()).unwrap();
        let mut card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&card_path).unwrap()).unwrap();
        card["listening"] = serde_json::json!({ key: good });
        std::fs::write(&card_path, card.to_string()).unwrap();
        let listening = Tracker::load(dir.path()).unwrap();
        assert_ne!(listening.id, plain.id, "stored melodies must be made again");
        assert_ne!(listening.melody_version(), plain.melody_version());
        let (a, b) = (
            plain.probabilities(&spec).unwrap(),
            listening.probabilities(&spec).unwrap(),
        );
        assert!(a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-4));
        for row in b.chunks_exact(CLASSES) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
        for bad in bads {
            card["listening"][key] = serde_json::from_str(bad).unwrap();
            std::fs::write(&card_path, card.to_string()).unwrap();
            let err = Tracker::load(dir.path()).err().expect(bad);
            assert!(err.to_string().contains(key), "{bad}: {err}");
        }
    }

    #[test]
    fn listening_passes_come_from_the_card_and_change_the_identity() {
        check_listening_entry(
            "pitch_shifts",
            |card| read_pitch_shifts(card).unwrap().is_empty(),
            serde_json::json!([-1, 1]),
            &["[0]", "[5]", "[1, 1]", "\"up\"", "[1.5]"],
        );
    }

    #[test]
    fn a_tilted_spectrogram_turns_its_top_down_and_keeps_silence() {
        // Two octaves of bins (24 per octave), each band's magnitude x100 = e - 1.
        let spec = Spectrogram {
            bins: 48,
            data: [vec![1.0; 48], vec![0.0; 48]].concat(),
        };
        let tilted = tilt_spectrogram(&spec, -6.0);
        let magnitude = |v: f32| v.exp_m1();
        let (low, high) = (magnitude(tilted.data[0]), magnitude(tilted.data[47]));
        // Two octaves apart, less one bin: 6 dB per octave, so about 12 dB.
        let db = 20.0 * (low / high).log10();
        assert!((db - 12.0 * 47.0 / 48.0).abs() < 0.01, "{db}");
        // Gains are about the middle of the range: one side up, the other down.
        assert!(magnitude(tilted.data[0]) > magnitude(1.0));
        assert!(magnitude(tilted.data[47]) < magnitude(1.0));
        assert!(tilted.data[48..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn tilted_listening_passes_come_from_the_card_and_change_the_identity() {
        check_listening_entry(
            "tilts_db_per_octave",
            |card| read_tilts(card).unwrap().is_empty(),
            serde_json::json!([-6.0]),
            &["[0]", "[13]", "[-6, -6]", "\"down\""],
        );
    }

    #[test]
    fn a_partner_without_its_card_stops_the_model_loading_instead_of_dropping_the_tracker() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "melody.safetensors",
            "melody.card.json",
            TRACKER_WEIGHTS,
            TRACKER_CARD,
        ] {
            std::fs::copy(shipped.join(name), dir.path().join(name)).unwrap();
        }
        let model = crate::model::Embedder::load(dir.path()).unwrap();
        assert!(model.tracker.is_some());
        std::fs::copy(
            shipped.join(TRACKER_WEIGHTS),
            dir.path().join("tracker_partner.safetensors"),
        )
        .unwrap();
        let err = crate::model::Embedder::load(dir.path())
            .err()
            .expect("a partner without its card");
        assert!(
            err.to_string().contains("tracker_partner.card.json"),
            "{err}"
        );
    }
}
