//! Songs from corpus melodies, arranged for General MIDI and rendered through a SoundFont
//! with rustysynth: a lead that varies per song (GM instruments or our synthetic singing
//! voice) over chords (from the tune's chord symbols, or harmonised), bass, drums in several
//! styles, pads and a counter-line, with an intro, repeats and breaks; random key, tempo,
//! swing, mix, reverb, EQ and compression. Every choice comes from one seed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};

use super::corpus::{ChordSymbol, CorpusMelody};
use super::hum::{render_voice, HumStyle, VoiceParams};
use super::rng::Rng;
use super::score::degree_to_semitones;
use super::voice::{normalize_peak, OnePole};

/// Debian's General MIDI SoundFonts (packages fluid-soundfont-gm and timgm6mb-soundfont).
pub const FLUID_GM: &str = "/usr/share/sounds/sf2/FluidR3_GM.sf2";
pub const TIMGM6MB: &str = "/usr/share/sounds/sf2/TimGM6mb.sf2";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot open SoundFont {path}: {reason} (install fluid-soundfont-gm / timgm6mb-soundfont, or pass another .sf2)")]
    SoundFont { path: PathBuf, reason: String },
    #[error("synthesizer: {0}")]
    Synth(String),
}

pub fn load_soundfont(path: &Path) -> Result<Arc<SoundFont>, RenderError> {
    let mut file = std::fs::File::open(path).map_err(|e| RenderError::SoundFont {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let font = SoundFont::new(&mut file).map_err(|e| RenderError::SoundFont {
        path: path.into(),
        reason: format!("{e:?}"),
    })?;
    Ok(Arc::new(font))
}

/// The lead instrument: a GM program, or the synthetic singing voice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lead {
    Program(u8),
    SungVoice { formant_scale: f32 },
}

/// GM programs used as leads: voices, flute, saxes, violin, trumpet, guitars, piano, synth
/// leads, clarinet, oboe, harmonica, vibraphone, accordion, whistle.
pub const LEAD_PROGRAMS: &[(u8, &str)] = &[
    (52, "choir aahs"),
    (53, "voice oohs"),
    (73, "flute"),
    (65, "alto sax"),
    (66, "tenor sax"),
    (40, "violin"),
    (56, "trumpet"),
    (24, "nylon guitar"),
    (25, "steel guitar"),
    (0, "piano"),
    (80, "square lead"),
    (81, "saw lead"),
    (71, "clarinet"),
    (68, "oboe"),
    (22, "harmonica"),
    (11, "vibraphone"),
    (21, "accordion"),
    (78, "whistle"),
];
/// The one-timbre ensembles' programs that are not leads (an ensemble's top part is its lead).
const ENSEMBLE_ONLY_PROGRAMS: &[(u8, &str)] =
    &[(19, "church organ"), (48, "strings"), (61, "brass section")];

/// Lead programs from a comma-separated list of GM program numbers or names ("11,nylon
/// guitar"); each must be one of [`LEAD_PROGRAMS`] or an ensemble's program (which leads only
/// the homophonic and inner-voice songs).
pub fn parse_lead_programs(list: &str) -> Result<Vec<u8>, String> {
    let mut programs = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let found = LEAD_PROGRAMS
            .iter()
            .chain(ENSEMBLE_ONLY_PROGRAMS)
            .find(|(p, name)| item.eq_ignore_ascii_case(name) || item.parse::<u8>() == Ok(*p));
        match found {
            Some((p, _)) if !programs.contains(p) => programs.push(*p),
            Some(_) => {}
            None => {
                let names: Vec<String> = LEAD_PROGRAMS
                    .iter()
                    .chain(ENSEMBLE_ONLY_PROGRAMS)
                    .map(|(p, n)| format!("{p} {n}"))
                    .collect();
                return Err(format!(
                    "{item:?} is not a lead program; the leads are: {}",
                    names.join(", ")
                ));
            }
        }
    }
    if programs.is_empty() {
        return Err("no lead program named".into());
    }
    Ok(programs)
}

const CHORD_PROGRAMS: &[u8] = &[0, 4, 24, 25, 48, 16, 19, 46];
const BASS_PROGRAMS: &[u8] = &[32, 33, 34, 38, 35];
const PAD_PROGRAMS: &[u8] = &[89, 88, 48, 49, 91];
const COUNTER_PROGRAMS: &[u8] = &[48, 71, 42, 69, 60];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChordStyle {
    Block,
    Arpeggio,
    Strum,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DrumStyle {
    None,
    Rock,
    Shuffle,
    Folk,
    Waltz,
}

/// How the melody sits in the song. Training songs are `Standard`; the others are the
/// texture-stress dev set's (and, for training, the song-side augmentation's) harder cases,
/// closer to real records where the melody is not a distinct lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Texture {
    /// A distinct lead over a light accompaniment.
    Standard,
    /// Four-part homophonic harmonisation, every part in one timbre and the melody's rhythm:
    /// the melody is only the top voice.
    Homophonic,
    /// The melody in an inner voice under a descant (one timbre), or doubled an octave below or
    /// above by a second instrument.
    InnerVoice,
    /// Drums, bass, pads, arpeggios and a busy counter-melody in the melody's own register; the
    /// melody 6 dB under to 3 dB over the band.
    DenseBand,
    /// The melody passes between two or three instruments phrase by phrase.
    Passed,
    /// The synthetic singing voice as the lead over a dense band, as in pop songs.
    SungLead,
    /// Heavy production: long reverb, hard compression and limiting, strong EQ (and, in the dev
    /// set, low-bit-rate lossy encoding).
    Produced,
    /// One of the first five textures above (not Produced) rendered with a SoundFont no training
    /// song uses.
    UnseenFont,
}

impl Texture {
    /// The stress set's textures, in the order (a)–(g).
    pub const STRESS: [Texture; 7] = [
        Texture::Homophonic,
        Texture::InnerVoice,
        Texture::DenseBand,
        Texture::Passed,
        Texture::SungLead,
        Texture::Produced,
        Texture::UnseenFont,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Texture::Standard => "standard",
            Texture::Homophonic => "homophonic",
            Texture::InnerVoice => "inner_voice",
            Texture::DenseBand => "dense_band",
            Texture::Passed => "passed",
            Texture::SungLead => "sung_lead",
            Texture::Produced => "produced",
            Texture::UnseenFont => "unseen_font",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Texture::Standard]
            .into_iter()
            .chain(Texture::STRESS)
            .find(|t| t.name() == s)
    }
}

/// Programs for one-timbre ensembles: choir aahs, church organ, strings, brass section, piano.
pub const ENSEMBLE_PROGRAMS: &[u8] = &[52, 19, 48, 61, 0];

#[derive(Debug, Clone)]
pub struct Arrangement {
    pub bpm: f32,
    /// Semitones applied to the melody (and everything else).
    pub transpose: i32,
    /// 0 = straight eighths, 1 = full triplet swing.
    pub swing: f32,
    pub lead: Lead,
    pub chord_program: u8,
    pub chord_style: ChordStyle,
    pub bass_program: u8,
    pub drums: DrumStyle,
    pub pad_program: Option<u8>,
    pub counter_program: Option<u8>,
    pub intro_bars: u32,
    pub passes: u32,
    pub break_bars: u32,
    /// Channel volumes (0–127).
    pub lead_level: u8,
    pub chord_level: u8,
    pub bass_level: u8,
    pub drum_level: u8,
    pub reverb_send: u8,
    /// High-shelf tilt in dB (negative = darker).
    pub eq_tilt_db: f32,
    /// Compressor ratio (1 = off).
    pub compression: f32,
    pub texture: Texture,
    /// All parts are one ensemble in `ensemble_program`, harmonised note by note with the
    /// melody (no band): homophonic and descant textures.
    pub ensemble: bool,
    pub ensemble_program: u8,
    /// Inner-voice texture: a descant above the melody (true) or an octave doubling (false).
    pub descant: bool,
    /// Semitones of the doubling instrument relative to the melody (±12; 0 = none).
    pub doubling: i32,
    pub doubling_program: u8,
    /// Programs the melody passes between (Passed), phrase by phrase.
    pub passed_programs: Vec<u8>,
    /// A busy counter-melody (eighths on chord tones) in the melody's register.
    pub busy_counter: bool,
    /// A fast peak limiter after the compressor.
    pub limiter: bool,
}

impl Arrangement {
    /// A random arrangement for `melody`; songs come out 1–4 minutes long.
    pub fn random(rng: &mut Rng, melody: &CorpusMelody) -> Self {
        let bpb = melody.score.beats_per_bar;
        let bpm = melody.tempo_bpm.map_or(rng.range(75.0, 150.0), |t| {
            (t * rng.range(0.85, 1.15)).clamp(60.0, 180.0)
        });
        // Key: put the melody's mean pitch in a singable lead range (MIDI 60–76).
        let mean = melody.score.notes.iter().map(|n| n.midi).sum::<f32>()
            / melody.score.notes.len().max(1) as f32;
        let target = rng.range(62.0, 74.0);
        let transpose = (target - mean).round() as i32;
        let lead = if rng.chance(0.2) {
            Lead::SungVoice {
                formant_scale: rng.range(0.9, 1.2),
            }
        } else {
            Lead::Program(rng.pick(LEAD_PROGRAMS).0)
        };
        let melody_s = melody.score.length_beats() * 60.0 / bpm;
        let passes = ((75.0 / melody_s.max(1.0)).ceil() as u32)
            .clamp(1, 6)
            .max(if melody_s < 120.0 { 2 } else { 1 });
        let drums = if bpb == 3 {
            *rng.pick(&[DrumStyle::Waltz, DrumStyle::Folk, DrumStyle::None])
        } else {
            *rng.pick(&[
                DrumStyle::Rock,
                DrumStyle::Shuffle,
                DrumStyle::Folk,
                DrumStyle::None,
            ])
        };
        Self {
            bpm,
            transpose,
            swing: if drums == DrumStyle::Shuffle {
                rng.range(0.6, 1.0)
            } else if rng.chance(0.3) {
                rng.range(0.1, 0.5)
            } else {
                0.0
            },
            lead,
            chord_program: *rng.pick(CHORD_PROGRAMS),
            chord_style: *rng.pick(&[ChordStyle::Block, ChordStyle::Arpeggio, ChordStyle::Strum]),
            bass_program: *rng.pick(BASS_PROGRAMS),
            drums,
            pad_program: rng.chance(0.4).then(|| *rng.pick(PAD_PROGRAMS)),
            counter_program: rng.chance(0.3).then(|| *rng.pick(COUNTER_PROGRAMS)),
            intro_bars: rng.int(1, 4) as u32,
            passes,
            break_bars: if rng.chance(0.5) {
                rng.int(2, 4) as u32
            } else {
                0
            },
            lead_level: rng.int(100, 127) as u8,
            chord_level: rng.int(55, 90) as u8,
            bass_level: rng.int(70, 100) as u8,
            drum_level: rng.int(60, 100) as u8,
            reverb_send: rng.int(10, 80) as u8,
            eq_tilt_db: rng.range(-6.0, 4.0),
            compression: rng.range(1.0, 4.0),
            texture: Texture::Standard,
            ensemble: false,
            ensemble_program: ENSEMBLE_PROGRAMS[0],
            descant: false,
            doubling: 0,
            doubling_program: 0,
            passed_programs: Vec::new(),
            busy_counter: false,
            limiter: false,
        }
    }

    /// A random arrangement of `melody` in `texture` (`UnseenFont` picks one of the others:
    /// the SoundFont is the renderer's business).
    pub fn random_textured(rng: &mut Rng, melody: &CorpusMelody, texture: Texture) -> Self {
        let mut arr = Self::random(rng, melody);
        arr.apply_texture(rng, texture);
        arr
    }

    /// Every part in one ensemble program, harmonised with the melody at equal level, with no
    /// band, intro or breaks (homophonic and descant textures).
    fn make_ensemble(&mut self, rng: &mut Rng) {
        self.ensemble = true;
        self.ensemble_program = *rng.pick(ENSEMBLE_PROGRAMS);
        self.lead = Lead::Program(self.ensemble_program);
        self.drums = DrumStyle::None;
        self.intro_bars = 0;
        self.break_bars = 0;
        self.lead_level = 100;
        self.chord_level = 100;
    }

    fn apply_texture(&mut self, rng: &mut Rng, texture: Texture) {
        let three = self.drums == DrumStyle::Waltz;
        let band_drums = |rng: &mut Rng| {
            if three {
                DrumStyle::Waltz
            } else {
                *rng.pick(&[DrumStyle::Rock, DrumStyle::Shuffle])
            }
        };
        // Melody level against the band: -6..+3 dB (CC7 acts on amplitude as its square).
        let band_level = |rng: &mut Rng| (105.0 * 10f32.powf(rng.range(-6.0, 3.0) / 40.0)) as u8;
        self.texture = texture;
        match texture {
            Texture::Standard => {}
            Texture::Homophonic => {
                self.make_ensemble(rng);
                self.swing = 0.0;
            }
            Texture::InnerVoice => {
                self.descant = rng.chance(0.5);
                if self.descant {
                    self.make_ensemble(rng);
                } else {
                    self.doubling = if rng.chance(0.5) { 12 } else { -12 };
                    self.doubling_program = rng.pick(LEAD_PROGRAMS).0;
                }
            }
            Texture::DenseBand => {
                self.drums = band_drums(rng);
                self.pad_program = Some(*rng.pick(PAD_PROGRAMS));
                self.counter_program = Some(*rng.pick(COUNTER_PROGRAMS));
                self.busy_counter = true;
                self.chord_style = ChordStyle::Arpeggio;
                self.chord_level = rng.int(95, 115) as u8;
                self.bass_level = rng.int(95, 115) as u8;
                self.drum_level = rng.int(95, 120) as u8;
                self.lead_level = band_level(rng);
            }
            Texture::Passed => {
                let n = rng.int(2, 3) as usize;
                let mut programs: Vec<u8> = Vec::new();
                while programs.len() < n {
                    let p = rng.pick(LEAD_PROGRAMS).0;
                    if !programs.contains(&p) {
                        programs.push(p);
                    }
                }
                self.lead = Lead::Program(programs[0]);
                self.passed_programs = programs;
            }
            Texture::SungLead => {
                self.lead = Lead::SungVoice {
                    formant_scale: rng.range(0.9, 1.2),
                };
                self.drums = band_drums(rng);
                self.pad_program = Some(*rng.pick(PAD_PROGRAMS));
                self.counter_program = Some(*rng.pick(COUNTER_PROGRAMS));
                self.busy_counter = rng.chance(0.5);
                self.chord_level = rng.int(85, 110) as u8;
                self.bass_level = rng.int(90, 110) as u8;
                self.drum_level = rng.int(90, 115) as u8;
                self.lead_level = band_level(rng);
            }
            Texture::Produced => {
                if rng.chance(0.5) {
                    self.apply_texture(rng, Texture::DenseBand);
                }
                self.texture = Texture::Produced;
                self.reverb_send = rng.int(90, 127) as u8;
                self.compression = rng.range(6.0, 12.0);
                self.limiter = true;
                self.eq_tilt_db = rng.range(-9.0, 7.0);
            }
            Texture::UnseenFont => {
                let base = *rng.pick(&Texture::STRESS[..5]);
                self.apply_texture(rng, base);
                self.texture = Texture::UnseenFont;
            }
        }
    }

    pub fn lead_name(&self) -> String {
        if !self.passed_programs.is_empty() {
            return self
                .passed_programs
                .iter()
                .map(|&p| program_name(p))
                .collect::<Vec<_>>()
                .join(" / ");
        }
        match self.lead {
            Lead::SungVoice { .. } => "sung voice".into(),
            Lead::Program(p) => program_name(p),
        }
    }
}

/// The other parts of a four-part chord under (or, with `descant`, around) the melody note
/// `top`: each part takes the highest chord tone at least a minor third below the one above;
/// the bass takes the root. With a descant the melody becomes the second voice.
pub fn harmonise(melody: i32, pcs: &[i32], root_pc: i32, descant: bool) -> Vec<i32> {
    let is_tone = |k: i32| pcs.contains(&k.rem_euclid(12));
    let below = |from: i32| (from - 12..=from - 3).rev().find(|&k| is_tone(k));
    let mut parts = Vec::with_capacity(3);
    let mut upper = melody;
    if descant {
        if let Some(d) = (melody + 3..=melody + 9).find(|&k| is_tone(k)) {
            parts.push(d);
        }
    } else if let Some(alto) = below(upper) {
        parts.push(alto);
        upper = alto;
    }
    if let Some(tenor) = below(upper) {
        parts.push(tenor);
        upper = tenor;
    }
    if let Some(bass) = (upper - 19..=upper - 7)
        .rev()
        .find(|k| k.rem_euclid(12) == root_pc)
    {
        parts.push(bass);
    }
    parts
}

fn program_name(p: u8) -> String {
    const OTHER: &[(u8, &str)] = &[(19, "church organ"), (48, "strings"), (61, "brass section")];
    LEAD_PROGRAMS
        .iter()
        .chain(OTHER)
        .find(|l| l.0 == p)
        .map_or(format!("program {p}"), |l| l.1.to_string())
}

/// A rendered song with its frame-level ground truth.
pub struct GmSong {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// The lead melody as it sounds: (start s, end s, MIDI), song time.
    pub melody_notes: Vec<(f32, f32, f32)>,
    /// In one-timbre ensembles (homophonic, descant), the second-highest part as it sounds:
    /// the tune under a descant, the alto under a choir's melody; empty for other songs.
    pub second_voice_notes: Vec<(f32, f32, f32)>,
    /// Song time at which each melody pass starts.
    pub pass_starts_s: Vec<f32>,
    pub seconds_per_beat: f32,
}

impl GmSong {
    /// MIDI pitch of the lead at each frame (NaN where it is silent) — the training label.
    pub fn melody_labels(&self, fps: f32) -> Vec<f32> {
        self.labels_of(&self.melody_notes, fps)
    }

    /// MIDI pitch of the second-highest part at each frame (NaN where there is none): the
    /// label of the second-voice tracker.
    pub fn second_voice_labels(&self, fps: f32) -> Vec<f32> {
        self.labels_of(&self.second_voice_notes, fps)
    }

    fn labels_of(&self, notes: &[(f32, f32, f32)], fps: f32) -> Vec<f32> {
        let n = (self.samples.len() as f32 / self.sample_rate as f32 * fps).ceil() as usize;
        let mut labels = vec![f32::NAN; n];
        for &(s, e, m) in notes {
            let (a, b) = (
                (s * fps).round() as usize,
                ((e * fps).round() as usize).min(n),
            );
            for l in labels.iter_mut().take(b).skip(a) {
                *l = m;
            }
        }
        labels
    }
}

#[derive(Clone, Copy)]
enum Ev {
    On(u8, u8),
    Off(u8),
    Program(u8),
    Cc(u8, u8),
}

struct Track {
    events: Vec<(f64, u8, Ev)>,
}

impl Track {
    fn note(&mut self, ch: u8, t: f32, dur: f32, key: i32, vel: i32) {
        if !(0..=127).contains(&key) || dur <= 0.0 {
            return;
        }
        self.events
            .push((t as f64, ch, Ev::On(key as u8, vel.clamp(1, 127) as u8)));
        self.events.push(((t + dur) as f64, ch, Ev::Off(key as u8)));
    }
}

fn chord_intervals(kind: &str) -> &'static [i32] {
    match kind {
        "minor" => &[0, 3, 7],
        "dominant-seventh" | "dominant" => &[0, 4, 7, 10],
        "major-seventh" => &[0, 4, 7, 11],
        "minor-seventh" => &[0, 3, 7, 10],
        "diminished" | "diminished-seventh" | "half-diminished" => &[0, 3, 6],
        "augmented" => &[0, 4, 8],
        "suspended-fourth" => &[0, 5, 7],
        _ => &[0, 4, 7],
    }
}

/// Chord (root pitch class, intervals) for each bar of the melody: from its chord symbols where
/// it has them, otherwise the diatonic triad that best fits the bar's notes.
fn harmony(melody: &CorpusMelody) -> Vec<(i32, &'static [i32])> {
    let score = &melody.score;
    let bar = score.beats_per_bar as f32;
    let bars = (score.length_beats() / bar).ceil().max(1.0) as usize;
    let tonic_pc = (score.tonic.round() as i32).rem_euclid(12);
    let mut out = Vec::with_capacity(bars);
    let mut current: Option<&ChordSymbol> = None;
    for b in 0..bars {
        let (start, end) = (b as f32 * bar, (b + 1) as f32 * bar);
        if !melody.chords.is_empty() {
            // The symbol sounding at the start of the bar (or first in it).
            for c in &melody.chords {
                if c.onset <= start + 1e-3 || (current.is_none() && c.onset < end) {
                    current = Some(c);
                }
            }
            if let Some(c) = current {
                out.push((c.root, chord_intervals(&c.kind)));
                continue;
            }
        }
        let mut best = (0i32, f32::NEG_INFINITY);
        for degree in [0, 3, 4, 5, 1] {
            let tones: Vec<i32> = [0, 2, 4]
                .iter()
                .map(|d| (tonic_pc + degree_to_semitones(degree + d, score.minor)).rem_euclid(12))
                .collect();
            let fit: f32 = score
                .notes
                .iter()
                .filter(|n| n.onset < end && n.onset + n.duration > start)
                .map(|n| {
                    if tones.contains(&((n.midi.round() as i32).rem_euclid(12))) {
                        n.duration
                    } else {
                        -0.5 * n.duration
                    }
                })
                .sum::<f32>()
                + if degree == 0 { 0.2 } else { 0.0 };
            if fit > best.1 {
                best = (degree, fit);
            }
        }
        let root = (tonic_pc + degree_to_semitones(best.0, score.minor)).rem_euclid(12);
        let third =
            degree_to_semitones(best.0 + 2, score.minor) - degree_to_semitones(best.0, score.minor);
        out.push((
            root,
            if third == 3 {
                &[0, 3, 7][..]
            } else {
                &[0, 4, 7][..]
            },
        ));
    }
    out
}

const CH_LEAD: u8 = 0;
const CH_CHORD: u8 = 1;
const CH_BASS: u8 = 2;
const CH_PAD: u8 = 3;
const CH_COUNTER: u8 = 4;
/// Second and third melody instruments (Passed; the doubling of InnerVoice).
const CH_LEAD2: u8 = 5;
const CH_LEAD3: u8 = 6;
const CH_DRUMS: u8 = 9;

/// Arranges and renders `melody` with `font` at `rate` Hz (mono).
pub fn render_gm_song(
    melody: &CorpusMelody,
    arr: &Arrangement,
    font: &Arc<SoundFont>,
    rate: u32,
    seed: u64,
) -> Result<GmSong, RenderError> {
    let mut rng = Rng::new(seed);
    let score = &melody.score;
    let spb = 60.0 / arr.bpm;
    let bar_beats = score.beats_per_bar as f32;
    let melody_beats = (score.length_beats() / bar_beats).ceil() * bar_beats;
    let chords = harmony(melody);
    let tr = arr.transpose;
    // Beat position -> seconds, with swing on the off-beat eighths.
    let time = |beat: f32| -> f32 {
        let frac = beat - beat.floor();
        let swung = if (frac - 0.5).abs() < 1e-3 {
            beat + arr.swing / 6.0
        } else {
            beat
        };
        swung * spb
    };
    let mut track = Track { events: Vec::new() };
    let setup = |track: &mut Track, ch: u8, program: u8, level: u8, reverb: u8| {
        track.events.push((0.0, ch, Ev::Program(program)));
        track.events.push((0.0, ch, Ev::Cc(7, level)));
        track.events.push((0.0, ch, Ev::Cc(91, reverb)));
    };
    if let Lead::Program(p) = arr.lead {
        setup(&mut track, CH_LEAD, p, arr.lead_level, arr.reverb_send);
    }
    setup(
        &mut track,
        CH_CHORD,
        arr.chord_program,
        arr.chord_level,
        arr.reverb_send,
    );
    setup(
        &mut track,
        CH_BASS,
        arr.bass_program,
        arr.bass_level,
        arr.reverb_send / 3,
    );
    if let Some(p) = arr.pad_program {
        setup(
            &mut track,
            CH_PAD,
            p,
            arr.chord_level / 2 + 10,
            arr.reverb_send,
        );
    }
    if let Some(p) = arr.counter_program {
        setup(
            &mut track,
            CH_COUNTER,
            p,
            arr.chord_level / 2 + 15,
            arr.reverb_send,
        );
    }
    track
        .events
        .push((0.0, CH_DRUMS, Ev::Cc(7, arr.drum_level)));
    // One-timbre ensembles: every part on the chord channel in the melody's program.
    let ensemble = arr.ensemble;
    if ensemble {
        setup(
            &mut track,
            CH_CHORD,
            arr.ensemble_program,
            arr.lead_level,
            arr.reverb_send,
        );
    }
    let melody_channels: Vec<u8> = if arr.passed_programs.len() > 1 {
        for (&ch, &p) in [CH_LEAD, CH_LEAD2, CH_LEAD3]
            .iter()
            .zip(&arr.passed_programs)
        {
            setup(&mut track, ch, p, arr.lead_level, arr.reverb_send);
        }
        [CH_LEAD, CH_LEAD2, CH_LEAD3][..arr.passed_programs.len()].to_vec()
    } else {
        vec![CH_LEAD]
    };
    if arr.doubling != 0 {
        setup(
            &mut track,
            CH_LEAD2,
            arr.doubling_program,
            arr.lead_level,
            arr.reverb_send,
        );
    }

    // Song plan: intro, then passes of the melody separated by instrumental breaks, then an ending bar.
    let mut melody_notes = Vec::new();
    let mut second_voice_notes = Vec::new();
    let mut pass_starts_s = Vec::new();
    let mut sung: Vec<(f32, f32, f32)> = Vec::new();
    let mut beat = arr.intro_bars as f32 * bar_beats;
    let mut bars_plan: Vec<(f32, Option<usize>)> = (0..arr.intro_bars)
        .map(|i| (i as f32 * bar_beats, None))
        .collect();
    for pass in 0..arr.passes {
        pass_starts_s.push(time(beat));
        for note in &score.notes {
            let (t0, t1) = (
                time(beat + note.onset),
                time(beat + note.onset + note.duration),
            );
            let midi = note.midi as i32 + tr;
            let dur = (t1 - t0) * 0.95;
            melody_notes.push((t0, t0 + dur, midi as f32));
            let vel = rng.int(85, 115);
            // Phrases of two bars: who plays the melody when it is passed around.
            let phrase = (note.onset / (2.0 * bar_beats)) as usize;
            let channel = melody_channels[phrase % melody_channels.len()];
            match arr.lead {
                Lead::Program(_) => track.note(channel, t0, dur, midi, vel),
                Lead::SungVoice { .. } => sung.push((t0, dur, midi as f32)),
            }
            if arr.doubling != 0 {
                track.note(CH_LEAD2, t0, dur, midi + arr.doubling, vel);
            }
            if ensemble {
                let bar = ((note.onset / bar_beats) as usize).min(chords.len() - 1);
                let (root, intervals) = chords[bar];
                let pcs: Vec<i32> = intervals
                    .iter()
                    .map(|i| (root + tr + i).rem_euclid(12))
                    .collect();
                let parts = harmonise(midi, &pcs, (root + tr).rem_euclid(12), arr.descant);
                let mut voices: Vec<i32> = parts.iter().copied().chain([midi]).collect();
                voices.sort_unstable_by(|a, b| b.cmp(a));
                if let Some(&second) = voices.get(1) {
                    second_voice_notes.push((t0, t0 + dur, second as f32));
                }
                for part in parts {
                    track.note(CH_CHORD, t0, dur, part, vel);
                }
            }
        }
        for b in 0..(melody_beats / bar_beats) as usize {
            bars_plan.push((beat + b as f32 * bar_beats, Some(b)));
        }
        beat += melody_beats;
        if pass + 1 < arr.passes && arr.break_bars > 0 {
            for b in 0..arr.break_bars {
                // Breaks replay the opening bars' harmony.
                bars_plan.push((beat + b as f32 * bar_beats, Some(b as usize % chords.len())));
            }
            beat += arr.break_bars as f32 * bar_beats;
        }
    }
    bars_plan.push((beat, None));
    let end_beat = beat + bar_beats;

    let tonic_pc = (score.tonic.round() as i32 + tr).rem_euclid(12);
    let mut prev_bass = 40;
    let mut prev_counter = 67;
    for &(bar_start, chord_idx) in &bars_plan {
        if ensemble {
            break; // the ensemble's parts were written with the melody
        }
        let (root_pc, intervals) = match chord_idx {
            Some(i) => (
                (chords[i.min(chords.len() - 1)].0 + tr).rem_euclid(12),
                chords[i.min(chords.len() - 1)].1,
            ),
            None => (
                tonic_pc,
                if score.minor {
                    &[0, 3, 7][..]
                } else {
                    &[0, 4, 7][..]
                },
            ),
        };
        let root = 48 + root_pc; // C3..B3
        let tones: Vec<i32> = intervals.iter().map(|i| root + i).collect();
        let t_bar = time(bar_start);
        let bar_s = bar_beats * spb;
        match arr.chord_style {
            ChordStyle::Block => {
                for &k in &tones {
                    track.note(CH_CHORD, t_bar, bar_s * 0.95, k, rng.int(60, 85));
                }
            }
            ChordStyle::Arpeggio => {
                let steps = (bar_beats * 2.0) as usize;
                for s in 0..steps {
                    let k = tones[s % tones.len()] + if s / tones.len() % 2 == 1 { 12 } else { 0 };
                    track.note(
                        CH_CHORD,
                        time(bar_start + s as f32 * 0.5),
                        spb * 0.5,
                        k,
                        rng.int(55, 80),
                    );
                }
            }
            ChordStyle::Strum => {
                for b in 0..score.beats_per_bar {
                    let tb = time(bar_start + b as f32);
                    for (j, &k) in tones.iter().enumerate() {
                        track.note(
                            CH_CHORD,
                            tb + j as f32 * 0.012,
                            spb * 0.8,
                            k,
                            rng.int(50, 80),
                        );
                    }
                }
            }
        }
        if arr.pad_program.is_some() {
            for &k in &tones {
                track.note(CH_PAD, t_bar, bar_s, k + 12, 50);
            }
        }
        if arr.counter_program.is_some() && arr.busy_counter {
            // Eighths on chord tones in the melody's register, moving by small steps.
            for s in 0..(bar_beats * 2.0) as usize {
                let near: Vec<i32> = (60..=79)
                    .filter(|k| tones.iter().any(|t| (k - t).rem_euclid(12) == 0))
                    .filter(|k| (1..=5).contains(&(k - prev_counter).abs()))
                    .collect();
                if !near.is_empty() {
                    prev_counter = *rng.pick(&near);
                }
                track.note(
                    CH_COUNTER,
                    time(bar_start + s as f32 * 0.5),
                    spb * 0.45,
                    prev_counter,
                    rng.int(70, 95),
                );
            }
        } else if arr.counter_program.is_some() {
            // A slow line on chord tones, moving by the smallest step.
            let k = tones[1 + rng.int(0, (tones.len() - 2) as i32) as usize] + 12;
            track.note(CH_COUNTER, t_bar, bar_s * 0.9, k, 55);
        }
        // Bass: root on the downbeat, fifth (or root) on the middle beat; keep it near the last note.
        let mut bass_root = 36 + root_pc;
        if (bass_root - prev_bass).abs() > 6 {
            bass_root -= 12 * ((bass_root - prev_bass) as f32 / 12.0).round() as i32;
        }
        bass_root = bass_root.clamp(28, 52);
        prev_bass = bass_root;
        let half = (bar_beats / 2.0).floor().max(1.0);
        track.note(
            CH_BASS,
            t_bar,
            half * spb * 0.9,
            bass_root,
            rng.int(80, 105),
        );
        if bar_beats >= 2.0 {
            let second = if rng.chance(0.6) {
                bass_root + 7
            } else {
                bass_root
            };
            track.note(
                CH_BASS,
                time(bar_start + half),
                (bar_beats - half) * spb * 0.9,
                second,
                rng.int(70, 95),
            );
        }
        add_drums(
            &mut track,
            arr.drums,
            bar_start,
            score.beats_per_bar,
            &time,
            &mut rng,
        );
    }
    let total_s = time(end_beat) + 1.5;
    let mut samples = render_events(font, &mut track.events, total_s, rate)?;
    if let Lead::SungVoice { formant_scale } = arr.lead {
        let params = VoiceParams {
            style: HumStyle::Sing,
            formant_scale,
            vibrato_cents: rng.range(20.0, 45.0),
        };
        let voice = render_voice(&sung, &params, total_s, rate, &mut rng);
        let level = 0.25 * arr.lead_level as f32
            / 127.0
            / voice.iter().fold(1e-6f32, |a, &b| a.max(b.abs()));
        for (s, v) in samples.iter_mut().zip(&voice) {
            *s += v * level;
        }
    }
    master(
        &mut samples,
        rate,
        arr.eq_tilt_db,
        arr.compression,
        arr.limiter,
    );
    Ok(GmSong {
        samples,
        sample_rate: rate,
        melody_notes,
        second_voice_notes,
        pass_starts_s,
        seconds_per_beat: spb,
    })
}

fn add_drums(
    track: &mut Track,
    style: DrumStyle,
    bar_start: f32,
    beats: u32,
    time: &dyn Fn(f32) -> f32,
    rng: &mut Rng,
) {
    const KICK: i32 = 36;
    const SNARE: i32 = 38;
    const HAT: i32 = 42;
    const RIDE: i32 = 51;
    const TAMB: i32 = 54;
    let hit = |track: &mut Track, beat: f32, key: i32, vel: i32| {
        track.note(CH_DRUMS, time(bar_start + beat), 0.1, key, vel)
    };
    for b in 0..beats {
        let bf = b as f32;
        let v = rng.int(-10, 10);
        match style {
            DrumStyle::None => {}
            DrumStyle::Rock | DrumStyle::Shuffle => {
                hit(track, bf, if b % 2 == 0 { KICK } else { SNARE }, 100 + v);
                hit(track, bf, HAT, 70 + v);
                hit(track, bf + 0.5, HAT, 55 + v);
            }
            DrumStyle::Folk => {
                if b == 0 {
                    hit(track, bf, KICK, 90 + v);
                }
                hit(track, bf, TAMB, 60 + v);
            }
            DrumStyle::Waltz => {
                hit(
                    track,
                    bf,
                    if b == 0 { KICK } else { RIDE },
                    if b == 0 { 95 } else { 60 } + v,
                );
            }
        }
    }
}

/// Notes (start s, duration s, MIDI key, velocity) on one General MIDI program, mono.
pub fn render_notes(
    font: &Arc<SoundFont>,
    program: u8,
    notes: &[(f32, f32, i32, i32)],
    total_s: f32,
    rate: u32,
) -> Result<Vec<f32>, RenderError> {
    let mut track = Track { events: Vec::new() };
    track.events.push((0.0, CH_LEAD, Ev::Program(program)));
    track.events.push((0.0, CH_LEAD, Ev::Cc(7, 110)));
    track.events.push((0.0, CH_LEAD, Ev::Cc(91, 20)));
    for &(start, dur, key, velocity) in notes {
        track.note(CH_LEAD, start, dur, key, velocity);
    }
    render_events(font, &mut track.events, total_s, rate)
}

fn render_events(
    font: &Arc<SoundFont>,
    events: &mut [(f64, u8, Ev)],
    total_s: f32,
    rate: u32,
) -> Result<Vec<f32>, RenderError> {
    let mut settings = SynthesizerSettings::new(rate as i32);
    settings.enable_reverb_and_chorus = true;
    let mut synth =
        Synthesizer::new(font, &settings).map_err(|e| RenderError::Synth(format!("{e:?}")))?;
    // Note-offs before note-ons at the same instant, so repeated notes retrigger.
    events.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then_with(|| matches!(b.2, Ev::Off(_)).cmp(&matches!(a.2, Ev::Off(_))))
    });
    let n = (total_s * rate as f32) as usize;
    let (mut left, mut right) = (vec![0.0f32; n], vec![0.0f32; n]);
    let mut pos = 0usize;
    for &(t, ch, ev) in events.iter() {
        let at = ((t * rate as f64) as usize).min(n);
        if at > pos {
            synth.render(&mut left[pos..at], &mut right[pos..at]);
            pos = at;
        }
        let ch = ch as i32;
        match ev {
            Ev::On(k, v) => synth.note_on(ch, k as i32, v as i32),
            Ev::Off(k) => synth.note_off(ch, k as i32),
            Ev::Program(p) => synth.process_midi_message(ch, 0xC0, p as i32, 0),
            Ev::Cc(c, v) => synth.process_midi_message(ch, 0xB0, c as i32, v as i32),
        }
    }
    if pos < n {
        synth.render(&mut left[pos..], &mut right[pos..]);
    }
    Ok(left
        .iter()
        .zip(&right)
        .map(|(l, r)| 0.5 * (l + r))
        .collect())
}

/// Mastering: a high-shelf tilt (EQ), a simple RMS compressor, and peak normalisation below clipping.
fn master(samples: &mut [f32], rate: u32, tilt_db: f32, ratio: f32, limiter: bool) {
    let mut lp = OnePole::default();
    let coeff = 1.0 - (-2.0 * std::f32::consts::PI * 2000.0 / rate as f32).exp();
    let gain_high = 10f32.powf(tilt_db / 20.0);
    for s in samples.iter_mut() {
        let low = lp.low(*s, coeff);
        *s = low + (*s - low) * gain_high;
    }
    if ratio > 1.05 {
        let mut env = 0.0f32;
        let attack = 1.0 - (-1.0 / (0.01 * rate as f32)).exp();
        let release = 1.0 - (-1.0 / (0.2 * rate as f32)).exp();
        let peak = samples.iter().fold(1e-6f32, |a, &b| a.max(b.abs()));
        let threshold = 0.3 * peak;
        for s in samples.iter_mut() {
            let x = s.abs();
            env += (x - env) * if x > env { attack } else { release };
            if env > threshold {
                *s *= (threshold / env).powf(1.0 - 1.0 / ratio);
            }
        }
    }
    if limiter {
        // Brick-wall-ish: 1 ms attack, 60 ms release, everything above a quarter of the peak held there.
        let peak = samples.iter().fold(1e-6f32, |a, &b| a.max(b.abs()));
        let ceiling = 0.25 * peak;
        let attack = 1.0 - (-1.0 / (0.001 * rate as f32)).exp();
        let release = 1.0 - (-1.0 / (0.06 * rate as f32)).exp();
        let mut env = 0.0f32;
        for s in samples.iter_mut() {
            let x = s.abs();
            env += (x - env) * if x > env { attack } else { release };
            if env > ceiling {
                *s *= ceiling / env;
            }
        }
    }
    normalize_peak(samples, 0.89);
}

#[cfg(test)]
mod tests {
    use super::super::corpus::Split;
    use super::super::score::random_melody;
    use super::*;
    use crate::audio::SAMPLE_RATE;
    use crate::melody::{extract_melody, CONTOUR_FPS};

    fn test_melody(seed: u64) -> CorpusMelody {
        let score = random_melody(&mut Rng::new(seed), 8);
        CorpusMelody {
            id: format!("test#{seed}"),
            collection: "test".into(),
            title: String::new(),
            split: Split::Train,
            meter: None,
            tempo_bpm: None,
            score,
            chords: vec![ChordSymbol {
                onset: 0.0,
                root: 0,
                kind: "major".into(),
            }],
        }
    }

    /// The small GM font CI installs (`timgm6mb-soundfont`, see .ci/run).
    fn font() -> Arc<SoundFont> {
        load_soundfont(Path::new(TIMGM6MB))
            .expect("apt-get install timgm6mb-soundfont (.ci/run does)")
    }

    #[test]
    fn every_ensemble_program_can_be_asked_for_as_a_lead() {
        let all: Vec<String> = ENSEMBLE_PROGRAMS.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            parse_lead_programs(&all.join(",")),
            Ok(ENSEMBLE_PROGRAMS.to_vec())
        );
    }

    #[test]
    fn harmonisation_keeps_the_melody_on_top_or_under_a_descant() {
        let c_major = [0, 4, 7];
        // Soprano G5 over C: alto E5, tenor C5, bass C4 — all below, all chord tones.
        assert_eq!(harmonise(79, &c_major, 0, false), vec![76, 72, 60]);
        let parts = harmonise(72, &c_major, 0, false);
        assert!(parts
            .iter()
            .all(|&p| p < 72 && c_major.contains(&p.rem_euclid(12))));
        // A non-chord melody note still gets chord tones under it.
        assert!(harmonise(74, &c_major, 0, false).iter().all(|&p| p <= 71));
        // Descant: one part above the melody, the rest below.
        let d = harmonise(72, &c_major, 0, true);
        assert_eq!(d[0], 76);
        assert!(d[1..].iter().all(|&p| p < 72));
    }

    #[test]
    fn every_stress_texture_renders_audible_unclipped_and_deterministic() {
        let font = font();
        for (k, &texture) in Texture::STRESS.iter().enumerate() {
            let melody = test_melody(10 + k as u64);
            let mut rng = Rng::new(k as u64);
            let mut arr = Arrangement::random_textured(&mut rng, &melody, texture);
            arr.passes = 1;
            assert_eq!(arr.texture, texture);
            let song = render_gm_song(&melody, &arr, &font, 16_000, 5).unwrap();
            let peak = song.samples.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
            assert!(peak > 0.5 && peak < 0.95, "{texture:?}: peak {peak}");
            assert!(!song.melody_notes.is_empty());
            let again = render_gm_song(&melody, &arr, &font, 16_000, 5).unwrap();
            assert!(
                song.samples == again.samples,
                "{texture:?} not deterministic"
            );
        }
        // The texture is not left to chance: the same seed gives the same arrangement choices.
        let melody = test_melody(3);
        let a = Arrangement::random_textured(&mut Rng::new(9), &melody, Texture::Passed);
        let b = Arrangement::random_textured(&mut Rng::new(9), &melody, Texture::Passed);
        assert_eq!(a.passed_programs, b.passed_programs);
        assert!(a.passed_programs.len() >= 2);
    }

    #[test]
    fn the_second_voice_is_the_tune_under_a_descant_and_below_a_choirs_melody() {
        let font = font();
        let melody = test_melody(4);
        let render = |descant: bool, texture: Texture| {
            let mut arr = Arrangement::random_textured(&mut Rng::new(2), &melody, texture);
            arr.passes = 1;
            if texture == Texture::InnerVoice {
                arr.descant = descant;
                arr.doubling = 0;
                arr.make_ensemble(&mut Rng::new(3));
            }
            render_gm_song(&melody, &arr, &font, 16_000, 5).unwrap()
        };
        let voiced = |v: &[f32]| v.iter().filter(|m| !m.is_nan()).count();
        // Under a descant the tune is the second voice: the same labels as the melody's.
        let song = render(true, Texture::InnerVoice);
        let (tune, second) = (song.melody_labels(25.0), song.second_voice_labels(25.0));
        assert!(voiced(&tune) > 50);
        assert!(tune
            .iter()
            .zip(&second)
            .all(|(a, b)| a == b || (a.is_nan() && b.is_nan())));
        // In a choir the second voice sits under the melody wherever both sound.
        let song = render(false, Texture::Homophonic);
        let (tune, second) = (song.melody_labels(25.0), song.second_voice_labels(25.0));
        let both: Vec<(f32, f32)> = tune
            .iter()
            .zip(&second)
            .filter(|(a, b)| !a.is_nan() && !b.is_nan())
            .map(|(a, b)| (*a, *b))
            .collect();
        assert!(both.len() > 50);
        assert!(both.iter().all(|(a, b)| b < a), "{both:?}");
        // A lead over a band has none.
        let song = render(false, Texture::DenseBand);
        assert_eq!(voiced(&song.second_voice_labels(25.0)), 0);
    }

    #[test]
    fn gm_songs_are_audible_unclipped_deterministic_and_carry_the_melody() {
        let font = font();
        for seed in 0..3u64 {
            let melody = test_melody(seed);
            let mut rng = Rng::new(seed);
            let mut arr = Arrangement::random(&mut rng, &melody);
            arr.lead = Lead::Program(LEAD_PROGRAMS[seed as usize * 2].0);
            arr.passes = 1;
            let song = render_gm_song(&melody, &arr, &font, SAMPLE_RATE, seed).unwrap();
            let peak = song.samples.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
            assert!(peak > 0.5 && peak < 0.95, "peak {peak}");
            let again = render_gm_song(&melody, &arr, &font, SAMPLE_RATE, seed).unwrap();
            assert!(song.samples == again.samples, "not deterministic");
            // The lead is what the melody extractor finds, most of the time (octave-folded).
            let contour = extract_melody(&song.samples);
            let labels = song.melody_labels(CONTOUR_FPS);
            let (mut good, mut total) = (0, 0);
            for (est, want) in contour.midi.iter().zip(&labels) {
                if want.is_nan() {
                    continue;
                }
                total += 1;
                let d = est - want;
                if !est.is_nan() && (d - 12.0 * (d / 12.0).round()).abs() < 0.5 {
                    good += 1;
                }
            }
            let acc = good as f32 / total as f32;
            eprintln!(
                "seed {seed} lead {}: melody accuracy {acc:.2}",
                arr.lead_name()
            );
            assert!(acc > 0.5, "lead {}: melody accuracy {acc}", arr.lead_name());
        }
    }
}
