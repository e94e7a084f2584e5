//! From the file's shape to a validated `Policy`. Every reference is checked (roles, touches,
//! test phases, documents, confirmations), every duration parsed, and every track given a gate
//! for each phase; all problems are collected with the key path they concern.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use indexmap::IndexMap;
use tollgate_domain::evidence::{Digest, EvidenceKind};
use tollgate_domain::lifecycle::{Phase, Track};
use tollgate_domain::obligation;
use tollgate_domain::policy::*;
use tollgate_domain::rollout::trigger::Rule;
use tollgate_domain::time::{Calendar, Span};

use crate::path::KeyPath;
use crate::raw::*;

/// Problems found, each at a key path.
#[derive(Default)]
pub struct Problems(pub Vec<(KeyPath, String)>);

impl Problems {
    pub fn at(&mut self, path: &KeyPath, message: impl Into<String>) {
        self.0.push((path.clone(), message.into()));
    }
}

/// A rollback trigger's rule (4.5), with each parameter its rule needs and no other.
fn trigger_rule(cx: &mut Ctx, path: &KeyPath, t: &RawTrigger) -> Rule {
    const RULES: &str = "error-rate-over-baseline, latency-over-slo, health-check-failures, data-integrity-fails, incident-attributed or judgement";
    let rule = t.rule.as_deref().unwrap_or("judgement");
    let wants: &[&str] = match rule {
        "error-rate-over-baseline" => &["above-baseline", "sustained"],
        "latency-over-slo" => &["sustained"],
        "health-check-failures" => &["more-than"],
        "incident-attributed" => &["severity"],
        "data-integrity-fails" | "judgement" => &[],
        other => {
            cx.problems.at(&path.key("rule"), format!("unknown rule `{other}`; expected {RULES}"));
            return Rule::Judgement;
        }
    };
    stray_parameters(cx, path, t, rule, wants);
    let required = |cx: &mut Ctx, key: &str| cx.problems.at(&path.key(key), format!("rule `{rule}` needs `{key}`"));
    let sustained = |cx: &mut Ctx, text: Option<&String>| match text.map(|s| s.parse::<Span>()) {
        None => chrono::Duration::zero(),
        Some(Ok(Span::Fixed(d))) => d,
        Some(Ok(Span::BusinessDays(_))) => {
            cx.problems.at(&path.key("sustained"), "a fixed span (`5m`), not business days");
            chrono::Duration::zero()
        }
        Some(Err(e)) => {
            cx.problems.at(&path.key("sustained"), e.0);
            chrono::Duration::zero()
        }
    };
    match rule {
        "error-rate-over-baseline" => {
            let more_than = match t.above_baseline.as_deref().map(percent) {
                Some(Ok(r)) => r,
                Some(Err(e)) => {
                    cx.problems.at(&path.key("above-baseline"), e);
                    0.0
                }
                None => {
                    required(cx, "above-baseline");
                    0.0
                }
            };
            if t.sustained.is_none() {
                required(cx, "sustained");
            }
            Rule::ErrorRateOverBaseline { more_than, sustained: sustained(cx, t.sustained.as_ref()) }
        }
        "latency-over-slo" => Rule::LatencyOverSlo { sustained: sustained(cx, t.sustained.as_ref()) },
        "health-check-failures" => Rule::HealthCheckFailures {
            more_than: t.more_than.unwrap_or_else(|| {
                required(cx, "more-than");
                0
            }),
        },
        "incident-attributed" => Rule::IncidentAttributed {
            severity: t.severity.clone().unwrap_or_else(|| {
                required(cx, "severity");
                String::new()
            }),
        },
        "data-integrity-fails" => Rule::DataIntegrityFails,
        _ => Rule::Judgement,
    }
}

/// A parameter written for another rule than the one given is refused, not ignored.
fn stray_parameters(cx: &mut Ctx, path: &KeyPath, t: &RawTrigger, rule: &str, wants: &[&str]) {
    let given = [
        ("above-baseline", t.above_baseline.is_some()),
        ("sustained", t.sustained.is_some()),
        ("more-than", t.more_than.is_some()),
        ("severity", t.severity.is_some()),
    ];
    for (key, present) in given {
        if present && !wants.contains(&key) {
            cx.problems.at(&path.key(key), format!("`{key}` does not apply to rule `{rule}`"));
        }
    }
}

/// `10%` as 0.10.
fn percent(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix('%').ok_or_else(|| format!("`{text}`: expected a percentage, e.g. `10%`"))?;
    match number.trim().parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p / 100.0),
        _ => Err(format!("`{text}`: expected a percentage of zero or more, e.g. `10%`")),
    }
}

fn ids<V>(map: &IndexMap<String, V>) -> String {
    map.keys().cloned().collect::<Vec<_>>().join(", ")
}

struct Ctx<'a> {
    raw: &'a RawProfile,
    problems: Problems,
}

impl Ctx<'_> {
    fn span(&mut self, path: &KeyPath, text: &str) -> Span {
        text.parse().unwrap_or_else(|e: tollgate_domain::time::SpanError| {
            self.problems.at(path, e.0);
            Span::ZERO
        })
    }

    fn roles(&mut self, path: &KeyPath, roles: &[String]) -> Vec<RoleId> {
        if roles.is_empty() {
            self.problems.at(path, "expected at least one role");
        }
        for (i, r) in roles.iter().enumerate() {
            if !self.raw.roles.contains_key(r) {
                self.problems
                    .at(&path.index(i), format!("unknown role `{r}`; expected one of {}", ids(&self.raw.roles)));
            }
        }
        roles.to_vec()
    }

    fn touches(&mut self, path: &KeyPath, touches: &[String]) -> BTreeSet<Touch> {
        for (i, t) in touches.iter().enumerate() {
            if !self.raw.touches.contains_key(t) {
                self.problems
                    .at(&path.index(i), format!("unknown touch `{t}`; expected one of {}", ids(&self.raw.touches)));
            }
        }
        touches.iter().cloned().collect()
    }

    fn requirement(&mut self, path: &KeyPath, raw: &RawRequirement) -> Requirement {
        let role = self.roles(&path.key("role"), std::slice::from_ref(&raw.role)).remove(0);
        let count = match &raw.count {
            None => Count::AtLeast(1),
            Some(RawCount::Number(n)) if (1..=100).contains(n) => Count::AtLeast(*n as u32),
            Some(RawCount::Word(w)) if w == "all" => Count::All,
            Some(_) => {
                self.problems.at(&path.key("count"), "expected a number from 1 to 100, or \"all\"");
                Count::AtLeast(1)
            }
        };
        let when_touches = self.touches(&path.key("when-touches"), &raw.when_touches);
        Requirement { role, count, when_touches }
    }

    fn check(&mut self, path: &KeyPath, kind: &str, p: Params<'_>) -> Check {
        let mut used: Vec<&str> = Vec::new();
        let mut need = |ctx: &mut Ctx, name: &'static str, present: bool| {
            used.push(name);
            if !present {
                ctx.problems.at(path, format!("check `{kind}` needs `{name}`"));
            }
        };
        let check = match kind {
            "classified" => Check::Classified,
            "scope-recorded" => Check::ScopeRecorded,
            "scope-locked" => Check::ScopeLocked,
            "scope-rollback" => Check::ScopeRollback,
            "approvals" => Check::Approvals,
            "lead-time" => Check::LeadTime,
            "outside-blackout" => Check::OutsideBlackout,
            "within-window" => Check::WithinWindow,
            "go-decision" => Check::GoDecision,
            "deployed" => Check::Deployed,
            "stabilisation-elapsed" => Check::StabilisationElapsed,
            "obligations-done" => Check::ObligationsDone,
            "tagged" => Check::Tagged,
            "artefacts-signed" => Check::ArtefactsSigned,
            "provenance" => Check::Provenance,
            "no-critical-findings" => Check::NoCriticalFindings,
            "plan" => {
                need(self, "fields", p.fields.is_some());
                let fields = p.fields.unwrap_or(&[]);
                let parsed = fields
                    .iter()
                    .enumerate()
                    .filter_map(|(i, f)| {
                        let field = PlanField::from_key(f);
                        if field.is_none() {
                            self.problems.at(
                                &path.key("fields").index(i),
                                format!("unknown plan field `{f}`; expected impact, blast-radius or rollback-strategy"),
                            );
                        }
                        field
                    })
                    .collect();
                Check::Plan(parsed)
            }
            "confirmed" | "reviewed-since-rollback" => {
                need(self, "confirmation", p.confirmation.is_some());
                let id = p.confirmation.unwrap_or_default().to_owned();
                if p.confirmation.is_some() && !self.raw.confirmations.contains_key(&id) {
                    self.problems.at(
                        &path.key("confirmation"),
                        format!("unknown confirmation `{id}`; it must be defined under [confirmations]"),
                    );
                }
                if kind == "confirmed" { Check::Confirmed(id) } else { Check::ReviewedSinceRollback(id) }
            }
            "documents" => {
                need(self, "documents", p.documents.is_some());
                let docs = p.documents.unwrap_or(&[]).to_vec();
                self.documents(&path.key("documents"), &docs);
                Check::Documents(docs)
            }
            "test-phases" => {
                used.extend(["only", "except"]);
                let only = p.only.unwrap_or(&[]).to_vec();
                let except = p.except.unwrap_or(&[]).to_vec();
                self.test_phase_ids(&path.key("only"), &only);
                self.test_phase_ids(&path.key("except"), &except);
                Check::TestPhases { only, except }
            }
            "no-open-defects" | "defects-triaged" => {
                need(self, "severity", p.severity.is_some());
                let severity = p.severity.and_then(Severity::from_key).unwrap_or_else(|| {
                    if p.severity.is_some() {
                        self.problems.at(&path.key("severity"), "expected critical, high, medium or low");
                    }
                    Severity::Critical
                });
                if kind == "no-open-defects" { Check::NoOpenDefects(severity) } else { Check::DefectsTriaged(severity) }
            }
            "rollout" => {
                need(self, "evidence", p.evidence.is_some());
                need(self, "confirmation", p.confirmation.is_some());
                let confirmation = p.confirmation.unwrap_or_default().to_owned();
                if p.confirmation.is_some() && !self.raw.confirmations.contains_key(&confirmation) {
                    self.problems.at(
                        &path.key("confirmation"),
                        format!("unknown confirmation `{confirmation}`; it must be defined under [confirmations]"),
                    );
                }
                let evidence = match p.evidence.unwrap_or("smoke-tests") {
                    "smoke-tests" => RolloutEvidence::SmokeTests,
                    "no-trigger" => RolloutEvidence::NoTrigger,
                    "within-baseline" => {
                        need(self, "margin", p.margin.is_some());
                        let margin = p.margin.map(percent).transpose().unwrap_or_else(|e| {
                            self.problems.at(&path.key("margin"), e);
                            None
                        });
                        RolloutEvidence::WithinBaseline { margin: margin.unwrap_or(0.10) }
                    }
                    other => {
                        self.problems.at(
                            &path.key("evidence"),
                            format!("unknown rollout evidence `{other}`; expected smoke-tests, no-trigger or within-baseline"),
                        );
                        RolloutEvidence::SmokeTests
                    }
                };
                Check::Rollout { evidence, confirmation }
            }
            "elapsed-since-deployment" => {
                need(self, "duration", p.duration.is_some());
                Check::ElapsedSinceDeployment(self.span(&path.key("duration"), p.duration.unwrap_or("0s")))
            }
            other => {
                self.problems
                    .at(&path.key("check"), format!("unknown check `{other}`; expected one of {}", CHECKS.join(", ")));
                return Check::Classified;
            }
        };
        for (name, given) in p.given() {
            if given && !used.contains(&name) {
                self.problems.at(&path.key(name), format!("`{name}` does not apply to check `{kind}`"));
            }
        }
        check
    }

    fn documents(&mut self, path: &KeyPath, docs: &[String]) {
        for (i, d) in docs.iter().enumerate() {
            if !self.raw.documents.contains_key(d) {
                self.problems.at(
                    &path.index(i),
                    format!("unknown document `{d}`; expected one of {}", ids(&self.raw.documents)),
                );
            }
        }
    }

    fn test_phase_ids(&mut self, path: &KeyPath, phases: &[String]) {
        for (i, t) in phases.iter().enumerate() {
            if !self.raw.test_phases.contains_key(t) {
                self.problems.at(
                    &path.index(i),
                    format!("unknown test phase `{t}`; expected one of {}", ids(&self.raw.test_phases)),
                );
            }
        }
    }

    fn types(&mut self, path: &KeyPath, types: &[String]) -> BTreeSet<TypeId> {
        for (i, t) in types.iter().enumerate() {
            if !self.raw.release_types.contains_key(t) {
                self.problems.at(
                    &path.index(i),
                    format!("unknown release type `{t}`; expected one of {}", ids(&self.raw.release_types)),
                );
            }
        }
        types.iter().cloned().collect()
    }
}

const CHECKS: [&str; 25] = [
    "classified",
    "scope-recorded",
    "scope-locked",
    "scope-rollback",
    "plan",
    "approvals",
    "lead-time",
    "outside-blackout",
    "within-window",
    "confirmed",
    "documents",
    "test-phases",
    "no-open-defects",
    "defects-triaged",
    "go-decision",
    "deployed",
    "stabilisation-elapsed",
    "elapsed-since-deployment",
    "obligations-done",
    "reviewed-since-rollback",
    "tagged",
    "artefacts-signed",
    "provenance",
    "no-critical-findings",
    "rollout",
];

/// The check parameters of a criterion or an obligation.
#[derive(Clone, Copy)]
struct Params<'a> {
    confirmation: Option<&'a str>,
    fields: Option<&'a [String]>,
    documents: Option<&'a [String]>,
    only: Option<&'a [String]>,
    except: Option<&'a [String]>,
    severity: Option<&'a str>,
    duration: Option<&'a str>,
    evidence: Option<&'a str>,
    margin: Option<&'a str>,
}

impl Params<'_> {
    fn given(&self) -> [(&'static str, bool); 9] {
        [
            ("confirmation", self.confirmation.is_some()),
            ("fields", self.fields.is_some()),
            ("documents", self.documents.is_some()),
            ("only", self.only.is_some()),
            ("except", self.except.is_some()),
            ("severity", self.severity.is_some()),
            ("duration", self.duration.is_some()),
            ("evidence", self.evidence.is_some()),
            ("margin", self.margin.is_some()),
        ]
    }
}

macro_rules! params {
    ($raw:expr) => {
        Params {
            confirmation: $raw.confirmation.as_deref(),
            fields: $raw.fields.as_deref(),
            documents: $raw.documents.as_deref(),
            only: $raw.only.as_deref(),
            except: $raw.except.as_deref(),
            severity: $raw.severity.as_deref(),
            duration: $raw.duration.as_deref(),
            evidence: $raw.evidence.as_deref(),
            margin: $raw.margin.as_deref(),
        }
    };
}

pub fn to_policy(raw: &RawProfile) -> Result<Policy, Problems> {
    let mut cx = Ctx { raw, problems: Problems::default() };
    let root = KeyPath::root();

    let header = root.key("profile");
    for (key, value) in [("id", &raw.profile.id), ("version", &raw.profile.version), ("title", &raw.profile.title)] {
        if value.trim().is_empty() {
            cx.problems.at(&header.key(key), "must not be empty");
        }
    }
    if !raw.profile.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        cx.problems.at(&header.key("id"), "use lowercase letters, digits and dashes");
    }

    let mut holidays = BTreeSet::new();
    for (i, h) in raw.calendar.holidays.iter().enumerate() {
        match NaiveDate::parse_from_str(h, "%Y-%m-%d") {
            Ok(d) => {
                holidays.insert(d);
            }
            Err(_) => cx.problems.at(
                &root.key("calendar").key("holidays").index(i),
                format!("`{h}` is not a date; expected YYYY-MM-DD"),
            ),
        }
    }

    let mut roles = BTreeMap::new();
    for (id, r) in &raw.roles {
        let backup = r.backup.clone();
        for (i, b) in backup.iter().enumerate() {
            if !raw.roles.contains_key(b) {
                cx.problems.at(&root.key("roles").key(id).key("backup").index(i), format!("unknown role `{b}`"));
            }
        }
        roles
            .insert(id.clone(), RoleDef { name: r.name.clone(), responsibilities: r.responsibilities.clone(), backup });
    }

    let environments: Vec<Environment> =
        raw.environments.iter().map(|e| Environment { id: e.id.clone(), production: e.production }).collect();
    if environments.iter().filter(|e| e.production).count() != 1 {
        cx.problems.at(&root.key("environments"), "exactly one environment must be marked `production = true`");
    }
    // Environments are named as `environment_key` compares them: two ids that differ only in
    // case or spacing would be one environment.
    for (i, e) in environments.iter().enumerate() {
        let key = tollgate_domain::policy::environment_key(&e.id);
        if let Some(earlier) = environments[..i].iter().find(|o| tollgate_domain::policy::environment_key(&o.id) == key)
        {
            cx.problems.at(
                &root.key("environments"),
                format!(
                    "environments `{}` and `{}` differ only in case or spacing; they would be one environment",
                    earlier.id, e.id
                ),
            );
        }
    }

    let mut authority = BTreeMap::new();
    let auth_path = root.key("authority");
    for (key, roles) in &raw.authority {
        match Action::from_key(key) {
            Some(action) => {
                authority.insert(action, cx.roles(&auth_path.key(key), roles));
            }
            None => cx.problems.at(
                &auth_path.key(key),
                format!("unknown action; expected one of {}", Action::ALL.map(|a| a.key()).join(", ")),
            ),
        }
    }
    // Added after profiles were first adopted: a profile without the key (every one adopted
    // before it existed) gives it to whoever may withdraw a release, the other decision about a
    // release's standing, so old logs replay to the same authority.
    if !authority.contains_key(&Action::RegovernRelease)
        && let Some(roles) = authority.get(&Action::WithdrawRelease).cloned()
    {
        authority.insert(Action::RegovernRelease, roles);
    }
    // Likewise a one-way step of a rollout: the release manager's approval (QMS 4.4.4), which
    // in a profile is whoever takes the go/no-go decision.
    if !authority.contains_key(&Action::ApproveOneWayStep)
        && let Some(roles) = authority.get(&Action::GoDecision).cloned()
    {
        authority.insert(Action::ApproveOneWayStep, roles);
    }
    for action in Action::ALL {
        if !authority.contains_key(&action) {
            cx.problems.at(&auth_path, format!("missing `{}`: say which roles may do it", action.key()));
        }
    }

    let additional_approvals = raw
        .approvals
        .additional
        .iter()
        .enumerate()
        .map(|(i, r)| cx.requirement(&root.key("approvals").key("additional").index(i), r))
        .collect();

    let mut release_types = BTreeMap::new();
    for (id, t) in &raw.release_types {
        let path = root.key("release-types").key(id);
        let track = Track::from_key(&t.track).unwrap_or_else(|| {
            cx.problems.at(&path.key("track"), "expected `standard` or `emergency`");
            Track::Standard
        });
        if t.approvals.is_empty() {
            cx.problems.at(&path.key("approvals"), "expected at least one approval route");
        }
        let approvals = t
            .approvals
            .iter()
            .enumerate()
            .map(|(i, route)| {
                let rpath = path.key("approvals").index(i);
                if route.requires.is_empty() {
                    cx.problems.at(&rpath.key("requires"), "a route needs at least one required role");
                }
                let requires = route
                    .requires
                    .iter()
                    .enumerate()
                    .map(|(j, r)| cx.requirement(&rpath.key("requires").index(j), r))
                    .collect();
                ApprovalRoute { label: route.label.clone(), requires }
            })
            .collect();
        cx.test_phase_ids(&path.key("test-phases"), &t.test_phases);
        release_types.insert(
            id.clone(),
            ReleaseTypeDef {
                name: t.name.clone(),
                description: t.description.clone(),
                track,
                process: t.process.clone(),
                lead_time: t.lead_time.clone(),
                min_lead_time: cx.span(&path.key("min-lead-time"), &t.min_lead_time),
                approvals,
                test_phases: t.test_phases.clone(),
                stabilisation: cx.span(&path.key("stabilisation"), &t.stabilisation),
                rollout: t
                    .rollout
                    .as_ref()
                    .and_then(|m| crate::plan::minimum(&path.key("rollout"), m, &mut cx.problems)),
            },
        );
    }
    if release_types.is_empty() {
        cx.problems.at(&root.key("release-types"), "define at least one release type");
    }
    let emergency: Vec<&String> = release_types
        .iter()
        .filter(|(_, t): &(&String, &ReleaseTypeDef)| t.track == Track::Emergency)
        .map(|(id, _)| id)
        .collect();
    if emergency.len() > 1 {
        let list: Vec<&str> = emergency.iter().map(|s| s.as_str()).collect();
        cx.problems.at(
            &root.key("release-types"),
            format!(
                "at most one release type may be on the emergency track (`emergency create` uses it); found {}",
                list.join(", ")
            ),
        );
    }

    let test_phases = raw
        .test_phases
        .iter()
        .map(|(id, t)| {
            let path = root.key("test-phases").key(id);
            TestPhaseDef {
                id: id.clone(),
                name: t.name.clone(),
                scope: t.scope.clone(),
                environment: t.environment.clone(),
                owner: t.owner.clone(),
                exit_criteria: t.exit_criteria.clone(),
                automation: t.automation.clone(),
                recorded_by: cx.roles(&path.key("recorded-by"), &t.recorded_by),
                written: t.written,
                required_when_touches: cx.touches(&path.key("required-when-touches"), &t.required_when_touches),
                evidence: t
                    .evidence
                    .iter()
                    .enumerate()
                    .filter_map(|(i, k)| {
                        let kind = EvidenceKind::from_key(k);
                        if kind.is_none() {
                            cx.problems.at(
                                &path.key("evidence").index(i),
                                format!(
                                    "unknown evidence kind `{k}`; expected one of {}",
                                    EvidenceKind::ALL.map(|k| k.key()).join(", ")
                                ),
                            );
                        }
                        kind
                    })
                    .collect(),
            }
        })
        .collect();

    let documents =
        raw.documents.iter().map(|(kind, label)| DocumentDef { kind: kind.clone(), label: label.clone() }).collect();

    let confirmations = raw
        .confirmations
        .iter()
        .map(|(id, c)| {
            let path = root.key("confirmations").key(id);
            let by = cx.roles(&path.key("by"), &c.by);
            let after = c.after.as_deref().and_then(|a| {
                let anchor = Anchor::from_key(a);
                if anchor.is_none() {
                    cx.problems.at(&path.key("after"), "expected `deployment`, `schedule` or `stabilisation`");
                }
                anchor
            });
            let before_window = match c.before.as_deref() {
                None => false,
                Some("window-opens") => true,
                Some(other) => {
                    cx.problems.at(&path.key("before"), format!("expected `window-opens`, found `{other}`"));
                    false
                }
            };
            if before_window && after.is_some() {
                cx.problems
                    .at(&path, "a confirmation is given either `before` the window or `after` an event, not both");
            }
            (id.clone(), ConfirmationDef { says: c.says.clone(), by, written: c.written, after, before_window })
        })
        .collect();

    let mut gates: Vec<GateDef> = Vec::new();
    for g in &raw.gates {
        let path = root.key("gates").id(&format!("{}/{}", g.track, g.id));
        let track = Track::from_key(&g.track).unwrap_or_else(|| {
            cx.problems.at(&path.key("track"), "expected `standard` or `emergency`");
            Track::Standard
        });
        let phase = match Phase::from_key(&g.phase) {
            Some(p) if track.position(p).is_some() && p != Phase::Closed => p,
            _ => {
                let allowed: Vec<&str> =
                    track.phases().iter().filter(|p| **p != Phase::Closed).map(|p| p.key()).collect();
                cx.problems
                    .at(&path.key("phase"), format!("expected a phase of the {track} track: {}", allowed.join(", ")));
                Phase::Closed
            }
        };
        let opens = match g.opens.as_deref() {
            None | Some("advance") => Opens::Advance,
            Some("deploy") => {
                if phase != Phase::Deployment {
                    cx.problems.at(&path.key("opens"), "only a deployment-phase gate can guard the deployment");
                }
                Opens::Deploy
            }
            Some(_) => {
                cx.problems.at(&path.key("opens"), "expected `advance` or `deploy`");
                Opens::Advance
            }
        };
        if gates.iter().any(|o| o.track == track && o.id == g.id) {
            cx.problems.at(&path, format!("a second {track} gate named `{}`", g.id));
        }
        if g.criteria.is_empty() {
            cx.problems.at(&path.key("criteria"), "a gate needs at least one criterion");
        }
        let mut seen = BTreeSet::new();
        let criteria = g
            .criteria
            .iter()
            .map(|c| {
                let cpath = path.key("criteria").id(&c.id);
                if !seen.insert(c.id.clone()) {
                    cx.problems.at(&cpath, format!("criterion `{}` appears twice in this gate", c.id));
                }
                CriterionDef {
                    id: c.id.clone(),
                    says: c.says.clone(),
                    check: cx.check(&cpath, &c.check, params!(c)),
                    types: cx.types(&cpath.key("types"), &c.types),
                    when_touches: cx.touches(&cpath.key("when-touches"), &c.when_touches),
                    overridable: c.overridable,
                }
            })
            .collect();
        gates.push(GateDef {
            track,
            id: g.id.clone(),
            phase,
            opens,
            name: g.name.clone(),
            says: g.says.clone(),
            signed_off_by: cx.roles(&path.key("signed-off-by"), &g.signed_off_by),
            criteria,
        });
    }
    let tracks: BTreeSet<Track> = release_types.values().map(|t: &ReleaseTypeDef| t.track).collect();
    for track in tracks {
        for phase in track.phases().iter().filter(|p| **p != Phase::Closed) {
            let n = gates.iter().filter(|g| g.track == track && g.phase == *phase && g.opens == Opens::Advance).count();
            if n != 1 {
                cx.problems.at(
                    &root.key("gates"),
                    format!("the {track} track needs exactly one gate for leaving {phase}, found {n}"),
                );
            }
        }
        let n = gates.iter().filter(|g| g.track == track && g.opens == Opens::Deploy).count();
        if n != 1 {
            cx.problems.at(&root.key("gates"), format!("the {track} track needs exactly one `opens = \"deploy\"` gate guarding the production deployment, found {n}"));
        }
    }

    let mut deferred: Vec<ObligationDef> = Vec::new();
    for o in &raw.emergency.deferred {
        let path = root.key("emergency").key("deferred").id(&o.id);
        if deferred.iter().any(|d| d.id == o.id) {
            cx.problems.at(&path, format!("deferred step `{}` appears twice", o.id));
        }
        let fulfilled_by = cx.check(&path, &o.check, params!(o));
        if !obligation::can_fulfil(&fulfilled_by) {
            cx.problems.at(&path.key("check"), "a deferred step is fulfilled by `confirmed`, `plan`, `documents` or `test-phases`: checks that record when they were met");
        }
        deferred.push(ObligationDef {
            id: o.id.clone(),
            says: o.says.clone(),
            within: cx.span(&path.key("within"), &o.within),
            fulfilled_by,
        });
    }

    let rollback = RollbackPolicy {
        target: cx.span(&root.key("rollback").key("target"), &raw.rollback.target),
        says: raw.rollback.says.clone(),
        triggers: raw
            .rollback
            .triggers
            .iter()
            .map(|t| {
                let path = root.key("rollback").key("triggers").id(&t.id);
                Trigger { id: t.id.clone(), says: t.says.clone(), rule: trigger_rule(&mut cx, &path, t) }
            })
            .collect(),
        afterwards: raw.rollback.afterwards.as_ref().map_or_else(Afterwards::default, |a| {
            let path = root.key("rollback").key("afterwards");
            if a.incident.as_ref().is_some_and(|s| s.trim().is_empty()) {
                cx.problems.at(&path.key("incident"), "the severity of the incident record raised (P1, P2, ...)");
            }
            let defect = a.defect.as_ref().and_then(|key| {
                let severity = Severity::from_key(key);
                if severity.is_none() {
                    cx.problems.at(
                        &path.key("defect"),
                        format!("unknown severity `{key}`; expected {}", Severity::ALL.map(|s| s.key()).join(", ")),
                    );
                }
                severity
            });
            Afterwards { says: a.says.clone(), incident: a.incident.clone(), defect }
        }),
    };

    let nc_path = root.key("nonconformance");
    let mut conditions = BTreeMap::new();
    for (id, c) in &raw.nonconformance.conditions {
        let path = nc_path.key("conditions").key(id);
        let unused = |cx: &mut Ctx, name: &str, given: bool| {
            if given {
                cx.problems.at(&path.key(name), format!("`{name}` does not apply to detect = \"{}\"", c.detect));
            }
        };
        let detect = match c.detect.as_str() {
            "emergency-frequency" => {
                unused(&mut cx, "documents", c.documents.is_some());
                let max = match c.max {
                    Some(n) if (0..=1000).contains(&n) => n as u32,
                    _ => {
                        cx.problems
                            .at(&path.key("max"), "expected the number of emergency releases allowed in the window");
                        0
                    }
                };
                let window = match &c.window {
                    Some(w) => cx.span(&path.key("window"), w),
                    None => {
                        cx.problems.at(&path, "emergency-frequency needs `window`, like \"30 days\"");
                        Span::ZERO
                    }
                };
                Detect::EmergencyFrequency { max, window }
            }
            "documentation-absent" => {
                unused(&mut cx, "max", c.max.is_some());
                unused(&mut cx, "window", c.window.is_some());
                let docs = c.documents.clone().unwrap_or_default();
                if docs.is_empty() {
                    cx.problems.at(&path, "documentation-absent needs `documents`");
                }
                cx.documents(&path.key("documents"), &docs);
                Detect::DocumentationAbsent(docs)
            }
            simple => {
                unused(&mut cx, "max", c.max.is_some());
                unused(&mut cx, "window", c.window.is_some());
                unused(&mut cx, "documents", c.documents.is_some());
                match simple {
                    "deployment-without-approval" => Detect::DeploymentWithoutApproval,
                    "test-phase-skipped" => Detect::TestPhaseSkipped,
                    "artefact-not-from-tagged-commit" => Detect::ArtefactNotFromTaggedCommit,
                    "rollback-over-target" => Detect::RollbackOverTarget,
                    "deferred-overdue" => Detect::DeferredOverdue,
                    "misclassified" => Detect::Misclassified,
                    "reported" => Detect::Reported,
                    other => {
                        cx.problems.at(&path.key("detect"), format!("unknown detect `{other}`; expected one of deployment-without-approval, test-phase-skipped, artefact-not-from-tagged-commit, rollback-over-target, emergency-frequency, documentation-absent, misclassified, deferred-overdue, reported"));
                        Detect::Reported
                    }
                }
            }
        };
        conditions.insert(id.clone(), NcCondition { says: c.says.clone(), detect });
    }
    let nonconformance = NcPolicy {
        corrective_action_within: cx
            .span(&nc_path.key("corrective-action-within"), &raw.nonconformance.corrective_action_within),
        says: raw.nonconformance.says.clone(),
        conditions,
        enforced_from: raw.nonconformance.enforced_from.as_ref().and_then(|d| {
            match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    cx.problems.at(&nc_path.key("enforced-from"), format!("`{d}` is not a date; expected YYYY-MM-DD"));
                    None
                }
            }
        }),
    };

    for (i, c) in raw.scope.frozen_by.iter().enumerate() {
        if !raw.confirmations.contains_key(c) {
            cx.problems.at(&root.key("scope").key("frozen-by").index(i), format!("unknown confirmation `{c}`"));
        }
    }
    let max_accepted_risk = Severity::from_key(&raw.defects.max_accepted_risk).unwrap_or_else(|| {
        cx.problems.at(&root.key("defects").key("max-accepted-risk"), "expected critical, high, medium or low");
        Severity::High
    });

    let absolute = absolute_rules(&mut cx, &root.key("absolute"), &raw.absolute);
    for g in &gates {
        let gpath = root.key("gates").id(&format!("{}/{}", g.track, g.id));
        for c in g.criteria.iter().filter(|c| c.overridable) {
            if let Some(rule) = absolute.iter().find(|r| r.checks.contains(c.check.name())) {
                cx.problems.at(
                    &gpath.key("criteria").id(&c.id).key("overridable"),
                    format!(
                        "criterion `{}` uses check `{}`, which the absolute rule `{}` says no override may waive",
                        c.id,
                        c.check.name(),
                        rule.id
                    ),
                );
            }
        }
    }

    let artefacts = artefact_policy(&mut cx, &root.key("artefacts"), &raw.artefacts);
    let evidence = evidence_policy(&mut cx, &root.key("evidence"), &raw.evidence);

    let max_lateness = match &raw.recording.max_lateness {
        Some(text) => cx.span(&root.key("recording").key("max-lateness"), text),
        None => Policy::DEFAULT_MAX_LATENESS,
    };

    let classification = classification_rules(&mut cx, &root.key("classification"));

    for (i, k) in raw.kpis.iter().enumerate() {
        if !KpiDef::IDS.contains(&k.id.as_str()) {
            cx.problems.at(
                &root.key("kpis").index(i).key("id"),
                format!("unknown KPI `{}`; expected one Tollgate computes: {}", k.id, KpiDef::IDS.join(", ")),
            );
        }
    }
    let policy = Policy {
        id: raw.profile.id.clone(),
        version: raw.profile.version.clone(),
        title: raw.profile.title.clone(),
        document: raw.profile.document.clone(),
        extends: raw.profile.extends.clone(),
        calendar: Calendar { holidays },
        roles,
        touches: raw.touches.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        environments,
        authority,
        additional_approvals,
        release_types,
        test_phases,
        documents,
        confirmations,
        gates,
        deferred,
        rollback,
        nonconformance,
        retention: raw
            .retention
            .iter()
            .map(|r| RetentionRule {
                document: r.document.clone(),
                content: r.content.clone(),
                keep: r.keep.clone(),
                location: r.location.clone(),
                access: r.access.clone(),
            })
            .collect(),
        kpis: raw
            .kpis
            .iter()
            .map(|k| KpiDef {
                id: k.id.clone(),
                name: k.name.clone(),
                measures: k.measures.clone(),
                target: k.target.clone(),
                dora: k.dora,
            })
            .collect(),
        cadences: raw
            .cadences
            .iter()
            .map(|c| CadenceDef {
                id: c.id.clone(),
                trigger: c.trigger.clone(),
                reviews: c.reviews.clone(),
                output: c.output.clone(),
            })
            .collect(),
        risks: raw
            .risks
            .iter()
            .map(|r| RiskSeed { category: r.category.clone(), risk: r.risk.clone(), mitigation: r.mitigation.clone() })
            .collect(),
        freezes_scope: raw.scope.frozen_by.clone(),
        max_accepted_risk,
        artefacts,
        evidence,
        absolute,
        test_phases_in_sequence: raw.testing.in_sequence,
        max_lateness,
        classification,
    };
    if cx.problems.0.is_empty() { Ok(policy) } else { Err(cx.problems) }
}

fn classification_rules(cx: &mut Ctx, path: &KeyPath) -> Vec<ClassificationRule> {
    let raw = cx.raw;
    let mut seen = BTreeSet::new();
    raw.classification
        .iter()
        .map(|c| {
            let path = path.id(&c.id);
            if !seen.insert(c.id.as_str()) {
                cx.problems.at(&path.key("id"), format!("classification rule `{}` is defined twice", c.id));
            }
            if !c.semver_major && c.touches.is_empty() && c.scope_kinds.is_empty() {
                cx.problems.at(&path, "a classification rule needs a signal: semver-major, touches or scope-kinds");
            }
            if c.types.is_empty() {
                cx.problems.at(&path.key("types"), "expected the release types that control such a change enough");
            }
            ClassificationRule {
                id: c.id.clone(),
                says: c.says.clone(),
                semver_major: c.semver_major,
                touches: cx.touches(&path.key("touches"), &c.touches),
                scope_kinds: c.scope_kinds.iter().map(|k| k.trim().to_owned()).collect(),
                types: cx.types(&path.key("types"), &c.types),
            }
        })
        .collect()
}

/// Key fingerprints, each checked where it is written.
fn fingerprints(cx: &mut Ctx, path: &KeyPath, keys: &[String]) -> BTreeSet<Digest> {
    keys.iter()
        .enumerate()
        .filter_map(|(i, k)| match Digest::parse(k) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.problems.at(&path.index(i), format!("{e} (the SHA-256 of the key's DER SubjectPublicKeyInfo, as `tollgate artefact fingerprint` prints it)"));
                None
            }
        })
        .collect()
}

fn artefact_policy(cx: &mut Ctx, path: &KeyPath, raw: &RawArtefacts) -> ArtefactPolicy {
    let trusted_keys = fingerprints(cx, &path.key("trusted-keys"), &raw.trusted_keys);
    if !raw.trusted_builders.is_empty() {
        cx.problems.at(
            &path.key("trusted-builders"),
            "a flat list of builders is no longer read: provenance counts only when signed by a key pinned to the builder it names; \
             write each builder as [[artefacts.builders]] with `id` (the SLSA builder id) and `keys` (the fingerprints of the keys that sign its provenance)",
        );
    }
    let mut builders: Vec<TrustedBuilder> = Vec::new();
    for (i, b) in raw.builders.iter().enumerate() {
        let at = path.key("builders").index(i);
        if b.id.trim().is_empty() {
            cx.problems.at(&at.key("id"), "a builder needs its `id`: the SLSA `runDetails.builder.id`, exactly");
        } else if builders.iter().any(|known| known.id == b.id) {
            cx.problems.at(&at.key("id"), format!("builder `{}` is listed twice; list its keys once", b.id));
        }
        if b.keys.is_empty() {
            cx.problems.at(
                &at.key("keys"),
                "a builder needs at least one key: the fingerprint of a key that signs its provenance envelopes",
            );
        }
        let keys = fingerprints(cx, &at.key("keys"), &b.keys);
        builders.push(TrustedBuilder { id: b.id.clone(), keys });
    }
    let mut signers = Vec::new();
    for (i, s) in raw.signers.iter().enumerate() {
        let at = path.key("signers").index(i);
        if s.identity.trim().is_empty() || s.issuer.trim().is_empty() {
            cx.problems.at(
                &at,
                "a signer needs both `identity` (the certificate SAN, exactly) and `issuer` (the OIDC issuer URL)",
            );
        }
        signers.push(Signer { identity: s.identity.clone(), issuer: s.issuer.clone() });
    }
    ArtefactPolicy { trusted_keys, signers, builders }
}

fn evidence_policy(cx: &mut Ctx, path: &KeyPath, raw: &RawEvidence) -> EvidencePolicy {
    let default = EvidencePolicy::default();
    let critical_drift = match &raw.critical_drift {
        None => default.critical_drift,
        Some(rules) => rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                const ACTIONS: [&str; 6] = ["create", "update", "delete", "replace", "read", "*"];
                if !ACTIONS.contains(&r.action.as_str()) {
                    cx.problems.at(
                        &path.key("critical-drift").index(i).key("action"),
                        format!("unknown action `{}`; expected one of {}", r.action, ACTIONS.join(", ")),
                    );
                }
                DriftRule { resource_type: r.resource_type.clone(), action: r.action.clone() }
            })
            .collect(),
    };
    let performance_regression = match &raw.performance_regression {
        None => default.performance_regression,
        Some(text) => match text.trim().strip_suffix('%').and_then(|n| n.trim().parse::<f64>().ok()) {
            Some(n) if n.is_finite() && (0.0..=1000.0).contains(&n) => n / 100.0,
            _ => {
                cx.problems.at(
                    &path.key("performance-regression"),
                    format!("`{text}` is not a percentage; expected e.g. \"10%\""),
                );
                default.performance_regression
            }
        },
    };
    EvidencePolicy { critical_drift, performance_regression }
}

fn absolute_rules(cx: &mut Ctx, path: &KeyPath, raw: &IndexMap<String, RawAbsolute>) -> Vec<AbsoluteRule> {
    raw.iter()
        .map(|(id, r)| {
            let at = path.key(id);
            if r.says.trim().is_empty() {
                cx.problems.at(&at.key("says"), "quote the sentence of the procedure that makes this rule absolute");
            }
            if r.checks.is_empty() {
                cx.problems.at(&at.key("checks"), "name at least one check the rule covers");
            }
            for (i, check) in r.checks.iter().enumerate() {
                if !CHECKS.contains(&check.as_str()) {
                    cx.problems.at(
                        &at.key("checks").index(i),
                        format!("unknown check `{check}`; expected one of {}", CHECKS.join(", ")),
                    );
                }
            }
            AbsoluteRule { id: id.clone(), says: r.says.clone(), checks: r.checks.iter().cloned().collect() }
        })
        .collect()
}
