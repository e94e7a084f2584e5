//! Bad profiles are refused with the file, line, column and key, and what was expected.

use tollgate_profile::{BUILTINS, load};

/// Loads `text` as `team.toml` and compares the rendered errors with `expect`.
fn check(text: &str, expect: &[&str]) {
    let errors = load("team.toml", text).expect_err("profile should be refused");
    let got: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
    assert_eq!(got, expect, "\n--- got ---\n{}\n", got.join("\n"));
}

/// The default profile with one textual replacement, which must apply.
fn qms_with(from: &str, to: &str) -> String {
    let text = BUILTINS[0].1;
    assert!(text.contains(from), "fixture drift: `{from}` not in the built-in profile");
    text.replacen(from, to, 1)
}

#[test]
fn invalid_toml_names_line_and_column() {
    check("[profile]\nid = \"x\nversion = 1\n", &["team.toml:2:8: invalid TOML: invalid basic string, expected `\"`"]);
}

#[test]
fn unknown_keys_are_refused_not_ignored() {
    let text = qms_with("[release-types.minor]\n", "[release-types.minor]\nmin-lead-tme = \"1 week\"\n");
    let errors = load("team.toml", &text).unwrap_err().to_string();
    assert!(errors.starts_with("team.toml:"), "{errors}");
    assert!(errors.ends_with("release-types.minor.min-lead-tme: unknown field `min-lead-tme`, expected one of `name`, `description`, `track`, `process`, `lead-time`, `min-lead-time`, `approvals`, `test-phases`, `stabilisation`, `rollout`"), "{errors}");
}

#[test]
fn unknown_role_in_an_approval_route() {
    let text = qms_with("{ role = \"qa-lead\" }] },", "{ role = \"qa-leed\" }] },");
    let errors = load("team.toml", &text).unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    let e = &errors.0[0];
    assert_eq!(e.key, "release-types.minor.approvals[0].requires[1].role[0]");
    assert!(e.message.starts_with("unknown role `qa-leed`; expected one of release-manager, "), "{}", e.message);
    let line = text.lines().position(|l| l.contains("qa-leed")).unwrap() + 1;
    assert_eq!(e.line, Some(line));
}

#[test]
fn bad_duration_says_what_is_expected() {
    let text = qms_with("min-lead-time = \"1 week\"", "min-lead-time = \"a week\"");
    let line = text.lines().position(|l| l.contains("a week")).unwrap() + 1;
    check(
        &text,
        &[&format!(
            "team.toml:{line}:1: release-types.minor.min-lead-time: `a week` is not a duration; expected a number and a unit, like `30m`, `4h`, `2 weeks` or `5 business days`"
        )],
    );
}

#[test]
fn criterion_with_unknown_check_and_stray_parameter() {
    let text = qms_with(
        "{ id = \"lead-time\", check = \"lead-time\",",
        "{ id = \"lead-time\", check = \"lead-time\", documents = [\"release-notes\"],",
    );
    let errors = load("team.toml", &text).unwrap_err().to_string();
    assert!(
        errors.contains(
            "gates[standard/planning].criteria[lead-time].documents: `documents` does not apply to check `lead-time`"
        ),
        "{errors}"
    );
}

#[test]
fn missing_deploy_gate_is_refused() {
    let text = qms_with(
        "opens = \"deploy\"\nname = \"4. Deployment: pre-deployment checks\"",
        "name = \"4. Deployment: pre-deployment checks\"",
    );
    let errors = load("team.toml", &text).unwrap_err().to_string();
    assert!(errors.contains("the standard track needs exactly one gate for leaving deployment, found 2"), "{errors}");
    assert!(errors.contains("the standard track needs exactly one `opens = \"deploy\"` gate"), "{errors}");
}

#[test]
fn an_overlay_that_tightens_loads() {
    let text = r#"
[profile]
id = "payments"
version = "2026.1"
title = "Payments release procedure"
document = "PAY-REL-001"
extends = "qms-dev-pro-004"

[release-types.minor]
min-lead-time = "10 days"
test-phases = ["unit", "integration", "system", "performance", "security-scan", "regression", "uat"]

[rollback]
target = "10m"

[[gates]]
track = "standard"
id = "testing"
criteria = [{ id = "pen-test", check = "confirmed", confirmation = "security-scan-within-threshold", says = "Penetration test reviewed." }]
"#;
    let profile = load("payments.toml", text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(profile.policy.id, "payments");
    assert_eq!(profile.policy.extends.as_deref(), Some("qms-dev-pro-004"));
    assert_eq!(profile.sources.len(), 2);
    assert_eq!(profile.policy.rollback.target.to_string(), "10m");
    let testing =
        profile.policy.gates.iter().find(|g| g.id == "testing" && g.criteria.iter().any(|c| c.id == "pen-test"));
    assert!(testing.is_some_and(|g| g.criteria.len() == 9));
}

#[test]
fn an_overlay_that_loosens_is_refused_naming_each_rule() {
    let text = r#"[profile]
id = "payments"
version = "2026.1"
title = "Payments"
document = "PAY-REL-001"
extends = "qms-dev-pro-004"

[release-types.minor]
min-lead-time = "3 days"
stabilisation = "30m"
test-phases = ["unit", "regression"]
approvals = [{ label = "QA only", requires = [{ role = "qa-lead" }] }]

[rollback]
target = "1h"

[authority]
deploy = ["devops-engineer", "release-manager"]

[[emergency.deferred]]
id = "change-request"
within = "8h"

[[gates]]
track = "standard"
id = "planning"
criteria = [{ id = "lead-time", check = "lead-time", overridable = true, types = ["major"], says = "x" }]
"#;
    let x = " in qms-dev-pro-004 1.0 (a profile that extends another may only tighten it)";
    check(
        text,
        &[
            &format!("team.toml:9:1: release-types.minor.min-lead-time: 3 days is shorter than 1 week{x}"),
            &format!("team.toml:10:1: release-types.minor.stabilisation: 30m is shorter than 2h{x}"),
            &format!(
                "team.toml:11:1: release-types.minor.test-phases: drops integration, system, performance, security-scan; required{x}"
            ),
            &format!(
                "team.toml:12:14: release-types.minor.approvals[0]: route \"QA only\" asks less than every route (Release Manager + QA Lead){x}"
            ),
            &format!("team.toml:15:1: rollback.target: 1h is longer than 15m{x}"),
            &format!(
                "team.toml:18:1: authority.deploy: lets release-manager deploy as well; only devops-engineer, platform-lead{x}"
            ),
            &format!("team.toml:22:1: emergency.deferred[change-request].within: 8h is later than 4h{x}"),
            &format!(
                "team.toml:27:74: gates[standard/planning].criteria[lead-time].types: applies to fewer release types; every type{x}"
            ),
        ],
    );
}

#[test]
fn an_overlay_may_name_its_trusted_keys_but_not_weaken_evidence_rules() {
    let text = r#"[profile]
id = "payments"
version = "2026.1"
title = "Payments"
document = "PAY-REL-001"
extends = "qms-dev-pro-004"

[artefacts]
trusted-keys = ["sha256:0707070707070707070707070707070707070707070707070707070707070707"]
signers = [{ identity = "https://github.com/acme/payments/.github/workflows/release.yml@refs/tags/v1", issuer = "https://token.actions.githubusercontent.com" }]
builders = [{ id = "https://github.com/actions/runner/github-hosted", keys = ["sha256:0808080808080808080808080808080808080808080808080808080808080808"] }]

[test-phases.unit]
evidence = []

[evidence]
critical-drift = [{ resource-type = "aws_db_instance", action = "delete" }]
performance-regression = "25%"
"#;
    let x = " in qms-dev-pro-004 1.0 (a profile that extends another may only tighten it)";
    check(
        text,
        &[
            &format!(
                "team.toml:14:1: test-phases.unit.evidence: no longer judges the phase from junit; it must be recorded{x}"
            ),
            &format!("team.toml:17:1: evidence.critical-drift: delete of * is critical drift{x}"),
            &format!("team.toml:17:1: evidence.critical-drift: replace of * is critical drift{x}"),
            &format!(
                "team.toml:18:1: evidence.performance-regression: lets SLO regressions up to 25% pass untriaged; 10%{x}"
            ),
        ],
    );
    let bad = "[profile]\nid = \"x\"\nversion = \"1\"\ntitle = \"x\"\ndocument = \"x\"\nextends = \"qms-dev-pro-004\"\n[artefacts]\ntrusted-keys = [\"abc\"]\n[test-phases.unit]\nevidence = [\"junit\", \"pdf\"]\n";
    check(
        bad,
        &[
            "team.toml:8:17: artefacts.trusted-keys[0]: `abc` is not a SHA-256 digest; expected sha256: followed by 64 hex digits (the SHA-256 of the key's DER SubjectPublicKeyInfo, as `tollgate artefact fingerprint` prints it)",
            "team.toml:10:22: test-phases.unit.evidence[1]: unknown evidence kind `pdf`; expected one of junit, sarif, sbom, vulns, tfplan, perf",
        ],
    );
}

#[test]
fn builders_are_pinned_to_their_keys_and_the_flat_list_is_refused_naming_the_new_form() {
    let head = "[profile]\nid = \"x\"\nversion = \"1\"\ntitle = \"x\"\ndocument = \"x\"\nextends = \"qms-dev-pro-004\"\n[artefacts]\n";
    // Regression: a flat list let any trusted key sign provenance for any trusted builder.
    check(
        &format!("{head}trusted-builders = [\"https://ci.example.com/runner\"]\n"),
        &[
            "team.toml:8:1: artefacts.trusted-builders: a flat list of builders is no longer read: provenance counts only when signed by a key pinned to the builder it names; write each builder as [[artefacts.builders]] with `id` (the SLSA builder id) and `keys` (the fingerprints of the keys that sign its provenance)",
        ],
    );
    // An empty flat list, as older profiles wrote it, means nothing and still loads.
    let empty = format!("{head}trusted-builders = []\n");
    tollgate_profile::load("team.toml", &empty).unwrap_or_else(|e| panic!("{e}"));
    check(
        &format!(
            "{head}[[artefacts.builders]]\nid = \"https://ci.example.com/runner\"\nkeys = []\n[[artefacts.builders]]\nid = \"https://ci.example.com/runner\"\nkeys = [\"abc\"]\n"
        ),
        &[
            "team.toml:10:1: artefacts.builders[0].keys: a builder needs at least one key: the fingerprint of a key that signs its provenance envelopes",
            "team.toml:12:1: artefacts.builders[1].id: builder `https://ci.example.com/runner` is listed twice; list its keys once",
            "team.toml:13:9: artefacts.builders[1].keys[0]: `abc` is not a SHA-256 digest; expected sha256: followed by 64 hex digits (the SHA-256 of the key's DER SubjectPublicKeyInfo, as `tollgate artefact fingerprint` prints it)",
        ],
    );
    let key = "sha256:0808080808080808080808080808080808080808080808080808080808080808";
    let ok = format!("{head}[[artefacts.builders]]\nid = \"https://ci.example.com/runner\"\nkeys = [\"{key}\"]\n");
    let profile = tollgate_profile::load("team.toml", &ok).unwrap_or_else(|e| panic!("{e}"));
    let builder = profile.policy.artefacts.builder("https://ci.example.com/runner").unwrap();
    assert_eq!(builder.keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(), [key]);
}

#[test]
fn unknown_base_profile() {
    check(
        "[profile]\nid = \"x\"\nversion = \"1\"\ntitle = \"x\"\ndocument = \"x\"\nextends = \"iso-9001\"\n",
        &[
            "team.toml:6:1: profile.extends: unknown base profile `iso-9001`; a profile may extend qms-dev-pro-004 or grs-isms-prc-009",
        ],
    );
}

#[test]
fn an_overlay_may_not_add_release_types_shorten_retention_or_add_an_emergency_type() {
    let text = r#"[profile]
id = "payments"
version = "2026.1"
title = "Payments"
document = "PAY-REL-001"
extends = "qms-dev-pro-004"

[release-types.quick]
name = "Quick"
description = "no controls"
track = "emergency"
process = "none"
lead-time = "none"
min-lead-time = "0s"
approvals = [{ label = "DevOps", requires = [{ role = "devops-engineer" }] }]
test-phases = []
stabilisation = "0s"

[[retention]]
document = "Approval and Sign-off Records"
content = "x"
keep = "1 year"
location = "x"
access = "x"
"#;
    let errors = load("team.toml", text).unwrap_err().to_string();
    assert!(errors.contains("at most one release type may be on the emergency track"), "{errors}");
    let text = text.replace("track = \"emergency\"", "track = \"standard\"");
    let errors = load("team.toml", &text).unwrap_err().to_string();
    assert!(errors.contains("release-types.quick: adds release type `quick`"), "{errors}");
    assert!(errors.contains("retention: \"Release Plans\" are retained for 3 years"), "{errors}");
}

#[test]
fn an_overlay_may_not_let_facts_be_recorded_later() {
    let text = r#"[profile]
id = "payments"
version = "2026.1"
title = "Payments"
document = "PAY-REL-001"
extends = "qms-dev-pro-004"

[recording]
max-lateness = "1 week"
"#;
    let errors = load("team.toml", text).unwrap_err().to_string();
    assert!(errors.contains("team.toml:9:1: recording.max-lateness: lets facts be recorded 1 week after they happened; at most 1 day in qms-dev-pro-004 1.0"), "{errors}");
}

#[test]
fn a_kpi_tollgate_does_not_compute_is_refused_naming_the_ones_it_does() {
    let bad = "[profile]\nid = \"x\"\nversion = \"1\"\ntitle = \"x\"\ndocument = \"x\"\nextends = \"grs-isms-prc-009\"\n[[kpis]]\nid = \"happiness\"\nname = \"Happiness\"\nmeasures = \"Smiles\"\n";
    check(
        bad,
        &[
            "team.toml:7:3: kpis[4].id: unknown KPI `happiness`; expected one Tollgate computes: deployment-frequency, deployment-success-rate, change-failure-rate, mean-time-to-restore, lead-time-for-changes, rollback-rate, mean-time-to-deploy, rollback-execution-time, environment-parity-drift, documentation-completeness, post-deployment-incident-rate, stabilisation-breach-rate, approval-cycle-time, emergency-release-frequency, deployment-rework-rate, unattributed-incidents",
        ],
    );
}

#[test]
fn a_rollback_trigger_rule_names_its_field_and_what_it_needs() {
    let text = qms_with(
        "rule = \"error-rate-over-baseline\", above-baseline = \"10%\", sustained = \"5m\"",
        "rule = \"error-rate-over-baseline\", above-baseline = \"ten\", more-than = 3",
    );
    let got: Vec<String> =
        load("team.toml", &text).unwrap_err().0.iter().map(|e| format!("{}: {}", e.key, e.message)).collect();
    assert_eq!(
        got,
        [
            "rollback.triggers[error-rate].more-than: `more-than` does not apply to rule `error-rate-over-baseline`",
            "rollback.triggers[error-rate].above-baseline: `ten`: expected a percentage, e.g. `10%`",
            "rollback.triggers[error-rate].sustained: rule `error-rate-over-baseline` needs `sustained`",
        ]
    );
    let text = qms_with("rule = \"data-integrity-fails\"", "rule = \"checksum\"");
    let errors = load("team.toml", &text).unwrap_err().to_string();
    assert!(
        errors.contains(
            "rollback.triggers[data-integrity].rule: unknown rule `checksum`; expected error-rate-over-baseline,"
        ),
        "{errors}"
    );
}

#[test]
fn an_overlay_may_tighten_a_rollback_trigger_but_not_loosen_it() {
    let overlay = |trigger: &str| {
        format!(
            "[profile]\nid = \"payments\"\nversion = \"2026.1\"\ntitle = \"Payments\"\ndocument = \"PAY-REL-001\"\nextends = \"qms-dev-pro-004\"\n\n[rollback]\ntriggers = [{trigger}]\n"
        )
    };
    let tighter = overlay("{ id = \"error-rate\", sustained = \"2m\" }, { id = \"health-check\", more-than = 1 }");
    assert!(load("team.toml", &tighter).is_ok(), "{:?}", load("team.toml", &tighter).err().map(|e| e.to_string()));
    let looser = overlay("{ id = \"error-rate\", above-baseline = \"25%\" }");
    let got: Vec<String> =
        load("team.toml", &looser).unwrap_err().0.iter().map(|e| format!("{}: {}", e.key, e.message)).collect();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].starts_with("rollback.triggers[error-rate]: fires above the baseline by more than 25.00% for 5 min, where the base fires at 10.00% for 5 min"), "{got:#?}");
    // An overlay merges into the base's trigger: another rule keeps the base's parameters, which
    // do not apply to it, so a measured trigger cannot be turned into another.
    let swapped = overlay("{ id = \"health-check\", rule = \"judgement\" }");
    let got = load("team.toml", &swapped).unwrap_err().to_string();
    assert!(
        got.contains("rollback.triggers[health-check].more-than: `more-than` does not apply to rule `judgement`"),
        "{got}"
    );
}

#[test]
fn a_release_types_minimum_rollout_may_be_tightened_but_not_loosened() {
    let overlay = |rollout: &str| {
        format!(
            "[profile]\nid = \"payments\"\nversion = \"2026.1\"\ntitle = \"Payments\"\ndocument = \"PAY-REL-001\"\nextends = \"qms-dev-pro-004\"\n\n[release-types.major.rollout]\n{rollout}\n"
        )
    };
    let errors = |text: &str| -> Vec<String> {
        load("team.toml", text).unwrap_err().0.iter().map(|e| format!("{}: {}", e.key, e.message)).collect()
    };
    // More stages, longer holds and a metric of its own are tighter
    let tighter = overlay(
        "steps = [{ weight = 1, hold = \"15m\" }, { weight = 5, hold = \"15m\" }, { weight = 25, hold = \"1h\" }, { weight = 100 }]\n[[release-types.major.rollout.analysis]]\nname = \"error-ratio\"\ncondition = \"< 0.01\"\ninterval = \"1m\"\nmin-samples = 5",
    );
    let loaded = load("team.toml", &tighter).map_err(|e| e.to_string()).unwrap();
    let minimum = loaded.policy.release_types["major"].rollout.clone().unwrap();
    assert_eq!(minimum.strategy.unwrap().steps().len(), 4);
    assert_eq!(minimum.analysis[0].query, "", "the service gives the query");
    // Skipping the 25% stage and holding 5% for 5 minutes are looser, each at its key
    let looser = errors(&overlay("steps = [{ weight = 5, hold = \"5m\" }, { weight = 100 }]"));
    assert_eq!(looser.len(), 2, "{looser:#?}");
    assert!(
        looser[0].starts_with("release-types.major.rollout.steps[0].hold: 5m at 5%, where the release type holds 15m"),
        "{looser:#?}"
    );
    assert!(looser[1].starts_with("release-types.major.rollout.steps: no stage at 25%"), "{looser:#?}");
    // Another strategy, or a signal dropped, is looser too
    let other = errors(&overlay("strategy = \"blue-green\"\nsteps = []\npre-promotion = \"1h\""));
    assert!(
        other[0].starts_with(
            "release-types.major.rollout.strategy: `blue-green`, where the release type rolls out by `canary`"
        ),
        "{other:#?}"
    );
    let blind = errors(&overlay("signals = [\"error-rate\"]"));
    assert!(blind[0].starts_with("release-types.major.rollout.signals.health: not measured"), "{blind:#?}");
    // A minimum that is no plan is refused at its key
    let unknown = errors(&overlay("signals = [\"error-rate\", \"health\", \"vibes\"]"));
    assert!(unknown[0].contains("release-types.major.rollout.signals[2]: unknown signal `vibes`"), "{unknown:#?}");
}

#[test]
fn an_overlay_may_not_drop_the_record_a_completed_rollback_raises() {
    let overlay = |afterwards: &str, base: &str| {
        format!(
            "[profile]\nid = \"payments\"\nversion = \"2026.1\"\ntitle = \"Payments\"\ndocument = \"PAY-REL-001\"\nextends = \"{base}\"\n\n[rollback.afterwards]\nsays = \"ours\"\n{afterwards}\n"
        )
    };
    let errors = |text: &str| -> Vec<String> {
        load("team.toml", text).unwrap_err().0.iter().map(|e| format!("{}: {}", e.key, e.message)).collect()
    };
    // QMS 4.5's incident record may gain a defect beside it, but not go
    assert!(load("team.toml", &overlay("defect = \"medium\"", "qms-dev-pro-004")).is_ok());
    let dropped = errors(&overlay("incident = \"P2\"\ndefect = \"nonsense\"", "grs-isms-prc-009"));
    assert!(dropped[0].contains("rollback.afterwards.defect: unknown severity `nonsense`"), "{dropped:#?}");
    // GRS 4.6's defect may be raised to critical, not lowered to low
    assert!(load("team.toml", &overlay("defect = \"critical\"", "grs-isms-prc-009")).is_ok());
    let lowered = errors(&overlay("defect = \"low\"", "grs-isms-prc-009"));
    assert!(
        lowered[0]
            .starts_with("rollback.afterwards.defect: a completed rollback opens a high defect in grs-isms-prc-009"),
        "{lowered:#?}"
    );
}
