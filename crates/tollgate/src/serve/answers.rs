//! Answers to reads, shared while nothing they depend on changes.
//!
//! A read answered from the state ([`crate::reads`]) is a function of the state it reads, the
//! command and its arguments, who asks, the output asked for, and the instant it is evaluated
//! at. The server evaluates such reads at the clock's whole second, so within one published
//! state and one second the same request has the same answer: the first one computes it, the
//! others are sent its bytes. A write publishes a new state and a new second starts a new
//! generation; either drops every answer kept. A read still sees every write acknowledged
//! before it started, as its state is looked up first (see [`super::snapshot`]).
//!
//! Authentication and a token's first use of the day stay per request: an answer is looked up
//! only after the credential has been checked against the same state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::StatusCode;
use tollgate_domain::State;

/// So many different reads in one second and one state are kept; past that, the oldest
/// generation is dropped whole (a burst of distinct reads costs a recomputation, never memory).
const MAX_KEPT: usize = 4096;

/// One answer: what the response carries.
#[derive(Clone)]
pub(super) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
    pub exit: u8,
}

#[derive(Default)]
pub(super) struct Answers {
    kept: Mutex<Generation>,
}

#[derive(Default)]
struct Generation {
    /// Held, not only compared: a dropped state's address could be reused by the next one.
    state: Option<Arc<State>>,
    second: i64,
    answers: HashMap<String, Answer>,
}

impl Generation {
    fn is(&self, state: &Arc<State>, second: i64) -> bool {
        self.second == second && self.state.as_ref().is_some_and(|s| Arc::ptr_eq(s, state))
    }
}

impl Answers {
    pub(super) fn get(&self, state: &Arc<State>, second: i64, key: &str) -> Option<Answer> {
        let kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !kept.is(state, second) {
            return None;
        }
        kept.answers.get(key).cloned()
    }

    pub(super) fn put(&self, state: &Arc<State>, second: i64, key: String, answer: Answer) {
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !kept.is(state, second) {
            // A request that started in an earlier second does not take the kept answers back
            // in time.
            if kept.second > second {
                return;
            }
            *kept = Generation { state: Some(Arc::clone(state)), second, answers: HashMap::new() };
        }
        if kept.answers.len() >= MAX_KEPT {
            kept.answers.clear();
        }
        kept.answers.insert(key, answer);
    }
}

/// What tells two requests apart, but for who asks: the command, its arguments, the output form.
pub(super) fn request(command: &str, args: &serde_json::Map<String, serde_json::Value>, json: bool) -> String {
    let args = serde_json::Value::Object(args.clone()).to_string();
    format!("{command}\u{0}{args}\u{0}{}", if json { "json" } else { "text" })
}

/// A request's key for the one who asks.
pub(super) fn key(principal: &str, request: &str) -> String {
    format!("{principal}\u{0}{request}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(exit: u8) -> Answer {
        Answer { status: StatusCode::OK, body: Bytes::from_static(b"{}"), exit }
    }

    #[test]
    fn an_answer_is_shared_only_within_its_state_and_second() {
        let answers = Answers::default();
        let one = Arc::new(State::default());
        let two = Arc::new(State::default());
        answers.put(&one, 10, "k".into(), answer(0));
        assert_eq!(answers.get(&one, 10, "k").map(|a| a.exit), Some(0));
        assert!(answers.get(&one, 10, "other").is_none(), "another request");
        assert!(answers.get(&one, 11, "k").is_none(), "the next second");
        assert!(answers.get(&two, 10, "k").is_none(), "a newer state, equal in value");
    }

    #[test]
    fn an_older_request_does_not_replace_a_newer_generation() {
        let answers = Answers::default();
        let one = Arc::new(State::default());
        answers.put(&one, 11, "k".into(), answer(0));
        answers.put(&one, 10, "k".into(), answer(1));
        assert_eq!(answers.get(&one, 11, "k").map(|a| a.exit), Some(0));
    }

    #[test]
    fn the_key_tells_principals_arguments_and_forms_apart() {
        let args: serde_json::Map<_, _> = [("id".to_owned(), serde_json::json!("R-1"))].into_iter().collect();
        let none = serde_json::Map::new();
        let show = request("release show", &args, true);
        let k = key("rita", &show);
        assert_ne!(k, key("sam", &show));
        assert_ne!(k, key("rita", &request("release show", &none, true)));
        assert_ne!(k, key("rita", &request("release show", &args, false)));
        assert_ne!(k, key("rita", &request("release gate", &args, true)));
    }
}
