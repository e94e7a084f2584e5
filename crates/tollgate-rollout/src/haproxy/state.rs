//! `show servers state`: the server-state file format (version 1) HAProxy writes for
//! `load-server-state-from-file`, a header line naming the columns and a line per server.
//! Columns are found by the header's names, not their positions, since versions add columns.

use std::collections::HashMap;

/// The administrative state `set server ... state` sets; also read back from
/// `srv_admin_state`, where forced (`F`), inherited (`I`), configuration (`C`), resolver (`R`)
/// and health (`H`) maintenance and drain are separate flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminState {
    /// Takes traffic as its weight says.
    Ready,
    /// Finishes what it has and takes no new connections, except persistent ones.
    Drain,
    /// Takes nothing; its health checks stop.
    Maint,
}

impl AdminState {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            AdminState::Ready => "ready",
            AdminState::Drain => "drain",
            AdminState::Maint => "maint",
        }
    }

    /// From `srv_admin_state`: any maintenance flag (F 0x01, I 0x02, C 0x04, R 0x20, H 0x40)
    /// wins over drain (F 0x08, I 0x10).
    pub fn from_flags(flags: u32) -> AdminState {
        if flags & (0x01 | 0x02 | 0x04 | 0x20 | 0x40) != 0 {
            AdminState::Maint
        } else if flags & (0x08 | 0x10) != 0 {
            AdminState::Drain
        } else {
            AdminState::Ready
        }
    }
}

/// `srv_op_state`: what the health checks (or their absence) make of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operational {
    Stopped,
    Starting,
    Running,
    Stopping,
}

/// One server's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    pub backend: String,
    pub id: u32,
    pub name: String,
    pub address: String,
    /// `None` where the column is absent or `0` (a server whose port follows the client's).
    pub port: Option<u16>,
    pub operational: Operational,
    pub admin: AdminState,
    /// The raw `srv_admin_state` flags behind `admin`.
    pub admin_flags: u32,
    /// `srv_uweight`, the weight in force.
    pub weight: u16,
    /// `srv_iweight`, the weight in the configuration.
    pub initial_weight: u16,
}

/// The servers of an answer, or what was expected where it did not read.
pub(crate) fn parse(reply: &str) -> Result<Vec<ServerState>, &'static str> {
    let mut lines = reply.lines();
    if lines.next().map(str::trim) != Some("1") {
        return Err("the server-state format version 1 on its first line");
    }
    let header = lines.next().and_then(|l| l.strip_prefix("# ")).ok_or("a `# be_id be_name ...` header line")?;
    let column: HashMap<&str, usize> = header.split_whitespace().enumerate().map(|(i, name)| (name, i)).collect();
    let at = |name| {
        column.get(name).copied().ok_or("a header naming be_name, srv_id, srv_name, srv_addr, srv_op_state, srv_admin_state, srv_uweight and srv_iweight")
    };
    let (backend, id, name, address, op, admin, weight, initial) = (
        at("be_name")?,
        at("srv_id")?,
        at("srv_name")?,
        at("srv_addr")?,
        at("srv_op_state")?,
        at("srv_admin_state")?,
        at("srv_uweight")?,
        at("srv_iweight")?,
    );
    let port = column.get("srv_port").copied();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let field = |i: usize| fields.get(i).copied().ok_or("a value in every column the header names");
            let number = |i: usize| field(i)?.parse::<u32>().map_err(|_| "a number in each numeric column");
            let weight_of = |i: usize| {
                number(i).and_then(|w| {
                    u16::try_from(w).ok().filter(|w| *w <= super::MAX_WEIGHT).ok_or("a weight of 0 to 256")
                })
            };
            let admin_flags = number(admin)?;
            Ok(ServerState {
                backend: field(backend)?.to_owned(),
                id: number(id)?,
                name: field(name)?.to_owned(),
                address: field(address)?.to_owned(),
                port: match port {
                    Some(i) => field(i)?.parse::<u16>().ok().filter(|p| *p != 0),
                    None => None,
                },
                operational: match number(op)? {
                    0 => Operational::Stopped,
                    1 => Operational::Starting,
                    2 => Operational::Running,
                    3 => Operational::Stopping,
                    _ => return Err("srv_op_state 0 to 3"),
                },
                admin: AdminState::from_flags(admin_flags),
                admin_flags,
                weight: weight_of(weight)?,
                initial_weight: weight_of(initial)?,
            })
        })
        .collect()
}
