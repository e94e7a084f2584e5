//! How a team meets each criterion: for every check, the commands the responsible people would
//! issue, and a walker that takes a release through every gate of its track. Used by
//! `tollgate demo` and by tests; it decides nothing itself — every command still goes through
//! `decide`, so a playbook that tried to cut a corner would be refused like anyone else.

use chrono::Duration;

use crate::approval;
use crate::command::{Command, NewRelease};
use crate::event::{Event, Triage};
use crate::evidence::{
    Digest, EvidenceKind, PerfMetric, PerfReport, PlanReport, Report, SbomReport, ScanReport, ScanSubject, SuiteCounts,
    TestCounts, TestReport, Verification,
};
use crate::gate::{self, Verdict};
use crate::lifecycle::{Phase, Track};
use crate::obligation;
use crate::policy::{Action, Check, Count, Opens, Policy};
use crate::rejection::Rejection;
use crate::release::{Release, ReleaseId};
use crate::state::State;
use crate::time::Timestamp;

/// The commands that put `people` on record under a new store's `profile`, in order: the
/// first (who must administer people) initialises the store; an administrator adds each of the
/// others, and a second administrator confirms every role that governs others. Panics when the
/// list gives no second administrator before a governing role needs one.
pub fn staffing(profile: std::sync::Arc<crate::event::Profile>, people: &[(&str, &[&str])]) -> Vec<(String, Command)> {
    if people.is_empty() {
        return Vec::new();
    }
    let policy = profile.policy.clone();
    let roles = |list: &[&str]| list.iter().map(|r| (*r).to_owned()).collect::<std::collections::BTreeSet<_>>();
    let administering =
        |list: &[&str]| list.iter().any(|r| policy.roles_for(Action::AdministerPeople).iter().any(|a| a == r));
    let governing = policy.governing_roles();
    let (first, first_roles) = people[0];
    let mut commands = vec![(first.to_owned(), Command::Init { profile, roles: roles(first_roles), sandbox: false })];
    let mut admins = vec![first];
    for (name, list) in &people[1..] {
        commands.push((admins[0].to_owned(), Command::AddPerson { name: (*name).into(), roles: roles(list) }));
        let confirm: Vec<&str> = list
            .iter()
            .copied()
            .filter(|r| governing.contains(r))
            .filter(|r| admins.len() > 1 || !policy.roles_for(Action::AdministerPeople).iter().any(|a| a == r))
            .collect();
        if !confirm.is_empty() {
            let second = admins.get(1).unwrap_or_else(|| panic!("{name}'s {confirm:?} need a second administrator"));
            commands.push(((*second).to_owned(), Command::GrantRoles { name: (*name).into(), roles: roles(&confirm) }));
        }
        if administering(list) {
            admins.push(name);
        }
    }
    commands
}

/// Somewhere commands are decided and recorded, with a clock the walker may move forward.
pub trait Runner {
    fn state(&self) -> &State;
    fn now(&self) -> Timestamp;
    /// Moves the clock forward (waiting out a window); never backwards.
    fn wait_until(&mut self, t: Timestamp);
    fn run(&mut self, actor: &str, command: Command) -> Result<Vec<Event>, Rejection>;
    /// Called with a gate's verdict before the walker works on it, and after.
    fn on_gate(&mut self, _release: ReleaseId, _before: &Verdict, _after: &Verdict) {}
}

/// An in-memory runner: decides and applies commands with a clock that moves a second per
/// accepted command (as people do; facts never share an instant by accident), keeping the facts
/// for whoever wants to record them. For demos, benchmarks and rehearsing a procedure.
#[derive(Debug)]
pub struct Rehearsal {
    pub state: State,
    pub now: Timestamp,
    pub facts: Vec<crate::event::Fact>,
}

impl Rehearsal {
    pub fn new(now: Timestamp) -> Rehearsal {
        Rehearsal { state: State::default(), now, facts: Vec::new() }
    }
}

impl Runner for Rehearsal {
    fn state(&self) -> &State {
        &self.state
    }

    fn now(&self) -> Timestamp {
        self.now
    }

    fn wait_until(&mut self, t: Timestamp) {
        self.now = self.now.max(t);
    }

    fn run(&mut self, actor: &str, command: Command) -> Result<Vec<Event>, Rejection> {
        let events = crate::decide::decide(&self.state, actor, self.now, &command)?;
        for event in &events {
            let fact = crate::event::Fact { at: self.now, actor: actor.to_owned(), event: event.clone() };
            crate::evolve::evolve(&mut self.state, &fact).map_err(|e| Rejection::invalid(e.0))?;
            self.facts.push(fact);
        }
        self.now += Duration::seconds(1);
        Ok(events)
    }
}

/// A failure of the walk: the procedure refused a step the playbook expected to be accepted.
#[derive(Debug)]
pub struct Stuck(pub String);

type Walk<T> = Result<T, Stuck>;

fn ok<R: Runner + ?Sized>(runner: &mut R, actor: &str, command: Command) -> Walk<Vec<Event>> {
    let shown = format!("{command:?}");
    runner.run(actor, command).map_err(|r| Stuck(format!("{actor}: {shown}: {r}")))
}

fn release<R: Runner + ?Sized>(runner: &R, id: ReleaseId) -> &Release {
    &runner.state().releases[&id]
}

fn policy_of<R: Runner + ?Sized>(runner: &R, id: ReleaseId) -> Policy {
    runner.state().policy_of(release(runner, id)).clone()
}

/// Someone holding one of `roles`, other than the people in `except`.
pub fn holder(state: &State, roles: &[String], except: &[&str]) -> Option<String> {
    roles.iter().find_map(|r| state.holders(r).find(|p| !except.contains(p)).map(str::to_owned))
}

fn who<R: Runner + ?Sized>(runner: &R, roles: &[String], except: &[&str]) -> Walk<String> {
    holder(runner.state(), roles, except)
        .ok_or_else(|| Stuck(format!("nobody (besides {except:?}) holds any of {roles:?}")))
}

fn verdict<R: Runner + ?Sized>(runner: &R, id: ReleaseId, opens: Opens) -> Verdict {
    let r = release(runner, id);
    let g = runner.state().policy_of(r).gate_for(r.track, r.phase, opens).expect("validated profile");
    gate::evaluate(runner.state(), r, g, runner.now())
}

/// Creates a release of `release_type` whose window opens `window_in` from now.
pub fn create<R: Runner + ?Sized>(
    runner: &mut R,
    service: &str,
    version: &str,
    release_type: &str,
    window_in: Duration,
) -> Walk<ReleaseId> {
    let policy = runner.state().policy().ok_or_else(|| Stuck("no profile".into()))?.clone();
    let rt = policy.release_types.get(release_type).ok_or_else(|| Stuck(format!("no type {release_type}")))?;
    let emergency = rt.track == Track::Emergency;
    // Prefer a creator whose role is not needed to approve, so approvers stay free.
    let approvers: Vec<&String> = rt.approvals.iter().flat_map(|r| r.requires.iter().map(|q| &q.role)).collect();
    let mut roles = policy.roles_for(if emergency { Action::CreateEmergency } else { Action::CreateRelease }).to_vec();
    roles.sort_by_key(|r| (approvers.contains(&r), r != "engineering-lead"));
    let creator = who(runner, &roles, &[])?;
    let now = runner.now();
    let new = NewRelease {
        service: service.to_owned(),
        version: version.to_owned(),
        release_type: (!emergency).then(|| release_type.to_owned()),
        title: format!("{} release of {service} {version}", rt.name),
        window_start: (!emergency).then_some(now + window_in),
        window_end: (!emergency).then_some(now + window_in + Duration::hours(4)),
        touches: Default::default(),
        incident: emergency.then(|| "INC-1".to_owned()),
    };
    match ok(runner, &creator, Command::CreateRelease(new))?.first() {
        Some(Event::ReleaseCreated(c)) => Ok(c.release),
        other => Err(Stuck(format!("unexpected {other:?}"))),
    }
}

/// Issues the commands that meet `check`, as the responsible people would.
pub fn satisfy<R: Runner + ?Sized>(runner: &mut R, id: ReleaseId, check: &Check) -> Walk<()> {
    let policy = policy_of(runner, id);
    let creator = release(runner, id).created.by.clone();
    match check {
        Check::Classified
        | Check::Deployed
        | Check::GoDecision
        | Check::LeadTime
        | Check::OutsideBlackout
        | Check::NoCriticalFindings => {}
        Check::ObligationsDone => {
            for o in &policy.deferred {
                if obligation::fulfilled_at(&policy, release(runner, id), &o.fulfilled_by).is_none() {
                    satisfy(runner, id, &o.fulfilled_by)?;
                }
            }
        }
        Check::ScopeRecorded | Check::ScopeRollback => {
            if release(runner, id).scope.is_empty() {
                let by = who(runner, policy.roles_for(Action::EditScope), &[])?;
                let command = Command::AddScope {
                    release: id,
                    kind: "ticket".into(),
                    reference: format!("{}-1", release(runner, id).service.to_uppercase()),
                    rollback: Some("pipeline rollback to the previous signed artefact".into()),
                    justification: None,
                };
                ok(runner, &by, command)?;
            }
        }
        Check::ScopeLocked => {
            satisfy(runner, id, &Check::ScopeRecorded)?;
            let by = who(runner, policy.roles_for(Action::LockScope), &[])?;
            ok(runner, &by, Command::LockScope { release: id })?;
        }
        Check::Plan(fields) => {
            let by = who(runner, policy.roles_for(Action::Plan), &[])?;
            let fields = fields.iter().map(|f| (*f, format!("{} for {id}", f.label()))).collect();
            ok(runner, &by, Command::RecordPlan { release: id, fields })?;
        }
        Check::Approvals => {
            if release(runner, id).submitted.is_none() {
                let submit = match release(runner, id).track {
                    crate::lifecycle::Track::Emergency => Action::CreateEmergency,
                    crate::lifecycle::Track::Standard => Action::CreateRelease,
                };
                let by = who(runner, policy.roles_for(submit), &[])?;
                ok(runner, &by, Command::Submit { release: id })?;
            }
            let r = release(runner, id).clone();
            // The first route the organisation has enough distinct people to fill.
            let mut stuck = Stuck("no approval route can be filled by the people on record".into());
            for (_, reqs) in approval::routes(&policy, &r) {
                match fill_route(runner, &r, &creator, &reqs) {
                    Ok(plan) => {
                        for (by, role) in plan {
                            ok(
                                runner,
                                &by,
                                Command::Approve { release: id, role: Some(role), approve: true, comment: None },
                            )?;
                        }
                        return Ok(());
                    }
                    Err(e) => stuck = e,
                }
            }
            return Err(stuck);
        }
        Check::WithinWindow => {
            let start = release(runner, id).window.start;
            runner.wait_until(start);
        }
        // A rehearsal deploys by hand: a rollout check is met by its confirmation.
        Check::Confirmed(c) | Check::ReviewedSinceRollback(c) | Check::Rollout { confirmation: c, .. } => {
            let def = &policy.confirmations[c];
            if def.after == Some(crate::policy::Anchor::Stabilisation)
                && let Some(ends) = crate::gate::stabilisation_ends(&policy, release(runner, id))
            {
                runner.wait_until(ends);
            }
            let by = who(runner, &def.by, &[])?;
            let comment = Some(format!("{c}: recorded in the release record"));
            ok(runner, &by, Command::Confirm { release: id, confirmation: c.clone(), comment })?;
        }
        Check::Documents(kinds) => {
            let by = who(runner, policy.roles_for(Action::AttachDocument), &[])?;
            for kind in kinds {
                if !release(runner, id).documents.contains_key(kind) {
                    let command = Command::AttachDocument {
                        release: id,
                        kind: kind.clone(),
                        name: format!("{kind}.md"),
                        sha256: format!("{:064x}", kind.len()),
                        bytes: 1024,
                    };
                    ok(runner, &by, command)?;
                }
            }
        }
        Check::TestPhases { only, except } => {
            let r = release(runner, id).clone();
            let rt = &policy.release_types[&r.release_type];
            for p in policy.required_test_phases(rt, &r.touches) {
                let wanted = (only.is_empty() || only.contains(&p.id)) && !except.contains(&p.id);
                if !wanted || r.skipped_tests.contains_key(&p.id) {
                    continue;
                }
                let by = who(runner, &p.recorded_by, &[])?;
                if !p.evidence.is_empty() {
                    ensure_artefact(runner, id, &policy)?;
                    let digests: Vec<Digest> = release(runner, id).current_digests().cloned().collect();
                    for (digest, kind) in digests.iter().flat_map(|d| p.evidence.iter().map(move |k| (d, k))) {
                        let now = release(runner, id);
                        let have = now
                            .current_evidence(&p.id)
                            .iter()
                            .any(|(_, e)| e.value.kind == *kind && e.value.artefact == *digest);
                        if !have {
                            let command = Command::AddEvidence {
                                release: id,
                                phase: p.id.clone(),
                                kind: *kind,
                                artefact: Some(digest.clone()),
                                file: format!("ci/{}/{}.{}", r.version, p.id, kind.key()),
                                file_digest: evidence_file_digest(id, now.evidence.len()),
                                bytes: 1,
                                report: Box::new(passing_report(*kind, digest)),
                                rerun_reason: None,
                            };
                            ok(runner, &by, command)?;
                        }
                    }
                } else if !r.tests.get(&p.id).is_some_and(|t| t.value.passed) {
                    let command = Command::RecordTestResult {
                        release: id,
                        phase: p.id.clone(),
                        passed: true,
                        reference: Some(format!("ci/{}/{}", r.version, p.id)),
                    };
                    ok(runner, &by, command)?;
                }
            }
        }
        Check::Tagged => {
            if release(runner, id).source.is_none() {
                let r = release(runner, id);
                let command = Command::RecordSource {
                    release: id,
                    repository: format!("https://git.example.com/{}", r.service),
                    tag: format!("v{}", r.version),
                    commit: format!("{:040x}", u64::from(id.0) * 7919),
                };
                let by = who(runner, policy.roles_for(Action::RecordArtefact), &[])?;
                ok(runner, &by, command)?;
            }
        }
        Check::ArtefactsSigned => {
            let digest = ensure_artefact(runner, id, &policy)?;
            let trust = &policy.artefacts;
            let signature = match (trust.trusted_keys.first(), trust.signers.first()) {
                (Some(key), _) => Verification::KeySignature { algorithm: "ed25519".into(), key: key.clone() },
                (None, Some(signer)) => Verification::Bundle {
                    media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
                    identity: Some(signer.identity.clone()),
                    issuer: Some(signer.issuer.clone()),
                    key: None,
                    trusted_root: digest.clone(),
                    signed_at: Some(runner.now()),
                },
                (None, None) => return Err(Stuck("the profile trusts no signing key or signer".into())),
            };
            add_verification(runner, id, &policy, digest, signature)?;
        }
        Check::Provenance => {
            satisfy(runner, id, &Check::Tagged)?;
            let digest = ensure_artefact(runner, id, &policy)?;
            let trust = &policy.artefacts;
            let Some((builder, key)) = trust.builders.iter().find_map(|b| Some((&b.id, b.keys.first()?))) else {
                return Err(Stuck("the profile trusts no builder with a provenance key".into()));
            };
            let source = release(runner, id).source.clone().expect("tagged above").value;
            let provenance = Verification::Provenance {
                builder: builder.clone(),
                build_type: "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1".into(),
                repository: source.repository,
                git_ref: source.tag,
                commit: source.commit,
                key: key.clone(),
            };
            add_verification(runner, id, &policy, digest, provenance)?;
        }
        Check::NoOpenDefects(_) | Check::DefectsTriaged(_) => {
            let open: Vec<String> = release(runner, id)
                .defects
                .iter()
                .filter(|(_, d)| d.triage.is_none())
                .map(|(k, _)| k.clone())
                .collect();
            for reference in open {
                let by = who(runner, policy.roles_for(Action::ResolveDefect), &[])?;
                let command = Command::TriageDefect {
                    release: id,
                    reference,
                    outcome: Triage::Resolved,
                    comment: "fixed and re-tested".into(),
                    scope: None,
                };
                ok(runner, &by, command)?;
            }
        }
        Check::StabilisationElapsed | Check::ElapsedSinceDeployment(_) => {
            let r = release(runner, id);
            let live = r.live_since().ok_or_else(|| Stuck(format!("{id} is not live")))?;
            let span = match check {
                Check::ElapsedSinceDeployment(s) => *s,
                _ => policy.release_types[&r.release_type].stabilisation,
            };
            runner.wait_until(span.after(live, &policy.calendar));
        }
    }
    Ok(())
}

/// The release's artefact, recorded unsigned if there is none yet: the rehearsal's build.
fn ensure_artefact<R: Runner + ?Sized>(runner: &mut R, id: ReleaseId, policy: &Policy) -> Walk<Digest> {
    if let Some(a) = release(runner, id).artefacts.values().next() {
        return Ok(a.digest.clone());
    }
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&id.0.to_be_bytes());
    let digest = Digest::from_sha256(bytes);
    let name = release(runner, id).service.clone();
    let by = who(runner, policy.roles_for(Action::RecordArtefact), &[])?;
    ok(runner, &by, Command::AddArtefact { release: id, name, digest: digest.clone(), verifications: Vec::new() })?;
    Ok(digest)
}

fn add_verification<R: Runner + ?Sized>(
    runner: &mut R,
    id: ReleaseId,
    policy: &Policy,
    digest: Digest,
    v: Verification,
) -> Walk<()> {
    let r = release(runner, id);
    let Some((name, a)) = r.artefact_of(&digest) else { return Err(Stuck(format!("no artefact {digest}"))) };
    if a.verifications.iter().any(|x| x.value.label() == v.label()) {
        return Ok(());
    }
    let name = name.to_owned();
    let by = who(runner, policy.roles_for(Action::RecordArtefact), &[])?;
    ok(runner, &by, Command::AddArtefact { release: id, name, digest, verifications: vec![v] })?;
    Ok(())
}

/// A distinct file digest for each evidence file the rehearsal records: one CI run is
/// evidence for one phase only.
fn evidence_file_digest(id: ReleaseId, n: usize) -> Digest {
    let mut bytes = [0xe0u8; 32];
    bytes[..4].copy_from_slice(&id.0.to_be_bytes());
    bytes[4..12].copy_from_slice(&(n as u64).to_be_bytes());
    Digest::from_sha256(bytes)
}

/// What a green CI run would produce for `kind`.
fn passing_report(kind: EvidenceKind, digest: &Digest) -> Report {
    match kind {
        EvidenceKind::Junit => {
            let counts = TestCounts { tests: 12, failures: 0, errors: 0, skipped: 1 };
            Report::Tests(TestReport {
                suites: vec![SuiteCounts { name: "rehearsal".into(), counts }],
                totals: counts,
                failed: Vec::new(),
            })
        }
        EvidenceKind::Sarif | EvidenceKind::Vulns => Report::Scan(ScanReport {
            tool: "rehearsal scanner".into(),
            open: Default::default(),
            excluded: Default::default(),
            findings: Vec::new(),
            cleared: Vec::new(),
            subjects: vec![ScanSubject::Digest(digest.clone())],
        }),
        EvidenceKind::Sbom => Report::Sbom(SbomReport {
            format: "CycloneDX 1.5 JSON".into(),
            subject: None,
            describes: vec![digest.clone()],
            components: 1,
            with_purl: 1,
            with_hashes: 1,
        }),
        EvidenceKind::Tfplan => Report::Plan(PlanReport {
            terraform_version: "1.9.0".into(),
            changes: Default::default(),
            drift: Vec::new(),
            changed: Vec::new(),
        }),
        EvidenceKind::Perf => Report::Perf(PerfReport {
            metrics: vec![PerfMetric {
                name: "p95_latency_ms".into(),
                unit: Some("ms".into()),
                baseline: 100.0,
                value: 101.0,
                higher_is_better: false,
                slo: true,
            }],
        }),
    }
}

/// Who would approve in which role to fill every requirement of a route, beyond the approvals
/// already given; distinct people, never the creator.
fn fill_route<R: Runner + ?Sized>(
    runner: &R,
    r: &Release,
    creator: &str,
    reqs: &[crate::policy::Requirement],
) -> Walk<Vec<(String, String)>> {
    let mut used: Vec<String> = vec![creator.to_owned()];
    used.extend(r.approvals.keys().cloned());
    let mut plan = Vec::new();
    for req in reqs {
        let have = r.approvals.values().filter(|a| a.approve && a.role == req.role).count();
        let need = match req.count {
            Count::AtLeast(n) => n as usize,
            Count::All => runner
                .state()
                .holders(&req.role)
                .filter(|h| *h != creator && r.approvals.get(*h).is_none_or(|a| a.role == req.role))
                .count(),
        };
        for _ in have..need {
            let except: Vec<&str> = used.iter().map(String::as_str).collect();
            let by = who(runner, std::slice::from_ref(&req.role), &except)?;
            plan.push((by.clone(), req.role.clone()));
            used.push(by);
        }
    }
    Ok(plan)
}

/// Meets every unmet criterion of the gate guarding the current phase (or the deployment),
/// except those listed in `keep`; reports the verdict before and after.
pub fn open_gate<R: Runner + ?Sized>(runner: &mut R, id: ReleaseId, opens: Opens, keep: &[&str]) -> Walk<Verdict> {
    let before = verdict(runner, id, opens);
    let policy = policy_of(runner, id);
    let r = release(runner, id);
    let gate_def = policy.gate_for(r.track, r.phase, opens).expect("validated profile").clone();
    for c in &gate_def.criteria {
        let met = verdict(runner, id, opens).criteria.iter().any(|v| v.id == c.id && v.met);
        if !met && !keep.contains(&c.id.as_str()) {
            satisfy(runner, id, &c.check)?;
        }
    }
    let after = verdict(runner, id, opens);
    runner.on_gate(id, &before, &after);
    Ok(before)
}

/// Signs off the current phase's gate as someone allowed to.
pub fn sign_off<R: Runner + ?Sized>(runner: &mut R, id: ReleaseId) -> Walk<()> {
    let policy = policy_of(runner, id);
    let r = release(runner, id);
    let gate_def = policy.gate_for(r.track, r.phase, Opens::Advance).expect("validated profile");
    let by = who(runner, &gate_def.signed_off_by, &[])?;
    ok(runner, &by, Command::Advance { release: id })?;
    confirm_before_window(runner, id)
}

/// On entering the deployment phase, what must be confirmed before the window opens is
/// confirmed at once (3.6: monitoring and alerting, by Operations).
fn confirm_before_window<R: Runner + ?Sized>(runner: &mut R, id: ReleaseId) -> Walk<()> {
    let policy = policy_of(runner, id);
    let r = release(runner, id);
    if r.phase != Phase::Deployment || runner.now() >= r.window.start {
        return Ok(());
    }
    let Some(gate_def) = policy.gate_for(r.track, Phase::Deployment, Opens::Deploy) else { return Ok(()) };
    let early: Vec<Check> = gate_def
        .criteria
        .iter()
        .filter(|c| matches!(&c.check, Check::Confirmed(id) if policy.confirmations[id].before_window))
        .filter(|c| c.applies_to(&r.release_type, &r.touches) && !r.confirmations.contains_key(c.check_confirmation()))
        .map(|c| c.check.clone())
        .collect();
    for check in early {
        satisfy(runner, id, &check)?;
    }
    Ok(())
}

/// Go decision by a release manager, deployment by someone else, ten minutes of pipeline.
pub fn go_and_deploy<R: Runner + ?Sized>(runner: &mut R, id: ReleaseId) -> Walk<Verdict> {
    let policy = policy_of(runner, id);
    let go = policy
        .gate_for(release(runner, id).track, Phase::Deployment, Opens::Deploy)
        .and_then(|g| g.criteria.iter().find(|c| matches!(c.check, Check::GoDecision)).map(|c| c.id.clone()));
    let before = verdict(runner, id, Opens::Deploy);
    let keep: Vec<&str> = go.iter().map(String::as_str).collect();
    for c in &policy.gate_for(release(runner, id).track, Phase::Deployment, Opens::Deploy).expect("validated").criteria
    {
        let met = verdict(runner, id, Opens::Deploy).criteria.iter().any(|v| v.id == c.id && v.met);
        if !met && !keep.contains(&c.id.as_str()) {
            satisfy(runner, id, &c.check)?;
        }
    }
    let decider = who(runner, policy.roles_for(Action::GoDecision), &[])?;
    ok(runner, &decider, Command::Go { release: id })?;
    let after = verdict(runner, id, Opens::Deploy);
    runner.on_gate(id, &before, &after);
    let deployer = who(runner, policy.roles_for(Action::Deploy), &[&decider])?;
    let production = policy.production().ok_or_else(|| Stuck("no production environment".into()))?.to_owned();
    ok(runner, &deployer, Command::Deploy { release: id, environment: production })?;
    let t = runner.now() + Duration::minutes(10);
    runner.wait_until(t);
    ok(runner, &deployer, Command::DeploymentFinished { release: id, success: true })?;
    Ok(before)
}

/// Takes a release from where it is to closed through every gate of its track, meeting each
/// criterion as the procedure's roles would. Returns each gate's verdict before work started.
pub fn walk_to_closed<R: Runner + ?Sized>(runner: &mut R, id: ReleaseId) -> Walk<Vec<Verdict>> {
    let mut seen = Vec::new();
    loop {
        match release(runner, id).phase {
            Phase::Closed => return Ok(seen),
            Phase::Deployment if release(runner, id).live_since().is_none() => {
                seen.push(go_and_deploy(runner, id)?);
                // An emergency's deferred steps are done in time, right after deployment.
                satisfy(runner, id, &Check::ObligationsDone)?;
            }
            _ => {
                seen.push(open_gate(runner, id, Opens::Advance, &[])?);
                sign_off(runner, id)?;
            }
        }
    }
}

/// Walks a release until it reaches `phase`.
pub fn walk_to<R: Runner + ?Sized>(runner: &mut R, id: ReleaseId, phase: Phase) -> Walk<()> {
    while release(runner, id).phase != phase {
        if release(runner, id).phase == Phase::Closed {
            return Err(Stuck(format!("{id} closed before reaching {phase}")));
        }
        if release(runner, id).phase == Phase::Deployment && release(runner, id).live_since().is_none() {
            go_and_deploy(runner, id)?;
        }
        open_gate(runner, id, Opens::Advance, &[])?;
        sign_off(runner, id)?;
    }
    Ok(())
}
