//! Personal API tokens: who may issue and revoke them. A token acts as its person, with
//! exactly the roles that person holds when it is used, so issuing one is administering
//! people (`Action::AdministerPeople`). Revoking is open to an administrator and to the
//! token's own person (someone who suspects a leak must not have to wait for one). The log
//! holds only the token's SHA-256; the secret is the front end's to generate and show once.

use super::Ctx;
use crate::event::Event;
use crate::gate::when;
use crate::policy::Action;
use crate::rejection::{Reasons, Rejection};
use crate::time::Timestamp;

/// A token id: 8 random bytes, lower-case hex.
pub fn valid_token_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn valid_sha256_hex(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Ctx<'_> {
    pub(super) fn create_token(
        &self,
        id: &str,
        person: &str,
        sha256: &str,
        expires: Option<Timestamp>,
    ) -> Result<Vec<Event>, Rejection> {
        let policy = self.policy()?;
        self.known_actor()?;
        let mut reasons = Reasons::default();
        reasons.absorb(self.authorised(policy, Action::AdministerPeople));
        reasons.invalid_if(!self.state.people.contains_key(person), || {
            format!("unknown person `{person}`; add them first with `tollgate person add`")
        });
        reasons.invalid_if(!valid_token_id(id), || format!("`{id}` is not a token id (16 lower-case hex digits)"));
        reasons.invalid_if(self.state.tokens.contains_key(id), || format!("a token with id {id} already exists"));
        reasons.invalid_if(!valid_sha256_hex(sha256), || "the token hash is not 64 lower-case hex digits".into());
        if let Some(expires) = expires {
            reasons.invalid_if(expires <= self.now, || {
                format!(
                    "the token would expire at {}, which is not in the future (now {})",
                    when(expires),
                    when(self.now)
                )
            });
        }
        reasons.finish()?;
        Ok(vec![Event::TokenCreated {
            id: id.to_owned(),
            person: person.to_owned(),
            sha256: sha256.to_owned(),
            expires,
        }])
    }

    pub(super) fn revoke_token(&self, id: &str, reason: Option<&str>) -> Result<Vec<Event>, Rejection> {
        let policy = self.policy()?;
        self.known_actor()?;
        let Some(token) = self.state.tokens.get(id) else {
            return Err(Rejection::invalid(format!("unknown token `{id}`; `tollgate token list` shows them")));
        };
        let mut reasons = Reasons::default();
        let administrator = self.holds_any(policy.roles_for(Action::AdministerPeople));
        reasons.refuse_if(!administrator && token.person != self.actor, "token:own-or-administrator", || {
            format!(
                "token {id} is {}'s; only they or a holder of {} may revoke it",
                token.person,
                policy.roles_for(Action::AdministerPeople).join(", ")
            )
        });
        if let Some((at, by)) = &token.revoked {
            reasons.refuse_if(true, "token:revoked-once", || {
                format!("token {id} was already revoked by {by} at {}", when(*at))
            });
        }
        reasons.invalid_if(reason.is_some_and(|r| r.trim().is_empty()), || "--reason must not be empty".into());
        reasons.finish()?;
        Ok(vec![Event::TokenRevoked { id: id.to_owned(), reason: reason.map(str::to_owned) }])
    }

    /// Only the token's own person uses it, and only while it is valid; a use on a day that
    /// already has one recorded changes nothing (last use is kept to the day, not the request).
    pub(super) fn record_token_use(&self, id: &str) -> Result<Vec<Event>, Rejection> {
        let Some(token) = self.state.tokens.get(id) else {
            return Err(Rejection::invalid(format!("unknown token `{id}`")));
        };
        let mut reasons = Reasons::default();
        reasons.refuse_if(token.person != self.actor, "token:own-use", || {
            format!("token {id} is {}'s; only they use it", token.person)
        });
        reasons.refuse_if(token.revoked.is_some(), "token:revoked", || format!("token {id} is revoked"));
        reasons.refuse_if(token.expires.is_some_and(|e| self.now >= e), "token:expired", || {
            format!("token {id} has expired")
        });
        reasons.finish()?;
        if token.last_used.is_some_and(|t| t.date_naive() == self.now.date_naive()) {
            return Ok(Vec::new());
        }
        Ok(vec![Event::TokenUsed { id: id.to_owned() }])
    }
}
