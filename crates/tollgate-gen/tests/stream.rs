//! The `--small` history read back as the importer will read it: every line a CDEvent with the
//! fields the mapping needs, valid against the CDEvents 0.5.1 schemas, in timestamp order,
//! with unique ids, counts near the asked ones, every part of the mapping exercised, and every
//! reference (chain, change, artefact, incident, rolled-back deployment) resolvable.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate-gen")).args(args).output();
    out.unwrap_or_else(|e| panic!("tollgate-gen {args:?} did not run: {e}"))
}

struct Line {
    text: String,
    v: Value,
    /// `service.deployed` for `dev.cdevents.service.deployed.0.3.0`.
    ty: String,
    at: i64,
    chain: String,
}

impl Line {
    fn str(&self, pointer: &str) -> Option<&str> {
        self.v.pointer(pointer).and_then(Value::as_str)
    }
    fn get(&self, pointer: &str) -> &str {
        self.str(pointer).unwrap_or_else(|| panic!("{pointer} missing or not a string in {}", self.text))
    }
}

struct Small {
    lines: Vec<Line>,
    stderr: String,
}

fn millis(ts: &str) -> i64 {
    let t = chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("timestamp {ts:?}: {e}"));
    assert!(ts.ends_with('Z'), "timestamp {ts:?} is not UTC");
    t.timestamp_millis()
}

fn small() -> &'static Small {
    static SMALL: OnceLock<Small> = OnceLock::new();
    SMALL.get_or_init(|| {
        let out = run(&["--small"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).expect("output is UTF-8");
        let lines = stdout
            .lines()
            .enumerate()
            .map(|(i, text)| {
                let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("line {}: {e}: {text}", i + 1));
                let full = v.pointer("/context/type").and_then(Value::as_str).unwrap_or_default();
                let ty = full
                    .strip_prefix("dev.cdevents.")
                    .and_then(|t| t.strip_suffix(".0.3.0"))
                    .unwrap_or_else(|| panic!("line {}: type {full:?}", i + 1))
                    .to_string();
                let at = millis(v.pointer("/context/timestamp").and_then(Value::as_str).unwrap_or_default());
                let chain = v.pointer("/context/chainId").and_then(Value::as_str).unwrap_or_default().to_string();
                Line { text: text.to_string(), v, ty, at, chain }
            })
            .collect();
        Small { lines, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
    })
}

fn count(ty: &str) -> usize {
    small().lines.iter().filter(|l| l.ty == ty).count()
}

const TYPES: [&str; 10] = [
    "change.merged",
    "artifact.packaged",
    "pipelinerun.queued",
    "pipelinerun.started",
    "pipelinerun.finished",
    "service.deployed",
    "service.upgraded",
    "service.rolledback",
    "incident.detected",
    "incident.resolved",
];

#[test]
fn every_line_is_a_cdevent_with_the_fields_the_mapping_reads() {
    for l in &small().lines {
        assert_eq!(l.get("/context/specversion"), tollgate_gen::SPEC_VERSION);
        for p in ["/context/id", "/context/chainId", "/context/source", "/subject/id"] {
            assert!(!l.get(p).is_empty(), "{p} empty in {}", l.text);
        }
        assert!(l.v.pointer("/subject/content").is_some_and(Value::is_object), "{}", l.text);
        assert!(TYPES.contains(&l.ty.as_str()), "unexpected type in {}", l.text);
        match l.ty.as_str() {
            "service.deployed" | "service.upgraded" | "service.rolledback" => {
                assert!(["production", "staging"].contains(&l.get("/subject/content/environment/id")));
                assert!(l.get("/subject/content/artifactId").starts_with("pkg:oci/"));
            }
            "artifact.packaged" => {
                assert!(l.get("/subject/id").starts_with("pkg:oci/"));
                l.get("/subject/content/change/id");
            }
            "change.merged" => {
                if let Some(at) = l.str("/customData/committedAt") {
                    assert!(millis(at) <= l.at, "committed after merged: {}", l.text);
                }
            }
            "pipelinerun.started" => {
                l.get("/subject/content/pipelineName");
                l.get("/subject/content/uri");
            }
            "pipelinerun.finished" => {
                assert!(["success", "failure", "error", "cancel"].contains(&l.get("/subject/content/outcome")));
                l.get("/customData/service");
                assert!(["production", "staging"].contains(&l.get("/customData/environment")));
            }
            "incident.detected" | "incident.resolved" => {
                assert_eq!(l.get("/subject/content/environment/id"), "production");
                l.get("/subject/content/service/id");
                if let Some(sev) = l.v.pointer("/customData/severity") {
                    assert!(["P1", "P2", "P3", "P4"].contains(&sev.as_str().unwrap_or_default()), "{}", l.text);
                }
            }
            _ => {}
        }
    }
}

#[test]
fn lines_are_in_timestamp_order_within_the_window_with_unique_ids() {
    let lines = &small().lines;
    let mut ids = HashSet::new();
    for pair in lines.windows(2) {
        assert!(pair[0].at <= pair[1].at, "out of order:\n{}\n{}", pair[0].text, pair[1].text);
    }
    for l in lines {
        assert!(ids.insert(l.get("/context/id")), "duplicate id in {}", l.text);
    }
    let end = tollgate_gen::DEFAULT_END * 1000;
    let (first, last) = (lines[0].at, lines[lines.len() - 1].at);
    assert!(first >= end - 30 * 86_400_000 && last <= end, "window {first}..{last}");
    // The stream covers the window, not just its start.
    assert!(last > end - 86_400_000, "last event {last}");
}

#[test]
fn counts_are_near_the_asked_ones() {
    let s = small();
    let prod = s
        .lines
        .iter()
        .filter(|l| l.ty.starts_with("service.") && l.ty != "service.rolledback")
        .filter(|l| l.get("/subject/content/environment/id") == "production")
        .count();
    assert!((1_200..=1_800).contains(&prod), "{prod} production deployments for ~1500");
    let incidents = count("incident.detected");
    assert!((80..=170).contains(&incidents), "{incidents} incidents for ~120");
    let failed = s
        .lines
        .iter()
        .filter(|l| l.ty == "pipelinerun.finished")
        .filter(|l| matches!(l.get("/subject/content/outcome"), "failure" | "error"))
        .count();
    let failed_share = failed as f64 / (prod + failed) as f64;
    assert!((0.01..=0.06).contains(&failed_share), "failed pipelines {failed_share:.3}");
    let rollback_share = count("service.rolledback") as f64 / prod as f64;
    assert!((0.005..=0.05).contains(&rollback_share), "rollbacks {rollback_share:.3}");
    let attributed = s
        .lines
        .iter()
        .filter(|l| l.ty == "incident.detected" && l.str("/subject/content/artifactId").is_some())
        .count();
    let attributed_share = attributed as f64 / incidents as f64;
    assert!((0.4..=0.8).contains(&attributed_share), "attributed incidents {attributed_share:.2}");
    // The summary on stderr counts what was written.
    assert!(s.stderr.contains(&format!("lines {} ", s.lines.len())), "{}", s.stderr);
    assert!(s.stderr.contains(&format!("production {prod} ")), "{}", s.stderr);
}

/// Reads the stream as the importer does and checks that every reference resolves to what the
/// generator meant; also counts how often each part of the mapping occurs.
#[derive(Default, Debug)]
struct Coverage {
    failures_production: usize,
    failures_staging: usize,
    error_outcomes: usize,
    cancelled: usize,
    rollbacks_of_first_deployment: usize,
    rollbacks_without_pipeline: usize,
    unattributed_incidents: usize,
    incidents_without_severity: usize,
    emergencies: usize,
    changes_in_several_artefacts: usize,
    changes_without_commit_time: usize,
    chains_with_queued: usize,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Last {
    Deployed { at: i64, rolled_back: bool, count: usize },
    Failed,
}

fn read_as_importer() -> Coverage {
    let mut cov = Coverage::default();
    let mut chain_first: HashMap<&str, i64> = HashMap::new();
    let mut pipeline_start: HashMap<&str, i64> = HashMap::new();
    let mut queued_chains: HashSet<&str> = HashSet::new();
    let mut deploy_chains: HashSet<&str> = HashSet::new();
    let mut failed_chains: Vec<&str> = Vec::new();
    let mut merged: HashSet<&str> = HashSet::new();
    let mut artefacts_of_change: HashMap<&str, HashSet<&str>> = HashMap::new();
    // Production deployments by artefact, and the last production outcome per service.
    let mut deployed_artefacts: HashMap<&str, (&str, i64)> = HashMap::new();
    let mut last: HashMap<&str, Last> = HashMap::new();
    let mut deploy_count: HashMap<&str, usize> = HashMap::new();
    let mut detected: HashMap<&str, (i64, Option<&str>)> = HashMap::new();
    let mut resolved: HashSet<&str> = HashSet::new();

    for l in &small().lines {
        chain_first.entry(l.chain.as_str()).or_insert(l.at);
        match l.ty.as_str() {
            "change.merged" => {
                assert!(merged.insert(l.get("/subject/id")), "change merged twice: {}", l.text);
                cov.changes_without_commit_time += usize::from(l.str("/customData/committedAt").is_none());
            }
            "artifact.packaged" => {
                let change = l.get("/subject/content/change/id");
                assert!(merged.contains(change), "packaged before its change was merged: {}", l.text);
                artefacts_of_change.entry(change).or_default().insert(l.get("/subject/id"));
            }
            "pipelinerun.queued" | "pipelinerun.started" => {
                pipeline_start.entry(l.chain.as_str()).or_insert(l.at);
                if l.ty == "pipelinerun.queued" {
                    queued_chains.insert(&l.chain);
                }
            }
            "pipelinerun.finished" => {
                let env = l.get("/customData/environment");
                match l.get("/subject/content/outcome") {
                    "failure" | "error" => {
                        assert!(!deploy_chains.contains(l.chain.as_str()), "failed chain deployed: {}", l.text);
                        failed_chains.push(&l.chain);
                        cov.error_outcomes += usize::from(l.get("/subject/content/outcome") == "error");
                        if env == "production" {
                            cov.failures_production += 1;
                            last.insert(l.get("/customData/service"), Last::Failed);
                        } else {
                            cov.failures_staging += 1;
                        }
                    }
                    "cancel" => cov.cancelled += 1,
                    _ => {}
                }
            }
            "service.deployed" | "service.upgraded" => {
                deploy_chains.insert(&l.chain);
                let start = *pipeline_start
                    .get(l.chain.as_str())
                    .unwrap_or_else(|| panic!("deployment without a pipeline start: {}", l.text));
                let minutes = (l.at - start) as f64 / 60_000.0;
                assert!((4.9..=65.1).contains(&minutes), "pipeline of {minutes:.1} min: {}", l.text);
                if l.get("/subject/content/environment/id") != "production" {
                    continue;
                }
                let service = l.get("/subject/id");
                let artefact = l.get("/subject/content/artifactId");
                assert!(deployed_artefacts.insert(artefact, (service, l.at)).is_none(), "redeployed: {}", l.text);
                let count = *deploy_count.entry(service).and_modify(|n| *n += 1).or_insert(1);
                last.insert(service, Last::Deployed { at: l.at, rolled_back: false, count });
                if l.v.pointer("/customData/emergency") == Some(&Value::Bool(true)) {
                    let incident = l.get("/customData/incident");
                    let (at, severity) = detected
                        .get(incident)
                        .copied()
                        .unwrap_or_else(|| panic!("emergency for an unknown incident: {}", l.text));
                    assert!(at < start, "emergency pipeline started before its incident: {}", l.text);
                    assert!(matches!(severity, None | Some("P1" | "P2")), "emergency for {severity:?}");
                    cov.emergencies += 1;
                }
            }
            "service.rolledback" => {
                let service = l.get("/subject/id");
                // "The latest earlier deployment of that service and environment" must be the
                // one this rollback was generated for: a successful one, not yet rolled back.
                let Some(Last::Deployed { at, rolled_back: false, count }) = last.get(service).copied() else {
                    panic!("rollback not preceded by a live deployment: {} (last: {:?})", l.text, last.get(service));
                };
                let decided = chain_first[l.chain.as_str()];
                assert!(at < decided && decided <= l.at, "decided {decided} for deployment at {at}: {}", l.text);
                if decided == l.at {
                    cov.rollbacks_without_pipeline += 1;
                }
                if count == 1 {
                    cov.rollbacks_of_first_deployment += 1;
                }
                last.insert(service, Last::Deployed { at, rolled_back: true, count });
            }
            "incident.detected" => {
                let id = l.get("/subject/id");
                let severity = l.str("/customData/severity");
                assert!(detected.insert(id, (l.at, severity)).is_none(), "incident detected twice: {}", l.text);
                cov.incidents_without_severity += usize::from(severity.is_none());
                match l.str("/subject/content/artifactId") {
                    Some(artefact) => {
                        let (service, at) = deployed_artefacts
                            .get(artefact)
                            .copied()
                            .unwrap_or_else(|| panic!("incident names an undeployed artefact: {}", l.text));
                        assert!(at <= l.at, "incident before its deployment: {}", l.text);
                        assert_eq!(service, l.get("/subject/content/service/id"));
                    }
                    None => cov.unattributed_incidents += 1,
                }
            }
            "incident.resolved" => {
                let id = l.get("/subject/id");
                assert!(detected.contains_key(id), "resolved before detected: {}", l.text);
                assert!(resolved.insert(id), "resolved twice: {}", l.text);
            }
            other => panic!("unexpected type {other}"),
        }
    }
    for chain in failed_chains {
        assert!(!deploy_chains.contains(chain), "failed chain {chain} has a deployment");
    }
    cov.changes_in_several_artefacts = artefacts_of_change.values().filter(|a| a.len() > 1).count();
    cov.chains_with_queued = queued_chains.len();
    cov
}

#[test]
fn references_resolve_and_every_part_of_the_mapping_occurs() {
    let cov = read_as_importer();
    for ty in TYPES {
        assert!(count(ty) > 0, "no {ty} in the small history");
    }
    let all = [
        cov.failures_production,
        cov.failures_staging,
        cov.error_outcomes,
        cov.cancelled,
        cov.rollbacks_of_first_deployment,
        cov.rollbacks_without_pipeline,
        cov.unattributed_incidents,
        cov.incidents_without_severity,
        cov.emergencies,
        cov.changes_in_several_artefacts,
        cov.changes_without_commit_time,
        cov.chains_with_queued,
    ];
    assert!(all.iter().all(|&n| n > 0), "a part of the mapping never occurs: {cov:?}");
}

#[test]
fn the_library_writes_what_the_binary_writes_and_keeps_its_order_unaided() {
    let mut out = Vec::new();
    let summary = tollgate_gen::generate(&tollgate_gen::Config::small(), &mut out).expect("generates");
    assert_eq!((summary.out_of_order, summary.clamped), (0, 0));
    assert_eq!(summary.lines as usize, small().lines.len());
    assert_eq!(summary.bytes as usize, out.len());
    let written: Vec<&str> = small().lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(String::from_utf8(out).expect("UTF-8").lines().collect::<Vec<_>>(), written);
    assert!(!small().stderr.contains("warning"), "{}", small().stderr);
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = run(&["--small", "--seed", "11", "--quiet"]);
    let b = run(&["--small", "--seed", "11", "--quiet"]);
    let c = run(&["--small", "--seed", "12", "--quiet"]);
    assert!(a.status.success() && a.stderr.is_empty(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(a.stdout, c.stdout);
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    for (args, says) in [
        (&["--services", "0"][..], "--services"),
        (&["--days", "0.5"][..], "between 1 day"),
        (&["--end", "soon"][..], "RFC 3339"),
        (&["--small", "--deployments", "100000000"][..], "per service per day"),
        (&["--years", "1", "--days", "3"][..], "cannot be used with"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} wrote events");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// The shared CDEvents schemas, when present (see `.ci/run`: required in CI).
fn schema_dir() -> Option<PathBuf> {
    if let Some(root) = std::env::var_os("TOLLGATE_TESTDATA") {
        let dir = PathBuf::from(root).join("cdevents/schemas");
        assert!(dir.is_dir(), "TOLLGATE_TESTDATA is set but {} is not a folder", dir.display());
        return Some(dir);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest.join("../../../shared/testdata/cdevents/schemas");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} not found (set TOLLGATE_TESTDATA to require it)", dir.display());
        None
    }
}

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_line_validates_against_the_cdevents_schemas() {
    let Some(dir) = schema_dir() else { return };
    let mut registry = jsonschema::Registry::new();
    let links = std::fs::read_dir(dir.join("links")).expect("schemas/links");
    for entry in links {
        let schema = read_json(&entry.expect("directory entry").path());
        let id = schema["$id"].as_str().expect("$id").to_string();
        registry = registry.add(id, schema).expect("link schema");
    }
    let registry = registry.prepare().expect("schema registry");
    let mut validators = HashMap::new();
    for ty in TYPES {
        let file = format!("{}.json", ty.replace('.', ""));
        let schema = read_json(&dir.join(file));
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .with_registry(&registry)
            .build(&schema)
            .unwrap_or_else(|e| panic!("schema of {ty}: {e}"));
        validators.insert(ty, validator);
    }
    // The validator is strict enough to catch a misspelt context key.
    let mut wrong = small().lines[0].v.clone();
    wrong["context"]["version"] = Value::from("0.5.0");
    assert!(!validators[small().lines[0].ty.as_str()].is_valid(&wrong));
    for l in &small().lines {
        let errors: Vec<String> = validators[l.ty.as_str()].iter_errors(&l.v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", l.text);
    }
}
