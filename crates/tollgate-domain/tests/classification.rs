//! 3.7: "Teams must classify each release before planning begins. Misclassification that
//! results in an under-controlled change is a non-conformance under this procedure." The
//! classification advisor flags a release whose version, touches or scope imply a stricter type,
//! and its production deployment under the weaker type raises the non-conformance.

mod support;

use chrono::Duration;
use support::*;
use tollgate_domain::classification;
use tollgate_domain::lifecycle::Phase;
use tollgate_domain::playbook::Runner;
use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, Event, NewRelease};

fn flags(w: &World, id: ReleaseId) -> Vec<String> {
    classification::flags(&w.state, w.release(id)).iter().map(|f| f.to_string()).collect()
}

fn create_version(w: &mut World, release_type: &str, version: &str) -> ReleaseId {
    let now = w.now;
    let new = NewRelease {
        service: "payments".into(),
        version: version.into(),
        release_type: Some(release_type.into()),
        title: "t".into(),
        window_start: Some(now + Duration::weeks(5)),
        window_end: None,
        touches: Default::default(),
        incident: None,
    };
    match &w.ok("eli", Command::CreateRelease(new))[0] {
        Event::ReleaseCreated(c) => c.release,
        other => panic!("{other:?}"),
    }
}

fn misclassification_ncs(w: &World, id: ReleaseId) -> Vec<String> {
    w.state
        .ncs
        .iter()
        .filter(|n| n.release == Some(id) && n.condition == "misclassification")
        .map(|n| n.detail.clone())
        .collect()
}

#[test]
fn a_patch_carrying_a_database_migration_is_flagged_at_planning_and_its_deployment_is_a_nonconformance() {
    // Given a patch declared as touching the database schema
    let mut w = World::qms();
    let id = w.create_touching("patch", Duration::weeks(3), &["database-migration"]);
    // Then it is flagged from planning on, naming the rule and the sentence it reads
    let flagged = flags(&w, id);
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert!(flagged[0].starts_with("it touches database-migration implies"), "{flagged:?}");
    assert!(flagged[0].contains("migration-beyond-patch: Patch: bug fixes"), "{flagged:?}");
    // When it is walked through the gates and deployed to production as a patch
    tollgate_domain::playbook::walk_to(&mut w.0, id, Phase::Deployment).unwrap();
    let start = w.release(id).window.start;
    w.wait_until(start);
    w.go_and_deploy(id);
    // Then the deployment raises the non-conformance of 3.7
    let ncs = misclassification_ncs(&w, id);
    assert_eq!(ncs.len(), 1, "{:#?}", w.state.ncs);
    assert!(ncs[0].starts_with("deployed to production as patch although it touches database-migration"), "{ncs:?}");
}

#[test]
fn a_release_classified_as_its_changes_require_is_not_flagged_and_deploys_without_a_nonconformance() {
    let mut w = World::qms();
    let id = w.create_touching("minor", Duration::weeks(3), &["database-migration"]);
    assert!(flags(&w, id).is_empty());
    tollgate_domain::playbook::walk_to(&mut w.0, id, Phase::Deployment).unwrap();
    let start = w.release(id).window.start;
    w.wait_until(start);
    w.go_and_deploy(id);
    assert!(misclassification_ncs(&w, id).is_empty());
}

#[test]
fn infrastructure_as_code_in_scope_implies_the_infrastructure_track() {
    // Given a minor release whose scope gains an IaC change during planning
    let mut w = World::qms();
    let id = w.create("minor", Duration::weeks(3));
    assert!(flags(&w, id).is_empty());
    w.ok(
        "eli",
        Command::AddScope {
            release: id,
            kind: "iac".into(),
            reference: "NET-4".into(),
            rollback: Some("terraform apply of the previous plan".into()),
            justification: None,
        },
    );
    // Then the flag names the scope item; an infrastructure release with the same item is fine
    let flagged = flags(&w, id);
    assert!(
        flagged[0].starts_with("its scope holds iac:NET-4 implies emergency or infrastructure or major"),
        "{flagged:?}"
    );
    let infra = w.create("infrastructure", Duration::weeks(3));
    w.ok(
        "pla",
        Command::AddScope {
            release: infra,
            kind: "iac".into(),
            reference: "NET-5".into(),
            rollback: Some("terraform apply of the previous plan".into()),
            justification: None,
        },
    );
    assert!(flags(&w, infra).is_empty());
}

#[test]
fn a_new_major_version_is_a_breaking_change_unless_classified_major() {
    let mut w = World::qms();
    create_version(&mut w, "minor", "2.4.1");
    // A first release of a service has nothing to compare with; a minor bump is not a flag.
    let minor = create_version(&mut w, "minor", "2.5.0");
    assert!(flags(&w, minor).is_empty());
    let bump = create_version(&mut w, "minor", "v3.0.0");
    let flagged = flags(&w, bump);
    assert!(flagged[0].starts_with("version v3.0.0 after 2.5.0 implies major (breaking-change"), "{flagged:?}");
    let major = create_version(&mut w, "major", "3.0.0");
    assert!(flags(&w, major).is_empty());
    // Calendar versions say nothing about compatibility.
    create_version(&mut w, "minor", "2026.11.0");
    let calver = create_version(&mut w, "minor", "2027.1.0");
    assert!(flags(&w, calver).is_empty());
}

#[test]
fn the_short_procedure_has_no_classification_rules_and_flags_nothing() {
    let mut w = World::grs();
    assert!(w.policy().classification.is_empty(), "GRS-ISMS-PRC-009 does not classify releases by their changes");
    let id = w.create_touching("patch", Duration::weeks(3), &["network-policy"]);
    assert!(flags(&w, id).is_empty());
}
