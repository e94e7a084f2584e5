//! Analysis of a rollout stage, failing closed: each metric is a query measured every
//! `interval`, each measurement judged against the metric's condition, and the stage passes only
//! when every metric has enough measurements and none went over its limits. No data, a value
//! that is not a number, too few samples, a query that errs: inconclusive — and an inconclusive
//! analysis never promotes (4.4.4: "a hold period and metric check at each stage").

use std::fmt;

use chrono::Duration;

/// How a measured value is compared with the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum Comparison {
    Below,
    AtMost,
    Above,
    AtLeast,
}

/// A metric's success condition: `< 0.01`, `<= 0.3`, `> 0.99`, `>= 100`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Condition {
    pub comparison: Comparison,
    pub threshold: f64,
}

impl Condition {
    pub fn holds(&self, value: f64) -> bool {
        match self.comparison {
            Comparison::Below => value < self.threshold,
            Comparison::AtMost => value <= self.threshold,
            Comparison::Above => value > self.threshold,
            Comparison::AtLeast => value >= self.threshold,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.comparison {
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
        };
        write!(f, "{op} {}", self.threshold)
    }
}

impl std::str::FromStr for Condition {
    type Err = String;

    fn from_str(text: &str) -> Result<Condition, String> {
        let text = text.trim();
        let (comparison, rest) = [
            ("<=", Comparison::AtMost),
            (">=", Comparison::AtLeast),
            ("<", Comparison::Below),
            (">", Comparison::Above),
        ]
        .iter()
        .find_map(|(op, c)| text.strip_prefix(op).map(|rest| (*c, rest)))
        .ok_or_else(|| format!("`{text}`: expected a comparison and a number, e.g. `< 0.01` or `>= 0.99`"))?;
        let threshold: f64 = rest.trim().parse().map_err(|_| format!("`{text}`: `{}` is not a number", rest.trim()))?;
        if !threshold.is_finite() {
            return Err(format!("`{text}`: the threshold must be a finite number"));
        }
        Ok(Condition { comparison, threshold })
    }
}

/// One metric of an analysis.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Metric {
    pub name: String,
    /// The PromQL query; its result must be a single number.
    pub query: String,
    pub condition: Condition,
    #[cfg_attr(feature = "snapshot", serde(with = "crate::rollout::span_serde"))]
    pub interval: Duration,
    /// Measurements failing the condition that are tolerated; one more fails the analysis.
    pub failure_limit: u32,
    /// Measurements with no data (or not a number) tolerated; one more makes it inconclusive.
    pub inconclusive_limit: u32,
    /// Measurements whose query erred tolerated; one more makes it inconclusive.
    pub error_limit: u32,
    /// Measurements needed before the metric can pass at all.
    pub min_samples: u32,
}

/// What one measurement gave.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum Measured {
    Value(f64),
    /// The query answered with no series, or with more than one (not a single number).
    NoData(String),
    /// The query could not be asked or was refused.
    Error(String),
}

/// Two records of a measurement are the same when they hold the same value bit for bit: a
/// recorded NaN equals itself (it is the same record), unlike NaN in arithmetic.
impl PartialEq for Measured {
    fn eq(&self, other: &Measured) -> bool {
        match (self, other) {
            (Measured::Value(a), Measured::Value(b)) => a.to_bits() == b.to_bits(),
            (Measured::NoData(a), Measured::NoData(b)) | (Measured::Error(a), Measured::Error(b)) => a == b,
            _ => false,
        }
    }
}

/// A measurement judged against its metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judged {
    Passed,
    Failed,
    Inconclusive,
    Error,
}

/// A stage's analysis, or one metric's.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Enough measurements, within every limit.
    Passed,
    /// More failures than the limit: roll back.
    Failed(String),
    /// No way to tell: hold, never promote.
    Inconclusive(String),
    /// Measurements still to come.
    Running,
}

impl Verdict {
    /// Only a passed analysis moves a rollout on.
    pub fn promotes(&self) -> bool {
        matches!(self, Verdict::Passed)
    }
}

impl Metric {
    pub fn judge_one(&self, measured: &Measured) -> Judged {
        match measured {
            Measured::Value(v) if v.is_nan() => Judged::Inconclusive,
            Measured::Value(v) if self.condition.holds(*v) => Judged::Passed,
            Measured::Value(_) => Judged::Failed,
            Measured::NoData(_) => Judged::Inconclusive,
            Measured::Error(_) => Judged::Error,
        }
    }

    /// Measurements needed before the metric can pass (never fewer than one).
    pub fn needed(&self) -> u32 {
        self.min_samples.max(1)
    }

    /// The metric's verdict on `measured` so far; `held` once the stage's hold is over, when a
    /// metric without enough measurements is inconclusive rather than still running.
    pub fn judge(&self, measured: &[Measured], held: bool) -> Verdict {
        let count = |j: Judged| measured.iter().filter(|m| self.judge_one(m) == j).count() as u32;
        // What the latest measurement judged `j` gave, for the verdict's reason.
        let last = |j: Judged| {
            measured.iter().rev().find(|m| self.judge_one(m) == j).map_or_else(String::new, |m| match m {
                Measured::Value(v) => v.to_string(),
                Measured::NoData(why) | Measured::Error(why) => why.clone(),
            })
        };
        let name = &self.name;
        let (failed, inconclusive, errors) = (count(Judged::Failed), count(Judged::Inconclusive), count(Judged::Error));
        if failed > self.failure_limit {
            return Verdict::Failed(format!(
                "{name}: {failed} measurement(s) failed `{}` (limit {}), last {}",
                self.condition,
                self.failure_limit,
                last(Judged::Failed)
            ));
        }
        if inconclusive > self.inconclusive_limit {
            return Verdict::Inconclusive(format!(
                "{name}: {inconclusive} measurement(s) without a number (limit {}): {}",
                self.inconclusive_limit,
                last(Judged::Inconclusive)
            ));
        }
        if errors > self.error_limit {
            return Verdict::Inconclusive(format!(
                "{name}: the query erred {errors} time(s) (limit {}): {}",
                self.error_limit,
                last(Judged::Error)
            ));
        }
        let passed = count(Judged::Passed);
        match (held, passed >= self.needed()) {
            (false, _) => Verdict::Running,
            (true, true) => Verdict::Passed,
            (true, false) => {
                Verdict::Inconclusive(format!("{name}: {passed} passing measurement(s), {} needed", self.needed()))
            }
        }
    }
}

/// A stage's verdict from its metrics': any failed fails it, then any inconclusive makes it
/// inconclusive, then any still running keeps it running. A stage without metrics is
/// inconclusive: nothing was checked.
pub fn combine(verdicts: &[Verdict]) -> Verdict {
    if verdicts.is_empty() {
        return Verdict::Inconclusive("the stage has no analysis: nothing was checked".into());
    }
    let first = |f: fn(&Verdict) -> bool| verdicts.iter().find(|v| f(v)).cloned();
    first(|v| matches!(v, Verdict::Failed(_)))
        .or_else(|| first(|v| matches!(v, Verdict::Inconclusive(_))))
        .or_else(|| first(|v| matches!(v, Verdict::Running)))
        .unwrap_or(Verdict::Passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_ratio() -> Metric {
        Metric {
            name: "error-ratio".into(),
            query: "sum(rate(http_requests_total{code=~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))".into(),
            condition: "< 0.01".parse().unwrap(),
            interval: Duration::seconds(10),
            failure_limit: 0,
            inconclusive_limit: 0,
            error_limit: 0,
            min_samples: 3,
        }
    }

    #[test]
    fn conditions_parse_and_hold_at_their_boundary() {
        let c: Condition = "<= 0.3".parse().unwrap();
        assert!(c.holds(0.3) && !c.holds(0.300001));
        let c: Condition = "> 0.99".parse().unwrap();
        assert!(!c.holds(0.99) && c.holds(0.995));
        assert!("0.3".parse::<Condition>().unwrap_err().contains("expected a comparison"));
        assert!("< fast".parse::<Condition>().unwrap_err().contains("not a number"));
        assert!("< inf".parse::<Condition>().is_err());
    }

    #[test]
    fn enough_passing_measurements_pass_once_the_hold_is_over() {
        let m = error_ratio();
        let ok = vec![Measured::Value(0.001); 3];
        assert_eq!(m.judge(&ok, false), Verdict::Running);
        assert_eq!(m.judge(&ok, true), Verdict::Passed);
        assert_eq!(m.judge(&ok[..2], false), Verdict::Running);
    }

    #[test]
    fn no_data_is_inconclusive_and_never_promotes() {
        let m = error_ratio();
        let v = m.judge(&[Measured::NoData("no series".into())], true);
        assert!(
            matches!(&v, Verdict::Inconclusive(why) if why.contains("without a number (limit 0): no series")),
            "{v:?}"
        );
        assert!(!v.promotes());
        let nan = m.judge(
            &[Measured::Value(f64::NAN), Measured::Value(0.0), Measured::Value(0.0), Measured::Value(0.0)],
            true,
        );
        assert!(matches!(&nan, Verdict::Inconclusive(why) if why.ends_with("NaN")), "0/0 is NaN, not a pass: {nan:?}");
    }

    #[test]
    fn too_few_samples_at_the_end_of_the_hold_are_inconclusive() {
        let v = error_ratio().judge(&[Measured::Value(0.0), Measured::Value(0.0)], true);
        assert!(matches!(&v, Verdict::Inconclusive(why) if why.contains("3 needed")), "{v:?}");
    }

    #[test]
    fn a_query_error_is_inconclusive_beyond_its_limit() {
        let mut m = error_ratio();
        let measured = [Measured::Error("bad_data: parse error".into()), Measured::Value(0.0)];
        assert!(matches!(m.judge(&measured, true), Verdict::Inconclusive(why) if why.contains("bad_data")));
        m.error_limit = 1;
        m.min_samples = 1;
        assert_eq!(m.judge(&measured, true), Verdict::Passed);
    }

    #[test]
    fn failures_over_the_limit_fail_even_before_the_hold_is_over() {
        let mut m = error_ratio();
        m.failure_limit = 1;
        let one = [Measured::Value(0.05), Measured::Value(0.0)];
        assert_eq!(m.judge(&one, false), Verdict::Running);
        let two = [Measured::Value(0.05), Measured::Value(0.2)];
        assert!(matches!(m.judge(&two, false), Verdict::Failed(why) if why.contains("last 0.2")));
    }

    #[test]
    fn a_stage_fails_on_any_failure_and_passes_only_when_all_pass() {
        let f = Verdict::Failed("x".into());
        let i = Verdict::Inconclusive("y".into());
        assert_eq!(combine(&[Verdict::Passed, i.clone(), f.clone()]), f);
        assert_eq!(combine(&[Verdict::Passed, Verdict::Running, i.clone()]), i);
        assert_eq!(combine(&[Verdict::Passed, Verdict::Running]), Verdict::Running);
        assert_eq!(combine(&[Verdict::Passed, Verdict::Passed]), Verdict::Passed);
        assert!(matches!(combine(&[]), Verdict::Inconclusive(_)));
    }
}
