//! HAProxy's runtime API (management guide, section 9.3) over its stats socket, a unix socket
//! or a TCP address declared `stats socket ... level admin`.
//!
//! One command per connection, in the socket's non-interactive mode: the command and a newline
//! are written, HAProxy answers and closes, and the whole answer is what it said. That costs a
//! connection per command and buys an answer that never depends on an earlier one, a session
//! that cannot be left in interactive mode, and no parsing of the `> ` prompt.
//!
//! HAProxy's answers carry no status: a `set` command that took says nothing, and one that did
//! not says why in a line of text (`No such server.`). So each command here knows what its
//! success looks like, and anything else is a [`RuntimeError::Refused`] with that text.

mod state;

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

pub use state::{AdminState, Operational, ServerState};

/// The heaviest weight HAProxy takes (`set weight`: "between 0 and 256").
pub const MAX_WEIGHT: u16 = 256;

/// Answers longer than this are cut off: `show servers state` of a backend is a line per
/// server, and nothing here asks for more.
const MAX_ANSWER: u64 = 4 << 20;

/// Where the runtime API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `stats socket /run/haproxy/admin.sock level admin`
    Unix(PathBuf),
    /// `stats socket ipv4@127.0.0.1:9999 level admin`, as `host:port`.
    Tcp(String),
}

impl Address {
    /// `unix:PATH` or an absolute or `./` path is a unix socket; `tcp:HOST:PORT`,
    /// `ipv4@HOST:PORT`, `ipv6@...` or `HOST:PORT` a TCP address (HAProxy's own spellings).
    pub fn parse(text: &str) -> Address {
        if let Some(path) = text.strip_prefix("unix:").or_else(|| text.strip_prefix("unix@")) {
            return Address::Unix(PathBuf::from(path));
        }
        for prefix in ["tcp:", "ipv4@", "ipv6@"] {
            if let Some(host_port) = text.strip_prefix(prefix) {
                return Address::Tcp(host_port.to_owned());
            }
        }
        if text.starts_with('/') || text.starts_with("./") || !text.contains(':') {
            Address::Unix(PathBuf::from(text))
        } else {
            Address::Tcp(text.to_owned())
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::Tcp(address) => write!(f, "tcp:{address}"),
        }
    }
}

impl From<&str> for Address {
    fn from(text: &str) -> Address {
        Address::parse(text)
    }
}

impl From<PathBuf> for Address {
    fn from(path: PathBuf) -> Address {
        Address::Unix(path)
    }
}

impl From<&std::path::Path> for Address {
    fn from(path: &std::path::Path) -> Address {
        Address::Unix(path.to_owned())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("HAProxy's runtime API at {address} could not be reached: {source}")]
    Connect { address: String, source: std::io::Error },
    #[error("HAProxy's runtime API at {address} gave no whole answer to `{command}`: {source}")]
    Io { address: String, command: String, source: std::io::Error },
    /// HAProxy answered with text where the command's success says nothing or something else.
    #[error("HAProxy refused `{command}`: {reply}")]
    Refused { command: String, reply: String },
    /// An answer of the right kind that does not read as documented.
    #[error("HAProxy's answer to `{command}` is not {expected}: {reply}")]
    Unexpected { command: String, expected: &'static str, reply: String },
    /// A name that would change the command (a space, `;`, a newline) or that HAProxy would
    /// not have accepted in its configuration; refused before anything is sent.
    #[error("{what} {name:?} is not a HAProxy name (letters, digits, '-', '_', '.', ':')")]
    Name { what: &'static str, name: String },
    #[error("weight {0} is outside HAProxy's range 0..=256")]
    Weight(u16),
    #[error("{0:?} is not one runtime API command (a newline or ';' would make it several)")]
    NotOneCommand(String),
}

impl RuntimeError {
    /// What HAProxy said, for the commands it refused or answered oddly.
    pub fn reply(&self) -> Option<&str> {
        match self {
            RuntimeError::Refused { reply, .. } | RuntimeError::Unexpected { reply, .. } => Some(reply),
            _ => None,
        }
    }
}

/// A server's weight as `get weight` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weight {
    pub current: u16,
    /// The weight in the configuration, which `set weight N%` is relative to.
    pub initial: u16,
}

/// A client of one HAProxy's runtime API.
#[derive(Debug, Clone)]
pub struct Runtime {
    address: Address,
    timeout: Duration,
}

impl Runtime {
    /// Each command, connecting included, is bounded by 5 seconds unless [`Runtime::with_timeout`]
    /// says otherwise: the API answers from memory, so a slow answer means a stuck process.
    pub fn new(address: impl Into<Address>) -> Runtime {
        Runtime { address: address.into(), timeout: Duration::from_secs(5) }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Runtime {
        self.timeout = timeout;
        self
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// `set weight BACKEND/SERVER WEIGHT`, an absolute weight of 0 to 256.
    pub fn set_weight(&self, backend: &str, server: &str, weight: u16) -> Result<(), RuntimeError> {
        if weight > MAX_WEIGHT {
            return Err(RuntimeError::Weight(weight));
        }
        let command = format!("set weight {} {weight}", server_path(backend, server)?);
        self.silent(&command)
    }

    /// `get weight BACKEND/SERVER`, answered `CURRENT (initial INITIAL)`.
    pub fn weight(&self, backend: &str, server: &str) -> Result<Weight, RuntimeError> {
        let command = format!("get weight {}", server_path(backend, server)?);
        let reply = self.command(&command)?;
        parse_weight(reply.trim()).ok_or_else(|| {
            let reply = reply.trim().to_owned();
            // A refusal is a sentence ("No such server."); anything else with digits is odd.
            if reply.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                RuntimeError::Unexpected { command, expected: "`CURRENT (initial INITIAL)`", reply }
            } else {
                RuntimeError::Refused { command, reply }
            }
        })
    }

    /// `set server BACKEND/SERVER state ready|drain|maint`.
    pub fn set_server_state(&self, backend: &str, server: &str, state: AdminState) -> Result<(), RuntimeError> {
        let command = format!("set server {} state {}", server_path(backend, server)?, state.keyword());
        self.silent(&command)
    }

    /// `show servers state BACKEND`: every server of the backend as the state file lists it.
    pub fn servers(&self, backend: &str) -> Result<Vec<ServerState>, RuntimeError> {
        check_name("backend", backend)?;
        let command = format!("show servers state {backend}");
        let reply = self.command(&command)?;
        state::parse(&reply).map_err(|expected| {
            let reply = reply.trim().to_owned();
            if reply.lines().count() == 1 && !reply.starts_with(|c: char| c.is_ascii_digit()) {
                RuntimeError::Refused { command, reply }
            } else {
                RuntimeError::Unexpected { command, expected, reply }
            }
        })
    }

    /// A command whose success is an empty answer.
    fn silent(&self, command: &str) -> Result<(), RuntimeError> {
        let reply = self.command(command)?;
        if reply.trim().is_empty() {
            Ok(())
        } else {
            Err(RuntimeError::Refused { command: command.to_owned(), reply: reply.trim().to_owned() })
        }
    }

    /// Sends one command (`show info`, `show stat`, ...) and returns HAProxy's whole answer,
    /// whatever it says. A newline or `;` would make it several commands and is refused.
    pub fn command(&self, command: &str) -> Result<String, RuntimeError> {
        if command.contains(['\n', '\r', ';']) {
            return Err(RuntimeError::NotOneCommand(command.to_owned()));
        }
        let io = |source| RuntimeError::Io { address: self.address.to_string(), command: command.to_owned(), source };
        let mut line = command.as_bytes().to_vec();
        line.push(b'\n');
        let mut answer = Vec::new();
        match &self.address {
            Address::Unix(path) => {
                let mut stream = UnixStream::connect(path)
                    .map_err(|source| RuntimeError::Connect { address: self.address.to_string(), source })?;
                stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
                stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
                stream.write_all(&line).map_err(io)?;
                stream.take(MAX_ANSWER).read_to_end(&mut answer).map_err(io)?;
            }
            Address::Tcp(host_port) => {
                let mut stream = self.connect_tcp(host_port)?;
                stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
                stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
                stream.write_all(&line).map_err(io)?;
                stream.take(MAX_ANSWER).read_to_end(&mut answer).map_err(io)?;
            }
        }
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }

    fn connect_tcp(&self, host_port: &str) -> Result<TcpStream, RuntimeError> {
        let connect = |source| RuntimeError::Connect { address: self.address.to_string(), source };
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the name resolved to no address");
        for address in host_port.to_socket_addrs().map_err(connect)? {
            match TcpStream::connect_timeout(&address, self.timeout) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = e,
            }
        }
        Err(connect(last))
    }
}

/// `BACKEND/SERVER`, both checked.
fn server_path(backend: &str, server: &str) -> Result<String, RuntimeError> {
    check_name("backend", backend)?;
    check_name("server", server)?;
    Ok(format!("{backend}/{server}"))
}

/// HAProxy's rule for proxy names (configuration manual, section 4: "upper and lower case
/// letters, digits, '-', '_', '.' and ':'"), which also keeps spaces, `;` (the command
/// separator) and newlines out of a command.
fn check_name(what: &'static str, name: &str) -> Result<(), RuntimeError> {
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if name.is_empty() || !name.chars().all(fits) {
        return Err(RuntimeError::Name { what, name: name.to_owned() });
    }
    Ok(())
}

fn parse_weight(reply: &str) -> Option<Weight> {
    let (current, rest) = reply.split_once(' ')?;
    let initial = rest.strip_prefix("(initial ")?.strip_suffix(')')?;
    Some(Weight { current: current.parse().ok()?, initial: initial.parse().ok()? })
}

#[cfg(test)]
mod tests;
