//! A test world: a state built by deciding and applying commands at a controllable time, with
//! the people of a small organisation, and a walker that satisfies any gate criterion by issuing
//! the command a real team would.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tollgate_domain::evidence::{
    Digest, EvidenceKind, FailedTest, Finding, Rating, Report, SbomReport, ScanReport, ScanSubject, SuiteCounts,
    TestCounts, TestReport,
};
use tollgate_domain::gate::{self, Verdict};
use tollgate_domain::lifecycle::{Phase, Track};
use tollgate_domain::playbook::{self, Rehearsal, Runner};
use tollgate_domain::policy::{Check, Opens, Policy};
use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, Event, NewRelease, Refusal, Rejection, Timestamp};

pub fn at(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A rehearsal of the procedure with test helpers; `w.state`, `w.now` and `w.facts` are the
/// rehearsal's.
pub struct World(pub Rehearsal);

impl std::ops::Deref for World {
    type Target = Rehearsal;
    fn deref(&self) -> &Rehearsal {
        &self.0
    }
}

impl std::ops::DerefMut for World {
    fn deref_mut(&mut self) -> &mut Rehearsal {
        &mut self.0
    }
}

/// Everyone holds exactly one role, so who may do what is unambiguous.
pub const QMS_PEOPLE: &[(&str, &str)] = &[
    ("rita", "release-manager"),
    ("dora", "deputy-release-manager"),
    ("dev", "devops-engineer"),
    ("devi", "devops-engineer"),
    ("eli", "engineering-lead"),
    ("ella", "engineering-lead"),
    ("quinn", "qa-lead"),
    ("sam", "security-engineer"),
    ("omar", "sre"),
    ("pat", "product-owner"),
    ("cab1", "cab-member"),
    ("cab2", "cab-member"),
    ("cab3", "cab-member"),
    ("pla", "platform-lead"),
    ("eve", "executive"),
];

pub const GRS_PEOPLE: &[(&str, &str)] = &[
    ("eli", "engineering-lead"),
    ("paula", "product-owner"),
    ("ella", "engineering-lead"),
    ("omar", "sre"),
    ("oscar", "sre"),
    ("sam", "security-engineer"),
    ("cab1", "cab-member"),
    ("cab2", "cab-member"),
];

/// The built-ins trust no keys or builders; an organisation names its own. The rehearsal's
/// are these.
pub fn rehearsal_key() -> tollgate_domain::evidence::Digest {
    tollgate_domain::evidence::Digest::from_sha256([7; 32])
}

pub const REHEARSAL_BUILDER: &str = "https://ci.example.com/rehearsal";

/// The key the rehearsal builder signs its provenance with; the profile pins it to
/// `REHEARSAL_BUILDER` only.
pub fn rehearsal_build_key() -> tollgate_domain::evidence::Digest {
    tollgate_domain::evidence::Digest::from_sha256([8; 32])
}

pub fn trust_rehearsal_build(policy: &mut Policy) {
    policy.artefacts.trusted_keys.insert(rehearsal_key());
    policy.artefacts.builders.push(tollgate_domain::policy::TrustedBuilder {
        id: REHEARSAL_BUILDER.into(),
        keys: [rehearsal_build_key()].into(),
    });
}

impl World {
    pub fn new(profile_id: &str, people: &[(&str, &str)]) -> World {
        let text = tollgate_profile::builtin(profile_id).unwrap();
        let mut profile = tollgate_profile::load(&tollgate_profile::builtin_source_name(profile_id), text).unwrap();
        profile.reason = "initial adoption".into();
        trust_rehearsal_build(&mut profile.policy);
        World::with_profile(profile, people)
    }

    pub fn with_profile(profile: tollgate_domain::Profile, people: &[(&str, &str)]) -> World {
        let mut w = World(Rehearsal::new(at("2026-11-02T09:00:00Z")));
        // The first person initialises the store; administrators add the rest, two of them for
        // a role that governs others.
        let people: Vec<(&str, &[&str])> =
            people.iter().map(|(name, role)| (*name, std::slice::from_ref(role))).collect();
        for (actor, command) in tollgate_domain::playbook::staffing(Arc::new(profile), &people) {
            w.ok(&actor, command);
        }
        w
    }

    pub fn qms() -> World {
        World::new("qms-dev-pro-004", QMS_PEOPLE)
    }

    pub fn grs() -> World {
        World::new("grs-isms-prc-009", GRS_PEOPLE)
    }

    /// Grants `roles` as rita (a release manager), confirmed by eve (an executive) when a
    /// governing role waits for a second administrator.
    pub fn grant(&mut self, name: &str, roles: &[&str]) {
        let roles: BTreeSet<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        let events = self.ok("rita", Command::GrantRoles { name: name.into(), roles: roles.clone() });
        if let Some(Event::GrantProposed { roles, .. }) =
            events.iter().find(|e| matches!(e, Event::GrantProposed { .. }))
        {
            self.ok("eve", Command::GrantRoles { name: name.into(), roles: roles.clone() });
        }
    }

    pub fn policy(&self) -> &Policy {
        self.state.policy().unwrap()
    }

    pub fn pass(&mut self, d: Duration) {
        self.now += d;
    }

    pub fn run(&mut self, actor: &str, command: Command) -> Result<Vec<Event>, Rejection> {
        self.0.run(actor, command)
    }

    #[track_caller]
    pub fn ok(&mut self, actor: &str, command: Command) -> Vec<Event> {
        let shown = format!("{command:?}");
        self.run(actor, command).unwrap_or_else(|r| panic!("{actor}: {shown}\nrejected: {r}"))
    }

    /// The command is refused by the procedure, and nothing is recorded.
    #[track_caller]
    pub fn refused(&mut self, actor: &str, command: Command) -> Vec<Refusal> {
        let before = self.facts.len();
        let shown = format!("{command:?}");
        match self.run(actor, command) {
            Err(Rejection::Refused(r)) => {
                assert_eq!(self.facts.len(), before);
                r
            }
            other => panic!("{actor}: {shown}\nexpected a refusal, got {other:?}"),
        }
    }

    #[track_caller]
    pub fn invalid(&mut self, actor: &str, command: Command) -> Vec<String> {
        let before = self.facts.len();
        match self.run(actor, command) {
            Err(Rejection::Invalid(r)) => {
                assert_eq!(self.facts.len(), before);
                r
            }
            other => panic!("expected an invalid request, got {other:?}"),
        }
    }

    pub fn release(&self, id: ReleaseId) -> &tollgate_domain::release::Release {
        &self.state.releases[&id]
    }

    pub fn gate(&self, id: ReleaseId, gate_id: &str) -> Verdict {
        let r = self.release(id);
        let g = self.state.policy_of(r).gate(r.track, gate_id).unwrap_or_else(|| panic!("no gate {gate_id}"));
        gate::evaluate(&self.state, r, g, self.now)
    }

    /// The gate guarding the current phase (or the deployment).
    pub fn current_gate(&self, id: ReleaseId, opens: Opens) -> Verdict {
        let r = self.release(id);
        let g = self.state.policy_of(r).gate_for(r.track, r.phase, opens).unwrap();
        gate::evaluate(&self.state, r, g, self.now)
    }

    /// Someone holding `role` other than `except`.
    pub fn holder(&self, role: &str, except: &[&str]) -> String {
        self.state
            .holders(role)
            .find(|p| !except.contains(p))
            .unwrap_or_else(|| panic!("nobody else holds {role}"))
            .to_owned()
    }

    pub fn holder_of_any(&self, roles: &[String], except: &[&str]) -> String {
        roles
            .iter()
            .find_map(|r| self.state.holders(r).find(|p| !except.contains(p)).map(str::to_owned))
            .unwrap_or_else(|| panic!("nobody holds any of {roles:?}"))
    }

    pub fn create(&mut self, release_type: &str, window_in: Duration) -> ReleaseId {
        self.create_touching(release_type, window_in, &[])
    }

    pub fn create_touching(&mut self, release_type: &str, window_in: Duration, touches: &[&str]) -> ReleaseId {
        let policy = self.policy().clone();
        let rt = &policy.release_types[release_type];
        let action = if rt.track == Track::Emergency { "create-emergency" } else { "create-release" };
        // Engineering leads create releases here, so release managers remain free to approve.
        let mut roles = policy.roles_for(tollgate_domain::policy::Action::from_key(action).unwrap()).to_vec();
        roles.sort_by_key(|r| r != "engineering-lead");
        let creator = self.holder_of_any(&roles, &[]);
        let n = self.state.releases.len() + 1;
        let new = NewRelease {
            service: "payments".into(),
            version: format!("1.{n}.0"),
            release_type: (rt.track == Track::Standard).then(|| release_type.to_owned()),
            title: format!("{release_type} release"),
            window_start: (rt.track == Track::Standard).then(|| self.now + window_in),
            window_end: (rt.track == Track::Standard).then(|| self.now + window_in + Duration::hours(4)),
            touches: touches.iter().map(|t| (*t).to_owned()).collect(),
            incident: (rt.track == Track::Emergency).then(|| "INC-1".to_owned()),
        };
        let events = self.ok(&creator, Command::CreateRelease(new));
        match &events[0] {
            Event::ReleaseCreated(c) => c.release,
            other => panic!("{other:?}"),
        }
    }

    pub fn satisfy(&mut self, release: ReleaseId, check: &Check) {
        playbook::satisfy(&mut self.0, release, check).unwrap();
    }

    /// Satisfies every unmet criterion of the gate and checks it is open afterwards; returns
    /// the verdict from before.
    pub fn open_gate(&mut self, release: ReleaseId, opens: Opens) -> Verdict {
        let before = playbook::open_gate(&mut self.0, release, opens, &[]).unwrap();
        let after = self.current_gate(release, opens);
        assert!(after.open, "gate {} still shut: {:#?}", after.gate, after.unmet().collect::<Vec<_>>());
        before
    }

    pub fn sign_off(&mut self, release: ReleaseId) {
        playbook::sign_off(&mut self.0, release).unwrap();
    }

    pub fn go_and_deploy(&mut self, release: ReleaseId) {
        playbook::go_and_deploy(&mut self.0, release).unwrap();
    }

    pub fn walk_to_closed(&mut self, release: ReleaseId) -> Vec<Verdict> {
        playbook::walk_to_closed(&mut self.0, release).unwrap()
    }

    /// Satisfies every unmet criterion of the gate guarding the current phase except `keep`
    /// (and the go decision, which is never taken here).
    pub fn open_gate_but(&mut self, release: ReleaseId, keep: &str) {
        let r = self.release(release);
        let policy = self.state.policy_of(r).clone();
        let deploy_gate = policy.gate_for(r.track, r.phase, Opens::Deploy);
        let opens = match deploy_gate {
            Some(g) if r.phase == Phase::Deployment && g.criteria.iter().any(|c| c.id == keep) => Opens::Deploy,
            _ => Opens::Advance,
        };
        playbook::open_gate(&mut self.0, release, opens, &[keep, "go-decision"]).unwrap();
        let verdict = self.current_gate(release, opens);
        let unmet: Vec<&str> = verdict.unmet().map(|c| c.id.as_str()).collect();
        assert!(unmet.iter().all(|id| *id == keep || *id == "go-decision"), "{unmet:?}");
    }

    /// A release of this type, created with a comfortable window, walked until it is in `phase`.
    pub fn release_in(&mut self, release_type: &str, phase: Phase) -> ReleaseId {
        let id = self.create(release_type, Duration::weeks(3));
        playbook::walk_to(&mut self.0, id, phase).unwrap();
        id
    }

    pub fn release_ready_to_deploy(&mut self, release_type: &str) -> ReleaseId {
        let id = self.release_in(release_type, Phase::Deployment);
        let start = self.release(id).window.start;
        self.wait_until(start);
        id
    }
}

pub fn rules(refusals: &[Refusal]) -> BTreeSet<String> {
    refusals.iter().map(|r| r.rule.clone()).collect()
}

/// Evidence as the shell would record it after parsing CI's files.
impl World {
    /// Records artefact `name` of build `build` (a digest made from the number) and returns it.
    pub fn artefact(&mut self, id: ReleaseId, name: &str, build: u8) -> Digest {
        let digest = Digest::from_sha256([build; 32]);
        self.ok(
            "dev",
            Command::AddArtefact { release: id, name: name.into(), digest: digest.clone(), verifications: vec![] },
        );
        digest
    }

    pub fn evidence(&self, id: ReleaseId, phase: &str, kind: EvidenceKind, file: &str, report: Report) -> Command {
        let recorded = self.state.releases.get(&id).map_or(0, |r| r.evidence.len());
        let file_digest = file_digest(phase, file, &report, recorded);
        Command::AddEvidence {
            release: id,
            phase: phase.into(),
            kind,
            artefact: None,
            file: file.into(),
            file_digest,
            bytes: 100,
            report: Box::new(report),
            rerun_reason: None,
        }
    }

    pub fn junit(&self, id: ReleaseId, phase: &str, tests: u64, failures: u64) -> Command {
        let counts = TestCounts { tests, failures, errors: 0, skipped: 0 };
        let failed = (0..failures.min(3))
            .map(|i| FailedTest {
                suite: "checkout".into(),
                name: format!("CheckoutTest.case{i}"),
                error: false,
                message: "expected 200, got 500".into(),
            })
            .collect();
        let report =
            TestReport { suites: vec![SuiteCounts { name: "checkout".into(), counts }], totals: counts, failed };
        self.evidence(id, phase, EvidenceKind::Junit, &format!("{phase}.xml"), Report::Tests(report))
    }

    /// A Grype report of the release's first artefact (by its current digest).
    pub fn scan(&self, id: ReleaseId, findings: Vec<Finding>) -> Command {
        let subjects = self.state.releases[&id]
            .artefacts
            .values()
            .next()
            .map(|a| vec![ScanSubject::Digest(a.digest.clone())])
            .unwrap_or_default();
        self.scan_naming(id, subjects, findings)
    }

    /// A Grype report that says it scanned `subjects`.
    pub fn scan_naming(&self, id: ReleaseId, subjects: Vec<ScanSubject>, findings: Vec<Finding>) -> Command {
        let mut open = std::collections::BTreeMap::new();
        for f in &findings {
            *open.entry(f.rating).or_insert(0) += 1;
        }
        let report = ScanReport {
            tool: "grype".into(),
            open,
            excluded: Default::default(),
            findings,
            cleared: vec![],
            subjects,
        };
        self.evidence(id, "security-scan", EvidenceKind::Vulns, "grype.json", Report::Scan(report))
    }

    /// Passing evidence for a phase of the built-in profile.
    pub fn passing(&self, id: ReleaseId, phase: &str) -> Command {
        match phase {
            "security-scan" => self.clean_scan(id),
            "performance" => self.regressed(id, 0.01),
            _ => self.junit(id, phase, 25, 0),
        }
    }

    /// Performance results whose one SLO metric is `by` (0.12 = 12%) worse than its baseline.
    pub fn regressed(&self, id: ReleaseId, by: f64) -> Command {
        let metric = tollgate_domain::evidence::PerfMetric {
            name: "checkout_p95_ms".into(),
            unit: Some("ms".into()),
            baseline: 100.0,
            value: 100.0 * (1.0 + by),
            higher_is_better: false,
            slo: true,
        };
        let report = tollgate_domain::evidence::PerfReport { metrics: vec![metric] };
        self.evidence(id, "performance", EvidenceKind::Perf, "k6.json", Report::Perf(report))
    }

    pub fn clean_scan(&self, id: ReleaseId) -> Command {
        self.scan(id, Vec::new())
    }

    pub fn sbom(&self, id: ReleaseId) -> Command {
        let digest = self.state.releases[&id].artefacts.values().next().unwrap().digest.clone();
        self.sbom_describing(id, digest)
    }

    pub fn sbom_describing(&self, id: ReleaseId, digest: Digest) -> Command {
        let report = SbomReport {
            format: "CycloneDX 1.5 JSON".into(),
            subject: Some("payments 2.4.0".into()),
            describes: vec![digest],
            components: 120,
            with_purl: 118,
            with_hashes: 90,
        };
        self.evidence(id, "security-scan", EvidenceKind::Sbom, "sbom.cdx.json", Report::Sbom(report))
    }
}

/// The same command as a rerun, with its reason.
pub fn rerun(mut command: Command, reason: &str) -> Command {
    if let Command::AddEvidence { rerun_reason, .. } = &mut command {
        *rerun_reason = Some(reason.into());
    }
    command
}

pub fn cve(id: &str, rating: Rating) -> Finding {
    Finding {
        id: id.into(),
        rating,
        score: None,
        component: Some("pkg:npm/lodash@4.17.20".into()),
        location: None,
        title: format!("{id} in lodash"),
    }
}

/// A distinct digest per recorded file, as two different CI runs would have: the same bytes
/// recorded twice is its own test (`evidence-reused`).
fn file_digest(phase: &str, file: &str, report: &Report, n: usize) -> Digest {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (phase, file, format!("{report:?}"), n).hash(&mut h);
    let mut bytes = [0xeeu8; 32];
    bytes[..8].copy_from_slice(&h.finish().to_be_bytes());
    Digest::from_sha256(bytes)
}
