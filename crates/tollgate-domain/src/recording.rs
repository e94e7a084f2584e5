//! When a fact is written down, against when it happened. A person may record what happened a
//! little earlier (`--now`: the go decision taken in the CAB meeting, typed in after it), but
//! not without limit: unbounded, a year of history could be written in five minutes and still
//! verify as intact. The bound is the profile's `max-lateness`; a fact recorded late carries the
//! reason it is late, and `audit verify` counts late facts from the log alone.

use chrono::Duration;

use crate::command::Command;
use crate::gate::when;
use crate::policy::Policy;
use crate::rejection::Rejection;
use crate::state::State;
use crate::time::{Timestamp, format_duration};

/// Clocks disagree a little: a fact is neither early nor late within this.
pub const CLOCK_SKEW: Duration = Duration::minutes(1);

/// The two times of a fact and, when it is late, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    /// When it happened: the fact's own time, what every rule reads.
    pub happened: Timestamp,
    /// When it was written down: the recording clock (the machine's, the server's).
    pub recorded: Timestamp,
    pub late_reason: Option<String>,
}

impl Timing {
    /// A fact recorded as it happens.
    pub fn on_time(at: Timestamp) -> Timing {
        Timing { happened: at, recorded: at, late_reason: None }
    }

    /// How long after it happened the fact was recorded (negative when early).
    pub fn lateness(&self) -> Duration {
        self.recorded - self.happened
    }

    pub fn is_late(&self) -> bool {
        self.lateness() > CLOCK_SKEW
    }

    /// Later than `policy` (or, with none, Tollgate's default) lets a fact be recorded.
    pub fn beyond(&self, policy: Option<&Policy>) -> bool {
        let bound = policy.map_or(Policy::DEFAULT_MAX_LATENESS, |p| p.max_lateness);
        let calendar = policy.map(|p| p.calendar.clone()).unwrap_or_default();
        bound.after(self.happened, &calendar) < self.recorded
    }

    /// The reason to store with the fact: only a late fact has one.
    pub fn reason_to_record(&self) -> Option<&str> {
        self.late_reason.as_deref().filter(|_| self.is_late())
    }
}

/// The profile whose bound applies: the current one, or for `init` the one it adopts.
fn governing<'a>(state: &'a State, command: &'a Command) -> Option<&'a Policy> {
    match command {
        Command::Init { profile, .. } if state.policy().is_none() => Some(&profile.policy),
        _ => state.policy(),
    }
}

/// Accepts a fact recorded within the bound, late ones only with a reason; refuses a fact from
/// the future (it would also stop everyone else writing until the clock caught up, since the log
/// never runs backwards).
pub fn check(state: &State, command: &Command, timing: &Timing) -> Result<(), Rejection> {
    if timing.happened > timing.recorded + CLOCK_SKEW {
        return Err(Rejection::invalid(format!(
            "the time given ({}) is in the future (the clock says {}); facts are recorded when they happen",
            when(timing.happened),
            when(timing.recorded)
        )));
    }
    if !timing.is_late() {
        return Ok(());
    }
    let policy = governing(state, command);
    let bound = policy.map_or(Policy::DEFAULT_MAX_LATENESS, |p| p.max_lateness);
    let late = format_duration(timing.lateness());
    if timing.beyond(policy) {
        return Err(Rejection::refused(
            "recording.max-lateness",
            format!(
                "the time given ({}) is {late} before the clock ({}); the procedure lets a fact be recorded at most {bound} after it happened",
                when(timing.happened),
                when(timing.recorded)
            ),
        ));
    }
    if timing.late_reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(Rejection::invalid(format!(
            "the time given ({}) is {late} before the clock ({}): say why it is recorded late (--late-reason)",
            when(timing.happened),
            when(timing.recorded)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn timing(happened: &str, recorded: &str, reason: Option<&str>) -> Timing {
        Timing { happened: at(happened), recorded: at(recorded), late_reason: reason.map(str::to_owned) }
    }

    #[test]
    fn within_the_clock_skew_a_fact_is_on_time_and_needs_no_reason() {
        let state = State::default();
        let t = timing("2026-12-01T10:00:00Z", "2026-12-01T10:00:59Z", None);
        assert!(!t.is_late());
        assert_eq!(check(&state, &Command::Tick, &t), Ok(()));
        assert_eq!(t.reason_to_record(), None);
        assert_eq!(timing("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z", Some("x")).reason_to_record(), None);
    }

    #[test]
    fn a_late_fact_needs_a_reason_and_keeps_it() {
        let state = State::default();
        let t = timing("2026-12-01T10:00:00Z", "2026-12-01T13:00:00Z", None);
        let Err(Rejection::Invalid(why)) = check(&state, &Command::Tick, &t) else { panic!("accepted") };
        assert!(why[0].contains("3h before the clock") && why[0].contains("--late-reason"), "{why:?}");
        let t = timing("2026-12-01T10:00:00Z", "2026-12-01T13:00:00Z", Some("CAB minutes typed in"));
        assert_eq!(check(&state, &Command::Tick, &t), Ok(()));
        assert_eq!(t.reason_to_record(), Some("CAB minutes typed in"));
    }

    #[test]
    fn beyond_the_bound_or_in_the_future_nothing_is_recorded() {
        let state = State::default();
        let year = timing("2025-12-01T10:00:00Z", "2026-12-01T10:05:00Z", Some("backfill"));
        let Err(Rejection::Refused(r)) = check(&state, &Command::Tick, &year) else { panic!("accepted") };
        assert_eq!(r[0].rule, "recording.max-lateness");
        let future = timing("2026-12-01T10:02:00Z", "2026-12-01T10:00:00Z", None);
        let Err(Rejection::Invalid(why)) = check(&state, &Command::Tick, &future) else { panic!("accepted") };
        assert!(why[0].contains("in the future"), "{why:?}");
    }
}
