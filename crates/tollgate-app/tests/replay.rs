//! Logs written by an earlier Tollgate must replay, to the same state. `tests/fixtures/` holds
//! logs written by this version — realistic releases walked through both built-in profiles by
//! the playbook, with an emergency, a rollback over its target, non-conformances raised and
//! closed, and a fact recorded late — and, beside each, a summary of the state it replays to.
//! The test appends each log's frames to a fresh ledger, replays it through `App` (the path
//! every command takes) and compares the summary: a change to decoding or to `evolve` that
//! changes what an old log means fails here.
//!
//! A fixture is JSON Lines, one frame per line: `stream`, `stream_version`, `recorded_at` and
//! `payload`, the exact bytes the codec wrote (one JSON object, spliced in unescaped and always
//! last so it is read back byte for byte). Frames rather than a SQLite file: the fixture is
//! reviewable, diffs line by line, and does not depend on SQLite's page layout or the ledger's
//! schema; the ledger recomputes hashes and checkpoints when it is appended again.
//!
//! The fixtures are history: `TOLLGATE_WRITE_FIXTURES=1` writes them again from the playbook
//! (the generator below), only deliberately; a new format adds a fixture beside the old ones.
//! `TOLLGATE_BLESS=1` rewrites the expected summaries. Without either, the generator still runs
//! in memory and its log must replay to the state it was written from.

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat};
use serde_json::{Value, json};
use tollgate_app::app::{App, AppError};
use tollgate_domain::lifecycle::Phase;
use tollgate_domain::playbook::{self, Runner};
use tollgate_domain::policy::Action;
use tollgate_domain::recording::Timing;
use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, Event, Rejection, State, Timestamp};
use tollgate_ledger::{Ledger, SqliteLedger};

struct Shell {
    app: App<SqliteLedger>,
    now: Timestamp,
}

impl Runner for Shell {
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
                self.now += Duration::seconds(1);
                Ok(r.facts.into_iter().map(|f| f.event).collect())
            }
            Err(AppError::Rejected(r)) => Err(r),
            Err(other) => panic!("{other}"),
        }
    }
}

impl Shell {
    #[track_caller]
    fn ok(&mut self, actor: &str, command: Command) -> Vec<Event> {
        let shown = format!("{command:?}");
        self.run(actor, command).unwrap_or_else(|r| panic!("{actor}: {shown}: {r}"))
    }

    fn who(&self, action: Action, except: &[&str]) -> String {
        let policy = self.state().policy().unwrap();
        playbook::holder(self.state(), policy.roles_for(action), except).unwrap()
    }
}

struct Organisation {
    fixture: &'static str,
    base: &'static str,
    document: &'static str,
    people: &'static [(&'static str, &'static [&'static str])],
}

const ORGANISATIONS: [Organisation; 2] = [
    Organisation {
        fixture: "log-v1-qms",
        base: "qms-dev-pro-004",
        document: "QMS-DEV-PRO-004",
        people: &[
            ("rita", &["release-manager"]),
            ("dora", &["deputy-release-manager"]),
            ("dev", &["devops-engineer"]),
            ("devi", &["devops-engineer"]),
            ("eli", &["engineering-lead"]),
            ("ella", &["engineering-lead"]),
            ("quinn", &["qa-lead"]),
            ("sam", &["security-engineer"]),
            ("omar", &["sre"]),
            ("pat", &["product-owner"]),
            ("cab1", &["cab-member"]),
            ("cab2", &["cab-member"]),
            ("cab3", &["cab-member"]),
            ("pla", &["platform-lead"]),
            ("eve", &["executive"]),
        ],
    },
    Organisation {
        fixture: "log-v1-grs",
        base: "grs-isms-prc-009",
        document: "GRS-ISMS-PRC-009",
        people: &[
            ("eli", &["engineering-lead"]),
            ("paula", &["product-owner"]),
            ("ella", &["engineering-lead"]),
            ("omar", &["sre"]),
            ("oscar", &["sre"]),
            ("sam", &["security-engineer"]),
            ("cab1", &["cab-member"]),
            ("cab2", &["cab-member"]),
        ],
    },
];

/// The built-in, plus the rehearsal's signing key and build platform (the built-ins trust
/// none): adopted as source texts, as `tollgate init` would.
fn profile(org: &Organisation) -> tollgate_domain::Profile {
    let key = "sha256:0707070707070707070707070707070707070707070707070707070707070707";
    let build_key = "sha256:0808080808080808080808080808080808080808080808080808080808080808";
    let text = format!(
        "[profile]\nid = \"acme-{base}\"\nversion = \"1\"\ntitle = \"{document} at Acme\"\ndocument = \"{document}\"\n\
         extends = \"{base}\"\n\n[artefacts]\ntrusted-keys = [\"{key}\"]\n\
         builders = [{{ id = \"https://ci.example.com/rehearsal\", keys = [\"{build_key}\"] }}]\n",
        base = org.base,
        document = org.document,
    );
    let mut profile = tollgate_profile::load("acme.toml", &text).unwrap();
    profile.reason = "initial adoption".into();
    profile
}

/// The generator: a realistic history under `org`'s profile, written through `App`.
fn write_history(org: &Organisation) -> App<SqliteLedger> {
    let app = App::from_ledger(SqliteLedger::in_memory("tollgate/fixture").unwrap()).unwrap();
    let mut shell = Shell { app, now: "2026-11-02T09:00:00Z".parse().unwrap() };
    for (actor, command) in playbook::staffing(Arc::new(profile(org)), org.people) {
        shell.ok(&actor, command);
    }
    let by = shell.who(Action::ManageBlackouts, &[]);
    let from = shell.now + Duration::days(40);
    let blackout = Command::AddBlackout {
        from,
        to: from + Duration::days(14),
        reason: "year-end freeze".into(),
        service: Some("payments".into()),
    };
    shell.ok(&by, blackout);

    // A minor release and an emergency, each through every gate to closed.
    let minor = playbook::create(&mut shell, "payments", "2.4.0", "minor", Duration::days(8)).unwrap();
    playbook::walk_to_closed(&mut shell, minor).unwrap();
    let emergency = playbook::create(&mut shell, "checkout", "7.1.1", "emergency", Duration::zero()).unwrap();
    playbook::walk_to_closed(&mut shell, emergency).unwrap();

    // A release rolled back after its target: a non-conformance, closed with its corrective
    // action by someone it does not name.
    let rolled = playbook::create(&mut shell, "payments", "2.5.0", "minor", Duration::days(8)).unwrap();
    playbook::walk_to(&mut shell, rolled, Phase::Stabilisation).unwrap();
    let deployer = shell.state().releases[&rolled].deploying_engineer().unwrap().to_owned();
    shell.ok(&deployer, Command::StartRollback { release: rolled, reason: "error rate +40% for 5 minutes".into() });
    shell.now += Duration::minutes(40);
    // The tick while it still runs raises it; completing it does not raise it again.
    shell.ok("omar", Command::Tick);
    shell.ok(&deployer, Command::CompleteRollback { release: rolled });
    let nc = match shell.state().ncs.last() {
        Some(nc) if nc.release == Some(rolled) => (**nc).clone(),
        // GRS-ISMS-PRC-009 sets no rollback target: the release manager reports it.
        _ => reported(&mut shell, rolled, "rollback took 40 minutes"),
    };
    let named = tollgate_domain::nonconformance::answerable(shell.state(), &nc);
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    let closer = shell.who(Action::CloseNonconformance, &named);
    shell.ok(&closer, Command::CloseNc { id: nc.id, corrective_action: "rollback rehearsed in staging".into() });

    // An emergency whose deferred steps are not done: the tick after their deadline raises them.
    let late_emergency = playbook::create(&mut shell, "ledger", "3.0.1", "emergency", Duration::zero()).unwrap();
    playbook::walk_to(&mut shell, late_emergency, Phase::Deployment).unwrap();
    playbook::go_and_deploy(&mut shell, late_emergency).unwrap();
    shell.now += Duration::days(10);
    let by = shell.who(Action::Rollback, &[]);
    shell.ok(&by, Command::Tick);
    if shell.state().ncs.iter().all(|n| n.release != Some(late_emergency)) {
        reported(&mut shell, late_emergency, "deferred emergency steps not done in time");
    }

    // A fact recorded three hours after it happened, with the reason.
    let planned = playbook::create(&mut shell, "payments", "2.6.0", "minor", Duration::days(15)).unwrap();
    let happened = shell.now;
    shell.now += Duration::hours(3);
    let by = shell.who(Action::EditScope, &[]);
    let timing = Timing {
        happened,
        recorded: shell.now,
        late_reason: Some("agreed in the planning meeting, written down afterwards".into()),
    };
    let scope = Command::AddScope {
        release: planned,
        kind: "ticket".into(),
        reference: "PAY-2600".into(),
        rollback: Some("feature flag off".into()),
        justification: None,
    };
    shell.app.execute_at(&by, &timing, &scope).unwrap();
    shell.app
}

/// A non-conformance raised by hand under the profile's `reported` condition.
fn reported(shell: &mut Shell, release: ReleaseId, detail: &str) -> tollgate_domain::state::Nonconformance {
    let by = shell.who(Action::RaiseNonconformance, &[]);
    let raise =
        Command::RaiseNc { condition: "reported".into(), release: Some(release), service: None, detail: detail.into() };
    shell.ok(&by, raise);
    (**shell.state().ncs.last().unwrap()).clone()
}

fn time(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

use support::PAYLOAD;

/// The log as fixture lines.
fn fixture_text(ledger: &SqliteLedger) -> String {
    let mut out = String::new();
    ledger
        .scan(0, &mut |r| {
            let head = json!({ "stream": r.stream, "stream_version": r.stream_version, "recorded_at":
                time(DateTime::from_timestamp_micros(r.recorded_at).unwrap()) });
            let head = serde_json::to_string(&head).unwrap();
            out.push_str(&head[..head.len() - 1]);
            out.push_str(PAYLOAD);
            out.push_str(std::str::from_utf8(&r.payload).expect("payloads are JSON"));
            out.push_str("}\n");
            Ok(())
        })
        .unwrap();
    out
}

/// A fixture appended frame by frame to a fresh ledger, each with the stream version it had.
fn ledger_from(text: &str) -> SqliteLedger {
    let mut ledger = SqliteLedger::in_memory("tollgate/fixture").unwrap();
    support::append_fixture(&mut ledger, text);
    ledger
}

/// What a replay means, in the terms a reviewer checks: profiles, people, every release's
/// place and record, the non-conformance register.
fn summary(state: &State) -> String {
    let releases: Vec<Value> = state
        .releases
        .values()
        .map(|r| {
            json!({
                "id": r.id.to_string(),
                "service": r.service,
                "version": r.version,
                "type": r.release_type,
                "track": r.track.key(),
                "phase": r.phase.key(),
                "profile": state.policy_of(r).version,
                "created": [r.created.by, time(r.created.at)],
                "window": [time(r.window.start), r.window.end.map(time)],
                "incident": r.incident,
                "scope": r.scope.iter().map(|s| [&s.value.kind, &s.value.reference]).collect::<Vec<_>>(),
                "scope_locked": r.scope_locked.is_some(),
                "plan": r.plan.keys().map(|f| f.key()).collect::<Vec<_>>(),
                "documents": r.documents.keys().collect::<Vec<_>>(),
                "tests": r.tests.iter().map(|(p, t)| (p.clone(), t.value.passed)).collect::<std::collections::BTreeMap<_, _>>(),
                "confirmations": r.confirmations.keys().collect::<Vec<_>>(),
                "submitted": r.submitted.as_ref().map(|s| time(s.at)),
                "approvals": r.approvals.iter().map(|(p, a)| format!("{p}: {} {}", a.role, a.approve)).collect::<Vec<_>>(),
                "overrides": r.overrides.keys().collect::<Vec<_>>(),
                "decisions": r.decisions.iter().map(|d| d.value.go).collect::<Vec<_>>(),
                "advanced": r.advanced.iter().map(|a| format!("{} -> {} by {} at {}", a.value.0.key(), a.value.1.key(), a.by, time(a.at))).collect::<Vec<_>>(),
                "deployments": r.deployments.iter().map(|d| json!({
                    "environment": d.environment, "by": d.started.by, "at": time(d.started.at),
                    "finished": d.finished.map(|(t, ok)| (time(t), ok)),
                })).collect::<Vec<_>>(),
                "rollbacks": r.rollbacks.iter().map(|b| json!({
                    "reason": b.reason, "by": b.started.by, "at": time(b.started.at), "completed": b.completed.map(time),
                })).collect::<Vec<_>>(),
                "source": r.source.as_ref().map(|s| [&s.value.repository, &s.value.tag, &s.value.commit]),
                "artefacts": r.artefacts.iter().map(|(n, a)| json!({
                    "name": n, "digest": a.digest.to_string(),
                    "verifications": a.verifications.iter().map(|v| v.value.label()).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "evidence": r.evidence.iter().map(|e| format!("{} {} {}", e.value.phase, e.value.kind.key(), e.value.file)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let ncs: Vec<Value> = state
        .ncs
        .iter()
        .map(|n| {
            json!({
                "id": n.id, "condition": n.condition, "release": n.release.map(|r| r.to_string()),
                "subject": n.subject, "detail": n.detail, "raised": [n.raised_by, time(n.raised_at)],
                "occurred": time(n.occurred), "due": time(n.due), "repeat": n.repeat,
                "closed": n.closed.as_ref().map(|(t, by, action)| [time(*t), by.clone(), action.clone()]),
            })
        })
        .collect();
    let summary = json!({
        "profiles": state.profiles.iter().map(|a| json!({
            "id": a.profile.policy.id, "version": a.profile.policy.version, "hash": a.profile.hash,
            "by": a.by, "at": time(a.at),
        })).collect::<Vec<_>>(),
        "people": state.people.values().map(|p| (p.name.clone(), p.roles.iter().cloned().collect::<Vec<_>>())).collect::<std::collections::BTreeMap<_, _>>(),
        "pending_grants": state.pending_grants.keys().map(|(p, r)| format!("{p}: {r}")).collect::<Vec<_>>(),
        "blackouts": state.blackouts.iter().map(|b| format!("B-{} {} .. {} {:?}: {}", b.id, time(b.from), time(b.to), b.service, b.reason)).collect::<Vec<_>>(),
        "risks": state.risks.len(),
        "releases": releases,
        "nonconformances": ncs,
        "last_at": state.last_at.map(time),
    });
    serde_json::to_string_pretty(&summary).unwrap() + "\n"
}

#[test]
fn the_fixture_logs_replay_to_their_recorded_summaries() {
    for org in &ORGANISATIONS {
        let path = support::dir("fixtures").join(format!("{}.jsonl", org.fixture));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e}; TOLLGATE_WRITE_FIXTURES=1 writes it from the generator", path.display())
        });
        let app = App::from_ledger(ledger_from(&text)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let expected = support::dir("fixtures").join(format!("{}.summary.json", org.fixture));
        support::expect_file(&expected, summary(app.state()).as_bytes());
    }
}

#[test]
fn the_generator_writes_logs_that_replay_to_the_state_they_were_written_from() {
    for org in &ORGANISATIONS {
        let app = write_history(org);
        let live = summary(app.state());
        let text = fixture_text(app.ledger());
        let replayed = App::from_ledger(ledger_from(&text)).unwrap();
        assert!(
            live == summary(replayed.state()),
            "{}: {}",
            org.fixture,
            support::diff(&live, &summary(replayed.state()))
        );
        // What the fixture must show, so that it keeps covering what it claims to.
        let state = app.state();
        assert!(state.releases.values().any(|r| r.phase == Phase::Closed && r.track.key() == "emergency"));
        assert!(state.releases.values().any(|r| !r.rollbacks.is_empty()));
        assert!(state.ncs.iter().any(|n| n.closed.is_some()) && state.ncs.iter().any(|n| n.closed.is_none()));
        assert!(text.contains("\"late\":"), "{}: no late fact", org.fixture);
        if std::env::var("TOLLGATE_WRITE_FIXTURES").is_ok_and(|v| v == "1") {
            let path = support::dir("fixtures").join(format!("{}.jsonl", org.fixture));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
            eprintln!("wrote {}", path.display());
        }
    }
}
