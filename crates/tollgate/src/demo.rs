//! `tollgate demo`: one release of each type walked through the default procedure on a
//! temporary store, with a simulated clock so two-week lead times and 24-hour stabilisation
//! windows pass in a moment. Every step is a real command through the same path as the CLI,
//! recorded in a real log that is verified at the end.

use std::sync::Arc;

use chrono::{Duration, DurationRound};
use serde_json::json;
use tollgate_domain::gate::Verdict;
use tollgate_domain::playbook::{self, Runner};
use tollgate_domain::recording::Timing;
use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, Event, Rejection, State, Timestamp};
use tollgate_ledger::{SqliteLedger, verify};

use crate::when::system_now;
use tollgate_app::app::{App, AppError};

const PEOPLE: &[(&str, &str)] = &[
    ("rita", "release-manager"),
    ("dora", "deputy-release-manager"),
    ("dev", "devops-engineer"),
    ("eli", "engineering-lead"),
    ("quinn", "qa-lead"),
    ("sam", "security-engineer"),
    ("omar", "sre"),
    ("pat", "product-owner"),
    ("cab1", "cab-member"),
    ("cab2", "cab-member"),
    ("pla", "platform-lead"),
    ("eve", "executive"),
];

const TYPES: [&str; 6] = ["major", "minor", "patch", "security-patch", "emergency", "infrastructure"];

struct Demo {
    app: App<SqliteLedger>,
    now: Timestamp,
    json: bool,
    gates: Vec<serde_json::Value>,
    /// Set while staging the separation-of-duties refusal, whose half-open gate is not a step.
    quiet: bool,
}

impl Runner for Demo {
    fn state(&self) -> &State {
        self.app.state()
    }

    fn now(&self) -> Timestamp {
        self.now
    }

    fn wait_until(&mut self, t: Timestamp) {
        self.now = self.now.max(t);
    }

    fn run(&mut self, actor: &str, command: Command) -> Result<Vec<Event>, Rejection> {
        match self.app.execute_at(actor, &Timing::on_time(self.now), &command) {
            Ok(r) => {
                // Each step takes a minute of simulated time.
                self.now += Duration::minutes(1);
                Ok(r.facts.into_iter().map(|f| f.event).collect())
            }
            Err(AppError::Rejected(r)) => Err(r),
            Err(other) => Err(Rejection::invalid(other.to_string())),
        }
    }

    fn on_gate(&mut self, release: ReleaseId, before: &Verdict, after: &Verdict) {
        if self.quiet {
            return;
        }
        let unmet = before.unmet().count();
        let overridden = after.criteria.iter().filter(|c| c.overridden).count();
        self.gates.push(json!({
            "release": release.to_string(), "gate": before.gate, "unmet_before": unmet,
            "criteria": before.criteria.len(), "open_after": after.open,
        }));
        if !self.json {
            crate::outln!(
                "  {:<15} {} ({unmet} of {} criteria unmet) -> {}{}",
                before.gate,
                if before.open { "OPEN" } else { "SHUT" },
                before.criteria.len(),
                if after.open { "OPEN" } else { "still SHUT" },
                if overridden > 0 { format!(", {overridden} overridden") } else { String::new() }
            );
            for c in before.unmet().take(3) {
                crate::outln!("      was missing {}: {}", c.id, c.reason);
            }
            if unmet > 3 {
                crate::outln!("      ... and {} more", unmet - 3);
            }
        }
    }
}

/// The demo organisation's profile: the default procedure, plus the signing key and build
/// platform it trusts (the built-ins trust none). The demo's CI is simulated: its evidence and
/// signature checks are recorded as the shell would record them after verifying real files.
const DEMO_PROFILE: &str = r#"
[profile]
id = "demo-org"
version = "1.0"
title = "Release Management Process Procedure (demo organisation)"
document = "QMS-DEV-PRO-004"
extends = "qms-dev-pro-004"

[artefacts]
trusted-keys = ["sha256:0707070707070707070707070707070707070707070707070707070707070707"]
builders = [{ id = "https://ci.example.com/demo-runner", keys = ["sha256:0707070707070707070707070707070707070707070707070707070707070707"] }]
"#;

pub fn run(json: bool) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let db = dir.path().join("demo.db");
    let app = App::create(&db).map_err(|e| e.to_string())?;
    let start = system_now().duration_trunc(Duration::minutes(1)).map_err(|e| e.to_string())?;
    let mut demo = Demo { app, now: start, json, gates: Vec::new(), quiet: false };
    let say = |text: String| {
        if !json {
            crate::outln!("{text}");
        }
    };

    let mut profile = tollgate_profile::load("demo-org.toml", DEMO_PROFILE).map_err(|e| e.to_string())?;
    profile.reason = "demo".into();
    say(format!(
        "Tollgate demo on {} under {} {} ({}); CI evidence and signature checks are simulated",
        db.display(),
        profile.policy.id,
        profile.policy.version,
        profile.policy.title
    ));
    let people: Vec<(&str, &[&str])> = PEOPLE.iter().map(|(name, role)| (*name, std::slice::from_ref(role))).collect();
    for (actor, command) in playbook::staffing(Arc::new(profile), &people) {
        demo.run(&actor, command).map_err(|e| e.to_string())?;
    }

    for (i, release_type) in TYPES.iter().enumerate() {
        let version = format!("3.{i}.0");
        let id =
            playbook::create(&mut demo, "payments", &version, release_type, Duration::weeks(3)).map_err(|e| e.0)?;
        let rt = demo.state().policy().expect("adopted").release_types[*release_type].clone();
        say(format!("\n{id} {} release of payments {version} ({}, {} track)", rt.name, rt.process, rt.track));
        if *release_type == "minor" {
            separation_of_duties(&mut demo, id, &say)?;
        }
        playbook::walk_to_closed(&mut demo, id).map_err(|e| e.0)?;
        say(format!("  {id} closed at {}", tollgate_domain::gate::when(demo.now)));
    }

    let report = verify(demo.app.ledger(), None).map_err(|e| e.to_string())?;
    let root = hex::encode(report.root);
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&json!({"gates": demo.gates, "audit": {"intact": report.intact, "events": report.events, "checkpoints_checked": report.checkpoints_checked, "root": root}}))
                .expect("json")
        );
    } else {
        crate::outln!(
            "\naudit verify: {} — {} events, {} signed checkpoints verified, root {root}",
            if report.intact { "intact" } else { "NOT INTACT" },
            report.events,
            report.checkpoints_checked
        );
    }
    if report.intact { Ok(()) } else { Err(format!("the demo log does not verify: {:?}", report.problems)) }
}

/// Shows the one structural rule: whoever records the go decision cannot deploy.
fn separation_of_duties(demo: &mut Demo, id: ReleaseId, say: &impl Fn(String)) -> Result<(), String> {
    playbook::walk_to(demo, id, tollgate_domain::lifecycle::Phase::Deployment).map_err(|e| e.0)?;
    demo.run("eve", Command::GrantRoles { name: "rita".into(), roles: ["devops-engineer".into()].into() })
        .map_err(|e| e.to_string())?;
    demo.quiet = true;
    playbook::open_gate(demo, id, tollgate_domain::policy::Opens::Deploy, &["go-decision"]).map_err(|e| e.0)?;
    demo.quiet = false;
    demo.run("rita", Command::Go { release: id }).map_err(|e| e.to_string())?;
    match demo.run("rita", Command::Deploy { release: id, environment: "production".into() }) {
        Err(Rejection::Refused(r)) => say(format!(
            "  rita (release manager, now also devops) tries to deploy after her go decision: refused [{}] {}",
            r[0].rule, r[0].reason
        )),
        other => return Err(format!("separation of duties was not enforced: {other:?}")),
    }
    demo.run("eve", Command::RevokeRoles { name: "rita".into(), roles: ["devops-engineer".into()].into() })
        .map_err(|e| e.to_string())?;
    Ok(())
}
