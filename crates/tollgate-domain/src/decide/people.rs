//! People and their roles. Two rules keep the register of who may do what honest on a shared
//! service: the first administrator is created by `init` itself (nobody can race to be first),
//! and a role that governs others — administering people, overriding a gate — is granted only
//! when a second administrator confirms it (four eyes on power). The one exception is the
//! bootstrap: while a single administrator exists there is nobody to confirm, so they may make
//! a second administrator alone.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Ctx;
use crate::event::{Event, Profile};
use crate::policy::{Action, Policy};
use crate::rejection::{Reasons, Rejection};

impl Ctx<'_> {
    /// A new store: the profile adopted and the acting person its first administrator; a
    /// sandbox says so in its very first fact, before anything it records.
    pub(super) fn init(
        &self,
        profile: &Arc<Profile>,
        roles: &BTreeSet<String>,
        sandbox: bool,
    ) -> Result<Vec<Event>, Rejection> {
        let policy = &profile.policy;
        let administrators = policy.roles_for(Action::AdministerPeople);
        let mut reasons = Reasons::default();
        reasons.invalid_if(self.state.current().is_some() || !self.state.people.is_empty(), || {
            "this store is already initialised; add people with `tollgate person add`".into()
        });
        reasons.invalid_if(!valid_name(self.actor), || not_a_name(self.actor));
        reasons.absorb(self.known_roles(policy, roles));
        reasons.invalid_if(!roles.iter().any(|r| administrators.contains(r)), || {
            format!(
                "the first person on record administers the others: give one of {} (--role)",
                administrators.join(", ")
            )
        });
        reasons.finish()?;
        let mut events = Ctx::first_adoption(profile);
        events.insert(1, Event::PersonAdded { name: self.actor.to_owned(), roles: roles.clone() });
        if sandbox {
            events.insert(0, Event::SandboxOpened);
        }
        Ok(events)
    }

    pub(super) fn add_person(&self, name: &str, roles: &BTreeSet<String>) -> Result<Vec<Event>, Rejection> {
        if self.state.people.is_empty() {
            return Err(Rejection::refused(
                "bootstrap",
                "the first administrator is created by `tollgate init`, run as them; this store has nobody on record",
            ));
        }
        let policy = self.policy()?;
        let mut reasons = Reasons::default();
        reasons.absorb(self.known_actor());
        reasons.absorb(self.authorised(policy, Action::AdministerPeople));
        reasons.invalid_if(!valid_name(name), || not_a_name(name));
        // Names that read alike would be two people to the log and one to everyone else.
        let taken = self.state.people.keys().find(|k| skeleton(k) == skeleton(name));
        reasons.invalid_if(taken.is_some(), || {
            let taken = taken.expect("some");
            if taken.eq_ignore_ascii_case(name) {
                format!("{taken} already exists; change roles with `person grant` / `person revoke`")
            } else {
                format!(
                    "`{name}` reads like the existing person `{taken}`; choose a name no one can mistake for theirs"
                )
            }
        });
        reasons.absorb(self.known_roles(policy, roles));
        reasons.finish()?;
        let (now, proposed) = self.split_governing(policy, name, roles)?;
        let mut events = vec![Event::PersonAdded { name: name.to_owned(), roles: now }];
        events.extend(proposed);
        Ok(events)
    }

    pub(super) fn change_roles(
        &self,
        name: &str,
        roles: &BTreeSet<String>,
        grant: bool,
    ) -> Result<Vec<Event>, Rejection> {
        let policy = self.policy()?;
        self.known_actor()?;
        let mut reasons = Reasons::default();
        reasons.absorb(self.authorised(policy, Action::AdministerPeople));
        reasons.refuse_if(grant && name == self.actor, "separation-of-duties", || {
            format!("{name} cannot grant roles to themself; another administrator must")
        });
        reasons.invalid_if(!self.state.people.contains_key(name), || format!("unknown person `{name}`"));
        reasons.absorb(self.known_roles(policy, roles));
        if let Some(person) = self.state.people.get(name) {
            // Revoking a role still awaiting its second administrator withdraws the proposal.
            let pending = |r: &String| self.state.pending_grants.contains_key(&(name.to_owned(), r.clone()));
            let pointless: Vec<&str> = roles
                .iter()
                .filter(|r| if grant { person.roles.contains(*r) } else { !person.roles.contains(*r) && !pending(r) })
                .map(String::as_str)
                .collect();
            reasons.invalid_if(!pointless.is_empty(), || {
                let verb = if grant { "already holds" } else { "does not hold" };
                format!("{name} {verb} {}", pointless.join(", "))
            });
        }
        reasons.finish()?;
        let (name, roles) = (name.to_owned(), roles.clone());
        if !grant {
            return Ok(vec![Event::RolesRevoked { name, roles }]);
        }
        let (now, proposed) = self.split_governing(policy, &name, &roles)?;
        let mut events: Vec<Event> = Vec::new();
        if !now.is_empty() {
            events.push(Event::RolesGranted { name, roles: now });
        }
        events.extend(proposed);
        Ok(events)
    }

    /// The roles that take effect now, and the proposal of those that wait for a second
    /// administrator. A governing role already proposed by another administrator is confirmed
    /// by this grant; one the actor proposed themself cannot be confirmed by them.
    fn split_governing(
        &self,
        policy: &Policy,
        name: &str,
        roles: &BTreeSet<String>,
    ) -> Result<(BTreeSet<String>, Option<Event>), Rejection> {
        let administering = policy.roles_for(Action::AdministerPeople);
        let governing = policy.governing_roles();
        let sole_administrator =
            self.state.people.values().filter(|p| p.roles.iter().any(|r| administering.contains(r))).count() == 1;
        let mut now = BTreeSet::new();
        let mut proposed = BTreeSet::new();
        let mut reasons = Reasons::default();
        for role in roles {
            let pending = self.state.pending_grants.get(&(name.to_owned(), role.clone()));
            match pending {
                _ if !governing.contains(role.as_str()) => {
                    now.insert(role.clone());
                }
                Some(p) if p.by == self.actor => reasons.refuse_if(true, "four-eyes", || {
                    format!(
                        "{} proposed {role} for {name} at {}; a second administrator confirms it with `tollgate person grant {name} --role {role}`",
                        p.by,
                        crate::gate::when(p.at)
                    )
                }),
                Some(_) => {
                    now.insert(role.clone());
                }
                None if sole_administrator && administering.contains(role) => {
                    now.insert(role.clone());
                }
                None => {
                    proposed.insert(role.clone());
                }
            }
        }
        reasons.finish()?;
        let proposal = (!proposed.is_empty()).then(|| Event::GrantProposed { name: name.to_owned(), roles: proposed });
        Ok((now, proposal))
    }
}

fn not_a_name(name: &str) -> String {
    format!("`{name}` is not a usable name; use ASCII letters, digits, dots, dashes, underscores or @")
}

/// Names are ASCII: a Cyrillic `а` or a zero-width joiner would make two people look like one
/// on every screen and in every report, and a control character could rewrite the terminal.
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
}

/// What a name looks like to a reader: case folded, and the ASCII look-alikes (`0`/`o`,
/// `1`/`l`/`I`, `rn`/`m`, `vv`/`w`, `_`/`-`/`.`) made one.
fn skeleton(name: &str) -> String {
    let folded: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | 'i' | '|' => 'l',
            '5' => 's',
            '_' | '.' => '-',
            other => other,
        })
        .collect();
    folded.replace("rn", "m").replace("vv", "w")
}
