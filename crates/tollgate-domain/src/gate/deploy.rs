//! May this release, or this artefact, be deployed to an environment now? `readiness` is what
//! `decide` checks for a deployment apart from who deploys it (authority and the separation of
//! duties of 3.4); `may_deploy` asks the same of an artefact digest, for a pipeline that knows
//! the service, the digest and the target environment but not the release.
//!
//! Production (QMS-DEV-PRO-004 4.1 "No artefact reaches production that was not built from a
//! tagged, reviewed, signed commit", 4.4.4 "Confirm all pre-deployment checks pass"): the
//! release is in its deployment phase, not yet live, and the track's pre-deployment gate
//! (`opens = "deploy"`) is open, go decision and window included. Any other environment of the
//! profile (4.4.3 "All test execution must use the signed release artefact, not a separate
//! build"): the release is in testing or deployment and the artefact is its current build. In
//! both, no deployment and no rollback of the release is running.

use crate::evidence::Digest;
use crate::gate::{Verdict, evaluate};
use crate::lifecycle::Phase;
use crate::policy::{Environment, Opens};
use crate::release::{Release, ReleaseId};
use crate::state::State;
use crate::time::Timestamp;

/// One thing checked, met or not, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub id: String,
    pub met: bool,
    pub reason: String,
}

fn condition(id: &str, met: bool, reason: String) -> Condition {
    Condition { id: id.to_owned(), met, reason }
}

/// What must hold for a release to be deployed to an environment now, apart from who deploys it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// The state of the release: nothing running, the right phase. In `decide` each is a
    /// `phase` rule.
    pub conditions: Vec<Condition>,
    /// For production: the pre-deployment gate's name and verdict. In `decide` each unmet
    /// criterion is a `gate:GATE/CRITERION` rule.
    pub gate: Option<(String, Verdict)>,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.conditions.iter().all(|c| c.met) && self.gate.as_ref().is_none_or(|(_, v)| v.open)
    }
}

/// What `decide` checks of a deployment of `release` to `environment` at `now`, apart from the
/// deployer. `Err` when the profile has no pre-deployment gate for the release's track.
pub fn readiness(
    state: &State,
    release: &Release,
    environment: &Environment,
    now: Timestamp,
) -> Result<Readiness, String> {
    let r = release;
    let policy = state.policy_of(r);
    let mut conditions = vec![
        match r.running_deployment() {
            Some(_) => condition("no-deployment-running", false, "a deployment is already running".into()),
            None => condition("no-deployment-running", true, format!("no deployment of {} is running", r.id)),
        },
        match r.rollback_in_progress() {
            Some(_) => condition("no-rollback-running", false, "a rollback is running".into()),
            None => condition("no-rollback-running", true, format!("no rollback of {} is running", r.id)),
        },
    ];
    if !environment.production {
        let pos = r.track.position(r.phase).unwrap_or(0);
        let testing = r.track.position(Phase::Testing).unwrap_or(0);
        let deployment = r.track.position(Phase::Deployment).unwrap_or(0);
        let met = pos >= testing && pos <= deployment;
        conditions.push(if met {
            condition(
                "phase",
                true,
                format!("{} is in {}; it deploys to {} during testing and deployment", r.id, r.phase, environment.id),
            )
        } else {
            condition(
                "phase",
                false,
                format!("{} deploys to {} during testing and deployment; it is in {}", r.id, environment.id, r.phase),
            )
        });
        return Ok(Readiness { conditions, gate: None });
    }
    conditions.push(if r.phase == Phase::Deployment {
        condition("phase", true, format!("{} is in the deployment phase", r.id))
    } else {
        condition(
            "phase",
            false,
            format!("production deployment happens in the deployment phase; {} is in {}", r.id, r.phase),
        )
    });
    conditions.push(match r.live_since() {
        Some(_) => condition("not-live", false, format!("{} is already live in production", r.id)),
        None => condition("not-live", true, format!("{} is not live in production yet", r.id)),
    });
    let gate = policy
        .gate_for(r.track, Phase::Deployment, Opens::Deploy)
        .ok_or_else(|| format!("the profile has no pre-deployment gate for the {} track", r.track))?;
    Ok(Readiness { conditions, gate: Some((gate.name.clone(), evaluate(state, r, gate, now))) })
}

/// The answer to a pipeline's "may this artefact of this service be deployed there now?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployAnswer {
    pub service: String,
    pub artefact: Digest,
    /// The environment as asked.
    pub asked: String,
    /// The profile's environment that name means (`Policy::environment`).
    pub environment: Option<Environment>,
    /// The open release whose current build the artefact is, with the artefact's name.
    pub release: Option<(ReleaseId, String)>,
    pub phase: Option<Phase>,
    /// Everything checked, in order: the environment, the release, then the readiness
    /// conditions of that release.
    pub checked: Vec<Condition>,
    /// For production: the pre-deployment gate's name and verdict.
    pub gate: Option<(String, Verdict)>,
    /// What the answer does not cover, in words.
    pub not_checked: Vec<String>,
}

impl DeployAnswer {
    pub fn allowed(&self) -> bool {
        self.checked.iter().all(|c| c.met) && self.gate.as_ref().is_none_or(|(_, v)| v.open)
    }

    /// Every unmet condition and gate criterion, a criterion named `gate:GATE/CRITERION` as
    /// `decide` names it.
    pub fn unmet(&self) -> Vec<Condition> {
        let mut out: Vec<Condition> = self.checked.iter().filter(|c| !c.met).cloned().collect();
        if let Some((_, verdict)) = &self.gate {
            out.extend(verdict.unmet().map(|c| Condition {
                id: format!("gate:{}/{}", verdict.gate, c.id),
                met: false,
                reason: c.reason.clone(),
            }));
        }
        out
    }
}

/// Who deploys is not known to a pipeline's question.
pub const DEPLOYER_NOT_CHECKED: &str = "who deploys: the authority to deploy and the separation of the go/no-go decision from deployment (3.4) are checked when the deployment is recorded (`tollgate release deploy`)";

/// Signatures and provenance are gate criteria, not checks of each non-production deployment.
pub const SIGNING_NOT_CHECKED: &str = "signatures and provenance of the artefact: the gates check them before testing and before production, not at each deployment to a non-production environment";

/// May the artefact `digest` of `service` be deployed to `environment` (any spelling
/// `Policy::environment` accepts) at `now`? It may when exactly one release of the service that
/// is not closed or withdrawn has it as an artefact's current build, the environment is one of
/// that release's profile, and that release is `readiness`-ready for it: then `decide` accepts
/// `Command::Deploy` of that release from anyone allowed to deploy it.
pub fn may_deploy(state: &State, service: &str, digest: &Digest, environment: &str, now: Timestamp) -> DeployAnswer {
    let of_service: Vec<&Release> = state.releases.values().map(|r| &**r).filter(|r| r.service == service).collect();
    let holding: Vec<&Release> =
        of_service.iter().copied().filter(|r| r.phase != Phase::Closed && r.is_current(digest)).collect();
    let found = match holding.as_slice() {
        [r] => Some(*r),
        _ => None,
    };
    let release_check = match holding.as_slice() {
        [r] => {
            let name = r.artefacts.iter().find(|(_, a)| &a.digest == digest).map_or("", |(n, _)| n.as_str());
            condition(
                "release",
                true,
                format!(
                    "{} is the current build of artefact {name} of {} ({} {})",
                    digest.short(),
                    r.id,
                    r.service,
                    r.version
                ),
            )
        }
        [] => condition("release", false, why_no_release(state, &of_service, service, digest)),
        several => condition(
            "release",
            false,
            format!(
                "{} is the current build of {} open releases of {service}: {}; which one is deployed is ambiguous until all but one are withdrawn or rebuilt",
                digest.short(),
                several.len(),
                several.iter().map(|r| r.id.to_string()).collect::<Vec<_>>().join(", ")
            ),
        ),
    };
    let policy = found.map(|r| state.policy_of(r)).or_else(|| state.policy());
    let target = policy.and_then(|p| p.environment(environment)).cloned();
    let environment_check = match (policy, &target) {
        (None, _) => condition("environment", false, "no procedure profile has been adopted".into()),
        (Some(_), Some(e)) if e.production => {
            condition("environment", true, format!("`{environment}` is {}, the profile's production environment", e.id))
        }
        (Some(_), Some(e)) => {
            condition("environment", true, format!("`{environment}` is {}, a non-production environment", e.id))
        }
        (Some(p), None) => condition(
            "environment",
            false,
            format!(
                "unknown environment `{environment}`; expected one of {}",
                p.environments.iter().map(|e| e.id.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ),
    };
    let mut answer = DeployAnswer {
        service: service.to_owned(),
        artefact: digest.clone(),
        asked: environment.to_owned(),
        environment: target.clone(),
        release: found.map(|r| {
            let name = r.artefacts.iter().find(|(_, a)| &a.digest == digest).map_or(String::new(), |(n, _)| n.clone());
            (r.id, name)
        }),
        phase: found.map(|r| r.phase),
        checked: vec![environment_check, release_check],
        gate: None,
        not_checked: vec![DEPLOYER_NOT_CHECKED.to_owned()],
    };
    if target.as_ref().is_some_and(|e| !e.production) {
        answer.not_checked.push(SIGNING_NOT_CHECKED.to_owned());
    }
    if let (Some(r), Some(env)) = (found, &target) {
        match readiness(state, r, env, now) {
            Ok(ready) => {
                answer.checked.extend(ready.conditions);
                answer.gate = ready.gate;
            }
            Err(why) => answer.checked.push(condition("deploy-gate", false, why)),
        }
    }
    answer
}

/// Why no open release of the service has the digest as a current build.
fn why_no_release(state: &State, of_service: &[&Release], service: &str, digest: &Digest) -> String {
    let short = digest.short();
    let reasons: Vec<String> = of_service
        .iter()
        .filter_map(|r| r.artefact_of(digest).map(|(name, a)| (r, name, a)))
        .map(|(r, name, a)| {
            if let Some(w) = &r.withdrawn {
                format!("{} ({} {}) holding it was withdrawn by {} at {}: {}", r.id, r.service, r.version, w.by, super::when(w.at), w.value)
            } else if r.phase == Phase::Closed {
                format!("{} ({} {}) holding it is closed", r.id, r.service, r.version)
            } else {
                format!(
                    "{short} is an earlier build of artefact {name} of {}, rebuilt as {}: only the current build may be deployed",
                    r.id,
                    a.digest.short()
                )
            }
        })
        .collect();
    if !reasons.is_empty() {
        return reasons.join("; ");
    }
    let elsewhere: Vec<String> = state
        .releases
        .values()
        .filter(|r| r.service != service && r.artefact_of(digest).is_some())
        .map(|r| format!("{} of {}", r.id, r.service))
        .collect();
    if elsewhere.is_empty() {
        format!("no release of {service} records artefact {short}")
    } else {
        format!("no release of {service} records artefact {short}; it is recorded for {}", elsewhere.join(", "))
    }
}

/// A deployment system's question by commit (GitHub's deployment protection rule knows the
/// commit, not the artefact): may `commit` of `service` be deployed to `environment` now? The
/// release is the open one of the service whose recorded source is that commit (4.1: built from
/// a tagged, reviewed commit); the answer is `may_deploy`'s for every current artefact of it,
/// and yes only when each is yes. `Err` says why there is no such release.
pub fn may_deploy_commit(
    state: &State,
    service: &str,
    commit: &str,
    environment: &str,
    now: Timestamp,
) -> Result<Vec<DeployAnswer>, String> {
    let commit = commit.trim().to_ascii_lowercase();
    let built: Vec<&Release> = state
        .releases
        .values()
        .map(|r| &**r)
        .filter(|r| r.service == service && r.phase != Phase::Closed)
        .filter(|r| r.source.as_ref().is_some_and(|s| s.value.commit.to_ascii_lowercase() == commit))
        .collect();
    let release = match built.as_slice() {
        [r] => *r,
        [] => return Err(format!("no open release of {service} records commit {commit} as its source")),
        several => {
            let ids: Vec<String> = several.iter().map(|r| r.id.to_string()).collect();
            return Err(format!(
                "{} open releases of {service} are built from commit {commit} ({}): which one deploys is ambiguous",
                several.len(),
                ids.join(", ")
            ));
        }
    };
    let answers: Vec<DeployAnswer> =
        release.current_digests().map(|d| may_deploy(state, service, d, environment, now)).collect();
    if answers.is_empty() {
        return Err(format!("{} is built from commit {commit} but records no artefact yet", release.id));
    }
    Ok(answers)
}
