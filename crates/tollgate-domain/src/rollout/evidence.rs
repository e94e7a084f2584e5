//! What a rollout's record proves to the deployment and stabilisation gates (4.4.4 and 4.4.5),
//! where a deployment Tollgate did not run has only a person's confirmation: the smoke checks
//! of every stage, the rollback triggers at the end of the deployment with the monitoring
//! snapshot taken then, and production compared against the pre-deployment baseline through
//! the stabilisation window. Each fails closed: a signal with no number is not "within".

use super::analysis::Measured;
use super::plan::Plan;
use super::progress::{Measurement, Rollout};
use crate::policy::Trigger;
use crate::time::Timestamp;

/// One signal of production compared with its baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Compared {
    pub signal: &'static str,
    /// `Ok` within, `Err` not (or not known), with what was seen either way.
    pub verdict: Result<String, String>,
}

impl Rollout {
    /// 4.4.4 "Smoke tests pass": every smoke check of the plan ran at every stage reached and
    /// passed there.
    pub fn smoke_tests(&self) -> Result<String, String> {
        let checks = &self.plan.plan.smoke;
        if checks.is_empty() {
            return Err(format!("the plan {} runs no smoke checks", self.plan.name));
        }
        let mut ran = 0;
        for stage in &self.stages {
            for check in checks {
                match self.smoke.iter().find(|s| s.stage == stage.index && s.name == check.name) {
                    None => return Err(format!("smoke check `{}` did not run at stage {}", check.name, stage.index)),
                    Some(s) if !s.passed => {
                        return Err(format!(
                            "smoke check `{}` failed at stage {} ({}%): {}",
                            s.name, stage.index, stage.weight, s.detail
                        ));
                    }
                    Some(_) => ran += 1,
                }
            }
        }
        if ran == 0 {
            return Err("no stage was reached".into());
        }
        Ok(format!("{ran} smoke check(s) passed over {} stage(s) of {}", self.stages.len(), self.plan.name))
    }

    /// 4.4.4 "No rollback trigger conditions met at end of deployment", with the monitoring
    /// snapshot at completion: the last reading of each signal then.
    pub fn no_trigger_at_completion(&self, triggers: &[Trigger]) -> Result<String, String> {
        let Some(completed) = self.completed else {
            return Err("the rollout has not completed: the deployment has not ended".into());
        };
        let until_completion = Rollout {
            measurements: self.measurements.iter().filter(|m| m.at <= completed).cloned().collect(),
            incidents: self.incidents.iter().filter(|(at, _, _)| *at <= completed).cloned().collect(),
            ..self.clone()
        };
        let snapshot = until_completion.snapshot();
        match until_completion.fired(triggers) {
            Some(why) => Err(format!("{why}; at completion: {snapshot}")),
            None => Ok(format!("no trigger fired by completion at {}; {snapshot}", crate::gate::when(completed))),
        }
    }

    /// The latest reading of each signal, in words: `error-rate 0.20% (baseline 0.18%), health 200`.
    pub fn snapshot(&self) -> String {
        let readings: Vec<String> = self
            .plan
            .plan
            .signals
            .measured()
            .into_iter()
            .map(|name| {
                let last = self.measurements.iter().rev().find(|m| m.stage.is_some() && m.name == name);
                let baseline = baseline(&self.measurements, name).map(|b| format!(" (baseline {})", number(b)));
                match last {
                    Some(m) => format!("{name} {}{}", said(&m.measured), baseline.unwrap_or_default()),
                    None => format!("{name} not measured"),
                }
            })
            .collect();
        if readings.is_empty() { "no signals measured".into() } else { readings.join(", ") }
    }

    /// 4.4.5 "Compare production metrics against pre-deployment baseline": each Prometheus
    /// signal of the plan over `from..=until`, against its baseline within `margin` (0.10: no
    /// worse than 10%), p95 latency against the SLO, and the last health check.
    pub fn against_baseline(&self, margin: f64, from: Timestamp, until: Timestamp) -> Vec<Compared> {
        let plan: &Plan = &self.plan.plan;
        let window: Vec<&Measurement> =
            self.measurements.iter().filter(|m| m.stage.is_some() && m.at >= from && m.at <= until).collect();
        let mut compared: Vec<Compared> = plan
            .signals
            .queries()
            .into_iter()
            .map(|(signal, _)| {
                let values: Vec<f64> = window
                    .iter()
                    .filter(|m| m.name == signal)
                    .filter_map(|m| match m.measured {
                        Measured::Value(v) if v.is_finite() => Some(v),
                        _ => None,
                    })
                    .collect();
                let verdict =
                    judge(signal, &values, baseline(&self.measurements, signal), plan.signals.latency_slo, margin);
                Compared { signal, verdict }
            })
            .collect();
        if plan.signals.health.is_some() {
            let last = window.iter().rev().find(|m| m.name == "health");
            let verdict = match last.map(|m| &m.measured) {
                Some(Measured::Value(v)) if *v == 200.0 => Ok("the last health check answered 200".into()),
                Some(other) => Err(format!("the last health check answered {}", said(other))),
                None => Err("no health check in the window".into()),
            };
            compared.push(Compared { signal: "health", verdict });
        }
        compared
    }
}

/// How one signal's window compares: latency p95 against the SLO, throughput no lower than the
/// baseline by more than `margin`, the rest no higher.
fn judge(signal: &str, values: &[f64], baseline: Option<f64>, slo: Option<f64>, margin: f64) -> Result<String, String> {
    if values.is_empty() {
        return Err(format!("{signal}: no number measured in the window, so it cannot be called within"));
    }
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let worst = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if signal == "p95-latency" {
        let Some(slo) = slo else { return Err("p95-latency: the plan gives no SLO".into()) };
        let seen = format!("p95-latency worst {} over {n} reading(s), SLO {}", number(worst), number(slo));
        return if worst <= slo { Ok(seen) } else { Err(seen) };
    }
    let Some(baseline) = baseline else {
        return Err(format!("{signal}: no pre-deployment baseline was measured"));
    };
    let (limit, within, word) = if signal == "throughput" {
        let limit = baseline * (1.0 - margin);
        (limit, mean >= limit, "at least")
    } else {
        let limit = baseline * (1.0 + margin);
        (limit, mean <= limit, "at most")
    };
    let seen = format!(
        "{signal} mean {} over {n} reading(s), baseline {}, {word} {} allowed",
        number(mean),
        number(baseline),
        number(limit)
    );
    if within { Ok(seen) } else { Err(seen) }
}

/// The signal's latest reading before the first shift.
fn baseline(measurements: &[Measurement], signal: &str) -> Option<f64> {
    measurements.iter().rev().find(|m| m.stage.is_none() && m.name == signal).and_then(|m| match m.measured {
        Measured::Value(v) if v.is_finite() => Some(v),
        _ => None,
    })
}

fn said(measured: &Measured) -> String {
    match measured {
        Measured::Value(v) => number(*v),
        Measured::NoData(why) => format!("no data ({why})"),
        Measured::Error(why) => format!("an error ({why})"),
    }
}

/// Four significant figures, no trailing zeros: `0.002`, `0.2134`, `200`.
fn number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let digits = (4 - v.abs().log10().ceil() as i32).clamp(0, 12) as usize;
    let text = format!("{v:.digits$}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_with_no_number_is_not_within_and_throughput_is_worse_lower() {
        // Given no reading in the window, then it cannot be called within (fail closed)
        assert!(judge("error-rate", &[], Some(0.01), None, 0.1).unwrap_err().contains("no number measured"));
        // Given no baseline, then nothing to compare with
        assert!(judge("p99-latency", &[0.2], None, None, 0.1).unwrap_err().contains("no pre-deployment baseline"));
        // Throughput 8% under its baseline is within 10%, 12% under is not; saturation the other way
        assert!(judge("throughput", &[92.0], Some(100.0), None, 0.1).is_ok());
        assert!(judge("throughput", &[88.0], Some(100.0), None, 0.1).is_err());
        assert!(judge("saturation", &[0.65], Some(0.6), None, 0.1).is_ok());
        assert!(judge("saturation", &[0.67], Some(0.6), None, 0.1).is_err());
        // p95 latency is held to the SLO by its worst reading, not its mean
        assert!(judge("p95-latency", &[0.1, 0.31], None, Some(0.3), 0.1).unwrap_err().contains("worst 0.31"));
    }

    #[test]
    fn numbers_read_as_a_person_writes_them() {
        assert_eq!(number(200.0), "200");
        assert_eq!(number(0.0021), "0.0021");
        assert_eq!(number(0.213456), "0.2135");
    }
}
