//! `tollgate clock`: the store's time, and moving a sandbox's forward. A rehearsal walks the
//! procedure through its deadlines in minutes, not days, by saying how much time passes; the
//! domain refuses this on a real store, and the log keeps every advance, so every process
//! reading the store keeps the same time.

use serde_json::json;
use tollgate_app::{App, codec, sandbox};
use tollgate_domain::gate::when;
use tollgate_domain::time::format_duration;
use tollgate_domain::{Command, Span, State};
use tollgate_ledger::SqliteLedger;

use crate::run::{Ctx, Failure, error};
use crate::view::View;

/// What the store's clock reads, and how far ahead of the system's.
fn reading(state: &State, ctx: &Ctx) -> (serde_json::Value, String) {
    let now = sandbox::now(state, ctx.clock);
    let offset = state.clock_offset();
    let json = json!({
        "now": codec::time(now),
        "sandbox": state.is_sandbox(),
        "offset": format_duration(offset),
        "offset_seconds": offset.num_seconds(),
    });
    let text = if state.is_sandbox() {
        format!("{}: the sandbox's clock, {} ahead of the system clock", when(now), format_duration(offset))
    } else {
        format!("{}: the system clock (a real store's clock cannot be advanced)", when(now))
    };
    (json, text)
}

pub(crate) fn show(ctx: &Ctx, state: &State) -> Result<(), Failure> {
    let (json, text) = reading(state, ctx);
    ctx.print(View { json, text });
    Ok(())
}

/// `+3s`, `2h`, `3 days`: the words of the command line, as one span.
fn span(words: &[String]) -> Result<Span, Failure> {
    let text = words.join(" ");
    let bare = text.trim().strip_prefix('+').unwrap_or(text.trim());
    bare.parse().map_err(|e: tollgate_domain::time::SpanError| error(format!("SPAN: {e}")))
}

pub(crate) fn advance(ctx: &Ctx, app: &mut App<SqliteLedger>, words: &[String]) -> Result<(), Failure> {
    let by = span(words)?;
    let r = ctx.execute(app, Command::AdvanceClock { by })?;
    let (reading, text) = reading(app.state(), ctx);
    let advanced = match r.facts.first().map(|f| &f.event) {
        Some(tollgate_domain::Event::SandboxClockAdvanced { by, .. }) => *by,
        _ => unreachable!("an accepted advance records how far"),
    };
    ctx.done_with(
        &r,
        format!("clock advanced by {}; now {text}", format_duration(advanced)),
        json!({"by": format_duration(advanced), "by_seconds": advanced.num_seconds(), "clock": reading}),
    );
    Ok(())
}
