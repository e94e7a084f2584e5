//! Which verified signatures and provenance the profile trusts. The shell checks the
//! cryptography (a signature verifies with a key, a bundle chains to a trusted root); these
//! rules decide whether what was verified is good enough for this procedure and this release.

use crate::evidence::Verification;
use crate::policy::Policy;
use crate::release::Source;

/// A signature check counts when its key or Sigstore identity is trusted by the profile.
pub fn trusted_signature(policy: &Policy, v: &Verification) -> Result<(), String> {
    let trust = &policy.artefacts;
    match v {
        Verification::KeySignature { key, .. } | Verification::Bundle { key: Some(key), .. } => {
            if trust.trusted_keys.contains(key) {
                Ok(())
            } else {
                Err(format!("key {key} is not among the profile's trusted keys (artefacts.trusted-keys)"))
            }
        }
        Verification::Bundle { identity, issuer, .. } => {
            let (identity, issuer) = (identity.as_deref().unwrap_or(""), issuer.as_deref().unwrap_or(""));
            if trust.signers.iter().any(|s| s.identity == identity && s.issuer == issuer) {
                Ok(())
            } else {
                Err(format!(
                    "signer {identity} (issuer {issuer}) is not among the profile's signers (artefacts.signers)"
                ))
            }
        }
        Verification::Provenance { .. } => Err("provenance is not a signature of the artefact".into()),
    }
}

/// Provenance counts when it names a trusted builder, its envelope was signed with a key the
/// profile pins to that builder (`artefacts.builders[].keys`), and it says the artefact was
/// built from the release's repository, tag and commit.
pub fn trusted_provenance(policy: &Policy, source: &Source, v: &Verification) -> Result<(), String> {
    let Verification::Provenance { builder, repository, git_ref, commit, key, .. } = v else {
        return Err("not provenance".into());
    };
    let trust = &policy.artefacts;
    let Some(trusted) = trust.builder(builder) else {
        return Err(format!("builder {builder} is not a trusted builder (artefacts.builders)"));
    };
    if !trusted.keys.contains(key) {
        return Err(format!(
            "the provenance names builder {builder} but was signed with key {key}, which the profile does not pin to that builder (artefacts.builders[id = \"{builder}\"].keys)"
        ));
    }
    if !same_repository(repository, &source.repository) {
        return Err(format!("built from repository {repository}, but the release is tagged in {}", source.repository));
    }
    if !git_ref.starts_with("refs/tags/") {
        return Err(format!("built from {git_ref}, not from a tag (4.1: built from a tagged commit)"));
    }
    if *git_ref != source.tag {
        return Err(format!("built from {git_ref}, but the release is tagged {}", source.tag));
    }
    if !commit.eq_ignore_ascii_case(&source.commit) {
        return Err(format!("built from commit {commit}, but the release tag points at {}", source.commit));
    }
    Ok(())
}

/// `git+https://github.com/org/app.git` and `https://github.com/org/app` name one repository.
pub fn same_repository(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.trim().strip_prefix("git+").unwrap_or(s.trim());
        let s = s.trim_end_matches('/');
        let s = s.strip_suffix(".git").unwrap_or(s);
        s.to_ascii_lowercase()
    }
    norm(a) == norm(b)
}

/// A tag as recorded: always the full ref.
pub fn tag_ref(tag: &str) -> String {
    if tag.starts_with("refs/tags/") { tag.to_owned() } else { format!("refs/tags/{tag}") }
}

/// One line for views and reasons.
pub fn describe(v: &Verification) -> String {
    match v {
        Verification::KeySignature { algorithm, key } => format!("{algorithm} signature, key {}", key.short()),
        Verification::Bundle { identity: Some(identity), issuer, .. } => {
            format!("Sigstore bundle, signer {identity} ({})", issuer.as_deref().unwrap_or("no issuer"))
        }
        Verification::Bundle { key, .. } => {
            format!("Sigstore bundle, key {}", key.as_ref().map_or("unknown", |k| k.short()))
        }
        Verification::Provenance { builder, git_ref, commit, .. } => {
            format!("{builder} from {git_ref} at {}", &commit[..commit.len().min(12)])
        }
    }
}
