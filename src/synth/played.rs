//! Tunes played on an instrument into a microphone: the dev set's "played" queries. The
//! performance is a hum's (human timing, a few wrong, skipped or repeated notes, any key) on an
//! instrument's range and in tune; piano and guitar add a chord under some melody notes; the
//! sound goes through the same room, microphone and noise as a hum. Rendered with a SoundFont
//! (TimGM6mb by default, which no training song used), so the timbres are new to the model.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustysynth::SoundFont;

use super::corpus::CorpusMelody;
use super::devset::SongSetError;
use super::gm::{render_notes, RenderError};
use super::hum::{in_the_room, perform, Difficulty, HumSpec, HumStyle, RenderedHum, SongTiming};
use super::rng::Rng;
use super::score::Score;
use crate::audio::write_wav_mono;

/// The instruments of the played queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    Piano,
    Guitar,
    Violin,
    Flute,
    Trumpet,
    SynthLead,
}

impl Instrument {
    pub const ALL: [Instrument; 6] = [
        Instrument::Piano,
        Instrument::Guitar,
        Instrument::Violin,
        Instrument::Flute,
        Instrument::Trumpet,
        Instrument::SynthLead,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Instrument::Piano => "piano",
            Instrument::Guitar => "guitar",
            Instrument::Violin => "violin",
            Instrument::Flute => "flute",
            Instrument::Trumpet => "trumpet",
            Instrument::SynthLead => "synth_lead",
        }
    }

    /// General MIDI program.
    fn program(self) -> u8 {
        match self {
            Instrument::Piano => 0,
            Instrument::Guitar => 24,
            Instrument::Violin => 40,
            Instrument::Flute => 73,
            Instrument::Trumpet => 56,
            Instrument::SynthLead => 80,
        }
    }

    /// Middle of the range people play tunes in (MIDI).
    fn range_centre(self) -> f32 {
        match self {
            Instrument::Piano => 67.0,
            Instrument::Guitar => 62.0,
            Instrument::Violin => 71.0,
            Instrument::Flute => 79.0,
            Instrument::Trumpet => 67.0,
            Instrument::SynthLead => 72.0,
        }
    }

    /// Polyphonic instruments: some melody notes get a chord under them.
    fn chords(self) -> bool {
        matches!(self, Instrument::Piano | Instrument::Guitar)
    }
}

/// A tune played on `instrument`: excerpt, key, tempo and errors from `difficulty`.
pub fn render_played(
    score: &Score,
    song: SongTiming,
    instrument: Instrument,
    difficulty: Difficulty,
    font: &Arc<SoundFont>,
    sample_rate: u32,
    seed: u64,
) -> Result<RenderedHum, RenderError> {
    let mut rng = Rng::new(seed);
    let mut spec = HumSpec::random(&mut rng, score, song, difficulty, sample_rate);
    // An instrument plays in tune, in its own range; the human errors stay.
    spec.style = HumStyle::Hum;
    spec.voice_centre = instrument.range_centre();
    spec.pitch_error_sd = 0.0;
    spec.drift_semitones = 0.0;
    let performance = perform(score, song, &spec, &mut rng);
    let mut notes: Vec<(f32, f32, i32, i32)> = Vec::new();
    for (k, &(start, dur, midi)) in performance.notes.iter().enumerate() {
        let key = midi.round() as i32;
        let velocity = rng.int(70, 105) as i32;
        notes.push((start, dur, key, velocity));
        // Every other bar or so, a chord under the tune (a fourth and an octave below).
        if instrument.chords() && k % 4 == 0 && rng.chance(0.6) {
            for below in [5, 12] {
                notes.push((start, dur, key - below, velocity - 20));
            }
        }
    }
    let sound = render_notes(
        font,
        instrument.program(),
        &notes,
        performance.total_s,
        sample_rate,
    )?;
    let samples = in_the_room(sound, &spec, &mut rng);
    Ok(performance.recorded(samples, sample_rate))
}

/// What `generate_played` wrote.
#[derive(Debug, Default)]
pub struct PlayedSummary {
    pub queries: usize,
    pub manifest: PathBuf,
}

/// Played queries for the songs of a dev set made by `earworm synth devset` (its songs.csv
/// gives each song's melody, tempo and key): `per_song` queries per song, the instruments
/// taking turns and the difficulties too. Writes `<devset>/played/*.wav` and
/// `<devset>/played/manifest.csv`, whose `difficulty` column is the instrument.
pub fn generate_played(
    corpus: &[CorpusMelody],
    devset: &Path,
    per_song: usize,
    font: &Arc<SoundFont>,
    seed: u64,
) -> Result<PlayedSummary, SongSetError> {
    let songs_csv = devset.join("songs.csv");
    let read_err = |source| SongSetError::Write {
        path: songs_csv.clone(),
        source,
    };
    let text = std::fs::read_to_string(&songs_csv).map_err(read_err)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(c_file), Some(c_id), Some(c_bpm), Some(c_tr)) =
        (col("file"), col("melody_id"), col("bpm"), col("transpose"))
    else {
        return Err(SongSetError::BadSongList {
            path: songs_csv.clone(),
            reason: "needs the columns file, melody_id, bpm and transpose".into(),
        });
    };
    let clean = |s: &str| s.replace([',', '\n', '"'], " ");
    let out = devset.join("played");
    std::fs::create_dir_all(&out).map_err(|source| SongSetError::Write {
        path: out.clone(),
        source,
    })?;
    let mut manifest = String::from("query_file,target_file,difficulty,level,melody_id\n");
    let mut summary = PlayedSummary::default();
    let difficulties = [Difficulty::Clean, Difficulty::Medium, Difficulty::Hard];
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let field = |c: usize| fields.get(c).copied().unwrap_or("");
        let Some(melody) = corpus.iter().find(|m| clean(&m.id) == field(c_id)) else {
            return Err(SongSetError::BadSongList {
                path: songs_csv.clone(),
                reason: format!("melody {} is not in the corpus", field(c_id)),
            });
        };
        let bpm: f32 = field(c_bpm).parse().unwrap_or(100.0);
        let timing = SongTiming {
            seconds_per_beat: 60.0 / bpm.max(20.0),
            transpose: field(c_tr).parse().unwrap_or(0.0),
        };
        for q in 0..per_song {
            let turn = i * per_song + q;
            let instrument = Instrument::ALL[turn % Instrument::ALL.len()];
            // Every song gets each difficulty once (with three per song), and every
            // instrument each difficulty in turn: neither is tied to the songs or each other.
            let difficulty =
                difficulties[(turn + turn / Instrument::ALL.len()) % difficulties.len()];
            let played = render_played(
                &melody.score,
                timing,
                instrument,
                difficulty,
                font,
                crate::audio::SAMPLE_RATE,
                Rng::fork(seed, turn as u64).next_u64(),
            )?;
            let file = format!("played_{i:05}_{q}_{}.wav", instrument.name());
            let path = out.join(&file);
            write_wav_mono(&path, &played.samples, played.sample_rate)
                .map_err(|source| SongSetError::Write { path, source })?;
            let _ = writeln!(
                manifest,
                "{file},../{},{},{},{}",
                field(c_file),
                instrument.name(),
                difficulty.name(),
                field(c_id)
            );
            summary.queries += 1;
        }
    }
    summary.manifest = out.join("manifest.csv");
    std::fs::write(&summary.manifest, manifest).map_err(|source| SongSetError::Write {
        path: summary.manifest.clone(),
        source,
    })?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::{hz_to_midi, PitchTracker};
    use crate::synth::random_melody;

    #[test]
    fn a_played_tune_sounds_its_notes_in_the_instruments_range() {
        let Ok(font) = super::super::gm::load_soundfont(Path::new(super::super::gm::TIMGM6MB))
        else {
            eprintln!("skipped: no SoundFont installed");
            return;
        };
        let mut rng = Rng::new(3);
        let score = random_melody(&mut rng, 8);
        let timing = SongTiming {
            seconds_per_beat: 0.5,
            transpose: 0.0,
        };
        let played = render_played(
            &score,
            timing,
            Instrument::Flute,
            Difficulty::Clean,
            &font,
            16_000,
            7,
        )
        .unwrap();
        // The tracked pitch sits on the intended notes (an instrument is in tune) most of
        // the time, around the flute's range.
        let frames = PitchTracker::new(16_000).track(&played.samples);
        let (mut on, mut voiced) = (0, 0);
        for f in frames.iter().filter(|f| f.voiced) {
            voiced += 1;
            let m = hz_to_midi(f.hz);
            if played
                .intended
                .iter()
                .any(|&(s, e, n)| f.time_s >= s && f.time_s < e && (m - n).abs() < 0.6)
            {
                on += 1;
            }
        }
        assert!(voiced > 50, "{voiced} voiced frames");
        assert!(
            on as f32 / voiced as f32 > 0.6,
            "{on} of {voiced} on the notes"
        );
    }
}
