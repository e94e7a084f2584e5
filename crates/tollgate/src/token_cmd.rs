//! `tollgate token ...`: personal API tokens for the server. The token is generated here,
//! printed once, and only its SHA-256 goes in the log.

use serde_json::{Value, json};
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
        TokenCmd::List { person } => {
            let state = app.state();
            let tokens: Vec<_> =
                state.tokens.values().filter(|t| person.as_deref().is_none_or(|p| p == t.person)).collect();
            let json: Vec<Value> = tokens
                .iter()
                .map(|t| {
                    json!({
                        "id": t.id, "person": t.person, "created_at": tollgate_app::codec::time(t.created_at),
                        "created_by": t.created_by, "expires": t.expires.map(tollgate_app::codec::time),
                        "revoked": t.revoked.as_ref().map(|(at, by)| json!({"at": tollgate_app::codec::time(*at), "by": by})),
                    })
                })
                .collect();
            let text = if tokens.is_empty() {
                "no tokens".to_owned()
            } else {
                tokens
                    .iter()
                    .map(|t| {
                        let status = match (&t.revoked, t.expires) {
                            (Some((at, by)), _) => format!("revoked {} by {by}", when(*at)),
                            (None, Some(e)) if e <= ctx.now => format!("expired {}", when(e)),
                            (None, Some(e)) => format!("expires {}", when(e)),
                            (None, None) => "no expiry".to_owned(),
                        };
                        format!(
                            "{}  {:<16} created {} by {}  {status}\n",
                            t.id,
                            t.person,
                            when(t.created_at),
                            t.created_by
                        )
                    })
                    .collect()
            };
            ctx.print(View { json: Value::Array(json), text });
        }
    }
    Ok(())
}
