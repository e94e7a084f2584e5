//! SLSA v1 provenance: the in-toto Statement carried in a DSSE envelope, read only after the
//! envelope's signature has been verified (`tollgate-sigstore::verify_dsse`).
//!
//! What is read, and where:
//! - `_type` must be `https://in-toto.io/Statement/v1` (or v0.1) and `predicateType`
//!   `https://slsa.dev/provenance/v1`; anything else is refused, since a predicate Tollgate does
//!   not understand could say anything.
//! - `subject[].digest.sha256`: the artefacts the provenance is about.
//! - `predicate.runDetails.builder.id`: the build platform; `predicate.buildDefinition.buildType`.
//! - The source: the `resolvedDependencies` entry whose `uri` is `git+<repository>@<ref>`, with
//!   its `digest.gitCommit` (or `sha1`). GitHub's build type also names the source in
//!   `externalParameters.workflow.{repository, ref}`; when both are present they must agree.

use tollgate_domain::evidence::Digest;

use crate::error::ParseError;
use crate::json::{self, Node};

pub const PREDICATE_SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const STATEMENT_TYPES: [&str; 2] = ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"];
/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// `(name, sha256)` of every subject.
    pub subjects: Vec<(String, Digest)>,
    pub builder: String,
    pub build_type: String,
    /// Without the `git+` prefix.
    pub repository: String,
    pub git_ref: String,
    pub commit: String,
}

impl Provenance {
    pub fn covers(&self, digest: &Digest) -> bool {
        self.subjects.iter().any(|(_, d)| d == digest)
    }
}

pub fn parse(bytes: &[u8]) -> Result<Provenance, ParseError> {
    let value = json::parse(bytes)?;
    let root = Node::root(&value);
    let statement_type = root.required("_type")?;
    if !STATEMENT_TYPES.contains(&statement_type.as_str()?) {
        return Err(statement_type.error(format!(
            "expected an in-toto statement ({}), found `{}`",
            STATEMENT_TYPES.join(" or "),
            statement_type.as_str()?
        )));
    }
    let predicate_type = root.required("predicateType")?;
    if predicate_type.as_str()? != PREDICATE_SLSA_V1 {
        return Err(predicate_type.error(format!(
            "expected SLSA provenance v1 ({PREDICATE_SLSA_V1}), found `{}`; Tollgate does not read other predicates",
            predicate_type.as_str()?
        )));
    }

    let subject_node = root.required("subject")?;
    let mut subjects = Vec::new();
    for s in subject_node.items()? {
        let name = s.opt_str("name")?.unwrap_or_default().to_owned();
        let digests = s.required("digest")?;
        if let Some(hex) = digests.get("sha256") {
            let digest = Digest::parse(hex.as_str()?).map_err(|e| hex.error(e))?;
            subjects.push((name, digest));
        }
    }
    if subjects.is_empty() {
        return Err(subject_node.error("expected at least one subject with a sha256 digest"));
    }

    let predicate = root.required("predicate")?;
    let run = predicate.required("runDetails")?;
    let builder = run.required("builder")?;
    let builder = builder.required("id")?.as_str()?.to_owned();
    let definition = predicate.required("buildDefinition")?;
    let build_type = definition.required("buildType")?.as_str()?.to_owned();

    let mut from_dependency = None;
    if let Some(deps) = definition.get("resolvedDependencies") {
        for dep in deps.items()? {
            let Some(uri) = dep.opt_str("uri")? else { continue };
            let Some(rest) = uri.strip_prefix("git+") else { continue };
            let Some((repository, git_ref)) = rest.rsplit_once('@') else {
                return Err(dep.error(format!("expected `git+<repository>@<ref>`, found `{uri}`")));
            };
            let digest = dep.required("digest")?;
            let commit = match (digest.opt_str("gitCommit")?, digest.opt_str("sha1")?) {
                (Some(c), _) | (None, Some(c)) => c.to_owned(),
                (None, None) => return Err(digest.error("expected the source commit in `gitCommit` or `sha1`")),
            };
            from_dependency = Some((repository.to_owned(), git_ref.to_owned(), commit));
            break;
        }
    }
    let mut from_workflow = None;
    if let Some(params) = definition.get("externalParameters")
        && let Some(workflow) = params.get("workflow")
    {
        let repository = workflow.opt_str("repository")?;
        let git_ref = workflow.opt_str("ref")?;
        if let (Some(repository), Some(git_ref)) = (repository, git_ref) {
            from_workflow = Some((repository.to_owned(), git_ref.to_owned()));
        }
    }
    let Some((repository, git_ref, commit)) = from_dependency else {
        return Err(definition.error(
            "expected a `resolvedDependencies` entry `git+<repository>@<ref>` with its commit: the provenance must say which commit it was built from",
        ));
    };
    if let Some((wf_repository, wf_ref)) = from_workflow
        && (wf_ref != git_ref || !tollgate_domain::artefact::same_repository(&wf_repository, &repository))
    {
        return Err(definition.error(format!(
            "the workflow parameters name {wf_repository}@{wf_ref} but the resolved source is {repository}@{git_ref}"
        )));
    }
    Ok(Provenance { subjects, builder, build_type, repository, git_ref, commit })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn statement(subject: &str, git_ref: &str) -> String {
        format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1",
            "subject":[{{"name":"app.tar.gz","digest":{{"sha256":"{subject}"}}}}],
            "predicateType":"https://slsa.dev/provenance/v1",
            "predicate":{{
              "buildDefinition":{{
                "buildType":"https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
                "externalParameters":{{"workflow":{{"ref":"{git_ref}","repository":"https://github.com/acme/app","path":".github/workflows/release.yml"}}}},
                "resolvedDependencies":[{{"uri":"git+https://github.com/acme/app@{git_ref}","digest":{{"gitCommit":"9f1c2e7a9f1c2e7a9f1c2e7a9f1c2e7a9f1c2e7a"}}}}]
              }},
              "runDetails":{{"builder":{{"id":"https://github.com/actions/runner/github-hosted"}},"metadata":{{"invocationId":"1"}}}}
            }}}}"#
        )
    }

    #[test]
    fn reads_github_actions_provenance() {
        let p = parse(statement(&"ab".repeat(32), "refs/tags/v1.2.0").as_bytes()).unwrap();
        assert_eq!(p.builder, "https://github.com/actions/runner/github-hosted");
        assert_eq!(p.repository, "https://github.com/acme/app");
        assert_eq!(p.git_ref, "refs/tags/v1.2.0");
        assert_eq!(p.commit, "9f1c2e7a9f1c2e7a9f1c2e7a9f1c2e7a9f1c2e7a");
        assert!(p.covers(&Digest::parse(&"ab".repeat(32)).unwrap()));
    }

    #[test]
    fn unknown_predicates_and_statement_types_fail_closed() {
        let text = statement(&"ab".repeat(32), "refs/tags/v1").replace("provenance/v1", "provenance/v0.2");
        let e = parse(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("at `predicateType`: expected SLSA provenance v1"), "{e}");
        let text = statement(&"ab".repeat(32), "refs/tags/v1").replace("Statement/v1", "Statement/v9");
        assert!(parse(text.as_bytes()).unwrap_err().to_string().contains("at `_type`"));
    }

    #[test]
    fn duplicate_keys_and_disagreeing_sources_are_refused() {
        let text = statement(&"ab".repeat(32), "refs/tags/v1").replacen(
            r#""predicateType":"https://slsa.dev/provenance/v1","#,
            r#""predicateType":"https://slsa.dev/provenance/v1","predicateType":"https://slsa.dev/provenance/v1","#,
            1,
        );
        assert!(parse(text.as_bytes()).unwrap_err().to_string().contains("duplicate key"));
        let text = statement(&"ab".repeat(32), "refs/tags/v1").replacen(
            "\"ref\":\"refs/tags/v1\"",
            "\"ref\":\"refs/heads/main\"",
            1,
        );
        let e = parse(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("the workflow parameters name"), "{e}");
    }
}
