//! Terraform plans as `terraform show -json PLANFILE` writes them.
//!
//! What is read: `format_version`, `terraform_version`, `resource_changes[]` (address, type,
//! `change.actions`), `resource_drift[]` (the same shape) and `action_invocations[]` (Terraform
//! 1.14 actions, which run at apply time). Each action list is collapsed to one word:
//! `create`, `update`, `delete`, `read`, `no-op`, `replace` (`["delete","create"]`,
//! `["create","delete"]` or `["create","forget"]`), `forget` (removed from state, not destroyed)
//! and `invoke` for an action invocation.
//!
//! Rules: only format major versions 0 and 1 are read (Terraform promises that minor versions
//! only add properties, so unknown properties are skipped as its documentation asks); an
//! action list Terraform does not define is refused; a document without `planned_values` is
//! refused (that is a state, not a plan, and would look like "no changes"); so is a plan marked
//! `errored`, which is incomplete. More than [`PlanReport::MAX_LISTED`] drifted resources is
//! refused rather than cut short, since the report has no separate drift count.

use std::collections::BTreeMap;

use tollgate_domain::evidence::{PlanItem, PlanReport};

use crate::error::ParseError;
use crate::json::{self, Node};

/// `terraform_version` when the plan does not say.
pub const UNKNOWN_VERSION: &str = "unknown";

pub fn parse(bytes: &[u8]) -> Result<PlanReport, ParseError> {
    let value = json::parse(bytes)?;
    let root = Node::root(&value);
    if !value.is_object() {
        return Err(root.error(format!("expected a Terraform plan object, found {}", json::kind(&value))));
    }
    let format = root.required("format_version")?;
    check_format_version(format.as_str()?).map_err(|e| format.error(e))?;
    if root.get("planned_values").is_none() {
        return Err(root.error(
            "expected the member `planned_values`: this is not a plan (a state?); write one with `terraform show -json PLANFILE`",
        ));
    }
    if let Some(errored) = root.get("errored") {
        match errored.value.as_bool() {
            Some(false) => {}
            Some(true) => return Err(errored.error("the plan errored and is incomplete; expected a successful plan")),
            None => return Err(errored.error(format!("expected a boolean, found {}", json::kind(errored.value)))),
        }
    }

    let mut plan = PlanReport {
        terraform_version: root.opt_str("terraform_version")?.unwrap_or(UNKNOWN_VERSION).to_owned(),
        changes: BTreeMap::new(),
        drift: Vec::new(),
        changed: Vec::new(),
    };
    if let Some(changes) = root.get("resource_changes") {
        for change in changes.items()? {
            let item = resource_change(&change)?;
            count(&mut plan, item);
        }
    }
    if let Some(invocations) = root.get("action_invocations") {
        for invocation in invocations.items()? {
            let item = PlanItem {
                address: invocation.required("address")?.as_str()?.to_owned(),
                resource_type: invocation.required("type")?.as_str()?.to_owned(),
                action: "invoke".to_owned(),
            };
            count(&mut plan, item);
        }
    }
    if let Some(drift) = root.get("resource_drift") {
        for change in drift.items()? {
            if plan.drift.len() >= PlanReport::MAX_LISTED {
                return Err(change.error(format!(
                    "more than {} drifted resources; Tollgate lists every drifted resource and reads no more",
                    PlanReport::MAX_LISTED
                )));
            }
            plan.drift.push(resource_change(&change)?);
        }
    }
    Ok(plan)
}

/// Every change is counted; all but no-ops are listed, up to the cap.
fn count(plan: &mut PlanReport, item: PlanItem) {
    *plan.changes.entry(item.action.clone()).or_insert(0) += 1;
    if item.action != "no-op" && plan.changed.len() < PlanReport::MAX_LISTED {
        plan.changed.push(item);
    }
}

/// Accepts `MAJOR.MINOR` with major 0 or 1.
fn check_format_version(version: &str) -> Result<(), String> {
    let parts: Option<(u64, u64)> = version.split_once('.').and_then(|(major, minor)| {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if digits(major) && digits(minor) { Some((major.parse().ok()?, minor.parse().ok()?)) } else { None }
    });
    match parts {
        Some((0 | 1, _)) => Ok(()),
        Some((major, _)) => Err(format!(
            "plan format version {version} (major version {major}) is not read; expected major version 0 or 1"
        )),
        None => Err(format!("expected a format version like \"1.2\", found {version:?}")),
    }
}

fn resource_change(change: &Node<'_>) -> Result<PlanItem, ParseError> {
    let mut address = change.required("address")?.as_str()?.to_owned();
    if let Some(deposed) = change.opt_str("deposed")? {
        address = format!("{address} (deposed {deposed})");
    }
    let resource_type = change.required("type")?.as_str()?.to_owned();
    let body = change.required("change")?;
    let actions = body.required("actions")?;
    let action = collapse(&actions)?;
    Ok(PlanItem { address, resource_type, action: action.to_owned() })
}

fn collapse(actions: &Node<'_>) -> Result<&'static str, ParseError> {
    let mut list = Vec::new();
    for action in actions.items()? {
        list.push(action.as_str()?);
    }
    match list.as_slice() {
        ["no-op"] => Ok("no-op"),
        ["create"] => Ok("create"),
        ["read"] => Ok("read"),
        ["update"] => Ok("update"),
        ["delete"] => Ok("delete"),
        ["forget"] => Ok("forget"),
        ["delete", "create"] | ["create", "delete"] | ["create", "forget"] => Ok("replace"),
        _ => Err(actions.error(format!(
            "expected a Terraform action list such as [\"create\"] or [\"delete\", \"create\"], found {}",
            actions.value
        ))),
    }
}
