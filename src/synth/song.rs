//! Polyphonic "songs" for tests and benchmarks: a melody lead over chords, bass and drums,
//! rendered with simple additive instruments. (The training corpus uses SoundFonts; this is
//! dependency-free and fast, with exact ground truth.)

use super::rng::Rng;
use super::score::{degree_to_semitones, Score};
use super::voice::{
    adsr, formant_gain, harmonic_table, normalize_peak, reverb, table_read, OnePole,
};
use crate::dsp::midi_to_hz;

/// Lead instrument families with clearly different spectra.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timbre {
    Flute,
    Clarinet,
    Brass,
    Voice,
    Pluck,
    Square,
}

impl Timbre {
    pub const ALL: [Timbre; 6] = [
        Timbre::Flute,
        Timbre::Clarinet,
        Timbre::Brass,
        Timbre::Voice,
        Timbre::Pluck,
        Timbre::Square,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Timbre::Flute => "flute",
            Timbre::Clarinet => "clarinet",
            Timbre::Brass => "brass",
            Timbre::Voice => "voice",
            Timbre::Pluck => "pluck",
            Timbre::Square => "square",
        }
    }

    fn harmonics(self, f0: f32) -> Vec<f32> {
        match self {
            Timbre::Flute => vec![1.0, 0.35, 0.12, 0.05, 0.02],
            Timbre::Clarinet => (1..=15)
                .map(|h| if h % 2 == 1 { 1.0 / h as f32 } else { 0.04 })
                .collect(),
            Timbre::Brass => (1..=16).map(|h| 1.0 / (h as f32).powf(0.9)).collect(),
            Timbre::Square => (1..=15)
                .map(|h| if h % 2 == 1 { 0.8 / h as f32 } else { 0.0 })
                .collect(),
            Timbre::Pluck => (1..=12).map(|h| 1.0 / (h as f32).powf(1.3)).collect(),
            Timbre::Voice => {
                let ah = [
                    (700.0, 130.0, 1.0),
                    (1220.0, 70.0, 0.5),
                    (2600.0, 160.0, 0.25),
                ];
                (1..=20)
                    .map(|h| formant_gain(h as f32 * f0, &ah) / h as f32)
                    .collect()
            }
        }
    }

    fn envelope(self) -> (f32, f32, f32, f32) {
        match self {
            Timbre::Pluck => (0.005, 0.4, 0.35, 0.12),
            Timbre::Brass => (0.04, 0.1, 0.8, 0.08),
            _ => (0.03, 0.08, 0.85, 0.07),
        }
    }

    fn vibrato(self) -> f32 {
        match self {
            Timbre::Voice => 35.0,
            Timbre::Flute | Timbre::Brass => 15.0,
            _ => 0.0,
        }
    }
}

/// How a melody is arranged and rendered.
#[derive(Debug, Clone)]
pub struct SongSpec {
    pub bpm: f32,
    /// Transposition applied to the melody (semitones): the song's key.
    pub transpose: f32,
    pub lead: Timbre,
    pub chord_timbre: Timbre,
    /// Bars of accompaniment before the melody starts.
    pub intro_bars: u32,
    /// How many times the melody is played.
    pub repeats: u32,
    pub lead_gain: f32,
    pub chords_gain: f32,
    pub bass_gain: f32,
    pub drums_gain: f32,
    pub reverb: f32,
    pub sample_rate: u32,
}

impl SongSpec {
    pub fn random(rng: &mut Rng, sample_rate: u32) -> Self {
        Self {
            bpm: rng.range(80.0, 150.0),
            transpose: rng.int(-4, 4) as f32,
            lead: *rng.pick(&Timbre::ALL),
            chord_timbre: *rng.pick(&[Timbre::Pluck, Timbre::Flute, Timbre::Square, Timbre::Brass]),
            intro_bars: rng.int(1, 4) as u32,
            repeats: rng.int(2, 3) as u32,
            lead_gain: 1.0,
            chords_gain: rng.range(0.2, 0.45),
            bass_gain: rng.range(0.25, 0.45),
            drums_gain: rng.range(0.1, 0.35),
            reverb: rng.range(0.0, 0.3),
            sample_rate,
        }
    }

    pub fn seconds_per_beat(&self) -> f32 {
        60.0 / self.bpm
    }
}

/// A rendered song and where its melody notes sound, for ground truth.
pub struct RenderedSong {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// Song-time start (s) of each melody pass.
    pub melody_starts_s: Vec<f32>,
    /// The melody as it sounds in the song (transposed, in seconds): (start s, end s, MIDI).
    pub melody_notes: Vec<(f32, f32, f32)>,
}

/// Renders `score` arranged per `spec`; `seed` drives drums and humanisation.
pub fn render_song(score: &Score, spec: &SongSpec, seed: u64) -> RenderedSong {
    let mut rng = Rng::new(seed);
    let spb = spec.seconds_per_beat();
    let bar_beats = score.beats_per_bar as f32;
    let melody_beats = score.length_beats();
    let intro_beats = spec.intro_bars as f32 * bar_beats;
    let total_beats = intro_beats + melody_beats * spec.repeats as f32 + bar_beats;
    let rate = spec.sample_rate;
    let n = ((total_beats * spb + 1.0) * rate as f32) as usize;
    let mut lead = vec![0.0f32; n];
    let mut accomp = vec![0.0f32; n];

    let mut melody_starts_s = Vec::new();
    let mut melody_notes = Vec::new();
    for r in 0..spec.repeats {
        let start_beat = intro_beats + r as f32 * melody_beats;
        melody_starts_s.push(start_beat * spb);
        for note in &score.notes {
            let t0 = (start_beat + note.onset) * spb;
            let dur = note.duration * spb * 0.92;
            let midi = note.midi + spec.transpose;
            melody_notes.push((t0, t0 + dur, midi));
            add_note(&mut lead, rate, spec.lead, midi, t0, dur, 0.5, &mut rng);
        }
    }

    // Harmony: per bar, the diatonic triad (I, IV, V, vi / i, iv, v, VI) that best fits the melody.
    let tonic = score.tonic + spec.transpose;
    let n_bars = (total_beats / bar_beats) as usize;
    let mut prev_bass = tonic - 24.0;
    for bar in 0..n_bars {
        let bar_start = bar as f32 * bar_beats;
        let root_degree = choose_chord(score, spec, bar_start, intro_beats, melody_beats);
        let chord: Vec<f32> = [0, 2, 4]
            .iter()
            .map(|d| tonic - 12.0 + degree_to_semitones(root_degree + d, score.minor) as f32)
            .collect();
        let t0 = bar_start * spb;
        let arpeggiate = matches!(spec.chord_timbre, Timbre::Pluck);
        for beat in 0..score.beats_per_bar {
            let tb = t0 + beat as f32 * spb;
            if arpeggiate {
                let m = chord[beat as usize % 3];
                add_note(
                    &mut accomp,
                    rate,
                    spec.chord_timbre,
                    m,
                    tb,
                    spb * 0.9,
                    spec.chords_gain,
                    &mut rng,
                );
            } else if beat == 0 {
                for &m in &chord {
                    add_note(
                        &mut accomp,
                        rate,
                        spec.chord_timbre,
                        m,
                        tb,
                        bar_beats * spb * 0.95,
                        spec.chords_gain * 0.6,
                        &mut rng,
                    );
                }
            }
            // Bass: root on strong beats, fifth otherwise.
            let bass = if beat % 2 == 0 {
                chord[0] - 12.0
            } else {
                chord[2] - 12.0
            };
            let bass = if (bass - prev_bass).abs() > 7.0 {
                bass - 12.0 * ((bass - prev_bass) / 12.0).round()
            } else {
                bass
            };
            prev_bass = bass;
            add_note(
                &mut accomp,
                rate,
                Timbre::Pluck,
                bass,
                tb,
                spb * 0.85,
                spec.bass_gain,
                &mut rng,
            );
            add_drums(&mut accomp, rate, tb, beat, spec.drums_gain, &mut rng);
        }
    }
    reverb(&mut lead, rate, spec.reverb, 1.2);
    reverb(&mut accomp, rate, spec.reverb * 0.7, 1.2);
    let lead_level = spec.lead_gain * 0.6;
    let mut samples: Vec<f32> = lead
        .iter()
        .zip(&accomp)
        .map(|(l, a)| l * lead_level + a * 0.5)
        .collect();
    normalize_peak(&mut samples, 0.89);
    RenderedSong {
        samples,
        sample_rate: rate,
        melody_starts_s,
        melody_notes,
    }
}

fn choose_chord(
    score: &Score,
    spec: &SongSpec,
    bar_start: f32,
    intro_beats: f32,
    melody_beats: f32,
) -> i32 {
    let candidates: [i32; 4] = [0, 3, 4, 5];
    let rel = bar_start - intro_beats;
    if rel < 0.0 || rel >= melody_beats * spec.repeats as f32 {
        return 0;
    }
    let pos = rel % melody_beats;
    let bar_len = score.beats_per_bar as f32;
    let mut best = (0, f32::NEG_INFINITY);
    for &root in &candidates {
        let tones: Vec<i32> = [0, 2, 4]
            .iter()
            .map(|d| degree_to_semitones(root + d, score.minor).rem_euclid(12))
            .collect();
        let fit: f32 = score
            .notes
            .iter()
            .filter(|n| n.onset < pos + bar_len && n.onset + n.duration > pos)
            .map(|n| {
                let pc = ((n.midi - score.tonic).round() as i32).rem_euclid(12);
                if tones.contains(&pc) {
                    n.duration
                } else {
                    -0.5 * n.duration
                }
            })
            .sum::<f32>()
            + if root == 0 { 0.1 } else { 0.0 };
        if fit > best.1 {
            best = (root, fit);
        }
    }
    best.0
}

#[allow(clippy::too_many_arguments)]
fn add_note(
    out: &mut [f32],
    rate: u32,
    timbre: Timbre,
    midi: f32,
    t0: f32,
    dur: f32,
    gain: f32,
    rng: &mut Rng,
) {
    let f0 = midi_to_hz(midi);
    let table = harmonic_table(&timbre.harmonics(f0), f0, rate as f32 / 2.0);
    let (a, d, s, r) = timbre.envelope();
    let vib_cents = timbre.vibrato();
    let vib_rate = rng.range(4.5, 6.5);
    let start = (t0 * rate as f32) as usize;
    let len = ((dur + r) * rate as f32) as usize;
    let mut phase = rng.f32();
    let vel = gain * rng.range(0.85, 1.0);
    for i in 0..len {
        let idx = start + i;
        if idx >= out.len() {
            break;
        }
        let t = i as f32 / rate as f32;
        // Vibrato fades in after the attack, as players do.
        let vib =
            vib_cents * (t / 0.3).min(1.0) * (2.0 * std::f32::consts::PI * vib_rate * t).sin();
        let f = f0 * 2f32.powf(vib / 1200.0);
        phase += f / rate as f32;
        out[idx] += vel * adsr(t, dur, a, d, s, r) * table_read(&table, phase);
    }
}

fn add_drums(out: &mut [f32], rate: u32, t0: f32, beat: u32, gain: f32, rng: &mut Rng) {
    let start = (t0 * rate as f32) as usize;
    let mut lp = OnePole::default();
    let (kick, snare) = (beat % 2 == 0, beat % 2 == 1);
    let len = (0.18 * rate as f32) as usize;
    let mut phase = 0.0f32;
    for i in 0..len {
        let idx = start + i;
        if idx >= out.len() {
            break;
        }
        let t = i as f32 / rate as f32;
        let noise = rng.range(-1.0, 1.0);
        let mut v = 0.0;
        if kick {
            let f = 50.0 + 90.0 * (-t * 30.0).exp();
            phase += f / rate as f32;
            v += (2.0 * std::f32::consts::PI * phase).sin() * (-t * 18.0).exp();
        }
        if snare {
            v += 0.5 * lp.low(noise, 0.5) * (-t * 25.0).exp();
        }
        // Hi-hat every beat: bright, short noise.
        v += 0.25 * (noise - lp.low(noise, 0.3)) * (-t * 60.0).exp();
        out[idx] += gain * v;
    }
}
