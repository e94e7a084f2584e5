//! The runtime API against a socket that answers as HAProxy 2.6 does (the answers were taken
//! from Debian's haproxy 2.6.12); tests/components.rs runs the real one.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;
use std::thread;

use super::*;

const STATE: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n3 app 1 stable 127.0.0.1 2 0 256 256 1 1 0 2 0 0 0 0 - 18081 - 0 0 - - 0\n3 app 2 canary 127.0.0.1 2 8 64 0 0 1 0 2 0 0 0 0 - 18082 - 0 0 - - 0\n\n";

/// A socket that answers each connection's command from `replies` in order, then closes it,
/// as the non-interactive mode does; the commands it got come back on the channel.
fn fake(replies: Vec<&'static str>) -> (tempfile::TempDir, Runtime, mpsc::Receiver<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for reply in replies {
            let (mut stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&mut stream).read_line(&mut line).unwrap();
            tx.send(line).unwrap();
            stream.write_all(reply.as_bytes()).unwrap();
        }
    });
    (dir, Runtime::new(path), rx)
}

#[test]
fn set_weight_sends_one_line_and_takes_the_empty_answer() {
    let (_dir, runtime, sent) = fake(vec!["\n"]);
    runtime.set_weight("app", "canary", 64).unwrap();
    assert_eq!(sent.recv().unwrap(), "set weight app/canary 64\n");
}

#[test]
fn a_refusal_carries_haproxys_text() {
    let (_dir, runtime, _sent) = fake(vec!["No such server.\n\n", "Can't find backend.\n\n", "Permission denied\n\n"]);
    let error = runtime.set_weight("app", "nope", 1).unwrap_err();
    assert_eq!(error.reply(), Some("No such server."));
    assert_eq!(error.to_string(), "HAProxy refused `set weight app/nope 1`: No such server.");
    let error = runtime.servers("nope").unwrap_err();
    assert!(matches!(&error, RuntimeError::Refused { reply, .. } if reply == "Can't find backend."), "{error:?}");
    let error = runtime.set_server_state("app", "canary", AdminState::Drain).unwrap_err();
    assert_eq!(error.reply(), Some("Permission denied"));
}

#[test]
fn get_weight_reads_current_and_initial() {
    let (_dir, runtime, sent) = fake(vec!["64 (initial 0)\n\n", "No such backend.\n\n", "64 initial\n"]);
    assert_eq!(runtime.weight("app", "canary").unwrap(), Weight { current: 64, initial: 0 });
    assert_eq!(sent.recv().unwrap(), "get weight app/canary\n");
    assert!(
        matches!(runtime.weight("x", "y"), Err(RuntimeError::Refused { reply, .. }) if reply == "No such backend.")
    );
    assert!(matches!(runtime.weight("app", "canary"), Err(RuntimeError::Unexpected { .. })));
}

#[test]
fn server_states_use_haproxys_keywords() {
    let (_dir, runtime, sent) = fake(vec!["\n", "\n", "\n"]);
    for state in [AdminState::Ready, AdminState::Drain, AdminState::Maint] {
        runtime.set_server_state("app", "stable", state).unwrap();
    }
    let sent: Vec<String> = sent.iter().take(3).collect();
    assert_eq!(
        sent,
        [
            "set server app/stable state ready\n",
            "set server app/stable state drain\n",
            "set server app/stable state maint\n"
        ]
    );
}

#[test]
fn show_servers_state_is_read_by_column_name() {
    let (_dir, runtime, sent) = fake(vec![STATE]);
    let servers = runtime.servers("app").unwrap();
    assert_eq!(sent.recv().unwrap(), "show servers state app\n");
    assert_eq!(
        servers,
        vec![
            ServerState {
                backend: "app".into(),
                id: 1,
                name: "stable".into(),
                address: "127.0.0.1".into(),
                port: Some(18081),
                operational: Operational::Running,
                admin: AdminState::Ready,
                admin_flags: 0,
                weight: 256,
                initial_weight: 256,
            },
            ServerState {
                backend: "app".into(),
                id: 2,
                name: "canary".into(),
                address: "127.0.0.1".into(),
                port: Some(18082),
                operational: Operational::Running,
                admin: AdminState::Drain,
                admin_flags: 8,
                weight: 64,
                initial_weight: 0,
            },
        ]
    );
}

#[test]
fn a_state_table_that_does_not_read_names_what_was_expected() {
    let cases = [
        ("2\n# be_name\n", "format version 1"),
        ("1\nbe_id be_name\n", "header line"),
        ("1\n# be_id be_name srv_id\n", "a header naming"),
        (
            "1\n# be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\napp 1 a 127.0.0.1 2 0 300 1\n",
            "a weight of 0 to 256",
        ),
        (
            "1\n# be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\napp 1 a 127.0.0.1 7 0 1 1\n",
            "srv_op_state 0 to 3",
        ),
        (
            "1\n# be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\napp 1 a\n",
            "a value in every column",
        ),
    ];
    for (reply, expected) in cases {
        let error = state::parse(reply).unwrap_err();
        assert!(error.contains(expected), "{reply}: {error}");
    }
}

#[test]
fn admin_flags_maintenance_wins_over_drain() {
    assert_eq!(AdminState::from_flags(0), AdminState::Ready);
    assert_eq!(AdminState::from_flags(0x10), AdminState::Drain);
    assert_eq!(AdminState::from_flags(0x08 | 0x01), AdminState::Maint);
    assert_eq!(AdminState::from_flags(0x20), AdminState::Maint);
}

#[test]
fn names_that_would_change_the_command_are_refused_before_sending() {
    let runtime = Runtime::new("/nonexistent/admin.sock");
    for (backend, server) in
        [("app", "a b"), ("app;shutdown", "x"), ("app", "x\nset weight"), ("", "x"), ("app", "a/b")]
    {
        let error = runtime.set_weight(backend, server, 1).unwrap_err();
        assert!(matches!(error, RuntimeError::Name { .. }), "{backend:?}/{server:?}: {error:?}");
    }
    assert!(matches!(runtime.servers("a b"), Err(RuntimeError::Name { what: "backend", .. })));
}

#[test]
fn a_raw_command_is_one_command() {
    let runtime = Runtime::new("/nonexistent/admin.sock");
    for command in ["show info; shutdown frontend web", "show info\nshow stat"] {
        assert!(matches!(runtime.command(command), Err(RuntimeError::NotOneCommand(_))), "{command:?}");
    }
}

#[test]
fn a_weight_above_256_is_refused_before_sending() {
    let runtime = Runtime::new("/nonexistent/admin.sock");
    assert!(matches!(runtime.set_weight("app", "x", 257), Err(RuntimeError::Weight(257))));
}

#[test]
fn nothing_listening_is_a_connect_error_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.sock");
    let error = Runtime::new(path.clone()).weight("app", "x").unwrap_err();
    assert!(matches!(error, RuntimeError::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
}

#[test]
fn addresses_parse_haproxys_spellings() {
    assert_eq!(Address::parse("/run/haproxy/admin.sock"), Address::Unix("/run/haproxy/admin.sock".into()));
    assert_eq!(Address::parse("unix:/run/h.sock"), Address::Unix("/run/h.sock".into()));
    assert_eq!(Address::parse("admin.sock"), Address::Unix("admin.sock".into()));
    assert_eq!(Address::parse("127.0.0.1:9999"), Address::Tcp("127.0.0.1:9999".into()));
    assert_eq!(Address::parse("ipv4@127.0.0.1:9999"), Address::Tcp("127.0.0.1:9999".into()));
    assert_eq!(Address::parse("tcp:lb.internal:9999"), Address::Tcp("lb.internal:9999".into()));
    assert_eq!(Address::parse("tcp:lb:1").to_string(), "tcp:lb:1");
}

#[test]
fn a_tcp_address_speaks_the_same_protocol() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&mut stream).read_line(&mut line).unwrap();
        stream.write_all(b"3 (initial 1)\n\n").unwrap();
        line
    });
    let weight = Runtime::new(address.to_string().as_str()).weight("app", "stable").unwrap();
    assert_eq!(weight, Weight { current: 3, initial: 1 });
    assert_eq!(server.join().unwrap(), "get weight app/stable\n");
}
