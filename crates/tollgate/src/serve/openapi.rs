//! The OpenAPI 3.1 document of `/api/v1`, generated from the command tree itself: every CLI
//! command is an operation whose arguments (names, types, help, allowed values, which are
//! required) are read off the same definitions the CLI parses with, so the document cannot
//! drift from what the server accepts. `tests/openapi.rs` snapshots it.

use clap::ArgAction;
use serde_json::{Map, Value, json};

use crate::remote;

pub fn document() -> Value {
    let mut paths = Map::new();
    let root = remote::tree();
    for (words, cmd) in leaves(root, Vec::new()) {
        paths.insert(format!("/api/v1/{}", words.join("/")), operations(&words, cmd));
    }
    for (path, words, params) in super::api::ALIASES {
        let cmd = remote::command_at(&words.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .expect("aliases name commands");
        let mut op = get_operation(words, cmd);
        let in_path: Vec<Value> = params
            .iter()
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if let Some(list) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            list.retain(|q| !params.contains(&q["name"].as_str().unwrap_or("")));
            list.splice(0..0, in_path);
        }
        paths.insert((*path).to_owned(), json!({"get": op}));
    }
    for (path, about) in [
        ("/healthz", "The process is up."),
        ("/readyz", "The store is open and caught up with the log."),
        ("/metrics", "Requests, latency, writes, authentication failures and log size (OpenMetrics text)."),
    ] {
        paths.insert(
            path.to_owned(),
            json!({"get": {"summary": about, "security": [], "responses": {"200": {"description": "ok"}}}}),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tollgate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every CLI command as an operation: POST /api/v1/<its words> with {\"args\", \"files\"}; the acting person is the one the bearer token authenticates. A response carries the CLI's exit code and output.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A personal API token (tollgate token create) or an OIDC ID token of a configured issuer."}
            },
            "schemas": {
                "Answer": {
                    "type": "object",
                    "required": ["exit", "stderr"],
                    "properties": {
                        "exit": {"type": "integer", "description": "The CLI's exit code: 0 done, 1 error, 3 refused or shut, 4 integrity failure."},
                        "stdout": {"type": "string", "description": "What the command printed, when it answered in text."},
                        "stderr": {"type": "string"},
                        "result": {"description": "The command's JSON answer, in place of stdout (unless text was asked for with Accept: text/plain)."},
                        "error": {"$ref": "#/components/schemas/Error"},
                        "sandbox": {"type": "boolean", "description": "Present, true, when the store is a sandbox (tollgate init --sandbox): a rehearsal, not a record of real releases."},
                    }
                },
                "Error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": ["invalid", "unauthenticated", "forbidden", "refused", "conflict", "integrity", "unknown-command", "method-not-allowed", "unsupported-media-type", "too-large", "answered", "internal"]},
                        "criterion": {"type": ["string", "null"], "description": "The first rule of the procedure that refused."},
                        "message": {"type": "string"},
                        "reasons": {"type": "array", "items": {"type": "object", "properties": {"rule": {"type": "string"}, "reason": {"type": "string"}}}},
                    }
                }
            },
            "responses": responses_components(),
        }
    })
}

fn leaves(cmd: &clap::Command, words: Vec<String>) -> Vec<(Vec<String>, &clap::Command)> {
    if !cmd.has_subcommands() {
        return vec![(words, cmd)];
    }
    cmd.get_subcommands()
        .filter(|c| !LOCAL_ONLY.contains(&c.get_name()) && c.get_name() != "help")
        .flat_map(|c| {
            let mut w = words.clone();
            w.push(c.get_name().to_owned());
            leaves(c, w)
        })
        .collect()
}

/// Commands that run where the store is, never through the server.
const LOCAL_ONLY: &[&str] = &["init", "demo", "serve", "login"];

fn about(cmd: &clap::Command) -> String {
    cmd.get_about().map(|a| a.to_string()).unwrap_or_default()
}

fn operations(words: &[String], cmd: &clap::Command) -> Value {
    let joined = words.join(" ");
    let mut ops = Map::new();
    ops.insert(
        "post".into(),
        json!({
            "operationId": words.join("-"),
            "summary": about(cmd),
            "description": format!("`tollgate {joined}`"),
            "requestBody": {
                "required": true,
                "content": {
                    "application/json": {"schema": {
                        "type": "object",
                        "properties": {
                            "args": args_schema(cmd),
                            "files": {"type": "object", "description": "The bytes of each file an argument names, in base64, under that name.", "additionalProperties": {"type": "string", "contentEncoding": "base64"}},
                        },
                        "additionalProperties": false,
                    }},
                    "application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}, "description": "One file's bytes, the arguments in the query."},
                }
            },
            "responses": responses(),
        }),
    );
    if super::api::READS.contains(&joined.as_str()) {
        ops.insert("get".into(), get_operation(&joined, cmd));
    }
    Value::Object(ops)
}

fn get_operation(words: &str, cmd: &clap::Command) -> Value {
    let params: Vec<Value> = arguments(cmd)
        .map(|a| {
            json!({
                "name": remote::key(a),
                "in": "query",
                "required": a.is_required_set(),
                "description": a.get_help().map(|h| h.to_string()).unwrap_or_default(),
                "schema": arg_schema(a),
            })
        })
        .collect();
    json!({
        "operationId": format!("get-{}", words.replace(' ', "-")),
        "summary": about(cmd),
        "description": format!("`tollgate {words}`"),
        "parameters": params,
        "responses": responses(),
    })
}

fn arguments(cmd: &clap::Command) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments().filter(|a| {
        let key = remote::key(a);
        let own = !a.is_global_set() && !matches!(a.get_action(), ArgAction::Help | ArgAction::Version);
        own || ["now", "late-reason"].contains(&key)
    })
}

fn args_schema(cmd: &clap::Command) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for a in arguments(cmd) {
        let mut schema = arg_schema(a);
        if let Some(help) = a.get_help() {
            schema["description"] = Value::String(help.to_string());
        }
        if remote::names_input_file(a) {
            schema["x-tollgate-file"] = Value::Bool(true);
        }
        properties.insert(remote::key(a).to_owned(), schema);
        if a.is_required_set() {
            required.push(Value::String(remote::key(a).to_owned()));
        }
    }
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

fn arg_schema(a: &clap::Arg) -> Value {
    if !a.get_action().takes_values() {
        return json!({"type": "boolean"});
    }
    let values: Vec<Value> = a
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| Value::String(v.get_name().into()))
        .collect();
    let one = if values.is_empty() { json!({"type": "string"}) } else { json!({"type": "string", "enum": values}) };
    if matches!(a.get_action(), ArgAction::Append) { json!({"type": "array", "items": one}) } else { one }
}

fn responses() -> Value {
    let mut r = Map::new();
    for code in ["200", "400", "401", "403", "404", "409", "413", "415", "422", "500"] {
        r.insert(code.into(), json!({"$ref": format!("#/components/responses/{code}")}));
    }
    Value::Object(r)
}

fn responses_components() -> Value {
    let answer = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}}});
    json!({
        "200": answer("Done; `exit` 3 when the answer is no (a shut gate, an artefact that may not deploy)."),
        "400": answer("Bad input: the message names the field. Nothing written."),
        "401": answer("No valid credential. Nothing written."),
        "403": answer("The authenticated person may not do this (role, separation of duties). Nothing written."),
        "404": answer("No such command."),
        "409": answer("Other writers kept changing what the command read, on every retry. Nothing written."),
        "413": answer("Body larger than the server accepts."),
        "415": answer("Content-Type other than application/json or application/octet-stream."),
        "422": answer("Refused by the procedure: `error.reasons` says by which rules. Nothing written."),
        "500": answer("The log does not verify or cannot be replayed."),
    })
}
