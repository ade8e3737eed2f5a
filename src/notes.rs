//! Notes as a query: a melody typed as scientific pitch names (`E4 D4 C4/8 D4/8 E4 E4 E4/2`)
//! or in ABC-like letters (`E D C D | E E E2`), turned into a clean rendition the normal search
//! takes like any recording. Key and tempo are free: the search is invariant to both, so only
//! the intervals and the relative durations matter.

use crate::audio::SAMPLE_RATE;

/// One typed note: MIDI pitch (None for a rest) and length in quarter notes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TypedNote {
    pub midi: Option<f32>,
    pub quarters: f32,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NotesError {
    #[error("cannot read note {token:?} (#{index}): {why}")]
    Bad {
        token: String,
        index: usize,
        why: &'static str,
    },
    #[error("a notes query needs at least {needed} notes, got {found}")]
    TooFew { found: usize, needed: usize },
}

/// Fewer notes than this carry too little melody to search (the same bar as a hum's 1 s).
pub const MIN_NOTES: usize = 4;

/// Semitones above C of a note letter (either case).
fn letter_semitone(c: char) -> Option<i32> {
    if !c.is_ascii_alphabetic() {
        return None;
    }
    crate::synth::corpus::pitch_class(&c.to_string())
}

/// Parses scientific pitch notation: `C4` (middle C), `F#5`, `Bb3`, each optionally with a
/// length `/N` (1 whole, 2 half, 4 quarter — the default —, 8 eighth, 16 sixteenth), a
/// trailing `.` for dotted; `R` or `R/8` is a rest. Separators: spaces, commas, bar lines.
pub fn parse_scientific(text: &str) -> Result<Vec<TypedNote>, NotesError> {
    let mut out = Vec::new();
    for (index, token) in tokens(text).enumerate() {
        let bad = |why| NotesError::Bad {
            token: token.to_string(),
            index: index + 1,
            why,
        };
        let (pitch, length) = token.split_once('/').unwrap_or((token, ""));
        let quarters = match length {
            "" => 1.0,
            l => {
                let (digits, dotted) = l.strip_suffix('.').map_or((l, false), |d| (d, true));
                let n: u32 = digits
                    .parse()
                    .ok()
                    .filter(|n| [1, 2, 4, 8, 16, 32].contains(n))
                    .ok_or_else(|| bad("length must be /1, /2, /4, /8, /16 or /32"))?;
                4.0 / n as f32 * if dotted { 1.5 } else { 1.0 }
            }
        };
        if pitch.eq_ignore_ascii_case("r") {
            out.push(TypedNote {
                midi: None,
                quarters,
            });
            continue;
        }
        let mut chars = pitch.chars();
        let step = chars
            .next()
            .and_then(letter_semitone)
            .ok_or_else(|| bad("expected a note name A–G or R"))?;
        let rest: String = chars.collect();
        let (accidental, octave) = match rest.chars().next() {
            Some('#') => (1, &rest[1..]),
            Some('b') => (-1, &rest[1..]),
            _ => (0, &rest[..]),
        };
        let octave: i32 = octave
            .parse()
            .ok()
            .filter(|o| (0..=9).contains(o))
            .ok_or_else(|| bad("expected an octave 0–9 after the note name, e.g. E4"))?;
        out.push(TypedNote {
            midi: Some((12 * (octave + 1) + step + accidental) as f32),
            quarters,
        });
    }
    Ok(out)
}

/// Parses ABC-like letters: `C`–`B` from middle C up, lower case an octave higher, `'` raises
/// and `,` lowers an octave; `^` sharp, `_` flat before the letter; lengths in eighths
/// (`E2` a quarter, `E/2` a sixteenth, `E3/2`); `z` is a rest; bar lines are ignored. Key
/// signatures are not read: write accidentals on the notes.
pub fn parse_abc(text: &str) -> Result<Vec<TypedNote>, NotesError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut index = 0;
    while i < chars.len() {
        let start = i;
        let c = chars[i];
        if c.is_whitespace() || c == '|' || c == ':' || c == ']' || c == '[' {
            i += 1;
            continue;
        }
        index += 1;
        let mut accidental = 0;
        while i < chars.len() && (chars[i] == '^' || chars[i] == '_' || chars[i] == '=') {
            accidental += match chars[i] {
                '^' => 1,
                '_' => -1,
                _ => 0,
            };
            i += 1;
        }
        let Some(&letter) = chars.get(i) else {
            return Err(NotesError::Bad {
                token: chars[start..].iter().collect(),
                index,
                why: "an accidental needs a note after it",
            });
        };
        i += 1;
        let midi = if letter == 'z' || letter == 'Z' {
            None
        } else {
            let step = letter_semitone(letter).ok_or_else(|| NotesError::Bad {
                token: letter.to_string(),
                index,
                why: "expected a note letter A–G, a–g or z",
            })?;
            let mut octave = if letter.is_ascii_lowercase() { 5 } else { 4 };
            while i < chars.len() && (chars[i] == '\'' || chars[i] == ',') {
                octave += if chars[i] == '\'' { 1 } else { -1 };
                i += 1;
            }
            Some((12 * (octave + 1) + step + accidental) as f32)
        };
        let num_start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let mut eighths: f32 = if i > num_start {
            chars[num_start..i]
                .iter()
                .collect::<String>()
                .parse()
                .unwrap_or(1.0)
        } else {
            1.0
        };
        while i < chars.len() && chars[i] == '/' {
            i += 1;
            let d_start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let d: f32 = chars[d_start..i]
                .iter()
                .collect::<String>()
                .parse()
                .unwrap_or(2.0);
            eighths /= d.max(1.0);
        }
        out.push(TypedNote {
            midi,
            quarters: eighths / 2.0,
        });
    }
    Ok(out)
}

/// Writes notes in the notation [`parse_scientific`] reads; lengths are rounded to the nearest
/// one it knows (whole to thirty-second, plain or dotted).
pub fn to_scientific(notes: &[TypedNote]) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "Bb", "B",
    ];
    const LENGTHS: [(f32, &str); 11] = [
        (4.0, "/1"),
        (3.0, "/2."),
        (2.0, "/2"),
        (1.5, "/4."),
        (1.0, ""),
        (0.75, "/8."),
        (0.5, "/8"),
        (0.375, "/16."),
        (0.25, "/16"),
        (0.1875, "/32."),
        (0.125, "/32"),
    ];
    notes
        .iter()
        .map(|n| {
            let length = LENGTHS
                .iter()
                .min_by(|a, b| {
                    (a.0 - n.quarters)
                        .abs()
                        .total_cmp(&(b.0 - n.quarters).abs())
                })
                .map_or("", |l| l.1);
            match n.midi {
                Some(m) => {
                    let m = m.round() as i32;
                    let name = NAMES[m.rem_euclid(12) as usize];
                    format!("{name}{}{length}", m.div_euclid(12) - 1)
                }
                None => format!("R{length}"),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '|')
        .filter(|t| !t.is_empty())
}

/// Notes at `bpm` as (start s, duration s, MIDI), rests as gaps, starting after `lead_in_s`.
pub fn timed(notes: &[TypedNote], bpm: f32, lead_in_s: f32) -> Vec<(f32, f32, f32)> {
    let spq = 60.0 / bpm;
    let mut t = lead_in_s;
    let mut out = Vec::with_capacity(notes.len());
    for n in notes {
        let dur = n.quarters * spq;
        if let Some(m) = n.midi {
            out.push((t, dur * 0.95, m));
        }
        t += dur;
    }
    out
}

/// A sine rendition of timed notes (start s, duration s, MIDI) at [`SAMPLE_RATE`], with short
/// fades: a query with the melody and nothing else.
pub fn render_sine(notes: &[(f32, f32, f32)]) -> Vec<f32> {
    let rate = SAMPLE_RATE as f32;
    let total_s = notes.iter().map(|n| n.0 + n.1).fold(0.0f32, f32::max) + 0.5;
    let n = (total_s * rate) as usize;
    let mut out = vec![0.0f32; n];
    let fade = 0.01 * rate;
    for &(start, dur, midi) in notes {
        let hz = crate::dsp::midi_to_hz(midi);
        let (a, len) = ((start * rate) as usize, (dur * rate) as usize);
        for i in 0..len.min(n.saturating_sub(a)) {
            let env = (i as f32 / fade).min(1.0).min((len - i) as f32 / fade);
            out[a + i] += 0.5 * env * (std::f32::consts::TAU * hz * i as f32 / rate).sin();
        }
    }
    out
}

/// Parses notes in either notation: scientific pitch names first, ABC-like letters when
/// those fail (the error then is the scientific one, which names the usual notation).
pub fn parse_any(text: &str) -> Result<Vec<TypedNote>, NotesError> {
    parse_scientific(text).or_else(|first| parse_abc(text).map_err(|_| first))
}

/// The audio query for typed notes: at 100 quarter notes a minute, after a short lead-in.
pub fn query_audio(notes: &[TypedNote]) -> Result<Vec<f32>, NotesError> {
    query_audio_at(notes, 100.0)
}

/// The audio query for notes at `bpm` quarter notes a minute (notes played on keys keep the
/// player's tempo).
pub fn query_audio_at(notes: &[TypedNote], bpm: f32) -> Result<Vec<f32>, NotesError> {
    let pitched = notes.iter().filter(|n| n.midi.is_some()).count();
    if pitched < MIN_NOTES {
        return Err(NotesError::TooFew {
            found: pitched,
            needed: MIN_NOTES,
        });
    }
    Ok(render_sine(&timed(notes, bpm, 0.3)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scientific_pitch_names_with_lengths_and_rests() {
        let n = parse_scientific("E4 D4/8, C#5/2. Bb3/16 | R/4 C4").unwrap();
        let midi: Vec<Option<f32>> = n.iter().map(|n| n.midi).collect();
        assert_eq!(
            midi,
            vec![
                Some(64.0),
                Some(62.0),
                Some(73.0),
                Some(58.0),
                None,
                Some(60.0)
            ]
        );
        let q: Vec<f32> = n.iter().map(|n| n.quarters).collect();
        assert_eq!(q, vec![1.0, 0.5, 3.0, 0.25, 1.0, 1.0]);
        for bad in ["H4", "E", "E4/3", "E10", "E4/x"] {
            assert!(
                matches!(parse_scientific(bad), Err(NotesError::Bad { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn scientific_notation_round_trips() {
        let text = "E4 D4/8 C#5/2. Bb3/16 R C4/1 G4/32";
        assert_eq!(to_scientific(&parse_scientific(text).unwrap()), text);
        // Lengths it cannot write are rounded to the nearest it can.
        let odd = [TypedNote {
            midi: Some(69.0),
            quarters: 0.9,
        }];
        assert_eq!(to_scientific(&odd), "A4");
    }

    #[test]
    fn abc_letters_octaves_accidentals_and_lengths() {
        let n = parse_abc("E D C, c' | ^F _B =B z2 E3/2 G/").unwrap();
        let midi: Vec<Option<f32>> = n.iter().map(|n| n.midi).collect();
        assert_eq!(
            midi,
            vec![
                Some(64.0),
                Some(62.0),
                Some(48.0),
                Some(84.0),
                Some(66.0),
                Some(70.0),
                Some(71.0),
                None,
                Some(64.0),
                Some(67.0)
            ]
        );
        let q: Vec<f32> = n.iter().map(|n| n.quarters).collect();
        assert_eq!(q, vec![0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1.0, 0.75, 0.25]);
        assert!(parse_abc("E H").is_err());
        assert!(parse_abc("E ^").is_err());
    }

    #[test]
    fn rendered_query_has_the_notes_pitches_and_refuses_too_few() {
        let notes = parse_scientific("A4 A4 E5 E5").unwrap();
        let audio = query_audio(&notes).unwrap();
        // 0.3 s lead-in, four quarters at 100 bpm, 0.5 s tail.
        assert!((audio.len() as f32 / SAMPLE_RATE as f32 - (0.3 + 2.4 + 0.5)).abs() < 0.05);
        let frames = crate::dsp::PitchTracker::new(SAMPLE_RATE).track(&audio[..]);
        let a4 = frames
            .iter()
            .filter(|f| f.voiced && f.time_s > 0.4 && f.time_s < 1.3)
            .all(|f| (f.hz - 440.0).abs() < 3.0);
        assert!(a4);
        assert_eq!(
            query_audio(&parse_scientific("A4 B4 R").unwrap()),
            Err(NotesError::TooFew {
                found: 2,
                needed: MIN_NOTES
            })
        );
    }
}
