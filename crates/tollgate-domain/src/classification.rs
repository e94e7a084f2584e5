//! The classification advisor (3.7: "Teams must classify each release before planning begins.
//! Misclassification that results in an under-controlled change is a non-conformance"). The
//! profile's rules name what a release shows of itself (a new major version, a declared touch,
//! a kind of scope item) and the types that control such a change enough. A release of another
//! type is flagged from planning on; deploying it to production so raises a non-conformance.

use std::fmt;

use crate::policy::ClassificationRule;
use crate::release::Release;
use crate::state::State;

/// One rule a release's classification contradicts, with what showed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag<'a> {
    pub rule: &'a ClassificationRule,
    /// What the release showed: `version 3.0.0 after 2.4.1`, `touches iam`, `scope iac:NET-4`.
    pub because: String,
}

impl fmt::Display for Flag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let types: Vec<&str> = self.rule.types.iter().map(String::as_str).collect();
        write!(f, "{} implies {} ({}: {})", self.because, types.join(" or "), self.rule.id, self.rule.says)
    }
}

/// The rules `release` contradicts under the profile that governs it.
pub fn flags<'a>(state: &'a State, release: &Release) -> Vec<Flag<'a>> {
    let policy = state.policy_of(release);
    policy
        .classification
        .iter()
        .filter(|rule| !rule.types.contains(&release.release_type))
        .filter_map(|rule| signal(state, release, rule).map(|because| Flag { rule, because }))
        .collect()
}

/// The first signal of `rule` the release shows, described.
fn signal(state: &State, release: &Release, rule: &ClassificationRule) -> Option<String> {
    if rule.semver_major
        && let Some(earlier) = major_bump(state, release)
    {
        return Some(format!("version {} after {earlier}", release.version));
    }
    if let Some(t) = release.touches.iter().find(|t| rule.touches.contains(*t)) {
        return Some(format!("it touches {t}"));
    }
    release
        .scope
        .iter()
        .find(|s| rule.scope_kinds.contains(&s.value.kind))
        .map(|s| format!("its scope holds {}:{}", s.value.kind, s.value.reference))
}

/// The highest earlier version of the service, when this release's major number is above it.
/// Withdrawn releases never shipped and do not count; a service's first release has nothing to
/// compare with, and versions that are not `MAJOR.MINOR...` say nothing.
fn major_bump<'a>(state: &'a State, release: &Release) -> Option<&'a str> {
    let major = major_of(&release.version)?;
    let earlier = state
        .releases
        .values()
        .filter(|r| r.service == release.service && r.id != release.id && r.withdrawn.is_none())
        .filter(|r| r.created.at <= release.created.at)
        .filter_map(|r| major_of(&r.version).map(|m| (m, r.version.as_str())))
        .max_by_key(|(m, _)| *m)?;
    (major > earlier.0).then_some(earlier.1)
}

/// The major number of a semantic version: `3` for `3.0.0`, `v3.1.4`, `3.0.0-rc.1`. Anything
/// else says nothing about compatibility: `1.2`, `latest`, and calendar versions (`2026.11.0`,
/// whose first number is a year, not a promise about the API).
fn major_of(version: &str) -> Option<u64> {
    let v = version.trim().trim_start_matches(['v', 'V']);
    let core = v.split(['-', '+']).next()?;
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let major: u64 = parts[0].parse().ok().filter(|_| numeric)?;
    (major < 1000).then_some(major)
}

#[cfg(test)]
mod tests {
    use super::major_of;

    #[test]
    fn major_numbers_of_versions_as_teams_write_them() {
        for (v, m) in [("3.0.0", Some(3)), ("v2.4.1", Some(2)), ("10.1.0", Some(10)), ("1.0.0-rc.1", Some(1))] {
            assert_eq!(major_of(v), m, "{v}");
        }
        for v in ["9", "1.2", "latest", "1.x.0", "", "v", "2026.11.0", "1..0"] {
            assert_eq!(major_of(v), None, "{v}");
        }
    }
}
