//! A sandbox's clock. A rehearsal of the procedure needs its deadlines to arrive (an emergency's
//! deferred steps, a stabilisation window, a triage's expiry) without anyone waiting for them,
//! so a sandbox store's time can be moved forward by command. Only forward: the log never runs
//! backwards. And only on a sandbox: a real store's clock is the world's, and moving it would
//! let anyone make a deadline pass, or a window open, by saying so.

use chrono::{Datelike, Duration};

use super::Ctx;
use crate::event::Event;
use crate::gate::when;
use crate::rejection::{Reasons, Rejection};
use crate::time::Span;

impl Ctx<'_> {
    pub(super) fn advance_clock(&self, by: Span) -> Result<Vec<Event>, Rejection> {
        let Some(sandbox) = self.state.sandbox else {
            return Err(Rejection::refused(
                "real-clock",
                "this is a real store: its clock is the world's and cannot be advanced; rehearse on a sandbox store (`tollgate init --sandbox`)",
            ));
        };
        let policy = self.policy()?;
        self.known_actor()?;
        let to = by.after(self.now, &policy.calendar);
        let mut reasons = Reasons::default();
        reasons.invalid_if(to <= self.now, || format!("advance the clock by a positive span, not `{by}`"));
        // The log writes times in RFC 3339, whose years have four digits.
        reasons.invalid_if(to.year() > 9999, || {
            format!(
                "advancing by {by} from {} goes past the year 9999, beyond any time the log can write",
                when(self.now)
            )
        });
        reasons.finish()?;
        let by: Duration = to - self.now;
        Ok(vec![Event::SandboxClockAdvanced { by, offset: sandbox.offset + by }])
    }
}
