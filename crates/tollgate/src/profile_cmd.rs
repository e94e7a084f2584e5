//! `tollgate profile`: showing and checking profiles, and changing the procedure in force under
//! document control (6.3): a new version is proposed, reviewed and approved by distinct people
//! before it takes effect, and every rule it loosens is listed to all of them.

use std::sync::Arc;

use serde_json::{Value, json};
use tollgate_app::codec;
use tollgate_domain::gate::when;
use tollgate_domain::state::ProposedProfile;
use tollgate_domain::{Command, Event, State};

use crate::cli::ProfileCmd;
use crate::run::{Ctx, Failure, error, load_profile};
use crate::view::View;

pub(crate) fn run(ctx: &Ctx, cmd: ProfileCmd) -> Result<(), Failure> {
    match cmd {
        ProfileCmd::Show { profile: Some(spec) } => {
            let profile = load_profile(&spec)?;
            ctx.print(crate::profile_view::show(&profile));
        }
        ProfileCmd::Show { profile: None } => {
            let app = ctx.open()?;
            let profile = app.state().current().ok_or_else(|| error("no profile adopted"))?.clone();
            ctx.print(crate::profile_view::show(&profile));
        }
        ProfileCmd::Check { file } => {
            let profile = load_profile(&file.display().to_string())?;
            let p = &profile.policy;
            ctx.print(View {
                json: json!({"valid": true, "id": p.id, "version": p.version, "extends": p.extends, "hash": profile.hash}),
                text: format!(
                    "{}: valid — {} {} ({}){}; content hash {}",
                    file.display(),
                    p.id,
                    p.version,
                    p.title,
                    p.extends.as_deref().map(|b| format!(", tightens {b}")).unwrap_or_default(),
                    profile.hash
                ),
            });
        }
        ProfileCmd::Adopt { file, reason } => {
            let mut app = ctx.open()?;
            let mut profile = load_profile(&file.display().to_string())?;
            profile.reason = reason;
            let command = tollgate_app::procedure::proposal(app.state(), Arc::new(profile));
            let recorded = ctx.execute(&mut app, command)?;
            let proposed = app.state().proposed_profile.as_ref().expect("just proposed");
            let summary = format!("proposed {}{}", name(proposed), standing(app.state(), proposed));
            ctx.done_with(
                &recorded,
                summary,
                json!({ "loosens": proposed.loosens, "awaiting": awaiting(app.state(), proposed) }),
            );
        }
        ProfileCmd::Approve { id, version, comment } => review(ctx, id, version, true, comment)?,
        ProfileCmd::Reject { id, version, reason } => review(ctx, id, version, false, reason)?,
        ProfileCmd::History => history(ctx)?,
    }
    Ok(())
}

fn review(ctx: &Ctx, id: String, version: String, approve: bool, comment: String) -> Result<(), Failure> {
    let mut app = ctx.open()?;
    let recorded =
        ctx.execute(&mut app, Command::ReviewProfile { id: id.clone(), version: version.clone(), approve, comment })?;
    let adopted = recorded.facts.iter().any(|f| matches!(f.event, Event::ProfileAdopted(_)));
    let summary = match app.state().proposed_profile.as_ref() {
        _ if adopted => format!("{id} {version} approved and now in force; releases created from now on follow it"),
        _ if !approve => format!("{id} {version} rejected; the version in force stays"),
        Some(p) => format!("{id} {version} approved by {}{}", ctx.actor()?, standing(app.state(), p)),
        None => format!("{id} {version} reviewed"),
    };
    ctx.done_with(&recorded, summary, json!({ "adopted": adopted }));
    Ok(())
}

fn name(p: &ProposedProfile) -> String {
    format!("{} {} (hash {})", p.profile.policy.id, p.profile.policy.version, &p.profile.hash[..12])
}

/// The approvals the proposal still needs.
fn awaiting(state: &State, p: &ProposedProfile) -> Vec<String> {
    state.policy().map(|policy| tollgate_domain::decide::missing_approvals(policy, p, &p.approvals)).unwrap_or_default()
}

/// What it loosens, and whose approval it waits for.
fn standing(state: &State, p: &ProposedProfile) -> String {
    let current = state.current().map(|c| format!("{} {}", c.policy.id, c.policy.version)).unwrap_or_default();
    let mut t = if p.loosens.is_empty() {
        format!("; it loosens no rule of {current}")
    } else {
        let mut t = format!("; it loosens {} rule(s) of {current}:", p.loosens.len());
        for rule in &p.loosens {
            t.push_str(&format!("\n  - {rule}"));
        }
        t
    };
    let awaiting = awaiting(state, p);
    if !awaiting.is_empty() {
        t.push_str(&format!("\n{current} stays in force until approved by {}", awaiting.join(" and ")));
    }
    t
}

fn history(ctx: &Ctx) -> Result<(), Failure> {
    let app = ctx.open()?;
    let state = app.state();
    let mut rows: Vec<Value> = state
        .profiles
        .iter()
        .map(|a| json!({"id": a.profile.policy.id, "version": a.profile.policy.version, "hash": a.profile.hash, "adopted_by": a.by, "adopted_at": codec::time(a.at), "reason": a.profile.reason}))
        .collect();
    let mut text: String = state
        .profiles
        .iter()
        .map(|a| {
            format!(
                "{} {} adopted by {} at {}: {} ({})\n",
                a.profile.policy.id,
                a.profile.policy.version,
                a.by,
                when(a.at),
                a.profile.reason,
                &a.profile.hash[..12]
            )
        })
        .collect();
    if let Some(p) = &state.proposed_profile {
        let approved_by: Vec<&str> = p.approvals.iter().map(|(who, _)| who.as_str()).collect();
        rows.push(json!({"id": p.profile.policy.id, "version": p.profile.policy.version, "hash": p.profile.hash, "proposed_by": p.by, "proposed_at": codec::time(p.at), "reason": p.profile.reason, "loosens": p.loosens, "approved_by": approved_by, "awaiting": awaiting(state, p)}));
        text.push_str(&format!(
            "{} proposed by {} at {}: {}{}\n",
            name(p),
            p.by,
            when(p.at),
            p.profile.reason,
            standing(state, p)
        ));
    }
    ctx.print(View { json: Value::Array(rows), text });
    Ok(())
}
