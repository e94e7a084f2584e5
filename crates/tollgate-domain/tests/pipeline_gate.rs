//! Given/when/then for the pipeline's question (`gate::may_deploy`): may this artefact of this
//! service be deployed to that environment now? And the answer agrees with `decide` for
//! `Command::Deploy` in every state a release passes through, separation of duties aside.

mod support;

use chrono::Duration;
use support::*;
use tollgate_domain::evidence::Digest;
use tollgate_domain::gate::{DeployAnswer, may_deploy};
use tollgate_domain::lifecycle::Phase;
use tollgate_domain::playbook::Runner;
use tollgate_domain::policy::{Action, Opens};
use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, Rejection, decide};

fn digest_of(w: &World, id: ReleaseId) -> Digest {
    w.release(id).artefacts.values().next().expect("an artefact").digest.clone()
}

fn ask(w: &World, digest: &Digest, env: &str) -> DeployAnswer {
    may_deploy(&w.state, "payments", digest, env, w.now)
}

fn unmet(answer: &DeployAnswer) -> Vec<String> {
    answer.unmet().into_iter().map(|c| c.id).collect()
}

fn reason(answer: &DeployAnswer, id: &str) -> String {
    answer.unmet().into_iter().find(|c| c.id == id).unwrap_or_else(|| panic!("{id} is met: {answer:#?}")).reason
}

/// A minor release in its deployment phase, inside its window, every pre-deployment criterion
/// met but the go decision.
fn awaiting_go(w: &mut World) -> ReleaseId {
    let id = w.release_ready_to_deploy("minor");
    w.open_gate_but(id, "go-decision");
    id
}

#[test]
fn production_takes_the_artefact_once_the_pre_deployment_gate_is_open() {
    let mut w = World::qms();
    let id = awaiting_go(&mut w);
    let digest = digest_of(&w, id);

    let before = ask(&w, &digest, "production");
    assert!(!before.allowed());
    assert_eq!(before.release.as_ref().map(|(r, _)| *r), Some(id));
    assert_eq!(before.phase, Some(Phase::Deployment));
    assert_eq!(before.gate.as_ref().map(|(_, v)| v.gate.as_str()), Some("pre-deployment"));
    assert_eq!(unmet(&before), ["gate:pre-deployment/go-decision"]);
    assert_eq!(reason(&before, "gate:pre-deployment/go-decision"), "no go/no-go decision recorded");

    w.ok("rita", Command::Go { release: id });
    let after = ask(&w, &digest, "production");
    assert!(after.allowed(), "{:#?}", after.unmet());
    assert!(after.not_checked.iter().any(|n| n.contains("separation of the go/no-go decision")));
}

#[test]
fn the_environment_is_named_as_imports_name_it() {
    let mut w = World::qms();
    let id = awaiting_go(&mut w);
    w.ok("rita", Command::Go { release: id });
    let digest = digest_of(&w, id);
    for spelling in ["production", "Production", " PRODUCTION "] {
        let answer = ask(&w, &digest, spelling);
        assert!(answer.allowed(), "{spelling}");
        assert_eq!(answer.environment.as_ref().map(|e| e.id.as_str()), Some("production"));
    }
    // And the deployment records the profile's name, so it is the production deployment.
    w.ok("dev", Command::Deploy { release: id, environment: "Production".into() });
    assert_eq!(
        w.release(id).deployments.last().map(|d| (d.environment.as_str(), d.production)),
        Some(("production", true))
    );
}

#[test]
fn before_the_window_opens_production_waits_and_says_when() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Deployment);
    let answer = ask(&w, &digest_of(&w, id), "production");
    assert!(!answer.allowed());
    let within = answer.unmet().into_iter().find(|c| c.reason.starts_with("the deployment window opens at"));
    assert!(within.is_some(), "{:#?}", answer.unmet());
}

#[test]
fn a_release_live_in_production_is_not_deployed_again() {
    let mut w = World::qms();
    let id = w.release_ready_to_deploy("minor");
    w.go_and_deploy(id);
    let answer = ask(&w, &digest_of(&w, id), "production");
    assert!(!answer.allowed());
    assert!(unmet(&answer).contains(&"not-live".to_owned()), "{:#?}", answer.unmet());
}

#[test]
fn test_environments_take_the_current_build_during_testing_and_deployment_only() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Testing);
    let digest = digest_of(&w, id);
    let qa = ask(&w, &digest, "qa");
    assert!(qa.allowed(), "{:#?}", qa.unmet());
    assert!(qa.gate.is_none(), "no gate applies outside production");
    assert!(qa.checked.iter().any(|c| c.id == "phase" && c.met));
    assert!(qa.not_checked.iter().any(|n| n.starts_with("signatures and provenance")));
    // Production is for the deployment phase.
    let production = ask(&w, &digest, "production");
    assert!(!production.allowed());
    assert!(reason(&production, "phase").contains("is in testing"));

    // Before testing, not even a test environment.
    let early = w.create("minor", Duration::weeks(3));
    let d = w.artefact(early, "payments-early", 42);
    let planning = ask(&w, &d, "staging");
    assert!(!planning.allowed());
    assert_eq!(
        reason(&planning, "phase"),
        format!("{early} deploys to staging during testing and deployment; it is in planning")
    );
}

#[test]
fn a_rebuilt_digest_is_no_longer_deployable() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Testing);
    let (name, old) = {
        let (n, a) = w.release(id).artefacts.iter().next().unwrap();
        (n.clone(), a.digest.clone())
    };
    let new = w.artefact(id, &name, 99);
    let answer = ask(&w, &old, "qa");
    assert!(!answer.allowed());
    assert_eq!(answer.release, None);
    let why = reason(&answer, "release");
    assert!(why.contains("is an earlier build of artefact") && why.contains(new.short()), "{why}");
    assert!(ask(&w, &new, "qa").allowed());
}

#[test]
fn a_withdrawn_release_deploys_nowhere() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Testing);
    let digest = digest_of(&w, id);
    w.ok("rita", Command::Withdraw { release: id, reason: "superseded by 1.3.0".into() });
    let answer = ask(&w, &digest, "qa");
    assert!(!answer.allowed());
    let why = reason(&answer, "release");
    assert!(why.contains("withdrawn by rita") && why.contains("superseded by 1.3.0"), "{why}");
}

#[test]
fn a_closed_release_deploys_nowhere() {
    let mut w = World::qms();
    let id = w.create("patch", Duration::weeks(3));
    w.walk_to_closed(id);
    let answer = ask(&w, &digest_of(&w, id), "production");
    assert!(!answer.allowed());
    assert!(reason(&answer, "release").ends_with("holding it is closed"), "{:#?}", answer.unmet());
}

#[test]
fn an_unknown_environment_is_a_no_that_lists_the_known_ones() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Testing);
    let answer = ask(&w, &digest_of(&w, id), "prod");
    assert!(!answer.allowed());
    assert_eq!(answer.environment, None);
    assert_eq!(
        reason(&answer, "environment"),
        "unknown environment `prod`; expected one of development, qa, staging, pre-production, production"
    );
}

#[test]
fn an_unknown_digest_names_the_service_and_where_else_it_is_recorded() {
    let mut w = World::qms();
    let id = w.release_in("minor", Phase::Testing);
    let unknown = Digest::from_sha256([0xab; 32]);
    let answer = ask(&w, &unknown, "qa");
    assert_eq!(reason(&answer, "release"), format!("no release of payments records artefact {}", unknown.short()));
    let digest = digest_of(&w, id);
    let other = may_deploy(&w.state, "orders", &digest, "qa", w.now);
    assert!(!other.allowed());
    assert!(reason(&other, "release").ends_with(&format!("it is recorded for {id} of payments")));
}

#[test]
fn a_digest_held_by_two_open_releases_of_the_service_is_ambiguous() {
    let mut w = World::qms();
    let first = w.release_in("minor", Phase::Testing);
    let digest = digest_of(&w, first);
    let second = w.create("minor", Duration::weeks(3));
    w.ok(
        "dev",
        Command::AddArtefact {
            release: second,
            name: "payments-copy".into(),
            digest: digest.clone(),
            verifications: vec![],
        },
    );
    let answer = ask(&w, &digest, "qa");
    assert!(!answer.allowed());
    assert_eq!(answer.release, None);
    let why = reason(&answer, "release");
    assert!(
        why.contains(&format!("2 open releases of payments: {first}, {second}")) && why.contains("ambiguous"),
        "{why}"
    );
}

/// `may_deploy`'s answer for the release's current build equals what `decide` says of
/// `Command::Deploy` by a deployer who took no go/no-go decision, with the same reasons, for
/// every environment of the profile (and two spellings) in every state visited.
fn agrees(w: &World, id: ReleaseId, deployer: &str, seen: &mut (usize, usize)) {
    let Some(digest) = w.release(id).artefacts.values().next().map(|a| a.digest.clone()) else { return };
    let mut names: Vec<String> = w.state.policy_of(w.release(id)).environments.iter().map(|e| e.id.clone()).collect();
    names.extend([" Production".to_owned(), "QA ".to_owned(), "nowhere".to_owned()]);
    for env in names {
        let answer = ask(w, &digest, &env);
        let command = Command::Deploy { release: id, environment: env.clone() };
        let decided = decide(&w.state, deployer, w.now, &command);
        let refused: Vec<(String, String)> = match &decided {
            Ok(_) => Vec::new(),
            Err(Rejection::Refused(r)) => r.iter().map(|r| (r.rule.clone(), r.reason.clone())).collect(),
            Err(Rejection::Invalid(r)) => vec![("invalid".into(), r.join("; "))],
        };
        assert!(refused.iter().all(|(rule, _)| rule != "separation-of-duties"), "{deployer} decided go");
        let phase = w.release(id).phase;
        assert_eq!(
            answer.allowed(),
            decided.is_ok(),
            "{id} in {phase}, `{env}`: {:#?} vs {refused:#?}",
            answer.unmet()
        );
        if phase != Phase::Closed && answer.environment.is_some() {
            // The same reasons: decide's rule ids are `phase` and `gate:G/C`.
            let ours: Vec<String> = answer.unmet().into_iter().map(|c| c.reason).collect();
            let theirs: Vec<String> = refused.into_iter().map(|(_, reason)| reason).collect();
            assert_eq!(ours, theirs, "{id} in {phase}, `{env}`");
        }
        seen.0 += 1;
        seen.1 += usize::from(answer.allowed());
    }
}

#[test]
fn may_deploy_agrees_with_decide_through_every_state_of_a_release() {
    for (make, types, deployer) in [
        (World::qms as fn() -> World, &["minor", "major", "emergency", "infrastructure"][..], "devi"),
        (World::grs, &["minor", "emergency"][..], "oscar"),
    ] {
        for release_type in types {
            let mut w = make();
            let mut seen = (0, 0);
            let id = w.create(release_type, Duration::weeks(3));
            // Walk gate by gate, asking at every step, including the failed attempt and rollback.
            let mut rolled_back = false;
            for _ in 0..40 {
                agrees(&w, id, deployer, &mut seen);
                let r = w.release(id);
                match r.phase {
                    Phase::Closed => break,
                    Phase::Deployment if r.live_since().is_none() && r.running_deployment().is_none() => {
                        let start = r.window.start;
                        w.wait_until(start);
                        agrees(&w, id, deployer, &mut seen);
                        tollgate_domain::playbook::open_gate(&mut w.0, id, Opens::Deploy, &["go-decision"]).unwrap();
                        agrees(&w, id, deployer, &mut seen);
                        let deciders = w.policy().roles_for(Action::GoDecision);
                        let decider = w.holder_of_any(deciders, &[deployer]);
                        w.ok(&decider, Command::Go { release: id });
                        agrees(&w, id, deployer, &mut seen);
                        let production = w.policy().production().unwrap().to_owned();
                        w.ok(deployer, Command::Deploy { release: id, environment: production });
                        agrees(&w, id, deployer, &mut seen);
                        w.pass(Duration::minutes(10));
                        if !rolled_back {
                            // The first attempt is rolled back: a new go decision is needed.
                            rolled_back = true;
                            w.ok(deployer, Command::DeploymentFinished { release: id, success: true });
                            agrees(&w, id, deployer, &mut seen);
                            w.ok(deployer, Command::StartRollback { release: id, reason: "error rate up 20%".into() });
                            agrees(&w, id, deployer, &mut seen);
                            w.ok(deployer, Command::CompleteRollback { release: id });
                        } else {
                            w.ok(deployer, Command::DeploymentFinished { release: id, success: true });
                            tollgate_domain::playbook::satisfy(
                                &mut w.0,
                                id,
                                &tollgate_domain::policy::Check::ObligationsDone,
                            )
                            .unwrap();
                        }
                    }
                    _ => {
                        w.open_gate(id, Opens::Advance);
                        agrees(&w, id, deployer, &mut seen);
                        w.sign_off(id);
                    }
                }
            }
            assert_eq!(w.release(id).phase, Phase::Closed, "{release_type} did not reach closed");
            // Both answers were given, production and test environments said yes at some point.
            assert!(seen.0 > 40 && seen.1 > 5, "{release_type}: {seen:?} (questions, yes)");
        }
    }
}
