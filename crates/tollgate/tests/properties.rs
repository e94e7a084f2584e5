//! Properties over random command sequences, through the real shell and an in-memory ledger:
//! no release reaches production with its pre-deployment gate shut, with an open Critical
//! finding, or with an artefact lacking verified provenance from its tagged commit; the go
//! decider never deploys; and the log always verifies and replays to the same state.

use std::sync::Arc;

use chrono::Duration;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use tollgate_app::app::{App, AppError};
use tollgate_domain::evidence::{Digest, EvidenceKind, Finding, Rating, Report, ScanReport, ScanSubject};
use tollgate_domain::lifecycle::Phase;
use tollgate_domain::playbook::{self, Runner};
use tollgate_domain::policy::Opens;
use tollgate_domain::recording::Timing;
use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, Event, Rejection, State, Timestamp};
use tollgate_domain::{artefact, gate, judge};
use tollgate_ledger::{Ledger, SqliteLedger, verify};

/// Several people hold more than one role: separation of duties must hold regardless.
const PEOPLE: &[(&str, &[&str])] = &[
    ("rita", &["release-manager", "devops-engineer"]),
    ("dora", &["deputy-release-manager"]),
    ("dev", &["devops-engineer", "sre"]),
    ("eli", &["engineering-lead"]),
    ("ella", &["engineering-lead", "qa-lead"]),
    ("quinn", &["qa-lead"]),
    ("sam", &["security-engineer"]),
    ("omar", &["sre"]),
    ("pat", &["product-owner"]),
    ("cab1", &["cab-member"]),
    ("pla", &["platform-lead", "devops-engineer"]),
    ("eve", &["executive"]),
];

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
        let before = self.app.state().clone();
        match self.app.execute_at(actor, &Timing::on_time(self.now), &command) {
            Ok(r) => {
                let events: Vec<Event> = r.facts.into_iter().map(|f| f.event).collect();
                check_invariants(&before, actor, self.now, &events);
                self.now += Duration::seconds(1);
                Ok(events)
            }
            Err(AppError::Rejected(r)) => {
                if let Rejection::Refused(reasons) = &r
                    && reasons.iter().any(|x| x.rule == "separation-of-duties")
                {
                    SEPARATION_REFUSALS.fetch_add(1, Ordering::Relaxed);
                }
                if let Rejection::Refused(reasons) = &r
                    && reasons.iter().any(|x| x.rule.ends_with("/no-critical-findings") || x.rule == "absolute-rule")
                {
                    ABSOLUTE_REFUSALS.fetch_add(1, Ordering::Relaxed);
                }
                Err(r)
            }
            Err(other) => panic!("{other}"),
        }
    }
}

/// What must hold for every accepted command.
fn check_invariants(before: &State, actor: &str, now: Timestamp, events: &[Event]) {
    for e in events {
        if let Event::DeploymentStarted { release, environment } = e {
            let r = &before.releases[release];
            let policy = before.policy_of(r);
            if Some(environment.as_str()) != policy.production() {
                continue;
            }
            let g = policy.gate_for(r.track, Phase::Deployment, Opens::Deploy).unwrap();
            let verdict = gate::evaluate(before, r, g, now);
            assert!(
                verdict.open,
                "{release} deployed to production with a shut gate: {:?}",
                verdict.unmet().collect::<Vec<_>>()
            );
            assert!(!r.deciders().any(|d| d == actor), "a go/no-go decider deployed {release}");
            // The absolute rules, checked directly rather than through the gate that enforces
            // them: a profile that lost a criterion must not let these through either.
            for (name, a) in &r.artefacts {
                let critical = judge::open_findings(r, &a.digest, None)
                    .into_iter()
                    .find(|(_, f)| f.rating == tollgate_domain::evidence::Rating::Critical);
                assert!(critical.is_none(), "{release} deployed {name} with an open Critical finding: {critical:?}");
                let source = r.source.as_ref().map(|s| &s.value);
                let proven = source.is_some_and(|s| {
                    a.verifications.iter().any(|v| artefact::trusted_provenance(policy, s, &v.value).is_ok())
                });
                assert!(proven, "{release} deployed {name} without verified provenance from its tagged commit");
            }
            assert!(!r.artefacts.is_empty(), "{release} deployed no artefact");
            PRODUCTION_DEPLOYMENTS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    Create(usize, bool),
    /// Meet one unmet criterion of the current gate, as the playbook would.
    Satisfy(u32),
    /// Meet every criterion of the current gate but the go decision.
    Progress(u32),
    SignOff(u32),
    Advance(u32, usize),
    Go(u32, usize),
    Deploy(u32, usize),
    Finish(u32, usize, bool),
    Rollback(u32, usize),
    Complete(u32, usize),
    Approve(u32, usize),
    Override(u32, usize),
    /// A scan of the release's current artefact reporting a Critical finding, or a VEX
    /// statement clearing it.
    CriticalScan(u32),
    Vex(u32),
    /// A second artefact, signed nor proven.
    ExtraArtefact(u32),
    Wait(i64),
    Tick,
}

const TYPES: [&str; 6] = ["major", "minor", "patch", "security-patch", "emergency", "infrastructure"];
const OVERRIDABLE: [&str; 5] =
    ["outside-blackout", "lead-time", "documentation-complete", "mandatory-test-phases", "within-window"];

fn step() -> impl Strategy<Value = Step> {
    let r = 1u32..3;
    let who = 0..PEOPLE.len();
    prop_oneof![
        1 => (0..TYPES.len(), any::<bool>()).prop_map(|(t, soon)| Step::Create(t, soon)),
        4 => r.clone().prop_map(Step::Satisfy),
        10 => r.clone().prop_map(Step::Progress),
        6 => r.clone().prop_map(Step::SignOff),
        3 => (r.clone(), who.clone()).prop_map(|(r, w)| Step::Advance(r, w)),
        // Go and deploy are tried mostly by people who could do them, including rita, who is a
        // release manager and a devops engineer: separation of duties must stop her.
        4 => (r.clone(), prop_oneof![Just(0usize), Just(1), who.clone()]).prop_map(|(r, w)| Step::Go(r, w)),
        5 => (r.clone(), prop_oneof![Just(0usize), Just(2), Just(10), who.clone()]).prop_map(|(r, w)| Step::Deploy(r, w)),
        2 => (r.clone(), who.clone(), any::<bool>()).prop_map(|(r, w, ok)| Step::Finish(r, w, ok)),
        1 => (r.clone(), who.clone()).prop_map(|(r, w)| Step::Rollback(r, w)),
        1 => (r.clone(), who.clone()).prop_map(|(r, w)| Step::Complete(r, w)),
        2 => (r.clone(), who.clone()).prop_map(|(r, w)| Step::Approve(r, w)),
        1 => (r.clone(), 0..OVERRIDABLE.len()).prop_map(|(r, c)| Step::Override(r, c)),
        1 => r.clone().prop_map(Step::CriticalScan),
        1 => r.clone().prop_map(Step::Vex),
        1 => r.clone().prop_map(Step::ExtraArtefact),
        2 => (1i64..30_000).prop_map(Step::Wait),
        1 => Just(Step::Tick),
    ]
}

fn shell() -> Shell {
    let app = App::from_ledger(SqliteLedger::in_memory("tollgate/proptest").unwrap()).unwrap();
    let mut shell = Shell { app, now: "2026-11-02T09:00:00Z".parse().unwrap() };
    // The built-in, plus a signing key and build platform to trust (the built-ins trust none).
    let text = r#"
[profile]
id = "proptest"
version = "1"
title = "QMS-DEV-PRO-004 with a trusted build"
document = "QMS-DEV-PRO-004"
extends = "qms-dev-pro-004"

[artefacts]
trusted-keys = ["sha256:0707070707070707070707070707070707070707070707070707070707070707"]
builders = [{ id = "https://ci.example.com/proptest", keys = ["sha256:0707070707070707070707070707070707070707070707070707070707070707"] }]
"#;
    let mut profile = tollgate_profile::load("proptest.toml", text).unwrap();
    profile.reason = "test".into();
    for (actor, command) in playbook::staffing(Arc::new(profile), PEOPLE) {
        shell.run(&actor, command).unwrap();
    }
    // Two releases to work on from the start, walked to their deployment phase so that random
    // steps spend their time around go, deploy and rollback: a minor release and an emergency.
    let minor = playbook::create(&mut shell, "payments", "1.0", "minor", Duration::days(8)).unwrap();
    let emergency = playbook::create(&mut shell, "checkout", "7.1", "emergency", Duration::zero()).unwrap();
    playbook::walk_to(&mut shell, minor, Phase::Deployment).unwrap();
    playbook::walk_to(&mut shell, emergency, Phase::Deployment).unwrap();
    shell
}

fn apply(shell: &mut Shell, step: &Step, n: &mut u32) {
    let who = |w: &usize| PEOPLE[*w].0;
    let id = |r: &u32| ReleaseId(*r);
    let _ = match step {
        Step::Create(t, soon) => {
            *n += 1;
            let window = if *soon { Duration::days(1) } else { Duration::days(15) };
            playbook::create(shell, "payments", &format!("1.{n}"), TYPES[*t], window).map(|_| ()).map_err(|_| ())
        }
        Step::Progress(r) => {
            let Some(rel) = shell.state().releases.get(&id(r)) else { return };
            if rel.phase == Phase::Closed {
                return;
            }
            let opens = if rel.phase == Phase::Deployment && rel.live_since().is_none() {
                Opens::Deploy
            } else {
                Opens::Advance
            };
            playbook::open_gate(shell, id(r), opens, &["go-decision"]).map(|_| ()).map_err(|_| ())
        }
        Step::SignOff(r) => {
            if shell.state().releases.get(&id(r)).is_none_or(|rel| rel.phase == Phase::Closed) {
                return;
            }
            playbook::sign_off(shell, id(r)).map_err(|_| ())
        }
        Step::Satisfy(r) => {
            let Some(rel) = shell.state().releases.get(&id(r)) else { return };
            let policy = shell.state().policy_of(rel).clone();
            let opens = if rel.phase == Phase::Deployment && rel.live_since().is_none() {
                Opens::Deploy
            } else {
                Opens::Advance
            };
            let Some(g) = policy.gate_for(rel.track, rel.phase, opens) else { return };
            let verdict = gate::evaluate(shell.state(), rel, g, shell.now);
            let Some(first) = verdict.unmet().next() else { return };
            let check = g.criteria.iter().find(|c| c.id == first.id).unwrap().check.clone();
            playbook::satisfy(shell, id(r), &check).map_err(|_| ())
        }
        Step::Advance(r, w) => shell.run(who(w), Command::Advance { release: id(r) }).map(|_| ()).map_err(|_| ()),
        Step::Go(r, w) => shell.run(who(w), Command::Go { release: id(r) }).map(|_| ()).map_err(|_| ()),
        Step::Deploy(r, w) => shell
            .run(who(w), Command::Deploy { release: id(r), environment: "production".into() })
            .map(|_| ())
            .map_err(|_| ()),
        Step::Finish(r, w, ok) => {
            shell.run(who(w), Command::DeploymentFinished { release: id(r), success: *ok }).map(|_| ()).map_err(|_| ())
        }
        Step::Rollback(r, w) => shell
            .run(who(w), Command::StartRollback { release: id(r), reason: "error rate".into() })
            .map(|_| ())
            .map_err(|_| ()),
        Step::Complete(r, w) => {
            shell.run(who(w), Command::CompleteRollback { release: id(r) }).map(|_| ()).map_err(|_| ())
        }
        Step::Approve(r, w) => shell
            .run(who(w), Command::Approve { release: id(r), role: None, approve: true, comment: None })
            .map(|_| ())
            .map_err(|_| ()),
        Step::Override(r, c) => shell
            .run(
                "eve",
                Command::Override {
                    release: id(r),
                    criterion: OVERRIDABLE[*c].into(),
                    justification: "risk accepted".into(),
                },
            )
            .map(|_| ())
            .map_err(|_| ()),
        Step::CriticalScan(r) | Step::Vex(r) => {
            let Some(digest) = shell.state().releases.get(&id(r)).and_then(|rel| rel.current_digests().next().cloned())
            else {
                return;
            };
            let (findings, cleared) = if matches!(step, Step::Vex(_)) {
                (vec![], vec!["CVE-2024-3094".to_owned()])
            } else {
                let f = Finding {
                    id: "CVE-2024-3094".into(),
                    rating: Rating::Critical,
                    score: Some(10.0),
                    component: Some("pkg:deb/debian/xz-utils@5.6.0".into()),
                    location: None,
                    title: "xz backdoor".into(),
                };
                (vec![f], vec![])
            };
            *n += 1;
            let open = findings.iter().map(|f| (f.rating, 1)).collect();
            let subjects = vec![ScanSubject::Digest(digest.clone())];
            let report =
                ScanReport { tool: "grype".into(), open, excluded: Default::default(), findings, cleared, subjects };
            // A second scan of the same artefact is a rerun: it says why.
            let rescan = shell.state().releases.get(&id(r)).is_some_and(|rel| {
                rel.current_evidence("security-scan")
                    .iter()
                    .any(|(_, e)| e.value.kind == EvidenceKind::Vulns && e.value.artefact == digest)
            });
            let command = Command::AddEvidence {
                rerun_reason: rescan.then(|| "rescanned".to_owned()),
                release: id(r),
                phase: "security-scan".into(),
                kind: EvidenceKind::Vulns,
                artefact: Some(digest),
                file: format!("scan-{n}.json"),
                file_digest: Digest::from_sha256([(*n % 250) as u8 + 1; 32]),
                bytes: 10,
                report: Box::new(Report::Scan(report)),
            };
            shell.run("sam", command).map(|_| ()).map_err(|_| ())
        }
        Step::ExtraArtefact(r) => shell
            .run(
                "pla",
                Command::AddArtefact {
                    release: id(r),
                    name: "worker".into(),
                    digest: Digest::from_sha256([0x99; 32]),
                    verifications: vec![],
                },
            )
            .map(|_| ())
            .map_err(|_| ()),
        Step::Wait(minutes) => {
            shell.now += Duration::minutes(*minutes);
            Ok(())
        }
        Step::Tick => shell.run("omar", Command::Tick).map(|_| ()).map_err(|_| ()),
    };
}

static PRODUCTION_DEPLOYMENTS: AtomicUsize = AtomicUsize::new(0);
static SEPARATION_REFUSALS: AtomicUsize = AtomicUsize::new(0);
static ABSOLUTE_REFUSALS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn random_sequences_keep_the_procedure_and_the_log_intact() {
    let mut runner = TestRunner::new(ProptestConfig { cases: 32, ..ProptestConfig::default() });
    runner
        .run(&prop::collection::vec(step(), 1..140), |steps| {
            let mut shell = shell();
            let mut n = 0;
            for s in &steps {
                apply(&mut shell, s, &mut n);
            }
            let report = verify(shell.app.ledger(), None).unwrap();
            prop_assert!(report.intact, "{:?}", report.problems);
            // Replaying the log gives the same releases and register.
            let state = shell.app.state().clone();
            let replayed = App::from_ledger(shell.app.into_ledger()).unwrap();
            let phases = |s: &State| {
                s.releases.values().map(|r| (r.id, r.phase, r.deployments.len(), r.rollbacks.len())).collect::<Vec<_>>()
            };
            prop_assert_eq!(phases(&state), phases(replayed.state()));
            prop_assert_eq!(state.ncs.len(), replayed.state().ncs.len());
            Ok(())
        })
        .unwrap();
    // The properties above mean nothing if no sequence got that far.
    assert!(PRODUCTION_DEPLOYMENTS.load(Ordering::Relaxed) > 0, "no random sequence reached production");
    assert!(SEPARATION_REFUSALS.load(Ordering::Relaxed) > 0, "no random sequence tried a go decider's deployment");
    assert!(ABSOLUTE_REFUSALS.load(Ordering::Relaxed) > 0, "no random sequence met an absolute rule");
}

#[test]
fn a_stale_writer_reads_what_changed_and_decides_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let now: Timestamp = "2026-11-02T09:00:00Z".parse().unwrap();
    {
        let mut app = App::create(&db).unwrap();
        let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
        let profile = tollgate_profile::load("builtin:qms-dev-pro-004", text).unwrap();
        for (actor, command) in playbook::staffing(Arc::new(profile), PEOPLE) {
            app.execute_at(&actor, &Timing::on_time(now), &command).unwrap();
        }
        let mut shell = Shell { app, now };
        playbook::create(&mut shell, "payments", "1.0", "minor", Duration::days(10)).unwrap();
        playbook::create(&mut shell, "ledger", "1.0", "minor", Duration::days(10)).unwrap();
    }
    let now = now + Duration::hours(1);
    // Given two processes that read the log at the same moment
    let mut a = App::open(&db).unwrap();
    let mut b = App::open(&db).unwrap();
    let confirm = |id: u32, c: &str| Command::Confirm { release: ReleaseId(id), confirmation: c.into(), comment: None };
    // When one records a fact on R-1 and the other, still holding the old state, another
    a.execute_at("omar", &Timing::on_time(now), &confirm(1, "maintenance-window-confirmed")).unwrap();
    b.execute_at("rita", &Timing::on_time(now), &confirm(1, "release-schedule-published")).unwrap();
    // Then the second read the first's fact, decided again, and both are kept
    let r = &b.state().releases[&ReleaseId(1)];
    assert!(
        r.confirmations.contains_key("maintenance-window-confirmed")
            && r.confirmations.contains_key("release-schedule-published")
    );
    // and a write to another release is not a conflict at all: its state still catches up.
    a.execute_at("omar", &Timing::on_time(now), &confirm(2, "maintenance-window-confirmed")).unwrap();
    assert!(a.state().releases[&ReleaseId(1)].confirmations.contains_key("release-schedule-published"));
    // When a change makes the stale writer's command wrong, it is refused with the reason
    a.execute_at(
        "rita",
        &Timing::on_time(now),
        &Command::Withdraw { release: ReleaseId(2), reason: "merged into R-1".into() },
    )
    .unwrap();
    let size = App::open(&db).unwrap().ledger().size().unwrap();
    match b.execute_at("omar", &Timing::on_time(now), &confirm(2, "on-call-confirmed")) {
        Err(AppError::Rejected(why)) => assert!(why.to_string().contains("closed"), "{why}"),
        other => panic!("expected a refusal, got {:?}", other.map(|r| r.size)),
    }
    assert_eq!(App::open(&db).unwrap().ledger().size().unwrap(), size, "the refused command wrote nothing");
    let replayed = App::open(&db).unwrap();
    assert_eq!(format!("{:?}", replayed.state()), format!("{:?}", b.state()), "the state kept in memory is the log's");
    assert!(verify(b.ledger(), None).unwrap().intact);
}

#[test]
fn racing_writers_on_one_release_never_lose_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let now: Timestamp = "2026-11-02T09:00:00Z".parse().unwrap();
    {
        let mut app = App::create(&db).unwrap();
        let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
        let profile = tollgate_profile::load("builtin:qms-dev-pro-004", text).unwrap();
        let people: &[(&str, &[&str])] = &[("rita", &["release-manager"]), ("eli", &["engineering-lead"])];
        for (actor, command) in playbook::staffing(Arc::new(profile), people) {
            app.execute_at(&actor, &Timing::on_time(now), &command).unwrap();
        }
        let new = tollgate_domain::NewRelease {
            service: "payments".into(),
            version: "1".into(),
            release_type: Some("minor".into()),
            title: "t".into(),
            window_start: Some(now + Duration::days(10)),
            window_end: None,
            touches: Default::default(),
            incident: None,
        };
        app.execute_at("eli", &Timing::on_time(now), &Command::CreateRelease(new)).unwrap();
    }
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let (mut ok, mut conflicts) = (0u32, 0u32);
                for i in 0..15 {
                    let mut app = App::open(&db).unwrap();
                    let command = Command::AddScope {
                        release: ReleaseId(1),
                        kind: "ticket".into(),
                        reference: format!("T{t}-{i}"),
                        rollback: None,
                        justification: None,
                    };
                    match app.execute_at("eli", &Timing::on_time(now), &command) {
                        Ok(_) => ok += 1,
                        Err(AppError::Conflict { .. }) => conflicts += 1,
                        Err(other) => panic!("{other}"),
                    }
                }
                (ok, conflicts)
            })
        })
        .collect();
    let results: Vec<(u32, u32)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let accepted: u32 = results.iter().map(|r| r.0).sum();
    assert_eq!((accepted, results.iter().map(|r| r.1).sum::<u32>()), (30, 0), "every writer succeeds");
    let app = App::open(&db).unwrap();
    assert_eq!(
        app.state().releases[&ReleaseId(1)].scope.len() as u32,
        accepted,
        "every accepted addition is in the record"
    );
    assert!(verify(app.ledger(), None).unwrap().intact);
}
