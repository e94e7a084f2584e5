//! The API's request decoding takes bytes anyone can send: whatever the path, query, content
//! type and body, it answers a command line or a 4xx naming what is wrong — never a panic, never
//! a 5xx. Random requests, half of them built from the real command tree so that decoding gets
//! past the framing; `fuzz/fuzz_targets/api_request.rs` runs the same calls under libFuzzer.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tollgate::serve::decode;

/// Paths of real commands (and a few that are not).
const PATHS: &[&str] = &[
    "release/create",
    "release/approve",
    "release/show",
    "release/gate",
    "evidence/add",
    "artefact/add",
    "person/grant",
    "check",
    "token/create",
    "risk/add",
    "release",
    "no/such/command",
    "",
    "release//show",
    "init",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,12}".prop_map(Value::String),
        prop_oneof![Just("--as"), Just("-h"), Just("--"), Just("R-1"), Just("sha256:ab"), Just("=x")]
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(argument_name(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn argument_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("id"),
            Just("service"),
            Just("version"),
            Just("type"),
            Just("title"),
            Just("comment"),
            Just("reject"),
            Just("role"),
            Just("name"),
            Just("as"),
            Just("db"),
            Just("now"),
            Just("junit"),
            Just("file"),
            Just("artefact"),
            Just("env"),
        ]
        .prop_map(str::to_owned),
        "[a-z-]{1,10}",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        (prop::collection::btree_map(argument_name(), json_value(), 0..5), json_value()).prop_map(|(args, files)| {
            let args: Map<String, Value> = args.into_iter().collect();
            serde_json::to_vec(&json!({"args": args, "files": files})).unwrap()
        }),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_request_decodes_to_a_command_line_or_a_4xx(
        get in any::<bool>(),
        content_type in prop_oneof![
            Just(None),
            Just(Some("application/json")),
            Just(Some("application/json; charset=utf-8")),
            Just(Some("application/octet-stream")),
            Just(Some("text/plain")),
        ],
        path in prop_oneof![prop::sample::select(PATHS).prop_map(str::to_owned), "[a-z/]{0,20}"],
        query in prop_oneof![Just(None), "[a-z=&%0-9-]{0,30}".prop_map(Some)],
        body in body(),
    ) {
        match decode::request(get, content_type, &path, query.as_deref(), &body) {
            Err(e) => prop_assert!(e.status.is_client_error(), "{} {}: {}", e.status, e.code, e.message),
            Ok(request) => match decode::command_line(&request.words, &request.args) {
                // Nothing the client sends can name the acting person or the store.
                Ok(_) => prop_assert!(!request.args.contains_key("as") && !request.args.contains_key("db")),
                Err(e) => prop_assert!(e.status.is_client_error(), "{} {}: {}", e.status, e.code, e.message),
            },
        }
    }
}

#[test]
fn a_real_request_decodes_and_one_naming_the_actor_does_not() {
    let body = json!({"args": {"id": "R-1", "comment": "--as=eve"}}).to_string();
    let request = decode::request(false, Some("application/json"), "release/approve", None, body.as_bytes()).unwrap();
    let cli = decode::command_line(&request.words, &request.args).unwrap();
    assert!(format!("{:?}", cli.command).contains("--as=eve"), "a value stays a value: {:?}", cli.command);
    let body = json!({"args": {"id": "R-1", "as": "eve"}}).to_string();
    let request = decode::request(false, Some("application/json"), "release/approve", None, body.as_bytes()).unwrap();
    let e = decode::command_line(&request.words, &request.args).unwrap_err();
    assert_eq!((e.status.as_u16(), e.code), (400, "invalid"), "{}", e.message);
}
