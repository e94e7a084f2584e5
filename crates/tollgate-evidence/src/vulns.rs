//! Vulnerability reports: Grype JSON, Trivy JSON, osv-scanner JSON and bare OSV records, and
//! CycloneDX 1.4–1.6 JSON documents with `vulnerabilities` (VEX).
//!
//! The format is recognised from the document itself; anything else (XML, SARIF, an SBOM
//! without vulnerabilities, an unknown shape) is refused with the list of formats understood.
//!
//! Rating — "the highest trusted rating wins":
//! - Every severity a finding states counts: the scanner's label (Grype `severity`, Trivy
//!   `Severity`, CycloneDX `ratings[].severity`, OSV `Ubuntu` entries), and every CVSS entry.
//!   A CVSS entry is scored from its vector ([`crate::cvss`], the base score); when the vector
//!   cannot be scored its stated score is used instead; a score outside 0–10 is ignored.
//! - The finding's rating is the highest of those; `Unknown` only when none of them rates it
//!   (a label "Unknown" never lowers a rating given elsewhere). `score` is the highest score.
//! - OSV: `severity[]` entries (record and `affected[]`), else `database_specific.severity`
//!   (`CRITICAL`, `HIGH`, `MODERATE`/`MEDIUM`, `LOW`); that field has no schema, so an unknown
//!   value there rates nothing rather than failing. osv-scanner's `groups[]` merge a record and
//!   its aliases into one finding, with the group's `max_severity` as one more stated score.
//! - CycloneDX `ratings[].score` counts only with a CVSS `method`; OWASP/SSVC/other scores are
//!   on other scales, so only their `severity` label counts.
//!
//! What does not count (the `excluded` reasons):
//! - `suppressed`: Grype `ignoredMatches`, Trivy misconfigurations with status `EXCEPTION` and
//!   modified findings with status `ignored`.
//! - `not_affected`: CycloneDX `analysis.state` `not_affected` *with* a `justification`, or
//!   `false_positive` with a non-empty `detail`; Trivy modified findings `not_affected` with a
//!   statement; Grype matches ignored by a VEX `not_affected` rule. Without the justification
//!   the finding stays open.
//! - `fixed`: CycloneDX `resolved`/`resolved_with_pedigree`; Trivy/Grype VEX `fixed`.
//!   A scanner's own fix state (Grype `fix.state`, Trivy `Status: fixed`) says a fix exists,
//!   not that it is applied, so it excludes nothing.
//!
//! A finding is one (id, component) (plus the file and line for Trivy misconfigurations and
//! secrets): the same CVE on the same component reported twice counts once, open if any report
//! leaves it open, at the highest rating. CycloneDX `affects[].versions` are not evaluated, so
//! a statement that leaves a component open for some versions leaves it open.
//!
//! Unknown enumeration values (a severity label, analysis state, justification, rating method,
//! OSV severity type, Trivy schema version) are errors naming the JSON path, never guessed.
//! At most [`MAX_ENTRIES`] findings are read from one document.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use tollgate_domain::evidence::{Finding, Rating, ScanReport, ScanSubject};

use crate::cvss;
use crate::error::ParseError;
use crate::json::{self, Node, kind};
use crate::subject::Subjects;

/// The most findings (matches, results, records × components) read from one document.
pub const MAX_ENTRIES: usize = 1_000_000;

const MAX_TITLE_CHARS: usize = 200;

const UNDERSTOOD: &str = "Grype JSON (`grype -o json`), Trivy JSON (`trivy --format json`), osv-scanner JSON, \
     OSV records (one, or a JSON array of them), and CycloneDX 1.4-1.6 JSON with `vulnerabilities`";

/// Reads a vulnerability report in any of the formats the module lists.
pub fn parse(bytes: &[u8]) -> Result<ScanReport, ParseError> {
    if bytes.trim_ascii_start().starts_with(b"<") {
        return Err(ParseError::document(format!(
            "this is an XML document; vulnerability reports are read as JSON: {UNDERSTOOD}"
        )));
    }
    let value = json::parse(bytes)?;
    let root = Node::root(&value);
    match detect(&root)? {
        Format::Grype => grype(&root),
        Format::Trivy => trivy(&root),
        Format::OsvScanner => osv_scanner(&root),
        Format::OsvRecords => osv_records(&root),
        Format::CycloneDx => cyclonedx(&root),
    }
}

enum Format {
    Grype,
    Trivy,
    OsvScanner,
    OsvRecords,
    CycloneDx,
}

fn detect(root: &Node) -> Result<Format, ParseError> {
    let unrecognised = |what: &str| ParseError::document(format!("{what}; expected one of: {UNDERSTOOD}"));
    let map = match root.value {
        Value::Object(map) => map,
        Value::Array(items) if !items.is_empty() => return Ok(Format::OsvRecords),
        Value::Array(_) => return Err(unrecognised("the document is an empty JSON array, which names no format")),
        other => return Err(unrecognised(&format!("the document is {}, not a report", kind(other)))),
    };
    let has = |key: &str| map.contains_key(key);
    Ok(if has("bomFormat") {
        Format::CycloneDx
    } else if has("SchemaVersion") {
        Format::Trivy
    } else if has("matches") {
        Format::Grype
    } else if has("results") {
        Format::OsvScanner
    } else if has("vulns") || (has("id") && (has("affected") || has("schema_version") || has("modified"))) {
        Format::OsvRecords
    } else if has("runs") && has("version") {
        return Err(ParseError::document(
            "this is a SARIF log; add it as SARIF evidence, not as a vulnerability report",
        ));
    } else if has("spdxVersion") {
        return Err(ParseError::document(
            "this is an SPDX SBOM, which lists no vulnerabilities; add it as SBOM evidence",
        ));
    } else {
        return Err(unrecognised("the document is a JSON object of no known report format"));
    })
}

// ---------------------------------------------------------------------------------------------
// Rating a finding from everything it states
// ---------------------------------------------------------------------------------------------

/// What one finding says about its severity, combined so that the highest trusted rating wins.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Assessment {
    best: Option<Rating>,
    score: Option<f64>,
}

impl Assessment {
    /// A severity label; `Unknown` adds nothing (it is what remains when nothing rates).
    pub(crate) fn label(&mut self, rating: Rating) {
        if rating != Rating::Unknown {
            self.best = Some(self.best.map_or(rating, |best| best.max(rating)));
        }
    }

    /// A numeric CVSS-scale score; outside 0–10 it is not trusted and adds nothing.
    pub(crate) fn score(&mut self, score: f64) {
        if score.is_finite() && (0.0..=10.0).contains(&score) {
            self.label(Rating::from_score(score));
            self.score = Some(self.score.map_or(score, |best| best.max(score)));
        }
    }

    /// A CVSS entry: the vector's base score, or the stated score when the vector cannot be
    /// scored. `version` supplies the `CVSS:x.y/` prefix for vectors written without it.
    fn cvss(&mut self, vector: Option<&str>, version: Option<&str>, stated: Option<f64>) {
        let computed = vector.filter(|v| !v.trim().is_empty()).and_then(|v| cvss::score(&prefixed(v, version)).ok());
        if let Some(score) = computed.or(stated) {
            self.score(score);
        }
    }

    fn absorb(&mut self, other: Assessment) {
        if let Some(rating) = other.best {
            self.label(rating);
        }
        if let Some(score) = other.score {
            self.score(score);
        }
    }

    fn is_rated(&self) -> bool {
        self.best.is_some()
    }

    pub(crate) fn finish(self) -> (Rating, Option<f64>) {
        (self.best.unwrap_or(Rating::Unknown), self.score)
    }
}

fn prefixed<'v>(vector: &'v str, version: Option<&str>) -> Cow<'v, str> {
    let vector = vector.trim();
    if vector.starts_with("CVSS:") {
        return Cow::Borrowed(vector);
    }
    match version.map(str::trim) {
        Some("3.0" | "3") => Cow::Owned(format!("CVSS:3.0/{vector}")),
        Some("3.1") => Cow::Owned(format!("CVSS:3.1/{vector}")),
        Some("4.0" | "4") => Cow::Owned(format!("CVSS:4.0/{vector}")),
        _ => Cow::Borrowed(vector),
    }
}

// ---------------------------------------------------------------------------------------------
// Counting and listing findings (shared with the SARIF reader)
// ---------------------------------------------------------------------------------------------

/// One finding as a report states it.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub id: String,
    pub component: Option<String>,
    pub location: Option<String>,
    pub title: String,
    pub rating: Rating,
    pub score: Option<f64>,
    /// Why it does not count (`suppressed`, `absent`, `not_affected`, `fixed`), or `None` if open.
    pub excluded: Option<&'static str>,
}

type Key = (String, Option<String>, Option<String>);

/// Counts findings and keeps the open Critical/High/Unknown ones for listing.
pub(crate) struct Tally {
    /// Vulnerability reports merge duplicates before counting; SARIF counts every result and
    /// merges only the listing.
    merge_counts: bool,
    open: BTreeMap<Rating, u64>,
    excluded: BTreeMap<String, u64>,
    entries: HashMap<Key, Entry>,
    added: usize,
}

impl Tally {
    /// Duplicates (same id, component and location) count once.
    pub(crate) fn merging() -> Tally {
        Tally::new(true)
    }

    /// Every entry counts; duplicates are listed once.
    pub(crate) fn per_entry() -> Tally {
        Tally::new(false)
    }

    fn new(merge_counts: bool) -> Tally {
        Tally { merge_counts, open: BTreeMap::new(), excluded: BTreeMap::new(), entries: HashMap::new(), added: 0 }
    }

    /// `at` names the element, for the error when the document holds too many.
    pub(crate) fn add(&mut self, entry: Entry, at: &Node) -> Result<(), ParseError> {
        self.added += 1;
        if self.added > MAX_ENTRIES {
            return Err(at.error(format!("more than {MAX_ENTRIES} findings; at most {MAX_ENTRIES} are read")));
        }
        if !self.merge_counts {
            self.count(&entry);
            if entry.excluded.is_some() || !listed(entry.rating) {
                return Ok(());
            }
        }
        let key = (entry.id.clone(), entry.component.clone(), entry.location.clone());
        match self.entries.get_mut(&key) {
            Some(existing) => merge(existing, entry),
            None => {
                self.entries.insert(key, entry);
            }
        }
        Ok(())
    }

    fn count(&mut self, entry: &Entry) {
        match entry.excluded {
            Some(reason) => *self.excluded.entry(reason.to_owned()).or_default() += 1,
            None => *self.open.entry(entry.rating).or_default() += 1,
        }
    }

    pub(crate) fn finish(mut self, tool: String, subjects: Vec<ScanSubject>) -> ScanReport {
        let entries: Vec<Entry> = self.entries.drain().map(|(_, entry)| entry).collect();
        if self.merge_counts {
            for entry in &entries {
                self.count(entry);
            }
        }
        // A VEX statement about an id: it closes that finding where an earlier report of the
        // same artefact listed it (unless this report still lists it open elsewhere).
        let open_ids: std::collections::BTreeSet<&str> =
            entries.iter().filter(|e| e.excluded.is_none()).map(|e| e.id.as_str()).collect();
        let mut cleared: Vec<String> = entries
            .iter()
            .filter(|e| matches!(e.excluded, Some("not_affected" | "fixed")) && !open_ids.contains(e.id.as_str()))
            .map(|e| e.id.clone())
            .collect();
        cleared.sort();
        cleared.dedup();
        let mut findings: Vec<Finding> = entries
            .into_iter()
            .filter(|e| e.excluded.is_none() && listed(e.rating))
            .map(|e| Finding {
                id: e.id,
                rating: e.rating,
                score: e.score,
                component: e.component,
                location: e.location,
                title: e.title,
            })
            .collect();
        findings.sort_by(|a, b| {
            (rank(a.rating), &a.id, &a.component, &a.location).cmp(&(rank(b.rating), &b.id, &b.component, &b.location))
        });
        findings.truncate(ScanReport::MAX_LISTED);
        ScanReport { tool, open: self.open, excluded: self.excluded, findings, cleared, subjects }
    }
}

fn listed(rating: Rating) -> bool {
    matches!(rating, Rating::Critical | Rating::High | Rating::Unknown)
}

/// Critical first, then High, then Unknown, as `Rating::ALL` orders them.
fn rank(rating: Rating) -> usize {
    Rating::ALL.iter().position(|r| *r == rating).unwrap_or(usize::MAX)
}

/// The same finding reported twice: open wins over excluded, and the higher trusted rating
/// wins (a known rating over `Unknown`).
fn merge(existing: &mut Entry, new: Entry) {
    match (existing.excluded, new.excluded) {
        (Some(_), None) => {
            let title = std::mem::take(&mut existing.title);
            *existing = new;
            if existing.title.is_empty() {
                existing.title = title;
            }
        }
        (None, None) => {
            existing.rating = match (existing.rating, new.rating) {
                (Rating::Unknown, other) | (other, Rating::Unknown) => other,
                (a, b) => a.max(b),
            };
            existing.score = match (existing.score, new.score) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if existing.title.is_empty() {
                existing.title = new.title;
            }
        }
        (_, Some(_)) => {}
    }
}

/// The first non-blank line of `text`, at most 200 characters.
pub(crate) fn one_line(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    if line.chars().count() <= MAX_TITLE_CHARS {
        return line.to_owned();
    }
    let mut out: String = line.chars().take(MAX_TITLE_CHARS - 1).collect();
    out.push('…');
    out
}

// ---------------------------------------------------------------------------------------------
// Small JSON helpers
// ---------------------------------------------------------------------------------------------

/// The items of the array at `key`, or none when the member is absent or null.
fn each<'a>(
    node: &'a Node<'a>,
    key: &'a str,
    mut f: impl FnMut(Node<'_>) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    if let Some(list) = node.get(key) {
        for item in list.items()? {
            f(item)?;
        }
    }
    Ok(())
}

/// A non-empty string member.
fn text<'a>(node: &'a Node<'a>, key: &'a str) -> Result<Option<&'a str>, ParseError> {
    Ok(node.opt_str(key)?.filter(|s| !s.trim().is_empty()))
}

/// A number member, `None` when absent.
fn number(node: &Node, key: &str) -> Result<Option<f64>, ParseError> {
    match node.get(key) {
        None => Ok(None),
        Some(n) => n.as_f64().map(Some),
    }
}

fn one_of<'a>(node: &Node, value: &'a str, allowed: &[&str]) -> Result<&'a str, ParseError> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(node.error(format!("expected one of {}, found \"{value}\"", allowed.join(", "))))
    }
}

fn name_at_version(name: Option<&str>, version: Option<&str>) -> Option<String> {
    match (name, version) {
        (Some(name), Some(version)) => Some(format!("{name}@{version}")),
        (Some(name), None) => Some(name.to_owned()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Grype
// ---------------------------------------------------------------------------------------------

fn grype(root: &Node) -> Result<ScanReport, ParseError> {
    let descriptor = root.required("descriptor")?;
    let name = descriptor.required("name")?;
    if name.as_str()? != "grype" {
        return Err(name.error(format!("expected \"grype\" for a Grype report, found \"{}\"", name.as_str()?)));
    }
    let tool = match text(&descriptor, "version")? {
        Some(version) => format!("grype {version}"),
        None => "grype".to_owned(),
    };
    let mut tally = Tally::merging();
    for m in root.required("matches")?.items()? {
        tally.add(grype_match(&m, None)?, &m)?;
    }
    each(root, "ignoredMatches", |m| {
        let reason = grype_ignore_reason(&m)?;
        tally.add(grype_match(&m, Some(reason))?, &m)
    })?;
    Ok(tally.finish(tool, grype_subjects(root)?))
}

/// `source.target` of an image: its manifest digest, repository digests and image id; of a
/// file: its SHA-256 digest. A directory (a string target) names no digest.
fn grype_subjects(root: &Node) -> Result<Vec<ScanSubject>, ParseError> {
    let mut subjects = Subjects::default();
    if let Some(source) = root.get("source")
        && let Some(target) = source.get("target")
        && target.value.is_object()
    {
        subjects.digest(&target, "manifestDigest", false)?;
        subjects.references(&target, "repoDigests")?;
        subjects.digest(&target, "imageID", false)?;
        each(&target, "digests", |entry| {
            if entry.opt_str("algorithm")?.is_some_and(|a| a.eq_ignore_ascii_case("sha256")) {
                subjects.digest(&entry, "value", true)?;
            }
            Ok(())
        })?;
    }
    Ok(subjects.finish())
}

fn grype_match(m: &Node, excluded: Option<&'static str>) -> Result<Entry, ParseError> {
    let vulnerability = m.required("vulnerability")?;
    let id = vulnerability.required("id")?.as_str()?.to_owned();
    let mut assessment = Assessment::default();
    if let Some(severity) = vulnerability.get("severity") {
        assessment.label(grype_severity(&severity)?);
    }
    grype_cvss(&vulnerability, &mut assessment)?;
    let mut title = text(&vulnerability, "description")?.map(one_line);
    each(m, "relatedVulnerabilities", |related| {
        grype_cvss(&related, &mut assessment)?;
        if title.is_none() {
            title = text(&related, "description")?.map(one_line);
        }
        Ok(())
    })?;
    let artifact = m.required("artifact")?;
    let component = match text(&artifact, "purl")? {
        Some(purl) => Some(purl.to_owned()),
        None => name_at_version(text(&artifact, "name")?, text(&artifact, "version")?),
    };
    let (rating, score) = assessment.finish();
    Ok(Entry { title: title.unwrap_or_else(|| id.clone()), id, component, location: None, rating, score, excluded })
}

fn grype_severity(node: &Node) -> Result<Rating, ParseError> {
    let label = node.as_str()?;
    Ok(match label.to_ascii_lowercase().as_str() {
        "critical" => Rating::Critical,
        "high" => Rating::High,
        "medium" => Rating::Medium,
        "low" | "negligible" => Rating::Low,
        "unknown" | "" => Rating::Unknown,
        _ => {
            return Err(
                node.error(format!("expected Critical, High, Medium, Low, Negligible or Unknown, found \"{label}\""))
            );
        }
    })
}

fn grype_cvss(node: &Node, assessment: &mut Assessment) -> Result<(), ParseError> {
    each(node, "cvss", |entry| {
        let stated = match entry.get("metrics") {
            Some(metrics) => number(&metrics, "baseScore")?,
            None => None,
        };
        assessment.cvss(entry.opt_str("vector")?, entry.opt_str("version")?, stated);
        Ok(())
    })
}

/// Grype lists the rules that ignored a match; a VEX status among them says why.
fn grype_ignore_reason(m: &Node) -> Result<&'static str, ParseError> {
    let mut reason = "suppressed";
    each(m, "appliedIgnoreRules", |rule| {
        match rule.opt_str("vex-status")? {
            Some("not_affected") => reason = "not_affected",
            Some("fixed") if reason == "suppressed" => reason = "fixed",
            _ => {}
        }
        Ok(())
    })?;
    Ok(reason)
}

// ---------------------------------------------------------------------------------------------
// Trivy
// ---------------------------------------------------------------------------------------------

fn trivy(root: &Node) -> Result<ScanReport, ParseError> {
    let schema = root.required("SchemaVersion")?;
    if schema.as_u64()? != 2 {
        return Err(schema.error(format!("expected Trivy report schema 2, found {}", schema.value)));
    }
    let version = match root.get("Trivy") {
        Some(trivy) => text(&trivy, "Version")?.map(str::to_owned),
        None => None,
    };
    let tool = version.map_or_else(|| "trivy".to_owned(), |v| format!("trivy {v}"));
    let mut tally = Tally::merging();
    each(root, "Results", |result| {
        let target = result.opt_str("Target")?.unwrap_or("");
        each(&result, "Vulnerabilities", |v| tally.add(trivy_vulnerability(&v, None)?, &v))?;
        each(&result, "Misconfigurations", |m| tally.add(trivy_misconfiguration(&m, target, None)?, &m))?;
        each(&result, "Secrets", |s| tally.add(trivy_secret(&s, target, None)?, &s))?;
        for key in ["ExperimentalModifiedFindings", "ModifiedFindings"] {
            each(&result, key, |modified| trivy_modified(&modified, target, &mut tally))?;
        }
        Ok(())
    })?;
    Ok(tally.finish(tool, trivy_subjects(root)?))
}

/// `ArtifactName` when it pins a digest, `Metadata.RepoDigests` and `Metadata.ImageID` of an
/// image; `Metadata.Commit` (with `RepoURL`) of `trivy repo`.
fn trivy_subjects(root: &Node) -> Result<Vec<ScanSubject>, ParseError> {
    let mut subjects = Subjects::default();
    if let Some(name) = root.get("ArtifactName") {
        subjects.reference(&name)?;
    }
    if let Some(metadata) = root.get("Metadata") {
        subjects.references(&metadata, "RepoDigests")?;
        subjects.digest(&metadata, "ImageID", false)?;
        if let Some(commit) = metadata.get("Commit").filter(|c| c.value.as_str() != Some("")) {
            subjects.commit(&commit, metadata.opt_str("RepoURL")?)?;
        }
    }
    Ok(subjects.finish())
}

fn trivy_severity(node: &Node) -> Result<Rating, ParseError> {
    let Some(severity) = node.get("Severity") else {
        return Ok(Rating::Unknown);
    };
    let label = severity.as_str()?;
    Ok(match label {
        "CRITICAL" => Rating::Critical,
        "HIGH" => Rating::High,
        "MEDIUM" => Rating::Medium,
        "LOW" => Rating::Low,
        "UNKNOWN" => Rating::Unknown,
        _ => return Err(severity.error(format!("expected CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN, found \"{label}\""))),
    })
}

fn trivy_vulnerability(v: &Node, excluded: Option<&'static str>) -> Result<Entry, ParseError> {
    let id = v.required("VulnerabilityID")?.as_str()?.to_owned();
    let mut assessment = Assessment::default();
    assessment.label(trivy_severity(v)?);
    if let Some(sources) = v.get("CVSS") {
        let Value::Object(map) = sources.value else {
            return Err(
                sources.error(format!("expected an object of CVSS entries by source, found {}", kind(sources.value)))
            );
        };
        for source in map.keys() {
            let Some(entry) = sources.get(source) else { continue };
            assessment.cvss(entry.opt_str("V40Vector")?, Some("4.0"), number(&entry, "V40Score")?);
            assessment.cvss(entry.opt_str("V3Vector")?, None, number(&entry, "V3Score")?);
            assessment.cvss(entry.opt_str("V2Vector")?, None, number(&entry, "V2Score")?);
        }
    }
    let purl = match v.get("PkgIdentifier") {
        Some(identifier) => text(&identifier, "PURL")?.map(str::to_owned),
        None => None,
    };
    let component = match purl {
        Some(purl) => Some(purl),
        None => name_at_version(text(v, "PkgName")?, text(v, "InstalledVersion")?),
    };
    let title = match text(v, "Title")?.or(text(v, "Description")?) {
        Some(t) => one_line(t),
        None => id.clone(),
    };
    let (rating, score) = assessment.finish();
    Ok(Entry { id, component, location: None, title, rating, score, excluded })
}

fn trivy_misconfiguration(m: &Node, target: &str, excluded: Option<&'static str>) -> Result<Entry, ParseError> {
    let id = match text(m, "ID")?.or(text(m, "AVDID")?) {
        Some(id) => id.to_owned(),
        None => return Err(m.error("expected `ID` or `AVDID`")),
    };
    let mut excluded = excluded;
    let mut rating = trivy_severity(m)?;
    if let Some(status) = m.get("Status") {
        match one_of(&status, status.as_str()?, &["FAIL", "PASS", "EXCEPTION"])? {
            // A passed check is not a problem, whatever its severity would have been.
            "PASS" => rating = Rating::None,
            "EXCEPTION" => excluded = excluded.or(Some("suppressed")),
            _ => {}
        }
    }
    let line = match m.get("CauseMetadata") {
        Some(cause) => cause.get("StartLine").and_then(|l| l.value.as_u64()),
        None => None,
    };
    let title = text(m, "Title")?.or(text(m, "Message")?).map_or_else(|| id.clone(), one_line);
    Ok(Entry { id, component: None, location: trivy_location(target, line), title, rating, score: None, excluded })
}

fn trivy_secret(s: &Node, target: &str, excluded: Option<&'static str>) -> Result<Entry, ParseError> {
    let id = s.required("RuleID")?.as_str()?.to_owned();
    let line = s.get("StartLine").and_then(|l| l.value.as_u64());
    let title = text(s, "Title")?.map_or_else(|| id.clone(), one_line);
    let rating = trivy_severity(s)?;
    Ok(Entry { id, component: None, location: trivy_location(target, line), title, rating, score: None, excluded })
}

fn trivy_location(target: &str, line: Option<u64>) -> Option<String> {
    match (target.is_empty(), line) {
        (true, _) => None,
        (false, Some(line)) if line > 0 => Some(format!("{target}:{line}")),
        (false, _) => Some(target.to_owned()),
    }
}

/// A finding Trivy took out of the report (`--show-suppressed`): `.trivyignore` or VEX.
fn trivy_modified(modified: &Node, target: &str, tally: &mut Tally) -> Result<(), ParseError> {
    let status = modified.required("Status")?;
    let reason = match status.as_str()? {
        "ignored" => Some("suppressed"),
        "not_affected" if text(modified, "Statement")?.is_some() => Some("not_affected"),
        "fixed" => Some("fixed"),
        // A VEX statement without justification, or one that says it is affected, removes nothing.
        "not_affected" | "affected" | "under_investigation" | "unknown" => None,
        other => {
            return Err(status.error(format!(
                "expected ignored, not_affected, fixed, affected, under_investigation or unknown, found \"{other}\""
            )));
        }
    };
    let kind_node = modified.required("Type")?;
    let finding = modified.required("Finding")?;
    let entry = match kind_node.as_str()? {
        "vulnerability" => trivy_vulnerability(&finding, reason)?,
        "misconfiguration" => trivy_misconfiguration(&finding, target, reason)?,
        "secret" => trivy_secret(&finding, target, reason)?,
        // Licence findings are not security findings.
        "license" => return Ok(()),
        other => {
            return Err(kind_node
                .error(format!("expected vulnerability, misconfiguration, secret or license, found \"{other}\"")));
        }
    };
    tally.add(entry, modified)
}

// ---------------------------------------------------------------------------------------------
// OSV and osv-scanner
// ---------------------------------------------------------------------------------------------

fn osv_scanner(root: &Node) -> Result<ScanReport, ParseError> {
    let mut tally = Tally::merging();
    for source in root.required("results")?.items()? {
        each(&source, "packages", |package| osv_package(&package, &mut tally))?;
    }
    // osv-scanner names lockfiles and directories by path, never by digest or commit.
    Ok(tally.finish("osv-scanner".to_owned(), Vec::new()))
}

/// One package of an osv-scanner result: each group of aliases is one finding.
fn osv_package(package: &Node, tally: &mut Tally) -> Result<(), ParseError> {
    let component = osv_component(&package.required("package")?)?;
    let mut records: Vec<(String, Assessment, Option<String>)> = Vec::new();
    each(package, "vulnerabilities", |record| {
        osv_schema_version(&record)?;
        let id = record.required("id")?.as_str()?.to_owned();
        records.push((id, osv_assessment(&record)?, osv_title(&record)?));
        Ok(())
    })?;
    let mut grouped = vec![false; records.len()];
    each(package, "groups", |group| {
        let mut ids = Vec::new();
        each(&group, "ids", |id| {
            ids.push(id.as_str()?.to_owned());
            Ok(())
        })?;
        // A group without ids carries a licence violation, not a vulnerability.
        let Some(first) = ids.first().cloned() else { return Ok(()) };
        let mut assessment = Assessment::default();
        let mut title = None;
        for (i, (id, record, record_title)) in records.iter().enumerate() {
            if ids.contains(id) {
                grouped[i] = true;
                assessment.absorb(*record);
                title = title.or_else(|| record_title.clone());
            }
        }
        if let Some(max) = text(&group, "max_severity")? {
            match max.trim().parse::<f64>() {
                Ok(score) => assessment.score(score),
                Err(_) => return Err(group.error(format!("`max_severity` should be a score, found \"{max}\""))),
            }
        }
        let (rating, score) = assessment.finish();
        let title = title.unwrap_or_else(|| first.clone());
        let entry =
            Entry { id: first, component: component.clone(), location: None, title, rating, score, excluded: None };
        tally.add(entry, &group)
    })?;
    for ((id, assessment, title), grouped) in records.into_iter().zip(grouped) {
        if !grouped {
            let (rating, score) = assessment.finish();
            let title = title.unwrap_or_else(|| id.clone());
            let entry =
                Entry { id, component: component.clone(), location: None, title, rating, score, excluded: None };
            tally.add(entry, package)?;
        }
    }
    Ok(())
}

fn osv_records(root: &Node) -> Result<ScanReport, ParseError> {
    let mut tally = Tally::merging();
    match root.value {
        Value::Array(_) => {
            for record in root.items()? {
                osv_record(&record, &mut tally)?;
            }
        }
        _ if root.get("vulns").is_some() => each(root, "vulns", |record| osv_record(&record, &mut tally))?,
        _ => osv_record(root, &mut tally)?,
    }
    // Bare OSV records are advisories: they name no scanned subject.
    Ok(tally.finish("OSV".to_owned(), Vec::new()))
}

/// A bare OSV record: one finding per affected package (no installed version is known).
fn osv_record(record: &Node, tally: &mut Tally) -> Result<(), ParseError> {
    if !record.value.is_object() {
        return Err(record.error(format!("expected an OSV record (an object), found {}", kind(record.value))));
    }
    osv_schema_version(record)?;
    let id = record.required("id")?.as_str()?.to_owned();
    let (rating, score) = osv_assessment(record)?.finish();
    let title = osv_title(record)?.unwrap_or_else(|| id.clone());
    let mut components = Vec::new();
    each(record, "affected", |affected| {
        if let Some(package) = affected.get("package") {
            components.push(osv_component(&package)?);
        }
        Ok(())
    })?;
    if components.is_empty() {
        components.push(None);
    }
    for component in components {
        let entry =
            Entry { id: id.clone(), component, location: None, title: title.clone(), rating, score, excluded: None };
        tally.add(entry, record)?;
    }
    Ok(())
}

fn osv_schema_version(record: &Node) -> Result<(), ParseError> {
    if let Some(version) = record.get("schema_version") {
        let v = version.as_str()?;
        if !v.starts_with("1.") {
            return Err(version.error(format!("expected OSV schema version 1.x, found \"{v}\"")));
        }
    }
    Ok(())
}

fn osv_component(package: &Node) -> Result<Option<String>, ParseError> {
    if let Some(purl) = text(package, "purl")? {
        return Ok(Some(purl.to_owned()));
    }
    let name = text(package, "name")?;
    let name = match (text(package, "ecosystem")?, name) {
        (Some(ecosystem), Some(name)) => Some(format!("{ecosystem}/{name}")),
        (_, name) => name.map(str::to_owned),
    };
    let version = text(package, "version")?.or(text(package, "commit")?);
    Ok(name_at_version(name.as_deref(), version))
}

fn osv_title(record: &Node) -> Result<Option<String>, ParseError> {
    Ok(text(record, "summary")?.or(text(record, "details")?).map(one_line))
}

/// `severity[]` of the record and of its `affected[]` entries, else `database_specific.severity`.
fn osv_assessment(record: &Node) -> Result<Assessment, ParseError> {
    let mut assessment = Assessment::default();
    osv_severities(record, &mut assessment)?;
    each(record, "affected", |affected| osv_severities(&affected, &mut assessment))?;
    if !assessment.is_rated()
        && let Some(specific) = record.get("database_specific")
        && let Some(label) = specific.get("severity").and_then(|s| s.value.as_str())
    {
        match label.to_ascii_uppercase().as_str() {
            "CRITICAL" => assessment.label(Rating::Critical),
            "HIGH" => assessment.label(Rating::High),
            "MODERATE" | "MEDIUM" => assessment.label(Rating::Medium),
            "LOW" => assessment.label(Rating::Low),
            _ => {}
        }
    }
    Ok(assessment)
}

fn osv_severities(node: &Node, assessment: &mut Assessment) -> Result<(), ParseError> {
    each(node, "severity", |entry| {
        let kind_node = entry.required("type")?;
        let score = entry.required("score")?.as_str()?;
        match kind_node.as_str()? {
            "CVSS_V2" => assessment.cvss(Some(score), Some("2.0"), None),
            "CVSS_V3" => assessment.cvss(Some(score), Some("3.1"), None),
            "CVSS_V4" => assessment.cvss(Some(score), Some("4.0"), None),
            "Ubuntu" => assessment.label(match score.to_ascii_lowercase().as_str() {
                "critical" => Rating::Critical,
                "high" => Rating::High,
                "medium" => Rating::Medium,
                "low" | "negligible" => Rating::Low,
                _ => Rating::Unknown,
            }),
            other => {
                return Err(kind_node.error(format!("expected CVSS_V2, CVSS_V3, CVSS_V4 or Ubuntu, found \"{other}\"")));
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// CycloneDX VEX
// ---------------------------------------------------------------------------------------------

const CDX_STATES: &[&str] =
    &["resolved", "resolved_with_pedigree", "exploitable", "in_triage", "false_positive", "not_affected"];
const CDX_JUSTIFICATIONS: &[&str] = &[
    "code_not_present",
    "code_not_reachable",
    "requires_configuration",
    "requires_dependency",
    "requires_environment",
    "protected_by_compiler",
    "protected_at_runtime",
    "protected_at_perimeter",
    "protected_by_mitigating_control",
];

fn cyclonedx(root: &Node) -> Result<ScanReport, ParseError> {
    let format = root.required("bomFormat")?;
    if format.as_str()? != "CycloneDX" {
        return Err(format.error(format!("expected \"CycloneDX\", found \"{}\"", format.as_str()?)));
    }
    let spec = root.required("specVersion")?;
    let spec_version = spec.as_str()?;
    if !matches!(spec_version, "1.4" | "1.5" | "1.6") {
        return Err(spec.error(format!(
            "expected CycloneDX 1.4, 1.5 or 1.6 (vulnerabilities arrived in 1.4), found \"{spec_version}\""
        )));
    }
    let Some(vulnerabilities) = root.get("vulnerabilities") else {
        return Err(ParseError::at_path(
            "vulnerabilities",
            "this CycloneDX document has no `vulnerabilities`: it is an SBOM, not a vulnerability report or VEX; \
             add it as SBOM evidence",
        ));
    };
    let components = bom_refs(root.value);
    let mut tally = Tally::merging();
    for vulnerability in vulnerabilities.items()? {
        let id = vulnerability.required("id")?.as_str()?.to_owned();
        let (rating, score) = cdx_assessment(&vulnerability)?.finish();
        let excluded = cdx_exclusion(&vulnerability)?;
        let title = match text(&vulnerability, "description")?.or(text(&vulnerability, "detail")?) {
            Some(t) => one_line(t),
            None => id.clone(),
        };
        let mut affected = Vec::new();
        each(&vulnerability, "affects", |affects| {
            let reference = affects.required("ref")?.as_str()?;
            affected.push(Some(components.get(reference).cloned().unwrap_or_else(|| reference.to_owned())));
            Ok(())
        })?;
        if affected.is_empty() {
            affected.push(None);
        }
        for component in affected {
            let entry =
                Entry { id: id.clone(), component, location: None, title: title.clone(), rating, score, excluded };
            tally.add(entry, &vulnerability)?;
        }
    }
    Ok(tally.finish("CycloneDX VEX".to_owned(), cdx_subjects(root)?))
}

/// `metadata.component`, the product the statements are about: its `SHA-256` hashes, a purl or
/// bom-ref that pins a digest, or a `sha256:` version (as syft writes for an image).
fn cdx_subjects(root: &Node) -> Result<Vec<ScanSubject>, ParseError> {
    let mut subjects = Subjects::default();
    if let Some(metadata) = root.get("metadata")
        && let Some(component) = metadata.get("component")
    {
        each(&component, "hashes", |hash| {
            if hash.opt_str("alg")? == Some("SHA-256") {
                subjects.digest(&hash, "content", true)?;
            }
            Ok(())
        })?;
        for key in ["purl", "bom-ref"] {
            if let Some(reference) = component.get(key) {
                subjects.reference(&reference)?;
            }
        }
        if component.opt_str("version")?.is_some_and(|v| v.to_ascii_lowercase().starts_with("sha256:")) {
            subjects.digest(&component, "version", false)?;
        }
    }
    Ok(subjects.finish())
}

/// bom-ref → purl, or name@version, for the document's own components.
fn bom_refs(root: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut stack: Vec<&Value> = Vec::new();
    if let Some(component) = root.get("metadata").and_then(|m| m.get("component")) {
        stack.push(component);
    }
    if let Some(Value::Array(components)) = root.get("components") {
        stack.extend(components);
    }
    while let Some(component) = stack.pop() {
        let get = |key: &str| component.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
        if let Some(reference) = get("bom-ref") {
            let name = get("purl").map(str::to_owned).or_else(|| name_at_version(get("name"), get("version")));
            if let Some(name) = name {
                out.entry(reference.to_owned()).or_insert(name);
            }
        }
        if let Some(Value::Array(children)) = component.get("components") {
            stack.extend(children);
        }
    }
    out
}

fn cdx_assessment(vulnerability: &Node) -> Result<Assessment, ParseError> {
    let mut assessment = Assessment::default();
    each(vulnerability, "ratings", |rating| {
        if let Some(severity) = rating.get("severity") {
            let label = severity.as_str()?;
            assessment.label(match label {
                "critical" => Rating::Critical,
                "high" => Rating::High,
                "medium" => Rating::Medium,
                "low" => Rating::Low,
                "info" | "none" => Rating::None,
                "unknown" => Rating::Unknown,
                _ => {
                    return Err(severity.error(format!(
                        "expected critical, high, medium, low, info, none or unknown, found \"{label}\""
                    )));
                }
            });
        }
        let vector = rating.opt_str("vector")?;
        let score = number(&rating, "score")?;
        match rating.get("method") {
            Some(method) => match method.as_str()? {
                "CVSSv2" => assessment.cvss(vector, Some("2.0"), score),
                "CVSSv3" => assessment.cvss(vector, Some("3.0"), score),
                "CVSSv31" => assessment.cvss(vector, Some("3.1"), score),
                "CVSSv4" => assessment.cvss(vector, Some("4.0"), score),
                "OWASP" | "SSVC" | "other" => {}
                other => {
                    return Err(method.error(format!(
                        "expected CVSSv2, CVSSv3, CVSSv31, CVSSv4, OWASP, SSVC or other, found \"{other}\""
                    )));
                }
            },
            // Without a method a score has no known scale; a prefixed vector still says what it is.
            None => assessment.cvss(vector, None, None),
        }
        Ok(())
    })?;
    Ok(assessment)
}

fn cdx_exclusion(vulnerability: &Node) -> Result<Option<&'static str>, ParseError> {
    let Some(analysis) = vulnerability.get("analysis") else { return Ok(None) };
    let Some(state_node) = analysis.get("state") else { return Ok(None) };
    let state = one_of(&state_node, state_node.as_str()?, CDX_STATES)?;
    let justified = match analysis.get("justification") {
        Some(node) => {
            one_of(&node, node.as_str()?, CDX_JUSTIFICATIONS)?;
            true
        }
        None => false,
    };
    let detailed = text(&analysis, "detail")?.is_some();
    Ok(match state {
        "not_affected" if justified => Some("not_affected"),
        "false_positive" if detailed => Some("not_affected"),
        "resolved" | "resolved_with_pedigree" => Some("fixed"),
        _ => None,
    })
}
