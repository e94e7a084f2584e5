//! The commands that only read the state, answered from any `&State`: the one the embedded CLI
//! has just replayed, or the server's latest published snapshot, which many requests read at
//! once without waiting for a writer. One copy answers both, so a read through the server
//! prints what the embedded command prints.

use serde_json::{Value, json};
use tollgate_app::codec;
use tollgate_domain::State;
use tollgate_domain::gate::{self, when};
use tollgate_domain::lifecycle::Phase;
use tollgate_domain::policy::Opens;

use crate::cli::*;
use crate::run::{Ctx, Failure, artefact_digest, error, fulfilment, release_id};
use crate::view::{self, View};

/// The commands [`answer`] answers, by their words: what they print depends on the state, the
/// arguments and the instant alone (no log, no KPI store, no file), so the server may share
/// one answer among identical requests (`serve::answers`). Kept beside `answer`, whose match
/// arms they name.
pub(crate) const FROM_STATE: &[&str] = &[
    "person list",
    "blackout list",
    "obligations",
    "nc list",
    "risk list",
    "release list",
    "release show",
    "release gate",
    "check",
    "token list",
    "clock show",
    "rollout status",
];

/// Answers `command` from `state` if it only reads it; otherwise gives it back, for the
/// dispatch that records facts (moved back and forth once per command: its size is no cost).
#[allow(clippy::result_large_err)]
pub(crate) fn answer(ctx: &Ctx, state: &State, command: Cmd) -> Result<Result<(), Failure>, Cmd> {
    Ok(match command {
        Cmd::Person(PersonCmd::List) => person_list(ctx, state),
        Cmd::Blackout(BlackoutCmd::List) => blackout_list(ctx, state),
        Cmd::Obligations { overdue, release } => obligations(ctx, state, overdue, release.as_deref()),
        Cmd::Nc(NcCmd::List { open }) => nc_list(ctx, state, open),
        Cmd::Risk(RiskCmd::List) => risk_list(ctx, state),
        Cmd::Release(ReleaseCmd::List { all }) => release_list(ctx, state, all),
        Cmd::Release(ReleaseCmd::Show { id }) => release_show(ctx, state, &id),
        Cmd::Release(ReleaseCmd::Gate { id, gate }) => release_gate(ctx, state, &id, gate.as_deref()),
        Cmd::Check { service, artefact, env } => check(ctx, state, &service, &artefact, &env),
        Cmd::Token(TokenCmd::List { person }) => token_list(ctx, state, person.as_deref()),
        Cmd::Clock(ClockCmd::Show) => crate::clock_cmd::show(ctx, state),
        Cmd::Rollout(RolloutCmd::Status { id }) => crate::rollout_cmd::status(ctx, state, &id),
        other => return Err(other),
    })
}

/// People and their roles, with grants awaiting a second administrator.
fn person_list(ctx: &Ctx, state: &State) -> Result<(), Failure> {
    let pending = |name: &str| -> Vec<String> {
        state
            .pending_grants
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, role), p)| format!("{role} (proposed by {}, awaiting a second administrator)", p.by))
            .collect()
    };
    ctx.print(View {
        json: Value::Array(
            state
                .people
                .values()
                .map(|p| json!({"name": p.name, "roles": p.roles, "pending": pending(&p.name)}))
                .collect(),
        ),
        text: state
            .people
            .values()
            .map(|p| {
                let mut roles: Vec<String> = p.roles.iter().cloned().collect();
                roles.extend(pending(&p.name));
                format!("{:<16} {}\n", p.name, roles.join(", "))
            })
            .collect(),
    });
    Ok(())
}

/// The blackout windows.
fn blackout_list(ctx: &Ctx, state: &State) -> Result<(), Failure> {
    let b = &state.blackouts;
    ctx.print(View {
        json: Value::Array(b.iter().map(|b| json!({"id": format!("B-{}", b.id), "from": codec::time(b.from), "to": codec::time(b.to), "reason": b.reason, "service": b.service})).collect()),
        text: b.iter().map(|b| format!("B-{:<3} {} to {}  {}  {}\n", b.id, when(b.from), when(b.to), b.service.as_deref().unwrap_or("all services"), b.reason)).collect(),
    });
    Ok(())
}

/// Deferred obligations (the emergency track's later steps), of one release or all.
fn obligations(ctx: &Ctx, state: &State, overdue: bool, release: Option<&str>) -> Result<(), Failure> {
    let filter = release.map(release_id).transpose()?;
    let mut rows = Vec::new();
    let mut text = String::new();
    for r in state.releases.values().filter(|r| filter.is_none_or(|f| f == r.id)) {
        for o in tollgate_domain::obligation::of(state.policy_of(r), r, ctx.now()) {
            if overdue && o.status != tollgate_domain::obligation::ObligationStatus::Overdue {
                continue;
            }
            let how = fulfilment(r.id, &o.def.fulfilled_by);
            rows.push(json!({"release": r.id.to_string(), "service": r.service, "id": o.def.id, "says": o.def.says, "status": o.status.key(), "due_at": o.due.map(codec::time), "fulfilled_at": o.fulfilled.map(codec::time), "how": how}));
            text.push_str(&format!(
                "{:<6} {:<22} {:<48} {}\n       done by: {how}\n",
                r.id,
                o.def.id,
                o.status_text(),
                o.def.says
            ));
        }
    }
    if text.is_empty() {
        text = "no deferred obligations".into();
    }
    ctx.print(View { json: Value::Array(rows), text });
    Ok(())
}

/// The non-conformance register.
fn nc_list(ctx: &Ctx, state: &State, open: bool) -> Result<(), Failure> {
    let ncs: Vec<_> = state.ncs.iter().filter(|n| !open || n.closed.is_none()).collect();
    let text = if ncs.is_empty() {
        "no non-conformances".to_owned()
    } else {
        ncs.iter().map(|n| view::nc_text(n, ctx.now())).collect()
    };
    ctx.print(View { json: Value::Array(ncs.iter().map(|n| view::nc_json(n, ctx.now())).collect()), text });
    Ok(())
}

/// The risk register.
fn risk_list(ctx: &Ctx, state: &State) -> Result<(), Failure> {
    let risks = &state.risks;
    ctx.print(View {
        json: Value::Array(risks.iter().map(|r| json!({"id": format!("RISK-{}", r.id), "category": r.category, "risk": r.risk, "mitigation": r.mitigation, "owner": r.owner})).collect()),
        text: risks.iter().map(|r| format!("RISK-{:<3} {:<12} {}\n          mitigation: {}\n          owner: {}\n", r.id, r.category, r.risk, r.mitigation, r.owner)).collect(),
    });
    Ok(())
}

/// Releases, closed ones only with `--all`.
fn release_list(ctx: &Ctx, state: &State, all: bool) -> Result<(), Failure> {
    let rows: Vec<(Value, String)> = state
        .releases
        .values()
        .filter(|r| all || r.phase != Phase::Closed)
        .map(|r| view::release_row(state, r))
        .collect();
    let text =
        if rows.is_empty() { "no releases".to_owned() } else { rows.iter().map(|(_, t)| format!("{t}\n")).collect() };
    ctx.print(View { json: Value::Array(rows.into_iter().map(|(j, _)| j).collect()), text });
    Ok(())
}

/// One release, whole.
fn release_show(ctx: &Ctx, state: &State, id: &str) -> Result<(), Failure> {
    let r = state.releases.get(&release_id(id)?).ok_or_else(|| error(format!("unknown release {id}")))?;
    ctx.print(view::release(state, r, ctx.now()));
    Ok(())
}

/// A gate of a release, its criteria explained; exit 3 when it is shut.
fn release_gate(ctx: &Ctx, state: &State, id: &str, name: Option<&str>) -> Result<(), Failure> {
    let r = state.releases.get(&release_id(id)?).ok_or_else(|| error(format!("unknown release {id}")))?;
    let policy = state.policy_of(r);
    let g = match name {
        Some(name) => policy.gate(r.track, name).ok_or_else(|| {
            let names: Vec<&str> = policy.gates.iter().filter(|g| g.track == r.track).map(|g| g.id.as_str()).collect();
            error(format!("no gate `{name}` on the {} track; expected one of {}", r.track, names.join(", ")))
        })?,
        None if r.phase == Phase::Closed => return Err(error(format!("{} is closed", r.id))),
        // In the deployment phase, the pre-deployment gate matters until deployed.
        None if r.phase == Phase::Deployment && r.live_since().is_none() => {
            policy.gate_for(r.track, r.phase, Opens::Deploy).expect("validated profile")
        }
        None => policy.gate_for(r.track, r.phase, Opens::Advance).expect("validated profile"),
    };
    let verdict = gate::evaluate(state, r, g, ctx.now());
    ctx.print(view::gate(state, r, &verdict, &g.name));
    // A pipeline can stop on a shut gate: the answer is printed, the exit code says no.
    if verdict.open { Ok(()) } else { Err(Failure::Shown(3)) }
}

/// May this artefact be deployed there now? Exit 3 when not.
fn check(ctx: &Ctx, state: &State, service: &str, artefact: &str, env: &str) -> Result<(), Failure> {
    let digest = artefact_digest(artefact)?;
    let answer = gate::may_deploy(state, service, &digest, env, ctx.now());
    let mut view = view::deploy_answer(&answer);
    // The verdict itself says it is a rehearsal's, so that no script reading the text (nor
    // anyone reading a log of it) takes a sandbox's YES for a real one; JSON has `sandbox`.
    if state.is_sandbox() {
        view.text = format!("SANDBOX {}", view.text);
    }
    ctx.print(view);
    if answer.allowed() { Ok(()) } else { Err(Failure::Shown(3)) }
}

/// API tokens (never their secrets).
fn token_list(ctx: &Ctx, state: &State, person: Option<&str>) -> Result<(), Failure> {
    let tokens: Vec<_> = state.tokens.values().filter(|t| person.is_none_or(|p| p == t.person)).collect();
    let json: Vec<Value> = tokens
        .iter()
        .map(|t| {
            json!({
                "id": t.id, "person": t.person, "created_at": tollgate_app::codec::time(t.created_at),
                "created_by": t.created_by, "expires": t.expires.map(tollgate_app::codec::time),
                "revoked": t.revoked.as_ref().map(|(at, by)| json!({"at": tollgate_app::codec::time(*at), "by": by})),
                "last_used_on": t.last_used.map(|at| at.date_naive().to_string()),
            })
        })
        .collect();
    let text = if tokens.is_empty() {
        "no tokens".to_owned()
    } else {
        tokens
            .iter()
            .map(|t| {
                let status = match (&t.revoked, t.expires) {
                    (Some((at, by)), _) => format!("revoked {} by {by}", when(*at)),
                    (None, Some(e)) if e <= ctx.now() => format!("expired {}", when(e)),
                    (None, Some(e)) => format!("expires {}", when(e)),
                    (None, None) => "no expiry".to_owned(),
                };
                let used = t
                    .last_used
                    .map_or_else(|| "no use recorded".to_owned(), |at| format!("last used {}", at.date_naive()));
                format!(
                    "{}  {:<16} created {} by {}  {status}  {used}\n",
                    t.id,
                    t.person,
                    when(t.created_at),
                    t.created_by
                )
            })
            .collect()
    };
    ctx.print(View { json: Value::Array(json), text });
    Ok(())
}
