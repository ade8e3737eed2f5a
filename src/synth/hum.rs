//! Hums, sung syllables and whistles of a melody excerpt, with the errors people make
//! (key, tempo, rubato, pitch drift, wrong/skipped/repeated notes) and the room they make
//! them in (reverb, mic response, background noise).

use std::ops::Range;

use super::rng::Rng;
use super::score::Score;
use super::song::SongSpec;

/// What a hum needs to know of the song it imitates: its tempo and its key relative to the score.
#[derive(Debug, Clone, Copy)]
pub struct SongTiming {
    pub seconds_per_beat: f32,
    /// Semitones from the score's pitches to the song's.
    pub transpose: f32,
}

impl From<&SongSpec> for SongTiming {
    fn from(s: &SongSpec) -> Self {
        Self {
            seconds_per_beat: s.seconds_per_beat(),
            transpose: s.transpose,
        }
    }
}
use super::voice::{formant_gain, harmonic_table, reverb, rms, table_read, OnePole};
use crate::dsp::midi_to_hz;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HumStyle {
    /// Closed-mouth "mmm": nasal formant, strong low harmonics.
    Hum,
    /// Syllables ("la", "da", "doo"): vowel formants changing per note, consonant onsets.
    Sing,
    /// Whistling: nearly sinusoidal, an octave or two up, breathy.
    Whistle,
}

/// Everything that varies between two hums of the same excerpt.
#[derive(Debug, Clone)]
pub struct HumSpec {
    pub style: HumStyle,
    /// First melody note of the excerpt and its target length in song seconds.
    pub start_note: usize,
    pub target_song_s: f32,
    /// Semitones relative to the song's key.
    pub transpose: f32,
    /// Hum tempo / song tempo (1.2 = 20% faster).
    pub tempo: f32,
    /// Centre of the singer's comfortable range (MIDI): ~50 low voice, ~62 high voice.
    pub voice_centre: f32,
    /// Formant frequencies scale (vocal tract length): 0.85 long tract .. 1.2 short.
    pub formant_scale: f32,
    pub pitch_error_sd: f32,
    pub drift_semitones: f32,
    pub wrong_note_p: f32,
    pub skip_repeat_p: f32,
    pub rubato_sd: f32,
    pub vibrato_cents: f32,
    pub snr_db: f32,
    pub reverb: f32,
    pub sample_rate: u32,
}

/// Difficulty presets: the "medium" is ±6 semitones, tempo 0.75–1.3, 15 dB SNR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difficulty {
    Clean,
    Medium,
    Hard,
}

impl Difficulty {
    pub fn name(self) -> &'static str {
        match self {
            Difficulty::Clean => "clean",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "clean" => Some(Self::Clean),
            "medium" => Some(Self::Medium),
            "hard" => Some(Self::Hard),
            _ => None,
        }
    }
}

impl HumSpec {
    pub fn random(
        rng: &mut Rng,
        score: &Score,
        song: impl Into<SongTiming>,
        difficulty: Difficulty,
        sample_rate: u32,
    ) -> Self {
        let (tempo, snr, err, drift, wrong, skip, rubato) = match difficulty {
            Difficulty::Clean => (
                rng.range(0.9, 1.1),
                rng.range(25.0, 35.0),
                0.08,
                0.1,
                0.0,
                0.0,
                0.04,
            ),
            Difficulty::Medium => (rng.range(0.75, 1.3), 15.0, 0.15, 0.3, 0.03, 0.02, 0.08),
            Difficulty::Hard => (
                rng.range(0.7, 1.4),
                rng.range(5.0, 10.0),
                0.25,
                0.5,
                0.07,
                0.05,
                0.12,
            ),
        };
        let style = match rng.f32() {
            x if x < 0.5 => HumStyle::Hum,
            x if x < 0.85 => HumStyle::Sing,
            _ => HumStyle::Whistle,
        };
        let target_song_s = rng.range(8.0, 16.0) * tempo;
        let spb = song.into().seconds_per_beat;
        // Start anywhere that leaves room for the excerpt within one melody pass.
        let melody_s = score.length_beats() * spb;
        let latest = (melody_s - target_song_s).max(0.0);
        let start_t = rng.range(0.0, latest.max(0.01));
        let start_note = score
            .notes
            .iter()
            .position(|n| n.onset * spb >= start_t)
            .unwrap_or(0);
        let low_voice = rng.chance(0.5);
        Self {
            style,
            start_note,
            target_song_s,
            transpose: rng.int(-6, 6) as f32,
            tempo,
            voice_centre: if low_voice {
                rng.range(47.0, 54.0)
            } else {
                rng.range(58.0, 66.0)
            },
            formant_scale: if low_voice {
                rng.range(0.85, 1.0)
            } else {
                rng.range(1.0, 1.2)
            },
            pitch_error_sd: err,
            drift_semitones: rng.range(-drift, drift),
            wrong_note_p: wrong,
            skip_repeat_p: skip,
            rubato_sd: rubato,
            vibrato_cents: rng.range(10.0, 50.0),
            snr_db: snr,
            reverb: rng.range(0.0, 0.35),
            sample_rate,
        }
    }
}

/// Which singers a hum may come from. Training uses `Train`; the generalisation check uses
/// `HeldOut` (mid-range voices with neutral vocal-tract length, never heard in training);
/// `Unusual` is outside every other pool: deep basses with long tracts and children or
/// sopranos with short ones (whose whistles reach 2.3 kHz), never heard in training either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoicePool {
    All,
    Train,
    HeldOut,
    Unusual,
}

impl VoicePool {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "all" => Some(Self::All),
            "train" => Some(Self::Train),
            "heldout" => Some(Self::HeldOut),
            "unusual" => Some(Self::Unusual),
            _ => None,
        }
    }

    /// The pool's singers: one or two regions of (voice centre MIDI, formant scale), drawn with
    /// equal chance. Empty for `All` (any singer).
    fn regions(self) -> &'static [(Range<f32>, Range<f32>)] {
        match self {
            VoicePool::All => &[],
            // Low voices with long tracts, high voices with short ones.
            VoicePool::Train => &[(47.0..52.5, 0.85..0.96), (59.5..66.0, 1.04..1.2)],
            VoicePool::HeldOut => &[(52.5..59.5, 0.96..1.04)],
            // Deep basses, and children or sopranos.
            VoicePool::Unusual => &[(38.0..46.0, 0.78..0.85), (67.0..74.0, 1.2..1.35)],
        }
    }

    /// Redraws the singer of `spec` from this pool.
    pub fn apply(self, spec: &mut HumSpec, rng: &mut Rng) {
        let regions = self.regions();
        let Some(first) = regions.first() else {
            return;
        };
        let (centre, formants) = if regions.len() > 1 && !rng.chance(0.5) {
            &regions[1]
        } else {
            first
        };
        spec.voice_centre = rng.range(centre.start, centre.end);
        spec.formant_scale = rng.range(formants.start, formants.end);
    }

    /// True when a singer with these settings belongs to the pool.
    pub fn contains(self, voice_centre: f32, formant_scale: f32) -> bool {
        self == VoicePool::All
            || self
                .regions()
                .iter()
                .any(|(c, f)| c.contains(&voice_centre) && f.contains(&formant_scale))
    }
}

/// A rendered hum with its ground truth.
pub struct RenderedHum {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// Where the excerpt sits in the melody, seconds from its first note at the song's tempo.
    pub melody_start_s: f32,
    pub melody_end_s: f32,
    /// The notes as intended by the hummer before errors: (start s, end s, MIDI) in hum time.
    pub intended: Vec<(f32, f32, f32)>,
    /// Semitones from the song's pitch to the hum's (including any octave displacement).
    pub total_shift: f32,
}

const VOWELS: [[(f32, f32, f32); 3]; 5] = [
    [
        (730.0, 90.0, 1.0),
        (1090.0, 110.0, 0.5),
        (2440.0, 170.0, 0.2),
    ], // a
    [
        (530.0, 60.0, 1.0),
        (1840.0, 100.0, 0.4),
        (2480.0, 160.0, 0.2),
    ], // e
    [
        (300.0, 50.0, 1.0),
        (2200.0, 120.0, 0.3),
        (3000.0, 200.0, 0.2),
    ], // i
    [
        (570.0, 70.0, 1.0),
        (840.0, 80.0, 0.5),
        (2410.0, 170.0, 0.15),
    ], // o
    [(300.0, 50.0, 1.0), (870.0, 80.0, 0.4), (2240.0, 150.0, 0.1)], // u
];
const NASAL: [(f32, f32, f32); 3] = [
    (250.0, 60.0, 1.0),
    (1000.0, 150.0, 0.15),
    (2500.0, 250.0, 0.08),
];

pub fn render_hum(
    score: &Score,
    song: impl Into<SongTiming>,
    spec: &HumSpec,
    seed: u64,
) -> RenderedHum {
    let mut rng = Rng::new(seed);
    let p = perform(score, song.into(), spec, &mut rng);
    let voice_params = VoiceParams {
        style: spec.style,
        formant_scale: spec.formant_scale,
        vibrato_cents: spec.vibrato_cents,
    };
    let voice = render_voice(
        &p.notes,
        &voice_params,
        p.total_s,
        spec.sample_rate,
        &mut rng,
    );
    p.recorded(in_the_room(voice, spec, &mut rng), spec.sample_rate)
}

/// A performance of an excerpt: the notes as sung or played, with the errors in `spec`.
pub struct Performance {
    /// (start s, duration s, MIDI) in performance time.
    pub notes: Vec<(f32, f32, f32)>,
    /// The notes as intended before errors: (start s, end s, MIDI).
    pub intended: Vec<(f32, f32, f32)>,
    /// Length of the recording, seconds.
    pub total_s: f32,
    melody_start_s: f32,
    melody_end_s: f32,
    total_shift: f32,
}

impl Performance {
    /// The recording of this performance.
    pub fn recorded(self, samples: Vec<f32>, sample_rate: u32) -> RenderedHum {
        RenderedHum {
            samples,
            sample_rate,
            melody_start_s: self.melody_start_s,
            melody_end_s: self.melody_end_s,
            intended: self.intended,
            total_shift: self.total_shift,
        }
    }
}

/// Chooses the excerpt and performs it: key and octave for the performer's range, tempo,
/// rubato, drift, pitch errors, wrong, skipped and repeated notes.
pub fn perform(score: &Score, song: SongTiming, spec: &HumSpec, rng: &mut Rng) -> Performance {
    let spb = song.seconds_per_beat;
    // The excerpt in song time.
    let first = spec.start_note.min(score.notes.len().saturating_sub(1));
    let t_start = score.notes[first].onset * spb;
    let mut last = first;
    while last + 1 < score.notes.len()
        && (score.notes[last + 1].onset + score.notes[last + 1].duration) * spb - t_start
            <= spec.target_song_s
    {
        last += 1;
    }
    let excerpt = &score.notes[first..=last];
    let t_end = (excerpt[excerpt.len() - 1].onset + excerpt[excerpt.len() - 1].duration) * spb;
    // Pitch: song key + hum transposition, then whole octaves to the singer's range.
    let mean_midi = excerpt.iter().map(|n| n.midi).sum::<f32>() / excerpt.len() as f32
        + song.transpose
        + spec.transpose;
    let centre = if spec.style == HumStyle::Whistle {
        spec.voice_centre + 24.0
    } else {
        spec.voice_centre
    };
    let octave = 12.0 * ((centre - mean_midi) / 12.0).round();
    let total_shift = song.transpose + spec.transpose + octave;

    // The performance: notes with timing and pitch errors, in hum seconds.
    let lead_in = rng.range(0.2, 0.6);
    let mut perf: Vec<(f32, f32, f32)> = Vec::new(); // start, dur, midi
    let mut intended = Vec::new();
    let mut t = lead_in;
    let hum_len = (t_end - t_start) / spec.tempo;
    for note in excerpt {
        let dur = note.duration * spb / spec.tempo
            * (1.0 + spec.rubato_sd * rng.normal()).clamp(0.6, 1.5);
        let target = note.midi + total_shift;
        intended.push((t, t + dur, target));
        if rng.chance(spec.skip_repeat_p) {
            t += dur; // skipped: the gap is filled by holding the previous note longer
            if let Some(prev) = perf.last_mut() {
                prev.1 += dur;
            }
            continue;
        }
        let drift = spec.drift_semitones * ((t - lead_in) / hum_len.max(1.0)).min(1.0);
        let mut sung = target + drift + spec.pitch_error_sd * rng.normal();
        if rng.chance(spec.wrong_note_p) {
            sung += *rng.pick(&[-2.0, -1.0, 1.0, 2.0]);
        }
        if rng.chance(spec.skip_repeat_p) && dur > 0.3 {
            perf.push((t, dur / 2.0, sung));
            perf.push((t + dur / 2.0, dur / 2.0, sung));
        } else {
            perf.push((t, dur, sung));
        }
        t += dur;
    }
    let total_s = t + rng.range(0.3, 0.8);
    Performance {
        notes: perf,
        intended,
        total_s,
        melody_start_s: t_start,
        melody_end_s: t_end,
        total_shift,
    }
}

/// The room and the microphone: reverb, a laptop mic's response, background noise at the
/// spec's SNR, and a recording level.
pub fn in_the_room(mut voice: Vec<f32>, spec: &HumSpec, rng: &mut Rng) -> Vec<f32> {
    let rate = spec.sample_rate;
    reverb(&mut voice, rate, spec.reverb, 0.6);
    // Laptop mic: no deep bass, soft top.
    let (mut hp, mut lp2) = (OnePole::default(), OnePole::default());
    let hp_coeff = 1.0 - (-2.0 * std::f32::consts::PI * 120.0 / rate as f32).exp();
    let lp_coeff = 1.0 - (-2.0 * std::f32::consts::PI * 6000.0 / rate as f32).exp();
    for v in voice.iter_mut() {
        let low = hp.low(*v, hp_coeff);
        *v = lp2.low(*v - low, lp_coeff);
    }
    // Background noise at the requested SNR (relative to the voice's level while voiced).
    let voiced: Vec<f32> = voice.iter().copied().filter(|v| v.abs() > 1e-4).collect();
    let signal_rms = rms(&voiced).max(1e-6);
    let noise_rms = signal_rms / 10f32.powf(spec.snr_db / 20.0);
    let mut pink = OnePole::default();
    let mut noise: Vec<f32> = (0..voice.len())
        .map(|_| {
            let w = rng.normal();
            0.5 * w + 2.0 * pink.low(w, 0.05)
        })
        .collect();
    let nr = rms(&noise).max(1e-9);
    noise.iter_mut().for_each(|x| *x *= noise_rms / nr);
    let mut samples: Vec<f32> = voice.iter().zip(&noise).map(|(v, w)| v + w).collect();
    let gain = rng.range(0.2, 0.6)
        / samples
            .iter()
            .fold(0.0f32, |a, &b| a.max(b.abs()))
            .max(1e-6);
    samples.iter_mut().for_each(|s| *s *= gain);
    samples
}

/// How a voice sounds, independent of what it sings.
#[derive(Debug, Clone)]
pub struct VoiceParams {
    pub style: HumStyle,
    /// Formant frequencies scale (vocal tract length): 0.85 long tract .. 1.2 short.
    pub formant_scale: f32,
    pub vibrato_cents: f32,
}

/// Renders notes (start s, duration s, MIDI) with a synthetic voice: glottal-like harmonics
/// through formants (nasal for humming, a vowel per note for singing), vibrato, jitter and
/// shimmer, scoops into fresh notes and glides between connected ones, breath noise.
pub fn render_voice(
    perf: &[(f32, f32, f32)],
    params: &VoiceParams,
    total_s: f32,
    rate: u32,
    rng: &mut Rng,
) -> Vec<f32> {
    let spec = params;
    let n = (total_s * rate as f32) as usize;
    let mut voice = vec![0.0f32; n];
    let mut phase = 0.0f32;
    let mut jitter = OnePole::default();
    let vib_rate = rng.range(4.5, 6.5);
    for (k, &(start, dur, midi)) in perf.iter().enumerate() {
        let f0 = midi_to_hz(midi);
        let prev_f0 = if k > 0 { midi_to_hz(perf[k - 1].2) } else { f0 };
        let connected =
            k > 0 && (perf[k - 1].0 + perf[k - 1].1 - start).abs() < 1e-3 && rng.chance(0.6);
        let amps: Vec<f32> = match spec.style {
            HumStyle::Hum => {
                let nasal: Vec<_> = NASAL
                    .iter()
                    .map(|&(f, b, g)| (f * spec.formant_scale, b, g))
                    .collect();
                (1..=24)
                    .map(|h| formant_gain(h as f32 * f0, &nasal) / (h as f32).powf(1.6))
                    .collect()
            }
            HumStyle::Sing => {
                let v = rng.pick(&VOWELS);
                let vowel: Vec<_> = v
                    .iter()
                    .map(|&(f, b, g)| (f * spec.formant_scale, b, g))
                    .collect();
                (1..=30)
                    .map(|h| formant_gain(h as f32 * f0, &vowel) / h as f32)
                    .collect()
            }
            HumStyle::Whistle => vec![1.0, 0.03],
        };
        let table = harmonic_table(&amps, f0, rate as f32 / 2.0);
        let table_peak = table.iter().fold(0.0f32, |a, &b| a.max(b.abs())).max(1e-6);
        let scoop = if spec.style != HumStyle::Whistle && !connected {
            rng.range(-0.8, 0.0)
        } else {
            0.0
        };
        let gap = if connected {
            0.0
        } else {
            rng.range(0.02, 0.08)
        };
        let i0 = (start * rate as f32) as usize;
        let len = ((dur - gap).max(0.05) * rate as f32) as usize;
        let level = rng.range(0.7, 1.0);
        for i in 0..len {
            let idx = i0 + i;
            if idx >= n {
                break;
            }
            let tt = i as f32 / rate as f32;
            // Glide from the previous note, or scoop up into a fresh one.
            let glide = if connected {
                (1.0 - tt / 0.05).max(0.0) * 12.0 * (prev_f0 / f0).log2()
            } else {
                scoop * (1.0 - tt / 0.08).max(0.0)
            };
            let vib = spec.vibrato_cents / 100.0
                * (tt / 0.25).min(1.0)
                * (2.0 * std::f32::consts::PI * vib_rate * (start + tt)).sin();
            let jit = jitter.low(rng.normal(), 0.02) * 0.08;
            let f = f0 * 2f32.powf((glide + vib + jit) / 12.0);
            phase += f / rate as f32;
            let attack = (tt / 0.03).min(1.0);
            let release = ((len - i) as f32 / rate as f32 / 0.04).min(1.0);
            let shimmer = 1.0 + 0.05 * rng.normal();
            let onset = if spec.style == HumStyle::Sing && !connected && tt < 0.04 {
                0.4 + 0.6 * tt / 0.04
            } else {
                1.0
            };
            voice[idx] +=
                level * attack * release * shimmer * onset * table_read(&table, phase) / table_peak;
        }
    }
    // Breath noise rides on the voice.
    let breath_level = if spec.style == HumStyle::Whistle {
        0.08
    } else {
        0.03
    };
    let mut lp = OnePole::default();
    for v in voice.iter_mut() {
        let b = lp.low(rng.normal(), 0.3);
        *v += breath_level * b * v.abs().min(1.0);
    }
    voice
}
