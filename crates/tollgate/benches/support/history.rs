//! A realistic log for the benchmarks: releases of every type walked through the default
//! procedure by the playbook, written to a store in batches of 1,000.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration as Elapsed, Instant};

use chrono::{DateTime, Duration, Utc};
use tollgate_app::codec;
use tollgate_domain::playbook::{self, Rehearsal, Runner};
use tollgate_ledger::{Expectation, Ledger, NewRecord, SqliteLedger};

pub struct History {
    pub events: usize,
    pub generation: Elapsed,
    pub append: Elapsed,
}

/// Writes `releases` walked releases (after the staffing of the people below) to a new store
/// at `db`.
pub fn write(db: &Path, releases: usize) -> History {
    let start: DateTime<Utc> = "2026-01-05T09:00:00Z".parse().unwrap();
    let mut h = Rehearsal::new(start);
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    let mut profile = tollgate_profile::load("builtin:qms-dev-pro-004", text).unwrap();
    // The playbook's artefacts are signed and built by keys and a builder the profile trusts.
    let artefacts = &mut profile.policy.artefacts;
    artefacts.trusted_keys.insert(tollgate_domain::evidence::Digest::from_sha256([7; 32]));
    artefacts.builders.push(tollgate_domain::policy::TrustedBuilder {
        id: "https://ci.example.com/rehearsal".into(),
        keys: [tollgate_domain::evidence::Digest::from_sha256([8; 32])].into(),
    });
    let people: Vec<(&str, &[&str])> = PEOPLE.iter().map(|(name, role)| (*name, std::slice::from_ref(role))).collect();
    for (actor, command) in playbook::staffing(Arc::new(profile), &people) {
        h.run(&actor, command).unwrap();
    }
    let types = ["minor", "patch", "major", "security-patch", "infrastructure", "emergency"];
    let generated = Instant::now();
    for i in 0..releases {
        let service = format!("service-{}", i % 40);
        // Emergencies are rarer than the rest, and spaced so the frequency rule rarely fires.
        let release_type = if i % 25 == 0 { "emergency" } else { types[i % 5] };
        let id = playbook::create(&mut h, &service, &format!("1.{i}"), release_type, Duration::weeks(3)).unwrap();
        playbook::walk_to_closed(&mut h, id).unwrap();
    }
    let generation = generated.elapsed();
    // Encode as the shell would: the profile version in force for each fact.
    let mut versions_in_force = String::new();
    let records: Vec<NewRecord> = h
        .facts
        .iter()
        .map(|fact| {
            if let tollgate_domain::Event::ProfileAdopted(p) = &fact.event {
                versions_in_force = p.policy.version.clone();
            }
            NewRecord {
                stream: codec::stream(&fact.event),
                payload: codec::encode(fact, &versions_in_force, None, false),
            }
        })
        .collect();
    drop(h);
    let mut ledger = SqliteLedger::create(db, "tollgate/bench").unwrap();
    let mut versions: HashMap<String, u64> = HashMap::new();
    let appended = Instant::now();
    for batch in records.chunks(1_000) {
        let mut streams: Vec<&str> = batch.iter().map(|r| r.stream.as_str()).collect();
        streams.sort();
        streams.dedup();
        let expect: Vec<Expectation> = streams
            .iter()
            .map(|s| Expectation { stream: (*s).to_owned(), version: versions.get(*s).copied().unwrap_or(0) })
            .collect();
        ledger.append(&expect, batch, 0).unwrap();
        for r in batch {
            *versions.entry(r.stream.clone()).or_default() += 1;
        }
    }
    History { events: records.len(), generation, append: appended.elapsed() }
}

pub const PEOPLE: &[(&str, &str)] = &[
    ("rita", "release-manager"),
    ("dora", "deputy-release-manager"),
    ("eli", "engineering-lead"),
    ("ella", "engineering-lead"),
    ("quinn", "qa-lead"),
    ("sam", "security-engineer"),
    ("omar", "sre"),
    ("dev", "devops-engineer"),
    ("pat", "product-owner"),
    ("cab1", "cab-member"),
    ("cab2", "cab-member"),
    ("pla", "platform-lead"),
    ("eve", "executive"),
];
