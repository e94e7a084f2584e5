//! Traffic split by the weights of two servers of one HAProxy backend: the stable version's
//! and the new version's.

use super::{Shift, Target, TargetError};
use crate::haproxy::{MAX_WEIGHT, Runtime};

/// One backend, two servers: `stable` runs the previous artefact and `canary` the new one.
/// A weight of W percent gives the canary `round(256 × W / 100)` of HAProxy's 0..=256 range
/// and the stable server the rest, so the two always add up to 256 and 100 leaves the stable
/// server at 0 (no new requests) but in the backend, warm for a rollback.
#[derive(Debug, Clone)]
pub struct HaproxyTarget {
    pub runtime: Runtime,
    pub backend: String,
    pub stable_server: String,
    pub canary_server: String,
}

/// HAProxy weights `(stable, canary)` for `percent` of the traffic on the canary.
pub fn split(percent: u8) -> (u16, u16) {
    let percent = u32::from(percent.min(100));
    let canary = (u32::from(MAX_WEIGHT) * percent + 50) / 100;
    let canary = u16::try_from(canary).expect("at most 256");
    (MAX_WEIGHT - canary, canary)
}

impl Target for HaproxyTarget {
    /// Raises the server that gains weight before lowering the other, so no moment has both at
    /// 0 (HAProxy would answer 503), then reads both weights back with `get weight`.
    fn shift(&self, shift: &Shift) -> Result<(), TargetError> {
        let (stable, canary) = split(shift.percent()?);
        let runtime = &self.runtime;
        let before = runtime.weight(&self.backend, &self.canary_server)?;
        let order = if canary >= before.current {
            [(&self.canary_server, canary), (&self.stable_server, stable)]
        } else {
            [(&self.stable_server, stable), (&self.canary_server, canary)]
        };
        for (server, weight) in order {
            runtime.set_weight(&self.backend, server, weight)?;
        }
        for (server, expected) in [(&self.stable_server, stable), (&self.canary_server, canary)] {
            let actual = runtime.weight(&self.backend, server)?.current;
            if actual != expected {
                return Err(TargetError::NotApplied {
                    backend: self.backend.clone(),
                    server: server.clone(),
                    expected,
                    actual,
                });
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "haproxy {} backend {} (stable {}, canary {})",
            self.runtime.address(),
            self.backend,
            self.stable_server,
            self.canary_server
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;
    use std::sync::{Arc, Mutex};
    use std::thread;

    use super::*;

    #[test]
    fn percent_maps_onto_haproxys_range() {
        assert_eq!(split(0), (256, 0));
        assert_eq!(split(5), (243, 13));
        assert_eq!(split(25), (192, 64));
        assert_eq!(split(50), (128, 128));
        assert_eq!(split(100), (0, 256));
        for percent in 0..=100 {
            let (stable, canary) = split(percent);
            assert_eq!(stable + canary, 256, "{percent}");
        }
    }

    /// A fake HAProxy that keeps the two weights and answers `get`/`set weight` like 2.6;
    /// `frozen` makes it accept `set weight` and change nothing.
    fn fake(stable: u16, canary: u16, frozen: bool) -> (tempfile::TempDir, HaproxyTarget, Arc<Mutex<Vec<String>>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        thread::spawn(move || {
            let mut weights = [("stable", stable), ("canary", canary)];
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut line = String::new();
                BufReader::new(&mut stream).read_line(&mut line).unwrap();
                let words: Vec<&str> = line.split_whitespace().collect();
                seen.lock().unwrap().push(line.trim().to_owned());
                let server = words[2].strip_prefix("app/").unwrap();
                let slot = weights.iter_mut().find(|(name, _)| *name == server).unwrap();
                let reply = match words[0] {
                    "get" => format!("{} (initial 1)\n\n", slot.1),
                    _ => {
                        if !frozen {
                            slot.1 = words[3].parse().unwrap();
                        }
                        "\n".to_owned()
                    }
                };
                stream.write_all(reply.as_bytes()).unwrap();
            }
        });
        let target = HaproxyTarget {
            runtime: Runtime::new(path),
            backend: "app".into(),
            stable_server: "stable".into(),
            canary_server: "canary".into(),
        };
        (dir, target, log)
    }

    fn shift(weight: u8) -> Shift {
        Shift {
            weight,
            artefact: "sha256:new".into(),
            previous: Some("sha256:old".into()),
            environment: "production".into(),
            release: "R-1".into(),
        }
    }

    #[test]
    fn moving_up_raises_the_canary_first_and_checks_both() {
        let (_dir, target, log) = fake(256, 0, false);
        target.shift(&shift(25)).unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            [
                "get weight app/canary",
                "set weight app/canary 64",
                "set weight app/stable 192",
                "get weight app/stable",
                "get weight app/canary"
            ]
        );
    }

    #[test]
    fn moving_back_raises_the_stable_server_first() {
        let (_dir, target, log) = fake(0, 256, false);
        target.shift(&shift(0)).unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log[1..3], ["set weight app/stable 256", "set weight app/canary 0"]);
    }

    #[test]
    fn a_weight_that_did_not_take_is_an_error_naming_the_server() {
        let (_dir, target, _log) = fake(256, 0, true);
        let error = target.shift(&shift(100)).unwrap_err();
        assert!(
            matches!(&error, TargetError::NotApplied { server, expected: 0, actual: 256, .. } if server == "stable"),
            "{error:?}"
        );
    }

    #[test]
    fn above_100_percent_touches_nothing() {
        let target = HaproxyTarget {
            runtime: Runtime::new("/nonexistent.sock"),
            backend: "app".into(),
            stable_server: "stable".into(),
            canary_server: "canary".into(),
        };
        assert!(matches!(target.shift(&shift(101)), Err(TargetError::Weight(101))));
        assert_eq!(target.describe(), "haproxy unix:/nonexistent.sock backend app (stable stable, canary canary)");
    }
}
