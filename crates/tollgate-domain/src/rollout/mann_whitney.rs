//! The statistical canary judge: a one-sided Mann-Whitney U test of the canary's measurements
//! against the baseline's (the stable version's, over the same interval), for the metrics whose
//! absolute threshold means little (latency distributions, per-instance error ratios). It asks
//! "is the canary worse than the baseline?" without assuming any distribution.
//!
//! The p-value is the normal approximation with the tie correction and the continuity
//! correction — what `scipy.stats.mannwhitneyu(..., method="asymptotic")` computes, which the
//! tests check against. Fewer samples than the judge's minimum on either side is inconclusive.

use super::analysis::Verdict;

/// Which direction is worse for the metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Worse {
    Higher,
    Lower,
}

/// A canary judge: the canary fails when it is worse than the baseline at significance `alpha`.
#[derive(Clone, Debug, PartialEq)]
pub struct CanaryJudge {
    pub name: String,
    pub worse: Worse,
    pub alpha: f64,
    pub min_samples: usize,
}

impl CanaryJudge {
    pub fn judge(&self, canary: &[f64], baseline: &[f64]) -> Verdict {
        let finite = |xs: &[f64]| xs.iter().copied().filter(|x| x.is_finite()).collect::<Vec<_>>();
        let (canary, baseline) = (finite(canary), finite(baseline));
        if canary.len() < self.min_samples || baseline.len() < self.min_samples {
            return Verdict::Inconclusive(format!(
                "{}: {} canary and {} baseline samples, {} of each needed",
                self.name,
                canary.len(),
                baseline.len(),
                self.min_samples
            ));
        }
        let p = match self.worse {
            Worse::Higher => p_greater(&canary, &baseline),
            Worse::Lower => p_greater(&baseline, &canary),
        };
        match p {
            None => Verdict::Inconclusive(format!("{}: every sample is equal: the test cannot tell", self.name)),
            Some(p) if p < self.alpha => Verdict::Failed(format!(
                "{}: the canary is {} than the baseline (Mann-Whitney p = {p:.4} < {})",
                self.name,
                if self.worse == Worse::Higher { "higher" } else { "lower" },
                self.alpha
            )),
            Some(_) => Verdict::Passed,
        }
    }
}

/// The one-sided p-value that `x` is stochastically greater than `y`; `None` when all the
/// samples are tied (no variance to test).
pub fn p_greater(x: &[f64], y: &[f64]) -> Option<f64> {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let mut all: Vec<(f64, bool)> = x.iter().map(|v| (*v, true)).chain(y.iter().map(|v| (*v, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Average ranks over ties; the ties' sizes for the variance's correction.
    let (mut rank_sum_x, mut ties) = (0.0, 0.0);
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_x += rank * all[i..=j].iter().filter(|(_, from_x)| *from_x).count() as f64;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    let n = n1 + n2;
    let u = rank_sum_x - n1 * (n1 + 1.0) / 2.0;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if variance <= 0.0 {
        return None;
    }
    let z = (u - n1 * n2 / 2.0 - 0.5) / variance.sqrt();
    Some(0.5 * erfc(z / std::f64::consts::SQRT_2))
}

/// The complementary error function (Numerical Recipes' `erfcc`, fractional error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: [f64; 8] = [0.031, 0.029, 0.035, 0.040, 0.038, 0.033, 0.036, 0.041];
    const BASELINE: [f64; 8] = [0.020, 0.022, 0.021, 0.025, 0.019, 0.023, 0.020, 0.024];

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn p_values_match_scipy_asymptotic_with_ties_and_continuity() {
        // scipy.stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic")
        assert!(close(p_greater(&CANARY, &BASELINE).unwrap(), 0.000_465_486_135_787_501));
        let (a, b) = ([1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0], [2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 5.0]);
        assert!(close(p_greater(&a, &b).unwrap(), 0.981_497_070_216_835_4));
        assert!(close(p_greater(&b, &a).unwrap(), 0.024_619_483_919_276_697));
        assert_eq!(p_greater(&[1.0, 1.0], &[1.0, 1.0]), None);
    }

    #[test]
    fn a_worse_canary_fails_a_similar_one_passes_too_few_samples_are_inconclusive() {
        let judge = CanaryJudge { name: "error-ratio".into(), worse: Worse::Higher, alpha: 0.05, min_samples: 5 };
        assert!(matches!(judge.judge(&CANARY, &BASELINE), Verdict::Failed(why) if why.contains("higher")));
        assert_eq!(judge.judge(&BASELINE, &CANARY), Verdict::Passed, "a better canary is no failure");
        assert!(matches!(judge.judge(&CANARY[..4], &BASELINE), Verdict::Inconclusive(_)));
        let nan = [f64::NAN; 8];
        assert!(matches!(judge.judge(&nan, &BASELINE), Verdict::Inconclusive(_)), "no numbers, no verdict");
        let lower = CanaryJudge { worse: Worse::Lower, ..judge };
        assert!(matches!(lower.judge(&BASELINE, &CANARY), Verdict::Failed(why) if why.contains("lower")));
    }
}
