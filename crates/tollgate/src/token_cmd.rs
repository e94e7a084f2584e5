//! `tollgate token ...`: personal API tokens for the server. The token is generated here,
//! printed once, and only its SHA-256 goes in the log.

use serde_json::json;
use tollgate_domain::Command;
use tollgate_domain::gate::when;

use crate::cli::TokenCmd;
use crate::run::{Ctx, Failure, error};
use crate::view::View;

pub(crate) fn run(
    ctx: &Ctx,
    app: &mut tollgate_app::App<tollgate_ledger::SqliteLedger>,
    cmd: TokenCmd,
) -> Result<(), Failure> {
    match cmd {
        TokenCmd::Create { person, expires } => {
            let expires = expires.map(|e| ctx.time(&e, "--expires")).transpose()?;
            let tollgate_app::identity::NewToken { id, token, sha256 } =
                tollgate_app::identity::token::generate().map_err(|e| error(e.to_string()))?;
            let r =
                ctx.execute(app, Command::CreateToken { id: id.clone(), person: person.clone(), sha256, expires })?;
            debug_assert!(!r.facts.is_empty());
            if !ctx.json {
                crate::errln!(
                    "token {id} for {person}{}: shown once, keep it secret",
                    expires.map(|e| format!(", expires {}", when(e))).unwrap_or_default()
                );
            }
            ctx.print(View {
                json: json!({"id": id, "person": person, "token": token, "expires": expires.map(tollgate_app::codec::time)}),
                text: token,
            });
        }
        TokenCmd::Revoke { id, reason } => {
            let r = ctx.execute(app, Command::RevokeToken { id: id.clone(), reason })?;
            ctx.done(&r, format!("token {id} revoked"));
        }
        TokenCmd::List { .. } => unreachable!("{}", crate::run::READ),
    }
    Ok(())
}
