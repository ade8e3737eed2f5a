//! Synthesis of test audio with known answers: melodies, polyphonic songs that carry them,
//! and hums of them with the errors people make. Tests, benchmarks and the `synth` command
//! use it; the data pipeline for training builds on it.

pub mod corpus;
pub mod devset;
pub mod gm;
pub mod hum;
pub mod pairs;
pub mod played;
pub mod rng;
pub mod score;
pub mod song;
pub mod testset;
mod voice;

pub use hum::{
    render_hum, render_voice, Difficulty, HumSpec, HumStyle, RenderedHum, SongTiming, VoiceParams,
    VoicePool,
};
pub use rng::Rng;
pub use score::{random_melody, Note, Score};
pub use song::{render_song, RenderedSong, SongSpec, Timbre};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::SAMPLE_RATE;
    use crate::dsp::{hz_to_midi, PitchTracker};
    use crate::melody::{extract_melody, CONTOUR_FPS};

    /// Fraction of frames (where the truth has a note) whose estimate is within `tol` semitones,
    /// folding octave errors when `fold` is set.
    fn pitch_accuracy(
        truth: &[(f32, f32, f32)],
        estimate: &dyn Fn(f32) -> Option<f32>,
        fold: bool,
        tol: f32,
    ) -> f32 {
        let (mut good, mut total) = (0, 0);
        for &(s, e, midi) in truth {
            // Skip note edges where onsets, glides and scoops are expected.
            let mut t = s + 0.08;
            while t < e - 0.05 {
                total += 1;
                if let Some(m) = estimate(t) {
                    let mut d = m - midi;
                    if fold {
                        d -= 12.0 * (d / 12.0).round();
                    }
                    if d.abs() <= tol {
                        good += 1;
                    }
                }
                t += 0.04;
            }
        }
        good as f32 / total.max(1) as f32
    }

    #[test]
    fn songs_are_audible_unclipped_and_carry_their_melody() {
        for seed in 0..6u64 {
            let mut rng = Rng::new(seed);
            let score = random_melody(&mut rng, 8);
            let spec = SongSpec::random(&mut rng, SAMPLE_RATE);
            let song = render_song(&score, &spec, seed);
            let peak = song.samples.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
            assert!(peak > 0.5 && peak < 0.99, "peak {peak}");
            let contour = extract_melody(&song.samples);
            let est = |t: f32| {
                contour
                    .midi
                    .get((t * CONTOUR_FPS).round() as usize)
                    .copied()
                    .filter(|m| !m.is_nan())
            };
            let acc = pitch_accuracy(&song.melody_notes, &est, true, 0.5);
            if std::env::var("DIAG").is_ok() {
                eprintln!("{spec:?}");
                for &(s, e, m) in song.melody_notes.iter().take(30) {
                    let mut t = s + 0.08;
                    let mut row = format!("{m:.1}:");
                    while t < e - 0.05 {
                        row += &match est(t) {
                            Some(x) => format!(" {:.1}", x - m),
                            None => " -".into(),
                        };
                        t += 0.04;
                    }
                    eprintln!("{row}");
                }
            }
            eprintln!("seed {seed} lead {:?}: melody accuracy {acc:.2}", spec.lead);
            assert!(acc > 0.6, "seed {seed}: melody accuracy {acc}");
        }
    }

    #[test]
    fn hum_pitch_follows_intended_notes() {
        for seed in 0..4u64 {
            let mut rng = Rng::new(100 + seed);
            let score = random_melody(&mut rng, 8);
            let song = SongSpec::random(&mut rng, SAMPLE_RATE);
            let mut spec = HumSpec::random(&mut rng, &score, &song, Difficulty::Clean, SAMPLE_RATE);
            spec.style = [
                HumStyle::Hum,
                HumStyle::Sing,
                HumStyle::Whistle,
                HumStyle::Hum,
            ][seed as usize];
            let hum = render_hum(&score, &song, &spec, seed);
            let frames = PitchTracker::new(SAMPLE_RATE).track(&hum.samples);
            let est = |t: f32| {
                frames
                    .iter()
                    .min_by(|a, b| (a.time_s - t).abs().total_cmp(&(b.time_s - t).abs()))
                    .filter(|f| f.voiced)
                    .map(|f| hz_to_midi(f.hz))
            };
            let acc = pitch_accuracy(&hum.intended, &est, false, 0.5);
            if std::env::var("DIAG").is_ok() {
                for &(s, e, m) in &hum.intended {
                    let mut t = s + 0.08;
                    let mut row = format!("{m:.1}:");
                    while t < e - 0.05 {
                        row += &match est(t) {
                            Some(x) => format!(" {:.1}", x - m),
                            None => " -".into(),
                        };
                        t += 0.04;
                    }
                    eprintln!("{row}");
                }
            }
            eprintln!("seed {seed} {:?}: hum accuracy {acc:.2}", spec.style);
            assert!(
                acc > 0.8,
                "{:?}: only {acc} of frames on the intended note",
                spec.style
            );
        }
    }

    #[test]
    fn synthesis_is_deterministic_per_seed() {
        let render = |seed| {
            let mut rng = Rng::new(seed);
            let score = random_melody(&mut rng, 4);
            let spec = SongSpec::random(&mut rng, SAMPLE_RATE);
            let hum_spec = HumSpec::random(&mut rng, &score, &spec, Difficulty::Hard, SAMPLE_RATE);
            (
                render_song(&score, &spec, seed).samples,
                render_hum(&score, &spec, &hum_spec, seed).samples,
            )
        };
        assert!(render(5) == render(5));
        assert!(render(5).0 != render(6).0);
    }

    /// Energy of a voice's spectrum in [lo, hi) Hz as a fraction of the total (0–4 kHz).
    fn band_share(samples: &[f32], lo: f32, hi: f32) -> f32 {
        let n = 8192;
        let mid = samples.len() / 2 - n / 2;
        let mut stft = crate::dsp::Stft::new(n);
        let mut mags = Vec::new();
        stft.magnitudes(&samples[mid..mid + n], &mut mags);
        let hz = |k: usize| k as f32 * SAMPLE_RATE as f32 / n as f32;
        let (mut band, mut total) = (0.0, 0.0);
        for (k, m) in mags.iter().enumerate() {
            let f = hz(k);
            if f < 4000.0 {
                total += m * m;
                if f >= lo && f < hi {
                    band += m * m;
                }
            }
        }
        band / total.max(1e-12)
    }

    /// Ear-substitute check that the voices sound like what they claim to be: a hum's energy
    /// sits low (nasal murmur), a sung vowel has formant energy in 400–1200 Hz, a whistle is
    /// nearly a pure tone, and a shorter vocal tract moves formants up.
    #[test]
    fn voices_have_their_formants_where_they_should_be() {
        let note = [(0.0f32, 1.5f32, 50.0f32)]; // D3, ~147 Hz
        let voice = |style, formant_scale, midi: f32| {
            let params = VoiceParams {
                style,
                formant_scale,
                vibrato_cents: 0.0,
            };
            let perf = [(note[0].0, note[0].1, midi)];
            render_voice(&perf, &params, 1.6, SAMPLE_RATE, &mut Rng::new(3))
        };
        let hum = voice(HumStyle::Hum, 1.0, 50.0);
        let sung = voice(HumStyle::Sing, 1.0, 50.0);
        let (hum_low, sung_mid) = (
            band_share(&hum, 0.0, 400.0),
            band_share(&sung, 400.0, 1200.0),
        );
        assert!(hum_low > 0.6, "hum energy below 400 Hz: {hum_low}");
        assert!(
            sung_mid > band_share(&hum, 400.0, 1200.0),
            "sung vowel formants {sung_mid}"
        );
        let whistle = voice(HumStyle::Whistle, 1.0, 84.0); // C6, ~1047 Hz
        let fundamental = band_share(&whistle, 950.0, 1150.0);
        assert!(
            fundamental > 0.8,
            "whistle energy at its pitch: {fundamental}"
        );
        // Shorter tract (higher formant scale): more energy above 1 kHz for the same note.
        let (long, short) = (
            voice(HumStyle::Sing, 0.85, 50.0),
            voice(HumStyle::Sing, 1.2, 50.0),
        );
        assert!(band_share(&short, 1000.0, 4000.0) > band_share(&long, 1000.0, 4000.0));
    }

    #[test]
    fn training_and_held_out_singers_never_overlap() {
        let mut rng = Rng::new(9);
        let score = random_melody(&mut rng, 4);
        let song = SongSpec::random(&mut rng, SAMPLE_RATE);
        for i in 0..200 {
            let mut r = Rng::new(i);
            let mut spec = HumSpec::random(&mut r, &score, &song, Difficulty::Medium, SAMPLE_RATE);
            VoicePool::Train.apply(&mut spec, &mut r);
            assert!(VoicePool::Train.contains(spec.voice_centre, spec.formant_scale));
            assert!(!VoicePool::HeldOut.contains(spec.voice_centre, spec.formant_scale));
            VoicePool::HeldOut.apply(&mut spec, &mut r);
            assert!(VoicePool::HeldOut.contains(spec.voice_centre, spec.formant_scale));
            assert!(!VoicePool::Train.contains(spec.voice_centre, spec.formant_scale));
            VoicePool::Unusual.apply(&mut spec, &mut r);
            assert!(VoicePool::Unusual.contains(spec.voice_centre, spec.formant_scale));
            assert!(!VoicePool::Train.contains(spec.voice_centre, spec.formant_scale));
            assert!(!VoicePool::HeldOut.contains(spec.voice_centre, spec.formant_scale));
        }
    }
}
