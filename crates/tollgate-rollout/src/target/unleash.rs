//! Exposure gated by a feature flag in Unleash, for the `feature-flag` strategy
//! (QMS-DEV-PRO-004 4.4.4: every instance runs the new version and a flag decides who reaches
//! it): the shift's weight becomes the `rollout` of one `flexibleRollout` activation strategy
//! of the flag in one Unleash environment, through Unleash's Admin API.
//!
//! Which strategy is Tollgate's: the `flexibleRollout` titled `Tollgate rollout`; failing that,
//! the first `flexibleRollout` with no constraints, no segments and no release plan, which
//! Tollgate adopts (gives the title); failing that, a new one. An unconditioned rollout is what
//! sets everyone's exposure — Unleash adds one at 100% when a flag is enabled with no strategy —
//! so left beside Tollgate's it would keep the exposure at its own rollout whatever Tollgate
//! shifts; a constrained or segmented one (internal testers, a beta list) is an audience an
//! operator chose, which Tollgate must not widen or take away. Other strategies are left alone:
//! the exposure is the union of the enabled ones, so one that enables everyone besides
//! Tollgate's (a `default` strategy) overrides the rollout.
//!
//! The strategy is written before the environment is turned on: Unleash, enabling an
//! environment with no active strategy, adds its default (the project's, or a rollout at 100%)
//! and would expose everyone before Tollgate's first shift. Weight 0 sets the rollout to `"0"`
//! and leaves the environment as it is, not off: nobody is exposed either way, and the strategy
//! stays as the record of the rollback in Unleash's event log, with its stickiness and group
//! (the same users come back first on the next attempt) and the operator's other strategies
//! still evaluated. A shift is read back from the environment before it counts.
//!
//! The admin token travels in the `Authorization` header, as Unleash expects; `describe`,
//! `Debug` and errors never show it.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Shift, Target, TargetError};
use crate::http::{self, NoAnswer};

/// The title that marks the `flexibleRollout` strategy Tollgate manages.
const TITLE: &str = "Tollgate rollout";

const FLEXIBLE_ROLLOUT: &str = "flexibleRollout";

/// How much of an answer is read: a feature environment's strategies fit many times over.
const ANSWER_LIMIT: u64 = 1 << 20;

/// One feature flag in one Unleash environment.
#[derive(Clone)]
pub struct UnleashTarget {
    /// Unleash's base URL, `https://unleash.example.com` (with its path prefix, if any).
    pub url: String,
    /// An admin API token (a service account's or a personal access token) that may update
    /// the feature's strategies and environments; private, so nothing prints it.
    token: String,
    /// The project the feature belongs to: `default` unless set.
    pub project: String,
    pub feature: String,
    /// Unleash's environment, `production`: Tollgate's environment names need not match.
    pub environment: String,
    /// Each request, answer included, ends within it; a shift makes up to four.
    pub timeout: Duration,
}

impl UnleashTarget {
    /// A feature in Unleash's `default` project; set `project` for another.
    pub fn new(
        url: impl Into<String>,
        token: impl Into<String>,
        feature: impl Into<String>,
        environment: impl Into<String>,
        timeout: Duration,
    ) -> UnleashTarget {
        UnleashTarget {
            url: url.into(),
            token: token.into(),
            project: "default".into(),
            feature: feature.into(),
            environment: environment.into(),
            timeout,
        }
    }

    /// `/api/admin/projects/{project}/features/{feature}/environments/{environment}`
    fn environment_path(&self) -> String {
        format!(
            "/api/admin/projects/{}/features/{}/environments/{}",
            segment(&self.project),
            segment(&self.feature),
            segment(&self.environment)
        )
    }

    fn strategies_path(&self) -> String {
        format!("{}/strategies", self.environment_path())
    }

    fn strategy_path(&self, id: &str) -> String {
        format!("{}/strategies/{}", self.environment_path(), segment(id))
    }

    fn address(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }

    /// `text` with the token cut out, should an answer or a library's error ever carry it.
    fn scrub(&self, text: &str) -> String {
        if self.token.is_empty() { text.to_owned() } else { text.replace(&self.token, "[token]") }
    }

    /// The answer's body on a 2xx; any other status, or no answer, as the error it means.
    fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Result<String, TargetError> {
        let agent = http::agent(self.timeout);
        let address = self.address(path);
        let response = match method {
            Method::Get => agent.get(address).header("Authorization", &self.token).call(),
            Method::Post | Method::Patch => {
                let request = if method == Method::Post { agent.post(address) } else { agent.patch(address) };
                let request = request.header("Authorization", &self.token);
                match body {
                    Some(body) => request.content_type("application/json").send(body.to_string()),
                    None => request.send_empty(),
                }
            }
        };
        let no_answer = |error: ureq::Error| match http::no_answer(&error) {
            NoAnswer::Timeout => {
                TargetError::UnleashTimeout { url: http::redacted(&self.address(path)), timeout: self.timeout }
            }
            NoAnswer::Unreachable(reason) => TargetError::UnleashUnreachable {
                url: http::redacted(&self.address(path)),
                reason: self.scrub(&reason),
            },
        };
        let mut response = response.map_err(no_answer)?;
        let status = response.status().as_u16();
        let body = http::read_prefix(&mut response, ANSWER_LIMIT).map_err(no_answer)?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(self.refused(method, path, status, &body))
    }

    fn refused(&self, method: Method, path: &str, status: u16, body: &str) -> TargetError {
        let message = self.scrub(&message(body));
        let path = path.to_owned();
        match status {
            401 => TargetError::UnleashUnauthorized { path, message },
            403 => TargetError::UnleashForbidden { path, message },
            404 => TargetError::UnleashNotFound {
                project: self.project.clone(),
                feature: self.feature.clone(),
                environment: self.environment.clone(),
                path,
                message,
            },
            _ => TargetError::UnleashRefused { method: method.name(), path, status, message },
        }
    }

    fn read<T: DeserializeOwned>(&self, path: &str) -> Result<T, TargetError> {
        let body = self.request(Method::Get, path, None)?;
        parse(path, &body)
    }

    /// The feature environment's strategies, in Unleash's order.
    fn strategies(&self) -> Result<Vec<Strategy>, TargetError> {
        self.read(&self.strategies_path())
    }

    /// Adds Tollgate's strategy at `weight`; its id.
    fn create(&self, weight: u8) -> Result<String, TargetError> {
        let path = self.strategies_path();
        let body = json!({
            "name": FLEXIBLE_ROLLOUT,
            "title": TITLE,
            "disabled": false,
            "constraints": [],
            "variants": [],
            "segments": [],
            "parameters": parameters(weight, &self.feature),
        });
        let created: Strategy = parse(&path, &self.request(Method::Post, &path, Some(&body))?)?;
        Ok(created.id)
    }

    /// Sets the rollout of the strategy found (and marks it, if adopted), touching nothing else
    /// of it: a JSON Patch, which Unleash applies to the strategy as stored, so its stickiness,
    /// group, constraints, segments and variants stay as they are. Nothing is sent when it
    /// already says what the shift does, so a repeated shift adds no event to Unleash's log.
    fn update(&self, found: &Managed, weight: u8) -> Result<(), TargetError> {
        let patch = patch(found, weight, &self.feature);
        if patch.is_empty() {
            return Ok(());
        }
        let path = self.strategy_path(&found.strategy().id);
        self.request(Method::Patch, &path, Some(&Value::Array(patch)))?;
        Ok(())
    }

    /// `POST .../on`: a no-op, without an event, where the environment is already on.
    fn enable(&self) -> Result<(), TargetError> {
        self.request(Method::Post, &format!("{}/on", self.environment_path()), None)?;
        Ok(())
    }

    /// Reads the environment back: the strategy `id` active at `weight`, and the environment
    /// on unless the weight is 0.
    fn verify(&self, id: &str, weight: u8) -> Result<(), TargetError> {
        let environment: Environment = self.read(&self.environment_path())?;
        let actual = match environment.strategies.iter().find(|s| s.id == id) {
            None => Some(format!("no strategy {id}")),
            Some(s) if s.disabled == Some(true) => Some(format!("strategy {id} disabled")),
            Some(s) if rollout(s) != Some(weight) => Some(format!("rollout {}", raw_rollout(s))),
            Some(_) if weight > 0 && !environment.enabled => Some("the environment off".to_owned()),
            Some(_) => None,
        };
        match actual {
            None => Ok(()),
            Some(actual) => Err(TargetError::FlagNotApplied {
                feature: self.feature.clone(),
                environment: self.environment.clone(),
                expected: weight,
                actual,
            }),
        }
    }
}

impl fmt::Debug for UnleashTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnleashTarget")
            .field("url", &http::redacted(&self.url))
            .field("token", &"[redacted]")
            .field("project", &self.project)
            .field("feature", &self.feature)
            .field("environment", &self.environment)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Target for UnleashTarget {
    fn shift(&self, shift: &Shift) -> Result<(), TargetError> {
        let weight = shift.percent()?;
        let strategies = self.strategies()?;
        let id = match managed(&strategies) {
            Some(found) => {
                self.update(&found, weight)?;
                found.strategy().id.clone()
            }
            None => self.create(weight)?,
        };
        if weight > 0 {
            self.enable()?;
        }
        self.verify(&id, weight)
    }

    fn describe(&self) -> String {
        format!(
            "unleash {} project {} feature {} environment {}",
            http::redacted(&self.url),
            self.project,
            self.feature,
            self.environment
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }
}

/// What Tollgate reads of a strategy (`featureStrategySchema`); the rest is Unleash's to keep.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Strategy {
    id: String,
    name: String,
    title: Option<String>,
    disabled: Option<bool>,
    constraints: Option<Vec<Value>>,
    segments: Option<Vec<Value>>,
    parameters: Option<serde_json::Map<String, Value>>,
    /// Set on the strategies of a release plan's milestone, which Unleash moves itself.
    milestone_id: Option<Value>,
}

/// What Tollgate reads of a feature environment (`featureEnvironmentSchema`).
#[derive(Debug, Deserialize)]
struct Environment {
    enabled: bool,
    #[serde(default)]
    strategies: Vec<Strategy>,
}

/// The strategy Tollgate manages among a feature environment's, by the rule of the module doc.
#[derive(Debug)]
enum Managed<'a> {
    /// Titled [`TITLE`]: created or adopted by an earlier shift.
    Marked(&'a Strategy),
    /// The first unconditioned `flexibleRollout`, to be titled with this shift.
    Adopted(&'a Strategy),
}

impl Managed<'_> {
    fn strategy(&self) -> &Strategy {
        match self {
            Managed::Marked(s) | Managed::Adopted(s) => s,
        }
    }
}

fn managed(strategies: &[Strategy]) -> Option<Managed<'_>> {
    let rollouts = || strategies.iter().filter(|s| s.name == FLEXIBLE_ROLLOUT);
    if let Some(marked) = rollouts().find(|s| s.title.as_deref() == Some(TITLE)) {
        return Some(Managed::Marked(marked));
    }
    rollouts().find(|s| unconditioned(s)).map(Managed::Adopted)
}

fn unconditioned(strategy: &Strategy) -> bool {
    strategy.constraints.as_ref().is_none_or(Vec::is_empty)
        && strategy.segments.as_ref().is_none_or(Vec::is_empty)
        && strategy.milestone_id.is_none()
}

/// A new strategy's parameters: Unleash's own defaults for a flexible rollout, stickiness
/// `default` (user id, else session id, else random) and the feature's name as the group.
fn parameters(weight: u8, feature: &str) -> Value {
    json!({"rollout": weight.to_string(), "stickiness": "default", "groupId": feature})
}

/// The JSON Patch operations that bring `found` to `weight` (stored as Unleash writes it, the
/// string `"25"`), active, and titled; none when it is already so. `add` sets a member whether
/// or not it exists (RFC 6902 4.1), where `replace` would fail on a strategy stored without it.
fn patch(found: &Managed, weight: u8, feature: &str) -> Vec<Value> {
    let strategy = found.strategy();
    let mut ops = Vec::new();
    let wanted = Value::String(weight.to_string());
    if strategy.parameters.as_ref().and_then(|p| p.get("rollout")) != Some(&wanted) {
        ops.push(match strategy.parameters {
            Some(_) => json!({"op": "add", "path": "/parameters/rollout", "value": wanted}),
            None => json!({"op": "add", "path": "/parameters", "value": parameters(weight, feature)}),
        });
    }
    if strategy.disabled == Some(true) {
        ops.push(json!({"op": "add", "path": "/disabled", "value": false}));
    }
    if matches!(found, Managed::Adopted(_)) {
        ops.push(json!({"op": "add", "path": "/title", "value": TITLE}));
    }
    ops
}

/// The strategy's rollout as a percent: Unleash stores it as a string, `"25"`.
fn rollout(strategy: &Strategy) -> Option<u8> {
    match strategy.parameters.as_ref()?.get("rollout")? {
        Value::String(text) => text.trim().parse().ok().filter(|percent| *percent <= 100),
        Value::Number(number) => number.as_u64().and_then(|n| u8::try_from(n).ok()).filter(|percent| *percent <= 100),
        _ => None,
    }
}

fn raw_rollout(strategy: &Strategy) -> String {
    strategy.parameters.as_ref().and_then(|p| p.get("rollout")).map_or_else(|| "missing".to_owned(), Value::to_string)
}

fn parse<T: DeserializeOwned>(path: &str, body: &str) -> Result<T, TargetError> {
    serde_json::from_str(body).map_err(|e| TargetError::UnleashAnswer { path: path.to_owned(), reason: e.to_string() })
}

/// What an error answer says: Unleash's `message` and its `details`, else the body's end.
fn message(body: &str) -> String {
    let Ok(answer) = serde_json::from_str::<Value>(body) else { return http::tail(body, 500) };
    let mut parts: Vec<&str> = answer.get("message").and_then(Value::as_str).into_iter().collect();
    for detail in answer.get("details").and_then(Value::as_array).into_iter().flatten() {
        if let Some(text) = detail.get("message").and_then(Value::as_str)
            && !parts.contains(&text)
        {
            parts.push(text);
        }
    }
    if parts.is_empty() { http::tail(body, 500) } else { http::tail(&parts.join("; "), 500) }
}

/// `name` as one path segment: unreserved characters as they are, the rest percent-encoded.
fn segment(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(value: Value) -> Strategy {
        serde_json::from_value(value).unwrap()
    }

    fn rollout_strategy(id: &str, title: Option<&str>, constraints: Value, rollout: &str) -> Strategy {
        strategy(json!({
            "id": id, "name": "flexibleRollout", "title": title, "disabled": false, "sortOrder": 0,
            "constraints": constraints, "segments": [], "variants": [],
            "parameters": {"rollout": rollout, "stickiness": "default", "groupId": "checkout"},
        }))
    }

    fn internal_users() -> Value {
        json!([{"contextName": "email", "operator": "STR_ENDS_WITH", "values": ["@example.com"], "inverted": false, "caseInsensitive": true}])
    }

    #[test]
    fn the_marked_strategy_wins_over_an_earlier_unconditioned_one() {
        let strategies =
            [rollout_strategy("a", None, json!([]), "100"), rollout_strategy("b", Some(TITLE), json!([]), "10")];
        assert!(matches!(managed(&strategies), Some(Managed::Marked(s)) if s.id == "b"));
    }

    #[test]
    fn without_a_mark_the_first_unconditioned_rollout_is_adopted() {
        let strategies = [
            strategy(json!({"id": "d", "name": "default", "constraints": [], "parameters": {}})),
            rollout_strategy("internal", None, internal_users(), "100"),
            rollout_strategy("everyone", Some("Gradual"), json!([]), "100"),
        ];
        assert!(matches!(managed(&strategies), Some(Managed::Adopted(s)) if s.id == "everyone"));
    }

    #[test]
    fn constrained_segmented_and_release_plan_rollouts_are_not_adopted() {
        let mut segmented = rollout_strategy("seg", None, json!([]), "50");
        segmented.segments = Some(vec![json!(3)]);
        let mut milestone = rollout_strategy("plan", None, json!([]), "50");
        milestone.milestone_id = Some(json!("01JBXYZ"));
        let strategies = [rollout_strategy("internal", None, internal_users(), "100"), segmented, milestone];
        assert!(managed(&strategies).is_none());
    }

    #[test]
    fn the_patch_sets_only_what_differs() {
        let marked = rollout_strategy("b", Some(TITLE), json!([]), "10");
        assert_eq!(
            patch(&Managed::Marked(&marked), 25, "checkout"),
            [json!({"op": "add", "path": "/parameters/rollout", "value": "25"})]
        );
        assert!(patch(&Managed::Marked(&marked), 10, "checkout").is_empty());
        let mut disabled = marked.clone();
        disabled.disabled = Some(true);
        assert_eq!(
            patch(&Managed::Marked(&disabled), 10, "checkout"),
            [json!({"op": "add", "path": "/disabled", "value": false})]
        );
        let adopted = rollout_strategy("a", None, json!([]), "100");
        assert_eq!(
            patch(&Managed::Adopted(&adopted), 0, "checkout"),
            [
                json!({"op": "add", "path": "/parameters/rollout", "value": "0"}),
                json!({"op": "add", "path": "/title", "value": TITLE})
            ]
        );
    }

    #[test]
    fn a_rollout_stored_as_a_number_is_rewritten_as_a_string() {
        let mut numeric = rollout_strategy("b", Some(TITLE), json!([]), "10");
        numeric.parameters.as_mut().unwrap().insert("rollout".into(), json!(10));
        assert_eq!(rollout(&numeric), Some(10));
        assert_eq!(
            patch(&Managed::Marked(&numeric), 10, "checkout"),
            [json!({"op": "add", "path": "/parameters/rollout", "value": "10"})]
        );
    }

    #[test]
    fn rollouts_read_as_percent() {
        let with = |value: Value| {
            let mut s = rollout_strategy("x", None, json!([]), "0");
            s.parameters.as_mut().unwrap().insert("rollout".into(), value);
            rollout(&s)
        };
        assert_eq!(with(json!("25")), Some(25));
        assert_eq!(with(json!(" 7 ")), Some(7));
        assert_eq!(with(json!("101")), None);
        assert_eq!(with(json!("a lot")), None);
        assert_eq!(with(json!(null)), None);
    }

    #[test]
    fn error_answers_say_unleashs_message_and_details() {
        assert_eq!(
            message(
                r#"{"id":"x","name":"BadDataError","message":"Request validation failed","details":[{"message":"rollout must be a string"}]}"#
            ),
            "Request validation failed; rollout must be a string"
        );
        assert_eq!(message(r#"{"name":"NotFoundError","message":"gone","details":[{"message":"gone"}]}"#), "gone");
        assert_eq!(message("<html>bad gateway</html>"), "<html>bad gateway</html>");
    }

    #[test]
    fn names_are_one_path_segment_each() {
        assert_eq!(segment("new-checkout_v2.1~x"), "new-checkout_v2.1~x");
        assert_eq!(segment("a/b c?"), "a%2Fb%20c%3F");
    }

    #[test]
    fn debug_and_describe_leave_the_token_out() {
        let target = UnleashTarget::new(
            "https://ops:pw@unleash.example/",
            "*:*.s3cret",
            "checkout",
            "production",
            Duration::from_secs(5),
        );
        assert_eq!(
            target.describe(),
            "unleash https://unleash.example/ project default feature checkout environment production"
        );
        let debug = format!("{target:?}");
        assert!(!debug.contains("s3cret") && !debug.contains("pw@"), "{debug}");
    }
}
