//! Laying a team profile over the profile it extends. Tables merge key by key; arrays of tables
//! with ids (gates, criteria, deferred steps, KPIs) merge element by element, so a team adds a
//! criterion to a gate by naming the gate and the new criterion only; other values replace.

use toml::{Table, Value};

pub fn merge(base: &mut Table, overlay: &Table) {
    for (key, value) in overlay {
        match (base.get_mut(key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (Some(Value::Array(b)), Value::Array(o)) if keyed(b) && keyed(o) => merge_keyed(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// `track/id` when the element has a track, else `id`.
pub fn element_key(value: &Value) -> Option<String> {
    let table = value.as_table()?;
    let id = table.get("id")?.as_str()?;
    Some(match table.get("track").and_then(Value::as_str) {
        Some(track) => format!("{track}/{id}"),
        None => id.to_owned(),
    })
}

fn keyed(array: &[Value]) -> bool {
    !array.is_empty() && array.iter().all(|v| element_key(v).is_some())
}

fn merge_keyed(base: &mut Vec<Value>, overlay: &[Value]) {
    for o in overlay {
        let key = element_key(o);
        match base.iter_mut().find(|b| element_key(b) == key) {
            Some(Value::Table(b)) => merge(b, o.as_table().expect("keyed elements are tables")),
            _ => base.push(o.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_merge_by_id_and_scalars_replace() {
        let mut base: Table = toml::from_str(
            r#"
            a = 1
            [[gates]]
            track = "standard"
            id = "testing"
            name = "Testing"
            criteria = [{ id = "x", says = "x" }]
            "#,
        )
        .unwrap();
        let overlay: Table = toml::from_str(
            r#"
            a = 2
            [[gates]]
            track = "standard"
            id = "testing"
            criteria = [{ id = "y", says = "y" }, { id = "x", says = "tighter x" }]
            "#,
        )
        .unwrap();
        merge(&mut base, &overlay);
        assert_eq!(base["a"].as_integer(), Some(2));
        let gates = base["gates"].as_array().unwrap();
        assert_eq!(gates.len(), 1);
        assert_eq!(gates[0]["name"].as_str(), Some("Testing"));
        let criteria = gates[0]["criteria"].as_array().unwrap();
        let says: Vec<&str> = criteria.iter().map(|c| c["says"].as_str().unwrap()).collect();
        assert_eq!(says, ["tighter x", "y"]);
    }
}
