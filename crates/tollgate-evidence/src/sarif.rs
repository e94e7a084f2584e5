//! SARIF 2.1.0 logs (CodeQL, Semgrep, Trivy, ESLint, ... `--format sarif`).
//!
//! Rules:
//! - `version` must be `"2.1.0"`; any other version, and results kept outside the log
//!   (`inlineExternalProperties`, `externalPropertyFileReferences.results`), are refused.
//! - A log whose `runs` is null says no run was performed (the tool failed before analysing),
//!   and a run without `results`, or with an invocation whose `executionSuccessful` is false,
//!   did not complete a scan: all three are refused rather than read as "nothing found".
//!   `runs: []` records no run of any tool, so it is refused too: a log that says nothing is
//!   not a clean scan. A run with `results: []` completed and found nothing. Several runs merge.
//! - What was scanned (`ScanReport::subjects`): each run's `versionControlProvenance[]`
//!   `revisionId` (a full commit id, with its `repositoryUri`), and the SHA-256 `hashes` of
//!   `artifacts[]` whose `roles` include `analysisTarget`. Other artifacts are files the run
//!   mentions, not what it was asked to scan. A log naming neither scanned nothing Tollgate can
//!   bind to an artefact; the domain refuses to record it (`judge::scan_subject`).
//! - Severity comes only from `properties["security-severity"]` (a number, or a numeric string),
//!   on the result or else on its rule: the rule is found through `ruleIndex`/`rule.index`
//!   (in `tool.driver.rules`, or in `tool.extensions[rule.toolComponent.index].rules`) or by
//!   `ruleId`/`rule.id`. A score from 0 to 10 rates as CVSS does (`Rating::from_score`); a value
//!   that is not a number in that range rates `Unknown`.
//! - `level` is not a security severity. A result without `security-severity` rates `Unknown`
//!   (needs triage) when its `kind` is `fail` (or absent) and its level (the result's, else the
//!   rule's `defaultConfiguration.level`, else SARIF's default `warning`) is `error` or
//!   `warning`; with level `note`/`none`, or kind `review`/`open`, it rates `None`.
//! - A result with kind `pass`, `notApplicable` or `informational` reports no problem and rates
//!   `None` even when its rule has a `security-severity`.
//! - Excluded: `baselineState: "absent"` → `absent` (the finding is gone); otherwise a
//!   `suppressions` entry whose `status` is absent or `accepted` → `suppressed` (`underReview`
//!   and `rejected` suppress nothing). `new`/`unchanged`/`updated` count normally.
//! - Every result counts. The listing (open Critical/High/Unknown) has one finding per rule id
//!   and location (`uri:startLine` of the first physical location), titled by the message's
//!   first line (its text, else the rule's message string with its arguments, else the rule's
//!   short description), at most 200 characters.
//! - A `ruleIndex` that points past the rules, or at a rule whose id contradicts the result's
//!   `ruleId`, and unknown `kind`/`level`/`baselineState`/suppression `status` values are errors.

use serde_json::Value;
use tollgate_domain::evidence::{Rating, ScanReport};

use crate::error::ParseError;
use crate::json::{self, Node, kind};
use crate::subject::Subjects;
use crate::vulns::{Assessment, Entry, Tally, one_line};

const KINDS: &[&str] = &["pass", "open", "informational", "notApplicable", "review", "fail"];
const LEVELS: &[&str] = &["none", "note", "warning", "error"];
const BASELINE_STATES: &[&str] = &["new", "unchanged", "updated", "absent"];
const SUPPRESSION_STATUSES: &[&str] = &["accepted", "underReview", "rejected"];

/// Reads a SARIF 2.1.0 log.
pub fn parse(bytes: &[u8]) -> Result<ScanReport, ParseError> {
    let value = json::parse(bytes)?;
    let root = Node::root(&value);
    if !value.is_object() {
        return Err(ParseError::document(format!("expected a SARIF log (a JSON object), found {}", kind(&value))));
    }
    let version = root.required("version")?;
    if version.as_str()? != "2.1.0" {
        return Err(version.error(format!("expected SARIF version \"2.1.0\", found \"{}\"", version.as_str()?)));
    }
    if root.get("inlineExternalProperties").is_some() {
        return Err(ParseError::at_path(
            "inlineExternalProperties",
            "results or rules kept in external property objects are not read; write the log with its results inline",
        ));
    }
    let Some(runs) = root.get("runs") else {
        return Err(ParseError::at_path(
            "runs",
            "`runs` is null or absent: SARIF uses that for a tool that failed before it could analyse anything, \
             so there is no scan to judge",
        ));
    };
    let mut tally = Tally::per_entry();
    let mut subjects = Subjects::default();
    let mut tools: Vec<String> = Vec::new();
    for run in runs.items()? {
        let tool = read_run(&run, &mut tally)?;
        run_subjects(&run, &mut subjects)?;
        if !tools.contains(&tool) {
            tools.push(tool);
        }
    }
    if tools.is_empty() {
        return Err(runs.error(
            "`runs` is empty: the log records no run of any tool, so it says nothing about what was scanned; \
             expected at least one run with its `tool` and `results`",
        ));
    }
    Ok(tally.finish(tools.join(", "), subjects.finish()))
}

/// The commits (`versionControlProvenance`) and analysis targets (`artifacts` with the role
/// `analysisTarget` and a `sha-256` hash) a run names.
fn run_subjects(run: &Node, subjects: &mut Subjects) -> Result<(), ParseError> {
    if let Some(provenance) = run.get("versionControlProvenance") {
        for details in provenance.items()? {
            if let Some(revision) = details.get("revisionId") {
                subjects.commit(&revision, details.opt_str("repositoryUri")?)?;
            }
        }
    }
    if let Some(artifacts) = run.get("artifacts") {
        for artifact in artifacts.items()? {
            let Some(roles) = artifact.get("roles") else { continue };
            let mut target = false;
            for role in roles.items()? {
                target |= role.as_str()? == "analysisTarget";
            }
            if target && let Some(hashes) = artifact.get("hashes") {
                subjects.digest(&hashes, "sha-256", true)?;
            }
        }
    }
    Ok(())
}

/// Reads one run into `tally` and returns the tool's name and version.
fn read_run(run: &Node, tally: &mut Tally) -> Result<String, ParseError> {
    let tool = run.required("tool")?;
    let driver = tool.required("driver")?;
    let name = driver.required("name")?.as_str()?;
    let tool_name = match driver.opt_str("version")?.or(driver.opt_str("semanticVersion")?) {
        Some(version) => format!("{name} {version}"),
        None => name.to_owned(),
    };
    if let Some(invocations) = run.get("invocations") {
        for invocation in invocations.items()? {
            check_invocation(&invocation)?;
        }
    }
    if let Some(external) = run.get("externalPropertyFileReferences")
        && external.get("results").is_some()
    {
        return Err(external.error("the run keeps its results in an external property file, which is not read"));
    }
    let Some(results) = run.get("results") else {
        return Err(run.error(
            "expected `results`: a run without them did not complete a scan \
             (SARIF omits them when the tool failed or only exported rule metadata)",
        ));
    };
    let context = RunContext::new(run, &tool, &driver)?;
    for result in results.items()? {
        let entry = read_result(&result, &context)?;
        tally.add(entry, &result)?;
    }
    Ok(tool_name)
}

fn check_invocation(invocation: &Node) -> Result<(), ParseError> {
    let Some(successful) = invocation.get("executionSuccessful") else { return Ok(()) };
    match successful.value {
        Value::Bool(true) => Ok(()),
        Value::Bool(false) => {
            let why = first_error_notification(invocation.value)
                .map(|message| format!(" (\"{}\")", one_line(message)))
                .unwrap_or_default();
            Err(successful.error(format!(
                "the tool reports that this run failed{why}; its results are incomplete, so the log is refused"
            )))
        }
        other => Err(successful.error(format!("expected true or false, found {}", kind(other)))),
    }
}

fn first_error_notification(invocation: &Value) -> Option<&str> {
    ["toolExecutionNotifications", "toolConfigurationNotifications"]
        .iter()
        .filter_map(|key| invocation.get(key).and_then(Value::as_array))
        .flatten()
        .filter(|n| n.get("level").and_then(Value::as_str) == Some("error"))
        .find_map(|n| n.get("message").and_then(|m| m.get("text")).and_then(Value::as_str))
}

/// Where a run's rules live, with their paths for error messages.
struct RunContext<'v> {
    driver_name: &'v str,
    driver: Component<'v>,
    extensions: Vec<Component<'v>>,
    artifacts: &'v [Value],
}

struct Component<'v> {
    name: &'v str,
    rules: &'v [Value],
    path: String,
}

impl<'v> RunContext<'v> {
    fn new(run: &Node<'v>, tool: &Node<'v>, driver: &Node<'v>) -> Result<RunContext<'v>, ParseError> {
        let driver_component = component(driver.value, format!("{}.rules", driver.path()))?;
        let mut extensions = Vec::new();
        if let Some(list) = tool.value.get("extensions") {
            let Value::Array(items) = list else {
                return Err(ParseError::at_path(
                    format!("{}.extensions", tool.path()),
                    format!("expected an array, found {}", kind(list)),
                ));
            };
            for (i, extension) in items.iter().enumerate() {
                extensions.push(component(extension, format!("{}.extensions[{i}].rules", tool.path()))?);
            }
        }
        let artifacts = run.value.get("artifacts").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        Ok(RunContext {
            driver_name: driver.value.get("name").and_then(Value::as_str).unwrap_or(""),
            driver: driver_component,
            extensions,
            artifacts,
        })
    }

    /// The rules of the tool component a result's `rule.toolComponent` names (the driver when
    /// it names none).
    fn rules_for(&self, reference: Option<&Value>, path: &str) -> Result<Vec<&Component<'v>>, ParseError> {
        let Some(target) = reference.and_then(|r| r.get("toolComponent")) else {
            let mut all = vec![&self.driver];
            all.extend(self.extensions.iter());
            return Ok(all);
        };
        if let Some(index) = target.get("index").and_then(Value::as_i64).filter(|i| *i >= 0) {
            return match usize::try_from(index).ok().and_then(|i| self.extensions.get(i)) {
                Some(extension) => Ok(vec![extension]),
                None => Err(ParseError::at_path(
                    format!("{path}.rule.toolComponent.index"),
                    format!("refers to extension {index}, but the tool lists {}", self.extensions.len()),
                )),
            };
        }
        let name = target.get("name").and_then(Value::as_str);
        if name.is_none() || name == Some(self.driver_name) {
            return Ok(vec![&self.driver]);
        }
        match self.extensions.iter().find(|e| Some(e.name) == name) {
            Some(extension) => Ok(vec![extension]),
            None => Err(ParseError::at_path(
                format!("{path}.rule.toolComponent.name"),
                format!("names no tool component of this run: \"{}\"", name.unwrap_or_default()),
            )),
        }
    }
}

fn component(value: &Value, path: String) -> Result<Component<'_>, ParseError> {
    let rules = match value.get("rules") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(rules)) => rules.as_slice(),
        Some(other) => return Err(ParseError::at_path(path, format!("expected an array, found {}", kind(other)))),
    };
    Ok(Component { name: value.get("name").and_then(Value::as_str).unwrap_or(""), rules, path })
}

/// A rule and its JSON path.
struct Rule<'v> {
    value: &'v Value,
    path: String,
}

impl Rule<'_> {
    fn id(&self) -> Option<&str> {
        self.value.get("id").and_then(Value::as_str)
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.value.get(key).and_then(|d| d.get("text")).and_then(Value::as_str).filter(|t| !t.trim().is_empty())
    }
}

fn read_result(result: &Node, context: &RunContext) -> Result<Entry, ParseError> {
    if !result.value.is_object() {
        return Err(result.error(format!("expected a result object, found {}", kind(result.value))));
    }
    let kind = checked(result, "kind", KINDS)?;
    let level = checked(result, "level", LEVELS)?;
    let baseline = checked(result, "baselineState", BASELINE_STATES)?;
    let reference = result.get("rule");
    let reference_id = match &reference {
        Some(reference) => reference.opt_str("id")?,
        None => None,
    };
    let stated_id = result.opt_str("ruleId")?.or(reference_id);
    let rule = find_rule(result, context, stated_id)?;
    let id = stated_id.or_else(|| rule.as_ref().and_then(Rule::id)).unwrap_or("(no rule id)").to_owned();

    let excluded = if baseline == Some("absent") {
        Some("absent")
    } else if suppressed(result)? {
        Some("suppressed")
    } else {
        None
    };
    let (rating, score) = rate(result, rule.as_ref(), kind, level)?;
    Ok(Entry {
        title: title(result.value, rule.as_ref(), &id),
        location: location(result.value, context.artifacts),
        id,
        component: None,
        rating,
        score,
        excluded,
    })
}

/// An enumerated string member, checked against the values SARIF defines.
fn checked<'a>(node: &'a Node<'a>, key: &'a str, allowed: &[&str]) -> Result<Option<&'a str>, ParseError> {
    let Some(value) = node.opt_str(key)? else { return Ok(None) };
    if allowed.contains(&value) {
        Ok(Some(value))
    } else {
        Err(ParseError::at_path(
            format!("{}.{key}", node.path()),
            format!("expected one of {}, found \"{value}\"", allowed.join(", ")),
        ))
    }
}

fn find_rule<'v>(
    result: &Node,
    context: &'v RunContext<'v>,
    stated_id: Option<&str>,
) -> Result<Option<Rule<'v>>, ParseError> {
    let path = result.path();
    let reference = result.value.get("rule");
    let components = context.rules_for(reference, &path)?;
    let index = rule_index(result.value.get("ruleIndex"), &format!("{path}.ruleIndex"))?
        .or(rule_index(reference.and_then(|r| r.get("index")), &format!("{path}.rule.index"))?);
    if let Some(index) = index {
        let Some(component) = components.first() else { return Ok(None) };
        let Some(value) = component.rules.get(index) else {
            return Err(ParseError::at_path(
                format!("{path}.ruleIndex"),
                format!("refers to rule {index}, but `{}` lists {} rules", component.path, component.rules.len()),
            ));
        };
        let rule = Rule { value, path: format!("{}[{index}]", component.path) };
        if let (Some(stated), Some(actual)) = (stated_id, rule.id())
            && !same_rule(stated, actual)
        {
            return Err(ParseError::at_path(
                format!("{path}.ruleId"),
                format!(
                    "the result says rule \"{stated}\" but its rule index points at \"{actual}\" (`{}`); \
                     the log contradicts itself about which rule, and so which severity, applies",
                    rule.path
                ),
            ));
        }
        return Ok(Some(rule));
    }
    let Some(stated) = stated_id else { return Ok(None) };
    // A hierarchical id (`CA2101/1`) belongs to the rule named by its leading components.
    let mut candidate = stated;
    loop {
        for component in &components {
            if let Some(i) = component.rules.iter().position(|r| r.get("id").and_then(Value::as_str) == Some(candidate))
            {
                return Ok(component
                    .rules
                    .get(i)
                    .map(|value| Rule { value, path: format!("{}[{i}]", component.path) }));
            }
        }
        match candidate.rfind('/') {
            Some(cut) => candidate = &candidate[..cut],
            None => return Ok(None),
        }
    }
}

fn same_rule(stated: &str, actual: &str) -> bool {
    stated == actual || stated.strip_prefix(actual).is_some_and(|rest| rest.starts_with('/'))
}

/// `ruleIndex`: a non-negative integer, or -1 for "not given".
fn rule_index(value: Option<&Value>, path: &str) -> Result<Option<usize>, ParseError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(-1) => Ok(None),
            Some(i) if i >= 0 => Ok(usize::try_from(i).ok()),
            _ => Err(ParseError::at_path(path, format!("expected a rule index (an integer from -1), found {v}"))),
        },
    }
}

fn suppressed(result: &Node) -> Result<bool, ParseError> {
    let Some(suppressions) = result.get("suppressions") else { return Ok(false) };
    let mut any = false;
    for suppression in suppressions.items()? {
        match checked(&suppression, "status", SUPPRESSION_STATUSES)? {
            None | Some("accepted") => any = true,
            Some(_) => {}
        }
    }
    Ok(any)
}

fn rate(
    result: &Node,
    rule: Option<&Rule>,
    kind: Option<&str>,
    level: Option<&str>,
) -> Result<(Rating, Option<f64>), ParseError> {
    if matches!(kind, Some("pass" | "notApplicable" | "informational")) {
        return Ok((Rating::None, None));
    }
    let stated = security_severity(result.value).or_else(|| rule.and_then(|r| security_severity(r.value)));
    if let Some(severity) = stated {
        return Ok(severity);
    }
    if matches!(kind, Some("review" | "open")) {
        return Ok((Rating::None, None));
    }
    let level = match level {
        Some(level) => level,
        None => default_level(rule)?,
    };
    Ok((if matches!(level, "error" | "warning") { Rating::Unknown } else { Rating::None }, None))
}

/// The rule's `defaultConfiguration.level`, else SARIF's default, `warning`.
fn default_level<'v>(rule: Option<&Rule<'v>>) -> Result<&'v str, ParseError> {
    let Some(rule) = rule else { return Ok("warning") };
    match rule.value.get("defaultConfiguration").and_then(|c| c.get("level")) {
        None | Some(Value::Null) => Ok("warning"),
        Some(Value::String(level)) if LEVELS.contains(&level.as_str()) => Ok(level.as_str()),
        Some(other) => Err(ParseError::at_path(
            format!("{}.defaultConfiguration.level", rule.path),
            format!("expected one of {}, found {other}", LEVELS.join(", ")),
        )),
    }
}

/// `properties["security-severity"]`, when present: its rating and, when valid, its score.
fn security_severity(owner: &Value) -> Option<(Rating, Option<f64>)> {
    let value = owner.get("properties")?.get("security-severity")?;
    let score = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Null => return None,
        _ => None,
    };
    let mut assessment = Assessment::default();
    match score {
        Some(score) if score.is_finite() && (0.0..=10.0).contains(&score) => assessment.score(score),
        // Present but not a score from 0 to 10: someone meant a severity Tollgate cannot read.
        _ => return Some((Rating::Unknown, None)),
    }
    Some(assessment.finish())
}

fn title(result: &Value, rule: Option<&Rule>, id: &str) -> String {
    let message = result.get("message");
    let text = message.and_then(|m| m.get("text")).and_then(Value::as_str).filter(|t| !t.trim().is_empty());
    if let Some(text) = text {
        return one_line(text);
    }
    let from_rule = message.and_then(|m| m.get("id")).and_then(Value::as_str).and_then(|message_id| {
        let template = rule?.value.get("messageStrings")?.get(message_id)?.get("text")?.as_str()?;
        let arguments = message.and_then(|m| m.get("arguments")).and_then(Value::as_array);
        Some(substitute(template, arguments.map_or(&[][..], Vec::as_slice)))
    });
    match from_rule.as_deref().or_else(|| rule.and_then(|r| r.text("shortDescription").or(r.text("fullDescription")))) {
        Some(text) => one_line(text),
        None => id.to_owned(),
    }
}

/// Fills `{0}`, `{1}`... from the message arguments; `{{` and `}}` are literal braces, and
/// anything else is kept as written.
fn substitute(template: &str, arguments: &[Value]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            out.push_str(&tail[..1]);
            rest = after;
            continue;
        }
        let placeholder = tail.strip_prefix('{').and_then(|inner| {
            let close = inner.find('}')?;
            let argument = arguments.get(inner[..close].parse::<usize>().ok()?)?;
            Some((argument, &inner[close + 1..]))
        });
        match placeholder {
            Some((argument, after)) => {
                out.push_str(argument.as_str().unwrap_or_default());
                rest = after;
            }
            None => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `uri:startLine` of the result's first physical location.
fn location(result: &Value, artifacts: &[Value]) -> Option<String> {
    let physical = result.get("locations")?.as_array()?.iter().find_map(|l| l.get("physicalLocation"))?;
    let artifact = physical.get("artifactLocation")?;
    let uri = artifact.get("uri").and_then(Value::as_str).or_else(|| {
        let index = usize::try_from(artifact.get("index")?.as_u64()?).ok()?;
        artifacts.get(index)?.get("location")?.get("uri")?.as_str()
    })?;
    match physical.get("region").and_then(|r| r.get("startLine")).and_then(Value::as_u64) {
        Some(line) => Some(format!("{uri}:{line}")),
        None => Some(uri.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_fill_placeholders_and_braces_stay_literal() {
        let args = [Value::from("x"), Value::from("y")];
        assert_eq!(substitute("'{0}' and {1} {{literal}} {7}", &args), "'x' and y {literal} {7}");
        assert_eq!(substitute("a } b {x} {", &args), "a } b {x} {");
        assert_eq!(substitute("{0}}", &args), "x}");
    }
}
