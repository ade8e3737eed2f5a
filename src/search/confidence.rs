//! Calibrated confidence: the probability that the top answer is the right song, from the
//! scores of the ranked list (the top score and its margin over the runner-up), by logistic
//! regression fitted on held-out evaluation queries. Below a threshold the answer is "no
//! confident match": the list is still shown, as guesses.

use std::path::Path;

/// A fitted logistic model `P(right) = σ(bias + w_score·s1 + w_margin·(s1 − s2))`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    pub w_score: f32,
    pub w_margin: f32,
    pub bias: f32,
    /// Answers with a probability at or above this are shown as confident.
    pub threshold: f32,
    /// What it was fitted on and what it measured there (provenance, for the model card).
    #[serde(default)]
    pub fitted_on: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("reading {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "calibration needs right and wrong top answers to fit (got {right} right, {wrong} wrong)"
    )]
    OneSided { right: usize, wrong: usize },
}

/// The two features of a ranked list's scores (best first): top score and margin.
pub fn features(scores: &[f32]) -> [f32; 2] {
    let s1 = scores.first().copied().unwrap_or(0.0);
    let s2 = scores.get(1).copied().unwrap_or(0.0);
    [s1, s1 - s2]
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Calibration {
    /// P(the top answer is right) for a ranked list's scores (best first).
    pub fn probability(&self, scores: &[f32]) -> f32 {
        if scores.is_empty() {
            return 0.0;
        }
        let [s, m] = features(scores);
        sigmoid(self.bias + self.w_score * s + self.w_margin * m)
    }

    pub fn is_confident(&self, scores: &[f32]) -> bool {
        self.probability(scores) >= self.threshold
    }

    /// Fits the logistic model on (scores, top answer right?) samples by Newton's method
    /// (a tiny ridge keeps it finite when the classes separate), then picks the lowest
    /// threshold at which at least `precision` of the answers above it are right.
    pub fn fit(samples: &[(Vec<f32>, bool)], precision: f32) -> Result<Self, CalibrationError> {
        let right = samples.iter().filter(|s| s.1).count();
        let wrong = samples.len() - right;
        if right == 0 || wrong == 0 {
            return Err(CalibrationError::OneSided { right, wrong });
        }
        // Standardise the features for a well-conditioned Newton step.
        let xs: Vec<[f64; 2]> = samples
            .iter()
            .map(|(s, _)| {
                let f = features(s);
                [f[0] as f64, f[1] as f64]
            })
            .collect();
        let ys: Vec<f64> = samples.iter().map(|s| s.1 as u8 as f64).collect();
        let n = xs.len() as f64;
        let mean = [0, 1].map(|j| xs.iter().map(|x| x[j]).sum::<f64>() / n);
        let sd = [0, 1].map(|j| {
            (xs.iter().map(|x| (x[j] - mean[j]).powi(2)).sum::<f64>() / n)
                .sqrt()
                .max(1e-6)
        });
        let z: Vec<[f64; 3]> = xs
            .iter()
            .map(|x| [1.0, (x[0] - mean[0]) / sd[0], (x[1] - mean[1]) / sd[1]])
            .collect();
        let mut w = [0.0f64; 3];
        for _ in 0..50 {
            let mut grad = [0.0f64; 3];
            let mut hess = [[0.0f64; 3]; 3];
            for (zi, &y) in z.iter().zip(&ys) {
                let p = 1.0 / (1.0 + (-(w[0] * zi[0] + w[1] * zi[1] + w[2] * zi[2])).exp());
                for a in 0..3 {
                    grad[a] += (p - y) * zi[a];
                    for b in 0..3 {
                        hess[a][b] += p * (1.0 - p) * zi[a] * zi[b];
                    }
                }
            }
            for a in 0..3 {
                grad[a] += 1e-3 * w[a];
                hess[a][a] += 1e-3;
            }
            let step = solve3(hess, grad);
            for a in 0..3 {
                w[a] -= step[a];
            }
            if step.iter().map(|s| s.abs()).sum::<f64>() < 1e-9 {
                break;
            }
        }
        // Back to the raw features.
        let w_score = w[1] / sd[0];
        let w_margin = w[2] / sd[1];
        let bias = w[0] - w_score * mean[0] - w_margin * mean[1];
        let mut cal = Calibration {
            w_score: w_score as f32,
            w_margin: w_margin as f32,
            bias: bias as f32,
            threshold: 0.5,
            fitted_on: serde_json::Value::Null,
        };
        cal.threshold = cal.threshold_for_precision(samples, precision);
        Ok(cal)
    }

    /// The lowest probability threshold at which the answers at or above it are right at
    /// least `precision` of the time (1.0 when no threshold reaches it).
    fn threshold_for_precision(&self, samples: &[(Vec<f32>, bool)], precision: f32) -> f32 {
        let mut scored: Vec<(f32, bool)> = samples
            .iter()
            .map(|(s, right)| (self.probability(s), *right))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut best = 1.0;
        let mut right = 0;
        for (i, &(p, r)) in scored.iter().enumerate() {
            right += r as usize;
            let next_differs = scored.get(i + 1).is_none_or(|n| n.0 < p);
            if next_differs && right as f32 >= precision * (i + 1) as f32 {
                best = p;
            }
        }
        best
    }

    pub fn load(path: &Path) -> Result<Self, CalibrationError> {
        let fail = |reason: String| CalibrationError::Read {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| fail(e.to_string()))
    }
}

/// How a calibration does on labelled samples: of the answers shown as confident, the share
/// that is right (precision), and the share of right answers it hides (below the threshold).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CalibrationCheck {
    pub queries: usize,
    pub right: usize,
    pub confident: usize,
    pub confident_right: usize,
    pub precision: f32,
    pub hidden_right_share: f32,
}

pub fn check(cal: &Calibration, samples: &[(Vec<f32>, bool)]) -> CalibrationCheck {
    let right = samples.iter().filter(|s| s.1).count();
    let confident: Vec<bool> = samples
        .iter()
        .filter(|(s, _)| cal.is_confident(s))
        .map(|s| s.1)
        .collect();
    let confident_right = confident.iter().filter(|r| **r).count();
    CalibrationCheck {
        queries: samples.len(),
        right,
        confident: confident.len(),
        confident_right,
        precision: confident_right as f32 / confident.len().max(1) as f32,
        hidden_right_share: (right - confident_right) as f32 / right.max(1) as f32,
    }
}

fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> [f64; 3] {
    // Cramer's rule: the system is 3×3 and positive definite (ridge).
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    if d.abs() < 1e-300 {
        return [0.0; 3];
    }
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut m = a;
        for r in 0..3 {
            m[r][k] = b[r];
        }
        *o = det(m) / d;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Synthetic lists where a wide margin means right: the fit must find it and its
    /// threshold must keep precision on fresh samples from the same law.
    fn samples(seed: u64, n: usize) -> Vec<(Vec<f32>, bool)> {
        let mut rng = crate::synth::rng::Rng::new(seed);
        (0..n)
            .map(|_| {
                let margin = rng.range(0.0, 0.3);
                let top = rng.range(0.5, 0.95);
                let p_right = 1.0 / (1.0 + (-(margin * 30.0 - 3.0)).exp());
                (vec![top, top - margin], rng.chance(p_right))
            })
            .collect()
    }

    #[test]
    fn fit_learns_that_margin_means_right_and_its_threshold_holds_out_of_sample() {
        let cal = Calibration::fit(&samples(1, 2000), 0.9).unwrap();
        assert!(cal.w_margin > 10.0, "{cal:?}");
        assert!(cal.w_score.abs() < cal.w_margin / 3.0, "{cal:?}");
        let held_out = check(&cal, &samples(2, 2000));
        assert!(held_out.precision > 0.85, "{held_out:?}");
        assert!(held_out.confident > 200, "{held_out:?}");
        // Probabilities follow the law they were fitted on (true P at margin 0.2 is 0.95).
        let p = cal.probability(&[0.8, 0.6]);
        assert!((p - 0.95).abs() < 0.04, "{p}");
        assert!(cal.probability(&[0.8, 0.8]) < 0.1);
    }

    #[test]
    fn one_sided_data_is_an_error_not_a_model() {
        let all_right: Vec<(Vec<f32>, bool)> = (0..10).map(|_| (vec![0.9, 0.5], true)).collect();
        assert!(matches!(
            Calibration::fit(&all_right, 0.9),
            Err(CalibrationError::OneSided { .. })
        ));
    }
}
