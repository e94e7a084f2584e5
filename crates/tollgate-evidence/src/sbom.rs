//! SBOMs: CycloneDX 1.4, 1.5 and 1.6 as JSON or XML, and SPDX 2.3 as JSON.
//!
//! What is read:
//! - components: CycloneDX `components`, counted recursively through each component's own
//!   `components` (not `metadata.component`, tools or formulation); SPDX `packages`.
//! - `with_purl`: components with a non-empty `purl` (SPDX: an `externalRefs` entry whose
//!   `referenceType` is `purl`); `with_hashes`: components with at least one hash (SPDX
//!   `checksums`) that has a value.
//! - the subject and its SHA-256 digests: CycloneDX `metadata.component` and its `SHA-256`
//!   hashes; SPDX the packages (and files) named by `documentDescribes` or by the relationships
//!   `SPDXRef-DOCUMENT DESCRIBES X` and `X DESCRIBED_BY SPDXRef-DOCUMENT`, and their `SHA256`
//!   checksums. A malformed SHA-256 value is an error, never skipped.
//!
//! Rules: other CycloneDX and SPDX versions are refused, as is anything that is neither; JSON is
//! read strictly (duplicate keys refused, size and depth bounded as in [`crate::json`];
//! CycloneDX JSON is streamed, see `cyclonedx_json`); XML must be
//! UTF-8, without a DOCTYPE, at most [`MAX_XML_DEPTH`] elements deep and
//! [`json::MAX_DOCUMENT_BYTES`] long, its root `<bom>` in a CycloneDX 1.4–1.6 namespace. XML
//! elements in other namespaces (extensions) are skipped.

mod cyclonedx_json;
mod cyclonedx_xml;

use tollgate_domain::evidence::{Digest, SbomReport};

use crate::error::ParseError;
use crate::json::{self, Node};

/// The CycloneDX specification versions read, in JSON (`specVersion`) and XML (namespace).
pub const CYCLONEDX_VERSIONS: [&str; 3] = ["1.4", "1.5", "1.6"];

pub const SPDX_VERSION: &str = "SPDX-2.3";

/// Deeper XML is refused: CycloneDX nests components, but not this far.
pub const MAX_XML_DEPTH: usize = 64;

const CYCLONEDX_NAMESPACE: &str = "http://cyclonedx.org/schema/bom/";

/// Reads a CycloneDX (JSON or XML) or SPDX (JSON) SBOM, telling them apart by their content.
pub fn parse(bytes: &[u8]) -> Result<SbomReport, ParseError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => parse_json(bytes),
        Some(b'<') => cyclonedx_xml::parse(bytes),
        Some(_) => Err(ParseError::document(
            "expected a CycloneDX or SPDX JSON document (starting with `{`) or a CycloneDX XML document (starting with `<`)",
        )),
        None => Err(ParseError::document("the document is empty; expected a CycloneDX or SPDX SBOM")),
    }
}

#[derive(Clone, Copy, Default)]
struct Counts {
    components: u64,
    with_purl: u64,
    with_hashes: u64,
}

#[derive(Default)]
struct Subject {
    names: Vec<String>,
    digests: Vec<Digest>,
}

impl Subject {
    fn name(&mut self, name: Option<&str>, version: Option<&str>) {
        let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else { return };
        let label = match version.map(str::trim).filter(|v| !v.is_empty()) {
            Some(version) => format!("{name}@{version}"),
            None => name.to_owned(),
        };
        if !self.names.contains(&label) {
            self.names.push(label);
        }
    }

    fn digest(&mut self, digest: Digest) {
        if !self.digests.contains(&digest) {
            self.digests.push(digest);
        }
    }
}

fn report(format: String, subject: Subject, counts: Counts) -> SbomReport {
    SbomReport {
        format,
        subject: if subject.names.is_empty() { None } else { Some(subject.names.join(", ")) },
        describes: subject.digests,
        components: counts.components,
        with_purl: counts.with_purl,
        with_hashes: counts.with_hashes,
    }
}

fn parse_json(bytes: &[u8]) -> Result<SbomReport, ParseError> {
    match cyclonedx_json::parse(bytes)? {
        cyclonedx_json::Kind::CycloneDx(report) => Ok(report),
        cyclonedx_json::Kind::Spdx => spdx_json(bytes),
    }
}

fn cyclonedx_version(version: &str) -> Result<&str, String> {
    if CYCLONEDX_VERSIONS.contains(&version) {
        Ok(version)
    } else {
        Err(format!("CycloneDX {version} is not read; expected version 1.4, 1.5 or 1.6"))
    }
}

/// Whether a list of hashes (or checksums) holds at least one non-empty `key`.
fn has_value(list: &Node<'_>, key: &str) -> Result<bool, ParseError> {
    let mut found = false;
    for entry in list.items()? {
        found |= entry.opt_str(key)?.is_some_and(|v| !v.trim().is_empty());
    }
    Ok(found)
}

fn sha256(node: &Node<'_>) -> Result<Digest, ParseError> {
    Digest::parse(node.as_str()?.trim()).map_err(|e| node.error(e))
}

fn spdx_json(bytes: &[u8]) -> Result<SbomReport, ParseError> {
    let value = json::parse(bytes)?;
    let root = &Node::root(&value);
    let version = root.required("spdxVersion")?;
    let found = version.as_str()?;
    if found != SPDX_VERSION {
        return Err(version.error(format!("SPDX version {found:?} is not read; expected \"{SPDX_VERSION}\"")));
    }
    let document = root.opt_str("SPDXID")?.unwrap_or("SPDXRef-DOCUMENT");
    let described = spdx_described(root, document)?;

    let mut counts = Counts::default();
    let mut subject = Subject::default();
    if let Some(packages) = root.get("packages") {
        for package in packages.items()? {
            spdx_package(&package, &described, &mut counts, &mut subject)?;
        }
    }
    // A described file is named only when no described package names the subject.
    let mut files = Subject::default();
    if let Some(list) = root.get("files") {
        for file in list.items()? {
            if is_described(&file, &described)? {
                files.name(file.opt_str("fileName")?, None);
                spdx_checksums(&file, &mut subject)?;
            }
        }
    }
    if subject.names.is_empty() {
        subject.names = files.names;
    }
    Ok(report("SPDX 2.3 JSON".to_owned(), subject, counts))
}

/// The SPDX ids the document describes, in the order they are first named.
fn spdx_described(root: &Node<'_>, document: &str) -> Result<Vec<String>, ParseError> {
    let mut ids: Vec<String> = Vec::new();
    let mut add = |id: &str| {
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    };
    if let Some(list) = root.get("documentDescribes") {
        for id in list.items()? {
            add(id.as_str()?);
        }
    }
    if let Some(relationships) = root.get("relationships") {
        for relationship in relationships.items()? {
            let element = relationship.opt_str("spdxElementId")?;
            let related = relationship.opt_str("relatedSpdxElement")?;
            match (relationship.opt_str("relationshipType")?, element, related) {
                (Some("DESCRIBES"), Some(element), Some(related)) if element == document => add(related),
                (Some("DESCRIBED_BY"), Some(element), Some(related)) if related == document => add(element),
                _ => {}
            }
        }
    }
    Ok(ids)
}

fn is_described(element: &Node<'_>, described: &[String]) -> Result<bool, ParseError> {
    Ok(element.opt_str("SPDXID")?.is_some_and(|id| described.iter().any(|d| d == id)))
}

fn spdx_package(
    package: &Node<'_>,
    described: &[String],
    counts: &mut Counts,
    subject: &mut Subject,
) -> Result<(), ParseError> {
    if !package.value.is_object() {
        return Err(package.error(format!("expected a package object, found {}", json::kind(package.value))));
    }
    counts.components += 1;
    if let Some(refs) = package.get("externalRefs") {
        let mut purl = false;
        for reference in refs.items()? {
            purl |= reference.opt_str("referenceType")? == Some("purl")
                && reference.opt_str("referenceLocator")?.is_some_and(|l| !l.trim().is_empty());
        }
        counts.with_purl += u64::from(purl);
    }
    if let Some(checksums) = package.get("checksums")
        && has_value(&checksums, "checksumValue")?
    {
        counts.with_hashes += 1;
    }
    if is_described(package, described)? {
        subject.name(package.opt_str("name")?, package.opt_str("versionInfo")?);
        spdx_checksums(package, subject)?;
    }
    Ok(())
}

fn spdx_checksums(element: &Node<'_>, subject: &mut Subject) -> Result<(), ParseError> {
    if let Some(checksums) = element.get("checksums") {
        for checksum in checksums.items()? {
            if checksum.opt_str("algorithm")? == Some("SHA256") {
                subject.digest(sha256(&checksum.required("checksumValue")?)?);
            }
        }
    }
    Ok(())
}
