//! Terraform plans: every plan of the shared test data (snapshot), and small hand-written
//! plans for drift, the action lists those files lack, and refusals.

mod common;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tollgate_domain::evidence::{PlanItem, PlanReport};
use tollgate_evidence::{Location, ParseError, tfplan};

fn item(i: &PlanItem) -> Value {
    json!([i.address, i.resource_type, i.action])
}

fn summary(result: Result<PlanReport, ParseError>) -> Value {
    match result {
        Ok(p) => json!({
            "terraform_version": p.terraform_version,
            "changes": p.changes,
            "drift": p.drift.iter().map(item).collect::<Vec<_>>(),
            "changed": p.changed.iter().map(item).collect::<Vec<_>>(),
        }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

fn ok(doc: &str) -> PlanReport {
    tfplan::parse(doc.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(doc: &str) -> ParseError {
    match tfplan::parse(doc.as_bytes()) {
        Ok(p) => panic!("expected an error, parsed {p:?}"),
        Err(e) => e,
    }
}

fn counts(plan: &PlanReport) -> Vec<(&str, u64)> {
    plan.changes.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

#[test]
fn terraform_json_examples() {
    let Some(dir) = common::testdata("terraform") else { return };
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            all.insert(name, summary(tfplan::parse(&std::fs::read(&path).unwrap())));
        }
    }
    // invalid_plan.json is 120_basic_plan.json with a syntax error in `configuration`.
    assert_eq!(all["invalid_plan.json"]["error"], "line 676, column 29: trailing characters");
    assert_eq!(all["config_resource_depends_on_plan.json"]["changes"], json!({"no-op": 1, "replace": 1}));
    assert_eq!(all["no_changes_plan.json"]["changes"], json!({"no-op": 6}));
    assert_eq!(all["no_changes_plan.json"]["changed"], json!([]));
    insta::assert_json_snapshot!("terraform", all);
}

fn plan(body: &str) -> String {
    format!(r#"{{"format_version": "1.2", "terraform_version": "1.9.0", "planned_values": {{}}{body}}}"#)
}

fn change(address: &str, actions: &str) -> String {
    format!(r#"{{"address": "{address}", "type": "aws_s3_bucket", "name": "x", "change": {{"actions": {actions}}}}}"#)
}

#[test]
fn actions_are_collapsed_and_no_ops_not_listed() {
    let changes = [
        change("a.create", r#"["create"]"#),
        change("a.update", r#"["update"]"#),
        change("a.delete", r#"["delete"]"#),
        change("a.replace1", r#"["delete", "create"]"#),
        change("a.replace2", r#"["create", "delete"]"#),
        change("a.replace3", r#"["create", "forget"]"#),
        change("a.forget", r#"["forget"]"#),
        change("data.a.read", r#"["read"]"#),
        change("a.same", r#"["no-op"]"#),
    ];
    let p = ok(&plan(&format!(r#", "resource_changes": [{}]"#, changes.join(","))));
    assert_eq!(p.terraform_version, "1.9.0");
    assert_eq!(
        counts(&p),
        [("create", 1), ("delete", 1), ("forget", 1), ("no-op", 1), ("read", 1), ("replace", 3), ("update", 1)]
    );
    let listed: Vec<(&str, &str)> = p.changed.iter().map(|i| (i.address.as_str(), i.action.as_str())).collect();
    assert_eq!(
        listed,
        [
            ("a.create", "create"),
            ("a.update", "update"),
            ("a.delete", "delete"),
            ("a.replace1", "replace"),
            ("a.replace2", "replace"),
            ("a.replace3", "replace"),
            ("a.forget", "forget"),
            ("data.a.read", "read"),
        ]
    );
    assert!(p.changed.iter().all(|i| i.resource_type == "aws_s3_bucket"));
    assert!(p.drift.is_empty());
}

#[test]
fn drift_and_deposed_objects_are_listed() {
    let deposed =
        r#"{"address": "a.old", "type": "aws_instance", "deposed": "00000001", "change": {"actions": ["delete"]}}"#;
    let body = format!(
        r#", "resource_changes": [{deposed}], "resource_drift": [{}, {}]"#,
        change("a.drifted", r#"["update"]"#),
        change("a.gone", r#"["delete"]"#)
    );
    let p = ok(&plan(&body));
    assert_eq!(counts(&p), [("delete", 1)]);
    assert_eq!(p.changed[0].address, "a.old (deposed 00000001)");
    assert_eq!(
        p.drift,
        [
            PlanItem { address: "a.drifted".into(), resource_type: "aws_s3_bucket".into(), action: "update".into() },
            PlanItem { address: "a.gone".into(), resource_type: "aws_s3_bucket".into(), action: "delete".into() },
        ]
    );
}

#[test]
fn action_invocations_count_as_changes() {
    let body = r#", "action_invocations": [{"address": "action.notify.x", "type": "notify", "name": "x"}]"#;
    let p = ok(&plan(body));
    assert_eq!(counts(&p), [("invoke", 1)]);
    assert_eq!(p.changed[0].address, "action.notify.x");
}

#[test]
fn listed_changes_are_capped_but_all_counted() {
    let n = PlanReport::MAX_LISTED + 5;
    let changes: Vec<String> = (0..n).map(|i| change(&format!("a.b{i}"), r#"["create"]"#)).collect();
    let p = ok(&plan(&format!(r#", "resource_changes": [{}]"#, changes.join(","))));
    assert_eq!(p.changes["create"], n as u64);
    assert_eq!(p.changed.len(), PlanReport::MAX_LISTED);

    let drift: Vec<String> =
        (0..=PlanReport::MAX_LISTED).map(|i| change(&format!("a.b{i}"), r#"["update"]"#)).collect();
    let e = err(&plan(&format!(r#", "resource_drift": [{}]"#, drift.join(","))));
    assert_eq!(
        e.to_string(),
        "at `resource_drift[10000]`: more than 10000 drifted resources; Tollgate lists every drifted resource and reads no more"
    );
}

#[test]
fn format_versions() {
    for version in ["0.1", "0.2", "1.0", "1.2", "1.10"] {
        ok(&format!(r#"{{"format_version": "{version}", "planned_values": {{}}}}"#));
    }
    let e = err(r#"{"format_version": "2.0", "planned_values": {}}"#);
    assert_eq!(
        e.to_string(),
        "at `format_version`: plan format version 2.0 (major version 2) is not read; expected major version 0 or 1"
    );
    for bad in ["1", "1.x", "", "v1.0", "1.0.0"] {
        let e = err(&format!(r#"{{"format_version": "{bad}", "planned_values": {{}}}}"#));
        assert!(e.message.contains("expected a format version like \"1.2\""), "{bad}: {e}");
    }
    let e = err(r#"{"planned_values": {}}"#);
    assert_eq!(e.to_string(), "at `$`: expected the member `format_version`");
    let e = err(r#"{"format_version": 1.0, "planned_values": {}}"#);
    assert_eq!(e.to_string(), "at `format_version`: expected a string, found a number");
}

#[test]
fn terraform_version_may_be_absent() {
    let p = ok(r#"{"format_version": "1.2", "planned_values": {}}"#);
    assert_eq!(p.terraform_version, tfplan::UNKNOWN_VERSION);
    assert!(p.changes.is_empty() && p.changed.is_empty() && p.drift.is_empty());
}

#[test]
fn refusals() {
    let e = err(r#"{"format_version": "1.0", "terraform_version": "1.9.0", "values": {"root_module": {}}}"#);
    assert!(e.message.contains("this is not a plan (a state?)"), "{e}");

    let e = err(&plan(r#", "errored": true"#));
    assert_eq!(e.to_string(), "at `errored`: the plan errored and is incomplete; expected a successful plan");
    assert!(ok(&plan(r#", "errored": false"#)).changes.is_empty());

    let e = err(&plan(&format!(
        r#", "resource_changes": [{}, {}]"#,
        change("a", r#"["create"]"#),
        change("b", r#"["update", "delete"]"#)
    )));
    assert_eq!(
        e.to_string(),
        r#"at `resource_changes[1].change.actions`: expected a Terraform action list such as ["create"] or ["delete", "create"], found ["update","delete"]"#
    );
    let e = err(&plan(&format!(r#", "resource_changes": [{}]"#, change("a", "[]"))));
    assert!(e.message.contains("found []"), "{e}");

    let e = err(&plan(r#", "resource_changes": [{"address": "a", "type": "t", "change": {}}]"#));
    assert_eq!(e.to_string(), "at `resource_changes[0].change`: expected the member `actions`");

    let e = err(&plan(r#", "resource_changes": [{"address": "a", "change": {"actions": ["create"]}}]"#));
    assert_eq!(e.to_string(), "at `resource_changes[0]`: expected the member `type`");

    let e = err("[]");
    assert_eq!(e.to_string(), "at `$`: expected a Terraform plan object, found an array");

    let e = err("{\"format_version\": \"1.2\",\n\"format_version\": \"1.2\"}");
    assert!(e.message.contains("duplicate key"), "{e}");
    assert!(matches!(e.location, Location::LineColumn { line: 2, .. }), "{e:?}");
}
