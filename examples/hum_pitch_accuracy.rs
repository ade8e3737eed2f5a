//! How well the query side hears a hum: the contour the search aligns (YIN pooled to 25 fps,
//! `search::hum_contour`) against the notes the synthetic singer actually sang (errors
//! included), per difficulty and style. The hum side's first diagnostic, as
//! `melody_accuracy` is the song side's.
//!
//! cargo run --release --example hum_pitch_accuracy -- [HUMS_PER_CELL [VOICES [MARGIN...]]]
//!
//! VOICES: train, heldout (default) or unusual. For each contour frame inside a sung note
//! (40 ms after its onset to 40 ms before its end): voiced at all, within half a semitone of
//! the sung pitch, an octave off, otherwise off; and frames more than 150 ms from any note
//! that are voiced anyway (false alarms, as a share of such frames). Each MARGIN is a
//! `PitchTracker::noisy_dip_margin` to compare (default: the shipped tracker's).

use earworm::dsp::PitchTracker;
use earworm::melody::contour_from_pitch;
use earworm::synth::hum::{
    in_the_room, perform, render_voice, Difficulty, HumSpec, HumStyle, VoiceParams, VoicePool,
};
use earworm::synth::rng::Rng;
use earworm::synth::score::random_melody;
use earworm::synth::song::SongSpec;

#[derive(Default)]
struct Tally {
    in_note: usize,
    voiced: usize,
    right: usize,
    octave: usize,
    /// Octave errors below the sung pitch (the rest are above).
    octave_down: usize,
    outside: usize,
    /// Frames more than 150 ms from any note, and how many of them were voiced.
    silent: usize,
    false_alarm: usize,
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let per_cell: u64 = args.next().map_or(Ok(40), |s| s.parse())?;
    let pool = args
        .next()
        .map(|s| VoicePool::parse(&s).ok_or_else(|| anyhow::anyhow!("unknown voices {s}")))
        .transpose()?
        .unwrap_or(VoicePool::HeldOut);
    let rate = earworm::audio::SAMPLE_RATE;
    let mut margins: Vec<f32> = args.map(|s| s.parse()).collect::<Result<_, _>>()?;
    if margins.is_empty() {
        margins.push(PitchTracker::new(rate).noisy_dip_margin);
    }
    for margin in margins {
        let mut tracker = PitchTracker::new(rate);
        tracker.noisy_dip_margin = margin;
        println!("noisy_dip_margin {margin}");
        println!("cell            | in-note frames | voiced | right | octave (down) | other | false alarm");
        for difficulty in [Difficulty::Clean, Difficulty::Medium, Difficulty::Hard] {
            for style in [HumStyle::Hum, HumStyle::Sing, HumStyle::Whistle] {
                let mut t = Tally::default();
                for k in 0..per_cell {
                    let mut rng = Rng::new(7_000 + k * 31 + difficulty as u64 * 100_003);
                    let score = random_melody(&mut rng, 8);
                    let song = SongSpec::random(&mut rng, rate);
                    let mut spec = HumSpec::random(&mut rng, &score, &song, difficulty, rate);
                    spec.style = style;
                    pool.apply(&mut spec, &mut rng);
                    let perf = perform(&score, (&song).into(), &spec, &mut rng);
                    let params = VoiceParams {
                        style,
                        formant_scale: spec.formant_scale,
                        vibrato_cents: spec.vibrato_cents,
                    };
                    let voice = render_voice(&perf.notes, &params, perf.total_s, rate, &mut rng);
                    let samples = in_the_room(voice, &spec, &mut rng);
                    let contour = contour_from_pitch(
                        &tracker.track(&samples),
                        samples.len() as f32 / rate as f32,
                    );
                    for (i, &m) in contour.midi.iter().enumerate() {
                        let time = i as f32 / contour.fps;
                        let sung = perf
                            .notes
                            .iter()
                            .find(|n| time >= n.0 + 0.04 && time <= n.0 + n.1 - 0.04);
                        match sung {
                            Some(&(_, _, truth)) => {
                                t.in_note += 1;
                                if m.is_nan() {
                                    continue;
                                }
                                t.voiced += 1;
                                let d = m - truth;
                                if d.abs() < 0.5 {
                                    t.right += 1;
                                } else if (d.abs() - 12.0).abs() < 0.5
                                    || (d.abs() - 24.0).abs() < 0.5
                                {
                                    t.octave += 1;
                                    t.octave_down += usize::from(d < 0.0);
                                } else {
                                    t.outside += 1;
                                }
                            }
                            None => {
                                let far = perf
                                    .notes
                                    .iter()
                                    .all(|n| time < n.0 - 0.15 || time > n.0 + n.1 + 0.15);
                                if far {
                                    t.silent += 1;
                                    t.false_alarm += usize::from(!m.is_nan());
                                }
                            }
                        }
                    }
                }
                let n = t.in_note.max(1) as f64;
                println!(
                    "{:6} {:8} | {:14} | {:.3}  | {:.3} | {:.3} ({:.3}) | {:.3} | {:.3} of {}",
                    difficulty.name(),
                    format!("{style:?}"),
                    t.in_note,
                    t.voiced as f64 / n,
                    t.right as f64 / n,
                    t.octave as f64 / n,
                    t.octave_down as f64 / n,
                    t.outside as f64 / n,
                    t.false_alarm as f64 / t.silent.max(1) as f64,
                    t.silent,
                );
            }
        }
    }
    Ok(())
}
