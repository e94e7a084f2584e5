//! A store walked through the procedure in simulated time, a second per command, ending in the
//! hour before now: what the rollout and backtest tests start from.

use std::path::Path;
use std::sync::Arc;

use chrono::{DurationRound, Utc};
use tollgate_app::App;
use tollgate_domain::playbook::{self, Runner};
use tollgate_domain::policy::Opens;
use tollgate_domain::recording::Timing;
use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, Event, Rejection, State, Timestamp};
use tollgate_ledger::SqliteLedger;

/// The default procedure, trusting the key the playbook's simulated CI signs with.
const PROFILE: &str = r#"
[profile]
id = "walk-org"
version = "1.0"
title = "Release Management Process Procedure (walked tests)"
document = "QMS-DEV-PRO-004"
extends = "qms-dev-pro-004"

[artefacts]
trusted-keys = ["sha256:0707070707070707070707070707070707070707070707070707070707070707"]
builders = [{ id = "https://ci.example.com/demo-runner", keys = ["sha256:0707070707070707070707070707070707070707070707070707070707070707"] }]
"#;

const PEOPLE: &[(&str, &str)] = &[
    ("rita", "release-manager"),
    ("dora", "deputy-release-manager"),
    ("dev", "devops-engineer"),
    ("eli", "engineering-lead"),
    ("quinn", "qa-lead"),
    ("sam", "security-engineer"),
    ("omar", "sre"),
    ("pat", "product-owner"),
    ("cab1", "cab-member"),
    ("cab2", "cab-member"),
    ("pla", "platform-lead"),
    ("eve", "executive"),
];

/// Records commands in a store at the simulated time, a second per command.
pub struct Walk {
    pub app: App<SqliteLedger>,
    pub now: Timestamp,
}

impl Runner for Walk {
    fn state(&self) -> &State {
        self.app.state()
    }

    fn now(&self) -> Timestamp {
        self.now
    }

    fn wait_until(&mut self, t: Timestamp) {
        self.now = self.now.max(t);
    }

    fn run(&mut self, actor: &str, command: Command) -> Result<Vec<Event>, Rejection> {
        let recorded = self.app.execute_at(actor, &Timing::on_time(self.now), &command);
        self.now += chrono::Duration::seconds(1);
        recorded.map(|r| r.facts.into_iter().map(|f| f.event).collect()).map_err(|e| Rejection::invalid(e.to_string()))
    }
}

/// A new store at `db` holding a minor release of `payments` whose deployment gate is open but
/// for nobody having started it: approved, tested, signed, the go decision taken by rita. The
/// walk started three weeks and an hour ago; its window is open now.
pub fn ready_release(db: &Path) -> (Walk, ReleaseId) {
    let app = App::create(db).unwrap();
    let now = Utc::now().duration_trunc(chrono::Duration::minutes(1)).unwrap();
    let mut walk = Walk { app, now: now - chrono::Duration::weeks(3) - chrono::Duration::hours(1) };
    let mut profile = tollgate_profile::load("walk-org.toml", PROFILE).unwrap();
    profile.reason = "walked tests".into();
    let people: Vec<(&str, &[&str])> = PEOPLE.iter().map(|(name, role)| (*name, std::slice::from_ref(role))).collect();
    for (actor, command) in playbook::staffing(Arc::new(profile), &people) {
        walk.run(&actor, command).unwrap();
    }
    let id = playbook::create(&mut walk, "payments", "3.1.0", "minor", chrono::Duration::weeks(3)).unwrap();
    playbook::walk_to(&mut walk, id, tollgate_domain::lifecycle::Phase::Deployment).unwrap();
    playbook::open_gate(&mut walk, id, Opens::Deploy, &["go-decision"]).unwrap();
    walk.run("rita", Command::Go { release: id }).unwrap();
    assert!(walk.now < Utc::now(), "the walk ran into the present");
    (walk, id)
}
