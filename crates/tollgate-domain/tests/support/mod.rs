//! A test world: a state built by deciding and applying commands at a controllable time, with
//! the people of a small organisation, and a walker that satisfies any gate criterion by issuing
//! the command a real team would.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tollgate_domain::gate::{self, Verdict};
use tollgate_domain::lifecycle::{Phase, Track};
use tollgate_domain::playbook::{self, Runner};
use tollgate_domain::policy::{Check, Opens, PlanField, Policy};
use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, Event, Fact, NewRelease, Refusal, Rejection, State, Timestamp, decide, evolve};

pub fn at(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub struct World {
    pub state: State,
    pub now: Timestamp,
    pub facts: Vec<Fact>,
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

impl World {
    pub fn new(profile_id: &str, people: &[(&str, &str)]) -> World {
        let text = tollgate_profile::builtin(profile_id).unwrap();
        let mut profile = tollgate_profile::load(&tollgate_profile::builtin_source_name(profile_id), text).unwrap();
        profile.reason = "initial adoption".into();
        World::with_profile(profile, people)
    }

    pub fn with_profile(profile: tollgate_domain::Profile, people: &[(&str, &str)]) -> World {
        let mut w = World { state: State::default(), now: at("2026-11-02T09:00:00Z"), facts: Vec::new() };
        w.ok("admin", Command::AdoptProfile { profile: Arc::new(profile) });
        for (name, role) in people {
            // The first person adds themself; then an administrator adds the rest.
            let admins = w.policy().roles_for(tollgate_domain::policy::Action::AdministerPeople).to_vec();
            let by = w
                .state
                .people
                .values()
                .find(|p| p.roles.iter().any(|r| admins.contains(r)))
                .map_or((*name).to_owned(), |p| p.name.clone());
            w.ok(&by, Command::AddPerson { name: (*name).into(), roles: [(*role).to_owned()].into() });
        }
        w
    }

    pub fn qms() -> World {
        World::new("qms-dev-pro-004", QMS_PEOPLE)
    }

    pub fn grs() -> World {
        World::new("grs-isms-prc-009", GRS_PEOPLE)
    }

    pub fn policy(&self) -> &Policy {
        self.state.policy().unwrap()
    }

    pub fn pass(&mut self, d: Duration) {
        self.now += d;
    }

    pub fn run(&mut self, actor: &str, command: Command) -> Result<Vec<Event>, Rejection> {
        let events = decide(&self.state, actor, self.now, &command)?;
        for event in &events {
            let fact = Fact { at: self.now, actor: actor.to_owned(), event: event.clone() };
            evolve(&mut self.state, &fact).unwrap();
            self.facts.push(fact);
        }
        // Each step takes a second, as people do: facts never share an instant by accident.
        self.now += Duration::seconds(1);
        Ok(events)
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
        playbook::satisfy(self, release, check).unwrap();
    }

    /// Satisfies every unmet criterion of the gate and checks it is open afterwards; returns
    /// the verdict from before.
    pub fn open_gate(&mut self, release: ReleaseId, opens: Opens) -> Verdict {
        let before = playbook::open_gate(self, release, opens, &[]).unwrap();
        let after = self.current_gate(release, opens);
        assert!(after.open, "gate {} still shut: {:#?}", after.gate, after.unmet().collect::<Vec<_>>());
        before
    }

    pub fn sign_off(&mut self, release: ReleaseId) {
        playbook::sign_off(self, release).unwrap();
    }

    pub fn go_and_deploy(&mut self, release: ReleaseId) {
        playbook::go_and_deploy(self, release).unwrap();
    }

    pub fn walk_to_closed(&mut self, release: ReleaseId) -> Vec<Verdict> {
        playbook::walk_to_closed(self, release).unwrap()
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
        playbook::open_gate(self, release, opens, &[keep, "go-decision"]).unwrap();
        let verdict = self.current_gate(release, opens);
        let unmet: Vec<&str> = verdict.unmet().map(|c| c.id.as_str()).collect();
        assert!(unmet.iter().all(|id| *id == keep || *id == "go-decision"), "{unmet:?}");
    }

    /// A release of this type, created with a comfortable window, walked until it is in `phase`.
    pub fn to_phase(&mut self, release_type: &str, phase: Phase) -> ReleaseId {
        let id = self.create(release_type, Duration::weeks(3));
        playbook::walk_to(self, id, phase).unwrap();
        id
    }

    pub fn to_deployment(&mut self, release_type: &str) -> ReleaseId {
        let id = self.to_phase(release_type, Phase::Deployment);
        let start = self.release(id).window.start;
        self.wait_until(start);
        id
    }
}

impl Runner for World {
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
        World::run(self, actor, command)
    }
}

pub fn rules(refusals: &[Refusal]) -> BTreeSet<String> {
    refusals.iter().map(|r| r.rule.clone()).collect()
}

pub fn plan_all() -> Vec<(PlanField, String)> {
    PlanField::ALL.iter().map(|f| (*f, format!("{} written", f.label()))).collect()
}
