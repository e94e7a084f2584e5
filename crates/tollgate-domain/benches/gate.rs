//! Gate evaluation on a release carrying 1,000 evidence items (500 scope items and 500 triaged
//! defects), for every gate of the standard track. Target: ≤ 20 µs median per evaluation.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use tollgate_domain::event::Triage;
use tollgate_domain::evidence::Digest;
use tollgate_domain::lifecycle::{Phase, Track};
use tollgate_domain::playbook::{self, Rehearsal, Runner};
use tollgate_domain::policy::{Severity, TrustedBuilder};
use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, gate};

fn setup() -> (Rehearsal, ReleaseId) {
    let now: DateTime<Utc> = "2026-11-02T09:00:00Z".parse().unwrap();
    let mut b = Rehearsal::new(now);
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    let mut profile = tollgate_profile::load("builtin:qms-dev-pro-004", text).unwrap();
    // The rehearsal's artefacts are signed and built by keys and a builder the profile trusts.
    let artefacts = &mut profile.policy.artefacts;
    artefacts.trusted_keys.insert(Digest::from_sha256([7; 32]));
    artefacts.builders.push(TrustedBuilder {
        id: "https://ci.example.com/rehearsal".into(),
        keys: [Digest::from_sha256([8; 32])].into(),
    });
    let people: Vec<(&str, &[&str])> = [
        ("rita", "release-manager"),
        ("eli", "engineering-lead"),
        ("quinn", "qa-lead"),
        ("sam", "security-engineer"),
        ("omar", "sre"),
        ("dev", "devops-engineer"),
        ("pat", "product-owner"),
        ("cab", "cab-member"),
        ("pla", "platform-lead"),
    ]
    .iter()
    .map(|(name, role)| (*name, std::slice::from_ref(role)))
    .collect();
    for (actor, command) in playbook::staffing(Arc::new(profile), &people) {
        b.run(&actor, command).unwrap();
    }
    let id = playbook::create(&mut b, "payments", "1.0", "major", Duration::weeks(3)).unwrap();
    for i in 0..500 {
        let command = Command::AddScope {
            release: id,
            kind: "ticket".into(),
            reference: format!("PAY-{i}"),
            rollback: Some("pipeline".into()),
            justification: None,
        };
        b.run("eli", command).unwrap();
        let reference = format!("BUG-{i}");
        b.run(
            "quinn",
            Command::RecordDefect {
                release: id,
                reference: reference.clone(),
                severity: Severity::High,
                title: "x".into(),
            },
        )
        .unwrap();
        b.run(
            "quinn",
            Command::TriageDefect {
                release: id,
                reference,
                outcome: Triage::Resolved,
                comment: "fixed".into(),
                scope: None,
            },
        )
        .unwrap();
    }
    playbook::walk_to(&mut b, id, Phase::Testing).unwrap();
    (b, id)
}

fn gates(c: &mut Criterion) {
    let (b, id) = setup();
    let release = &b.state.releases[&id];
    let policy = b.state.policy_of(release);
    let mut group = c.benchmark_group("gate evaluation, 1,000 evidence items");
    for g in policy.gates.iter().filter(|g| g.track == Track::Standard) {
        group.bench_function(&g.id, |bench| bench.iter(|| gate::evaluate(&b.state, release, g, b.now)));
    }
    group.finish();
}

criterion_group!(benches, gates);
criterion_main!(benches);
