//! The rollback trigger conditions (QMS-DEV-PRO-004 4.5), each a rule of the profile and a pure
//! function of what was observed of a deployment during its stabilisation window:
//!
//! | 4.5 says | rule |
//! |---|---|
//! | Error rate exceeds the pre-deployment baseline by more than 10% sustained for 5 minutes | [`Rule::ErrorRateOverBaseline`] |
//! | p95 latency exceeds SLO threshold | [`Rule::LatencyOverSlo`] |
//! | Health check endpoint returns non-200 for more than 2 consecutive checks | [`Rule::HealthCheckFailures`] |
//! | Data integrity check fails post-migration | [`Rule::DataIntegrityFails`] |
//! | Any P1 incident is raised and attributed to the deployment | [`Rule::IncidentAttributed`] |
//! | On-call engineer makes a rollback call based on operational judgement | [`Rule::Judgement`] |
//!
//! A rule says when it first fired, that it is clear, or that it cannot tell (no baseline, no
//! SLO, no data): a rule that cannot tell never fires a rollback on its own, and never counts
//! as "no rollback trigger met" either.

use chrono::Duration;

use crate::Timestamp;

/// One trigger condition's rule, as the profile states it.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    /// The error rate is above the pre-deployment baseline by more than `more_than` of the
    /// baseline (0.10: "by more than 10%", read as relative to the baseline) at every reading
    /// for at least `sustained`.
    ErrorRateOverBaseline { more_than: f64, sustained: Duration },
    /// The p95 latency is above the SLO's threshold at every reading for at least `sustained`
    /// (4.5 names no duration: zero, a single reading).
    LatencyOverSlo { sustained: Duration },
    /// The health endpoint answered other than 200 more than `more_than` times in a row.
    HealthCheckFailures { more_than: u32 },
    /// A data-integrity check after a migration failed.
    DataIntegrityFails,
    /// An incident of `severity` was raised and attributed to the deployment.
    IncidentAttributed { severity: String },
    /// A person's call: the on-call engineer's operational judgement (always valid, never
    /// subject to approval), or a profile's trigger stated without a measurable condition.
    Judgement,
}

impl Rule {
    /// How this rule fires later or less often than `base` (a profile that extends another may
    /// only tighten it); `None` when it fires at least whenever `base` does.
    pub fn loosens(&self, base: &Rule) -> Option<String> {
        match (base, self) {
            (Rule::Judgement, _) => None,
            (
                Rule::ErrorRateOverBaseline { more_than: b, sustained: bs },
                Rule::ErrorRateOverBaseline { more_than: t, sustained: ts },
            ) => (t > b || ts > bs).then(|| {
                format!(
                    "fires above the baseline by more than {} for {}, where the base fires at {} for {}",
                    percent(*t),
                    minutes(*ts),
                    percent(*b),
                    minutes(*bs)
                )
            }),
            (Rule::LatencyOverSlo { sustained: b }, Rule::LatencyOverSlo { sustained: t }) => (t > b).then(|| {
                format!("fires after {} over the SLO, where the base fires after {}", minutes(*t), minutes(*b))
            }),
            (Rule::HealthCheckFailures { more_than: b }, Rule::HealthCheckFailures { more_than: t }) => {
                (t > b).then(|| format!("tolerates {t} failed health checks in a row, where the base tolerates {b}"))
            }
            (Rule::IncidentAttributed { severity: b }, Rule::IncidentAttributed { severity: t }) => {
                (!t.eq_ignore_ascii_case(b)).then(|| format!("fires on {t} incidents, where the base fires on {b}"))
            }
            (Rule::DataIntegrityFails, Rule::DataIntegrityFails) => None,
            (b, _) => Some(format!("is no longer measured as the base measures it ({})", b.key())),
        }
    }

    pub fn key(&self) -> &'static str {
        match self {
            Rule::ErrorRateOverBaseline { .. } => "error-rate-over-baseline",
            Rule::LatencyOverSlo { .. } => "latency-over-slo",
            Rule::HealthCheckFailures { .. } => "health-check-failures",
            Rule::DataIntegrityFails => "data-integrity-fails",
            Rule::IncidentAttributed { .. } => "incident-attributed",
            Rule::Judgement => "judgement",
        }
    }
}

/// A measured value at an instant; `None` when the measurement gave no data or failed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub at: Timestamp,
    pub value: Option<f64>,
}

/// What was observed of one deployment in production since it started, each list in time
/// order: what the rules read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observations {
    /// The error rate (a ratio) measured before the deployment started.
    pub baseline_error_rate: Option<f64>,
    pub error_rate: Vec<Reading>,
    /// The p95 latency in seconds, and the SLO's threshold for it.
    pub p95_latency: Vec<Reading>,
    pub latency_slo: Option<f64>,
    /// Health checks: when, and whether the endpoint answered 200.
    pub health: Vec<(Timestamp, bool)>,
    /// Data-integrity checks: when, whether it passed, and what it said.
    pub integrity: Vec<(Timestamp, bool, String)>,
    /// Incidents attributed to the deployment: when raised, severity, reference.
    pub incidents: Vec<(Timestamp, String, String)>,
    /// A person's rollback call: when, who, why.
    pub calls: Vec<(Timestamp, String, String)>,
}

/// What a rule says of the observations.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The condition was met, first at `at`.
    Fired { at: Timestamp, why: String },
    /// Observed, and not met.
    Clear,
    /// Not observable from what was recorded (the reason says what is missing).
    Unknown(String),
}

impl Rule {
    /// What this rule says of `seen`.
    pub fn judge(&self, seen: &Observations) -> Outcome {
        match self {
            Rule::ErrorRateOverBaseline { more_than, sustained } => {
                let Some(baseline) = seen.baseline_error_rate else {
                    return Outcome::Unknown("no pre-deployment error-rate baseline was measured".into());
                };
                let limit = baseline * (1.0 + more_than);
                sustained_above(&seen.error_rate, limit, *sustained).map_or_else(
                    || clear_or_unknown(&seen.error_rate, "error rate"),
                    |(at, value)| Outcome::Fired {
                        at,
                        why: format!(
                            "error rate {} above the baseline {} by more than {} for {}",
                            percent(value),
                            percent(baseline),
                            percent(*more_than),
                            minutes(*sustained)
                        ),
                    },
                )
            }
            Rule::LatencyOverSlo { sustained } => {
                let Some(slo) = seen.latency_slo else {
                    return Outcome::Unknown("no p95 latency SLO is set for the service".into());
                };
                sustained_above(&seen.p95_latency, slo, *sustained).map_or_else(
                    || clear_or_unknown(&seen.p95_latency, "p95 latency"),
                    |(at, value)| Outcome::Fired {
                        at,
                        why: format!("p95 latency {:.0} ms above the SLO of {:.0} ms", value * 1e3, slo * 1e3),
                    },
                )
            }
            Rule::HealthCheckFailures { more_than } => {
                let mut run = 0;
                for (at, ok) in &seen.health {
                    run = if *ok { 0 } else { run + 1 };
                    if run > *more_than {
                        return Outcome::Fired {
                            at: *at,
                            why: format!("the health endpoint answered other than 200 {run} times in a row"),
                        };
                    }
                }
                if seen.health.is_empty() {
                    Outcome::Unknown("no health check was made".into())
                } else {
                    Outcome::Clear
                }
            }
            Rule::DataIntegrityFails => match seen.integrity.iter().find(|(_, passed, _)| !passed) {
                Some((at, _, said)) => {
                    Outcome::Fired { at: *at, why: format!("the data-integrity check failed: {said}") }
                }
                None => Outcome::Clear,
            },
            Rule::IncidentAttributed { severity } => {
                match seen.incidents.iter().find(|(_, s, _)| s.eq_ignore_ascii_case(severity)) {
                    Some((at, s, reference)) => Outcome::Fired {
                        at: *at,
                        why: format!("{s} incident {reference} attributed to the deployment"),
                    },
                    None => Outcome::Clear,
                }
            }
            Rule::Judgement => match seen.calls.first() {
                Some((at, who, why)) => Outcome::Fired { at: *at, why: format!("{who} called the rollback: {why}") },
                None => Outcome::Clear,
            },
        }
    }
}

/// The first instant at which `readings` had been above `limit` at every reading for at least
/// `sustained` (a reading with no data breaks the run: it shows nothing), and the value then.
fn sustained_above(readings: &[Reading], limit: f64, sustained: Duration) -> Option<(Timestamp, f64)> {
    let mut since = None;
    for r in readings {
        match r.value {
            Some(v) if v > limit => {
                let start = *since.get_or_insert(r.at);
                if r.at - start >= sustained {
                    return Some((r.at, v));
                }
            }
            _ => since = None,
        }
    }
    None
}

fn clear_or_unknown(readings: &[Reading], what: &str) -> Outcome {
    if readings.iter().any(|r| r.value.is_some()) {
        Outcome::Clear
    } else {
        Outcome::Unknown(format!("no {what} was measured"))
    }
}

fn percent(ratio: f64) -> String {
    format!("{:.2}%", ratio * 100.0)
}

fn minutes(d: Duration) -> String {
    if d.num_seconds() % 60 == 0 { format!("{} min", d.num_minutes()) } else { format!("{} s", d.num_seconds()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(seconds: i64) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap() + Duration::seconds(seconds)
    }

    /// 4.5's first condition as the built-in profile states it.
    fn error_rate() -> Rule {
        Rule::ErrorRateOverBaseline { more_than: 0.10, sustained: Duration::minutes(5) }
    }

    /// Readings every 15 s from `from` to `to` seconds, all of `value`.
    fn readings(from: i64, to: i64, value: f64) -> Vec<Reading> {
        (from..=to).step_by(15).map(|s| Reading { at: t(s), value: Some(value) }).collect()
    }

    fn with_error_rate(baseline: f64, readings: Vec<Reading>) -> Observations {
        Observations { baseline_error_rate: Some(baseline), error_rate: readings, ..Default::default() }
    }

    #[test]
    fn error_rate_11_percent_over_baseline_for_5_minutes_fires() {
        // Given a baseline of 2% and an error rate 11% above it (2.22%) from 12:00
        let seen = with_error_rate(0.02, readings(0, 300, 0.0222));
        // When 5 minutes have passed, then the trigger fires at 12:05
        assert!(matches!(error_rate().judge(&seen), Outcome::Fired { at, .. } if at == t(300)));
    }

    #[test]
    fn error_rate_9_percent_over_baseline_never_fires() {
        let seen = with_error_rate(0.02, readings(0, 900, 0.0218));
        assert_eq!(error_rate().judge(&seen), Outcome::Clear);
    }

    #[test]
    fn error_rate_over_for_4_min_59_s_does_not_fire() {
        let mut r = readings(0, 285, 0.0222);
        r.push(Reading { at: t(299), value: Some(0.0222) });
        r.push(Reading { at: t(300), value: Some(0.02) });
        assert_eq!(error_rate().judge(&with_error_rate(0.02, r)), Outcome::Clear);
    }

    #[test]
    fn a_reading_back_under_the_limit_restarts_the_five_minutes() {
        let mut r = readings(0, 240, 0.03);
        r.push(Reading { at: t(255), value: Some(0.01) });
        r.extend(readings(270, 570, 0.03));
        let fired = error_rate().judge(&with_error_rate(0.02, r));
        assert!(matches!(fired, Outcome::Fired { at, .. } if at == t(570)), "{fired:?}");
    }

    #[test]
    fn a_reading_with_no_data_shows_nothing_sustained() {
        let mut r = readings(0, 150, 0.03);
        r.push(Reading { at: t(165), value: None });
        r.extend(readings(180, 465, 0.03));
        assert_eq!(error_rate().judge(&with_error_rate(0.02, r.clone())), Outcome::Clear);
        r.extend(readings(480, 480, 0.03));
        assert!(matches!(error_rate().judge(&with_error_rate(0.02, r)), Outcome::Fired { at, .. } if at == t(480)));
    }

    #[test]
    fn with_no_baseline_or_no_data_the_error_rate_rule_cannot_tell() {
        let no_baseline = Observations { error_rate: readings(0, 600, 0.5), ..Default::default() };
        assert!(matches!(error_rate().judge(&no_baseline), Outcome::Unknown(_)));
        let no_data = with_error_rate(0.02, vec![Reading { at: t(0), value: None }]);
        assert!(matches!(error_rate().judge(&no_data), Outcome::Unknown(_)));
    }

    #[test]
    fn p95_latency_over_the_slo_fires_at_the_first_reading_over_it() {
        let rule = Rule::LatencyOverSlo { sustained: Duration::zero() };
        let mut seen = Observations { latency_slo: Some(0.300), ..Default::default() };
        seen.p95_latency = vec![
            Reading { at: t(0), value: Some(0.250) },
            Reading { at: t(15), value: Some(0.300) },
            Reading { at: t(30), value: Some(0.301) },
        ];
        assert!(matches!(rule.judge(&seen), Outcome::Fired { at, .. } if at == t(30)));
        seen.p95_latency.pop();
        assert_eq!(rule.judge(&seen), Outcome::Clear, "exactly at the SLO does not exceed it");
        seen.latency_slo = None;
        assert!(matches!(rule.judge(&seen), Outcome::Unknown(_)));
    }

    #[test]
    fn exactly_two_failed_health_checks_in_a_row_do_not_fire_three_do() {
        let rule = Rule::HealthCheckFailures { more_than: 2 };
        let checks = |oks: &[bool]| Observations {
            health: oks.iter().enumerate().map(|(i, ok)| (t(i as i64 * 10), *ok)).collect(),
            ..Default::default()
        };
        assert_eq!(rule.judge(&checks(&[true, false, false, true, false, false, true])), Outcome::Clear);
        assert!(matches!(rule.judge(&checks(&[true, false, false, false])), Outcome::Fired { at, .. } if at == t(30)));
        assert!(matches!(rule.judge(&checks(&[])), Outcome::Unknown(_)));
    }

    #[test]
    fn a_rule_loosens_its_base_when_it_fires_later_or_on_less() {
        let base = error_rate();
        assert_eq!(base.loosens(&base), None);
        let later = Rule::ErrorRateOverBaseline { more_than: 0.10, sustained: Duration::minutes(10) };
        assert!(later.loosens(&base).unwrap().contains("10 min"));
        let tighter = Rule::ErrorRateOverBaseline { more_than: 0.05, sustained: Duration::minutes(2) };
        assert_eq!(tighter.loosens(&base), None);
        assert!(Rule::Judgement.loosens(&base).is_some(), "a measured trigger left to judgement");
        assert_eq!(base.loosens(&Rule::Judgement), None, "measuring a call adds to it");
        let four = Rule::HealthCheckFailures { more_than: 4 };
        assert!(four.loosens(&Rule::HealthCheckFailures { more_than: 2 }).is_some());
    }

    #[test]
    fn a_failed_integrity_check_an_attributed_p1_and_a_call_each_fire() {
        let mut seen = Observations::default();
        assert_eq!(Rule::DataIntegrityFails.judge(&seen), Outcome::Clear);
        seen.integrity = vec![(t(0), true, "rows match".into()), (t(60), false, "orders: 12 rows missing".into())];
        assert!(matches!(Rule::DataIntegrityFails.judge(&seen), Outcome::Fired { at, .. } if at == t(60)));

        let p1 = Rule::IncidentAttributed { severity: "P1".into() };
        seen.incidents = vec![(t(90), "P2".into(), "INC-7".into())];
        assert_eq!(p1.judge(&seen), Outcome::Clear, "a P2 is not a P1");
        seen.incidents.push((t(120), "p1".into(), "INC-8".into()));
        assert!(matches!(p1.judge(&seen), Outcome::Fired { at, .. } if at == t(120)));

        assert_eq!(Rule::Judgement.judge(&seen), Outcome::Clear);
        seen.calls = vec![(t(30), "sam".into(), "checkout looks wrong".into())];
        let call = Rule::Judgement.judge(&seen);
        assert!(matches!(&call, Outcome::Fired { at, why } if *at == t(30) && why.contains("sam")), "{call:?}");
    }
}
