//! What a scan says it scanned: the SHA-256 digests of an image or file, or a commit, read from
//! the places each format names them (listed in docs/evidence-formats.md). A value in a place
//! that holds a digest but is not a well-formed SHA-256 digest is an error naming the path,
//! never skipped; a reference without a digest (`app:1.0`, a directory path) names nothing.

use tollgate_domain::evidence::{Digest, ScanSubject};

use crate::error::ParseError;
use crate::json::Node;

/// The subjects of one report, each once, in the order first named.
#[derive(Default)]
pub(crate) struct Subjects(Vec<ScanSubject>);

impl Subjects {
    fn push(&mut self, subject: ScanSubject) {
        if !self.0.contains(&subject) {
            self.0.push(subject);
        }
    }

    /// A member that holds a digest (`sha256:HEX`, or bare hex where `bare` allows it).
    pub(crate) fn digest(&mut self, owner: &Node, key: &str, bare: bool) -> Result<(), ParseError> {
        let Some(node) = owner.get(key) else { return Ok(()) };
        let value = node.as_str()?.trim();
        if value.is_empty() {
            return Ok(());
        }
        if !bare && !value.to_ascii_lowercase().starts_with("sha256:") {
            return Err(node.error(format!("expected a SHA-256 digest (sha256: and 64 hex digits), found \"{value}\"")));
        }
        self.push(ScanSubject::Digest(Digest::parse(value).map_err(|e| node.error(e))?));
        Ok(())
    }

    /// A reference that may pin a digest: `repo@sha256:HEX`, a purl `pkg:oci/app@sha256%3AHEX?...`.
    /// Without `@sha256:` it names nothing.
    pub(crate) fn reference(&mut self, node: &Node) -> Result<(), ParseError> {
        let value = node.as_str()?.trim();
        let decoded = value.replace("%3A", ":").replace("%3a", ":");
        let Some(at) = decoded.to_ascii_lowercase().find("@sha256:") else { return Ok(()) };
        let digest = &decoded[at + 1..];
        let digest = digest.split(['?', '#']).next().unwrap_or(digest);
        self.push(ScanSubject::Digest(Digest::parse(digest).map_err(|e| node.error(format!("in \"{value}\": {e}")))?));
        Ok(())
    }

    /// The members `key` of `owner` (an array of references), when present.
    pub(crate) fn references(&mut self, owner: &Node, key: &str) -> Result<(), ParseError> {
        if let Some(list) = owner.get(key) {
            for item in list.items()? {
                self.reference(&item)?;
            }
        }
        Ok(())
    }

    /// A commit, with the repository when named: a full 40- or 64-digit hex id, or an error.
    pub(crate) fn commit(&mut self, node: &Node, repository: Option<&str>) -> Result<(), ParseError> {
        let commit = node.as_str()?.trim();
        if !(matches!(commit.len(), 40 | 64) && commit.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(node.error(format!(
                "expected a full commit id (40 or 64 hex digits) naming the source that was scanned, found \"{commit}\""
            )));
        }
        let repository = repository.map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
        self.push(ScanSubject::Commit { repository, commit: commit.to_ascii_lowercase() });
        Ok(())
    }

    pub(crate) fn finish(self) -> Vec<ScanSubject> {
        self.0
    }
}
