//! Traffic moved by a program: the adapter for whatever has no API of its own here (kubectl,
//! Argo Rollouts, Nomad, a script). The shift travels in the environment, never in arguments a
//! shell might split:
//!
//! | variable | value |
//! | --- | --- |
//! | `TOLLGATE_WEIGHT` | percent of traffic on the new version, `0` to `100` |
//! | `TOLLGATE_ARTEFACT` | the new version's digest, `sha256:...` |
//! | `TOLLGATE_PREVIOUS_ARTEFACT` | the digest the rest goes to; empty on a first deployment |
//! | `TOLLGATE_ENVIRONMENT` | the environment's key, `production` |
//! | `TOLLGATE_RELEASE` | the release, `R-12` |
//!
//! Exit 0 means the shift took. The program runs in a process group of its own, so a timeout
//! kills what it started too (a script's kubectl), not only the script.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::{Shift, Target, TargetError};

/// How much of stderr an error keeps: the end, where a failing tool says why.
const STDERR_TAIL: usize = 2000;

/// How long a failed program's stderr may stay open after it exited (held by something it left
/// running) before the error is reported without it.
const STDERR_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct CommandTarget {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The program is killed, with its process group, when it runs longer.
    pub timeout: Duration,
}

impl CommandTarget {
    /// A timeout of 10 minutes, the order of a `kubectl rollout status`; set `timeout` for less.
    pub fn new(program: impl Into<PathBuf>, args: impl IntoIterator<Item = impl Into<String>>) -> CommandTarget {
        CommandTarget {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            timeout: Duration::from_secs(600),
        }
    }

    fn name(&self) -> String {
        self.program.display().to_string()
    }
}

impl Target for CommandTarget {
    fn shift(&self, shift: &Shift) -> Result<(), TargetError> {
        use std::os::unix::process::CommandExt;

        let weight = shift.percent()?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env("TOLLGATE_WEIGHT", weight.to_string())
            .env("TOLLGATE_ARTEFACT", &shift.artefact)
            .env("TOLLGATE_PREVIOUS_ARTEFACT", shift.previous.as_deref().unwrap_or(""))
            .env("TOLLGATE_ENVIRONMENT", &shift.environment)
            .env("TOLLGATE_RELEASE", &shift.release)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command.spawn().map_err(|source| TargetError::Spawn { program: self.name(), source })?;
        let group = rustix::process::Pid::from_child(&child);
        let stderr = child.stderr.take().expect("piped");
        let (stderr_tx, stderr_rx) = mpsc::channel();
        thread::spawn(move || stderr_tx.send(read_tail(stderr)));
        let (exit_tx, exit_rx) = mpsc::channel();
        thread::spawn(move || exit_tx.send(child.wait()));

        let status = match exit_rx.recv_timeout(self.timeout) {
            Ok(status) => status.map_err(|source| TargetError::Spawn { program: self.name(), source })?,
            Err(_) => {
                // The group's leader is the child, not yet reaped, so its id names this group.
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                let _ = exit_rx.recv();
                return Err(TargetError::CommandTimeout { program: self.name(), timeout: self.timeout });
            }
        };
        if status.success() {
            return Ok(());
        }
        let stderr_tail = stderr_rx
            .recv_timeout(STDERR_GRACE)
            .unwrap_or_else(|_| "(stderr is still held open by a process the program left running)".into());
        Err(TargetError::Failed { program: self.name(), status: status.to_string(), stderr_tail })
    }

    fn describe(&self) -> String {
        let mut words = vec![self.name()];
        words.extend(self.args.iter().cloned());
        format!("command {}", words.join(" "))
    }
}

/// The last [`STDERR_TAIL`] characters of a stream read to its end, in bounded memory.
fn read_tail(mut stream: impl Read) -> String {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > 4 * STDERR_TAIL {
                    kept.drain(..kept.len() - 4 * STDERR_TAIL);
                }
            }
        }
    }
    crate::http::tail(&String::from_utf8_lossy(&kept), STDERR_TAIL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(previous: Option<&str>) -> Shift {
        Shift {
            weight: 25,
            artefact: "sha256:aa".into(),
            previous: previous.map(Into::into),
            environment: "production".into(),
            release: "R-7".into(),
        }
    }

    fn sh(script: &str) -> CommandTarget {
        CommandTarget::new("/bin/sh", ["-c", script])
    }

    #[test]
    fn the_shift_travels_in_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let script = format!(
            "printf '%s|%s|%s|%s|%s' \"$TOLLGATE_WEIGHT\" \"$TOLLGATE_ARTEFACT\" \"$TOLLGATE_PREVIOUS_ARTEFACT\" \"$TOLLGATE_ENVIRONMENT\" \"$TOLLGATE_RELEASE\" > '{}'",
            out.display()
        );
        sh(&script).shift(&shift(Some("sha256:bb"))).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "25|sha256:aa|sha256:bb|production|R-7");
        sh(&script).shift(&shift(None)).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "25|sha256:aa||production|R-7");
    }

    #[test]
    fn a_non_zero_exit_is_an_error_with_the_end_of_stderr() {
        let error = sh("echo starting >&2; echo 'error: deployment \"web\" not found' >&2; exit 3")
            .shift(&shift(None))
            .unwrap_err();
        match &error {
            TargetError::Failed { status, stderr_tail, .. } => {
                assert!(status.contains('3'), "{status}");
                assert_eq!(stderr_tail, "starting\nerror: deployment \"web\" not found");
            }
            other => panic!("{other:?}"),
        }
        assert!(error.to_string().starts_with("/bin/sh failed"), "{error}");
    }

    #[test]
    fn a_long_stderr_keeps_its_end() {
        let error = sh("i=0; while [ $i -lt 2000 ]; do echo line $i >&2; i=$((i+1)); done; exit 1")
            .shift(&shift(None))
            .unwrap_err();
        let TargetError::Failed { stderr_tail, .. } = error else { panic!("{error:?}") };
        assert!(stderr_tail.ends_with("line 1999"), "{stderr_tail}");
        assert!(stderr_tail.chars().count() <= STDERR_TAIL + 1);
    }

    /// The script's own child (`sleep`) holds stderr open; killing only the script would leave
    /// it running and the reader waiting.
    #[test]
    fn a_program_past_its_timeout_is_killed_with_what_it_started() {
        let mut target = sh("sleep 30; echo never");
        target.timeout = Duration::from_millis(200);
        let error = target.shift(&shift(None)).unwrap_err();
        assert!(matches!(error, TargetError::CommandTimeout { .. }), "{error:?}");
    }

    #[test]
    fn a_missing_program_cannot_be_started() {
        let error = CommandTarget::new("/nonexistent/deploy", Vec::<String>::new()).shift(&shift(None)).unwrap_err();
        assert!(matches!(error, TargetError::Spawn { .. }), "{error:?}");
        assert!(error.to_string().contains("/nonexistent/deploy"), "{error}");
    }

    #[test]
    fn describe_names_program_and_arguments() {
        assert_eq!(
            CommandTarget::new("kubectl-shift", ["--namespace", "web"]).describe(),
            "command kubectl-shift --namespace web"
        );
    }
}
