//! Time-warping and transposing a recording by overlapping grains (WSOLA): each output grain
//! is read near where a time map says, resampled by the pitch ratio, windowed and added. Each
//! grain's exact place is chosen within a pitch period or so to line up in phase with how the
//! previous grain would have continued; without that, overlapping grains cancel each other and
//! a steady tone warbles. Used to play a hum in the song's key and along the song's timing
//! ("hum vs song"), so the ear can judge the match.

use super::hann_window;

/// Grain length in seconds and grains per grain length (overlap).
const GRAIN_S: f32 = 0.04;
const OVERLAP: usize = 4;
/// How far a grain may move from its nominal place to line up: a period of an 80 Hz voice.
const TOLERANCE_S: f32 = 0.0125;

/// `samples` (mono, `rate` Hz) re-timed and transposed. `map` holds increasing (output s,
/// input s) pairs (linear between them, held at the ends); the output lasts `out_s` seconds
/// and is `semitones` higher than the input.
pub fn warp_and_transpose(
    samples: &[f32],
    rate: u32,
    map: &[(f32, f32)],
    semitones: f32,
    out_s: f32,
) -> Vec<f32> {
    let rate_f = rate as f32;
    let n_out = (out_s.max(0.0) * rate_f) as usize;
    let mut out = vec![0.0f32; n_out];
    if samples.is_empty() || map.is_empty() || n_out == 0 {
        return out;
    }
    let grain = ((GRAIN_S * rate_f) as usize).max(8);
    let hop = grain / OVERLAP;
    let window = hann_window(grain);
    let mut weight = vec![0.0f32; n_out];
    let ratio = 2f32.powf(semitones / 12.0);
    let tolerance = (TOLERANCE_S * rate_f) as i32;
    let mut previous: Option<f32> = None;
    let mut start = 0usize;
    while start < n_out {
        let centre_out = (start + grain / 2) as f32 / rate_f;
        let nominal = input_time(map, centre_out) * rate_f;
        let centre_in = match previous {
            None => nominal,
            Some(p) => best_aligned(
                samples,
                nominal,
                p + hop as f32 * ratio,
                grain,
                ratio,
                tolerance,
            ),
        };
        previous = Some(centre_in);
        for (j, w) in window.iter().enumerate() {
            let Some(o) = out.get_mut(start + j) else {
                break;
            };
            // Read faster for a higher pitch, around the mapped centre.
            let pos = centre_in + (j as f32 - grain as f32 / 2.0) * ratio;
            *o += w * sample_at(samples, pos);
            weight[start + j] += w;
        }
        start += hop;
    }
    for (o, w) in out.iter_mut().zip(&weight) {
        if *w > 1e-3 {
            *o /= w;
        }
    }
    out
}

/// The grain centre within `tolerance` samples of `nominal` whose (resampled) grain best
/// matches the one centred on `natural`, the previous grain's own continuation.
fn best_aligned(
    samples: &[f32],
    nominal: f32,
    natural: f32,
    grain: usize,
    ratio: f32,
    tolerance: i32,
) -> f32 {
    // Every 4th sample and every 2nd offset: plenty for a match, a sixteenth of the work.
    let offsets: Vec<f32> = (0..grain)
        .step_by(4)
        .map(|j| (j as f32 - grain as f32 / 2.0) * ratio)
        .collect();
    let reference: Vec<f32> = offsets
        .iter()
        .map(|o| sample_at(samples, natural + o))
        .collect();
    let mut best = (f32::MIN, nominal);
    for delta in (-tolerance..=tolerance).step_by(2) {
        let c = nominal + delta as f32;
        let score: f32 = offsets
            .iter()
            .zip(&reference)
            .map(|(o, r)| r * sample_at(samples, c + o))
            .sum();
        if score > best.0 {
            best = (score, c);
        }
    }
    best.1
}

/// Input time for an output time: linear along `map`, held beyond its ends.
fn input_time(map: &[(f32, f32)], t: f32) -> f32 {
    let i = map.partition_point(|&(o, _)| o <= t);
    match (i.checked_sub(1).map(|k| map[k]), map.get(i)) {
        (Some((o0, i0)), Some(&(o1, i1))) if o1 > o0 => i0 + (i1 - i0) * (t - o0) / (o1 - o0),
        (Some((_, i0)), _) => i0,
        (None, Some(&(_, i1))) => i1,
        (None, None) => 0.0,
    }
}

/// Linear interpolation; silence outside the recording.
fn sample_at(samples: &[f32], pos: f32) -> f32 {
    if pos < 0.0 {
        return 0.0;
    }
    let i = pos as usize;
    let frac = pos - i as f32;
    match (samples.get(i), samples.get(i + 1)) {
        (Some(a), Some(b)) => a + (b - a) * frac,
        (Some(a), None) => *a,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::{hz_to_midi, PitchTracker};

    fn tone(hz: f32, seconds: f32, rate: u32) -> Vec<f32> {
        crate::dsp::test_tone(hz, seconds, rate, 0.5)
    }

    fn median_pitch(samples: &[f32], rate: u32) -> f32 {
        let mut hz: Vec<f32> = PitchTracker::new(rate)
            .track(samples)
            .iter()
            .filter(|f| f.voiced)
            .map(|f| f.hz)
            .collect();
        hz.sort_by(f32::total_cmp);
        hz[hz.len() / 2]
    }

    #[test]
    fn transposes_by_the_asked_semitones_and_keeps_length() {
        let rate = 16_000;
        let a4 = tone(440.0, 2.0, rate);
        let map = [(0.0, 0.0), (2.0, 2.0)];
        for semitones in [-5.0f32, 0.0, 3.0, 12.0] {
            let out = warp_and_transpose(&a4, rate, &map, semitones, 2.0);
            assert_eq!(out.len(), 32_000);
            let got = hz_to_midi(median_pitch(&out[4000..28_000], rate));
            assert!((got - (69.0 + semitones)).abs() < 0.3, "{semitones}: {got}");
        }
    }

    #[test]
    fn follows_the_time_map() {
        // A second of A4 then a second of E5, stretched to three seconds: the change now
        // comes at 1.5 s, and the pitch stays.
        let rate = 16_000;
        let mut input = tone(440.0, 1.0, rate);
        input.extend(tone(659.26, 1.0, rate));
        let out = warp_and_transpose(&input, rate, &[(0.0, 0.0), (3.0, 2.0)], 0.0, 3.0);
        let at = |s: f32| {
            let i = (s * rate as f32) as usize;
            hz_to_midi(median_pitch(&out[i..i + 4000], rate))
        };
        assert!((at(1.0) - 69.0).abs() < 0.3, "{}", at(1.0));
        assert!((at(1.9) - 76.0).abs() < 0.3, "{}", at(1.9));
        // Held beyond the map's ends; an empty map is silence.
        assert_eq!(input_time(&[(1.0, 5.0), (2.0, 6.0)], 0.0), 5.0);
        assert_eq!(input_time(&[(1.0, 5.0), (2.0, 6.0)], 9.0), 6.0);
        assert!(warp_and_transpose(&input, rate, &[], 0.0, 1.0)
            .iter()
            .all(|&x| x == 0.0));
    }
}
