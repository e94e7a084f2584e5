//! The two tracks of the procedure and their phases, in order: the standard track of 4.4
//! (planning → preparation → testing → deployment → stabilisation → closure → closed) and the
//! emergency track of 4.6 (initiation → assessment → testing → deployment → validation →
//! documentation → closed). What each phase's gate checks is profile data; the order is not.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum Track {
    Standard,
    Emergency,
}

impl Track {
    pub fn key(self) -> &'static str {
        match self {
            Track::Standard => "standard",
            Track::Emergency => "emergency",
        }
    }

    pub fn from_key(key: &str) -> Option<Track> {
        [Track::Standard, Track::Emergency].into_iter().find(|t| t.key() == key)
    }

    pub fn phases(self) -> &'static [Phase] {
        use Phase::*;
        match self {
            Track::Standard => &[Planning, Preparation, Testing, Deployment, Stabilisation, Closure, Closed],
            Track::Emergency => &[Initiation, Assessment, Testing, Deployment, Validation, Documentation, Closed],
        }
    }

    pub fn first(self) -> Phase {
        self.phases()[0]
    }

    /// The phase after `phase`, or `None` when it is the last (closed) or not on this track.
    pub fn next(self, phase: Phase) -> Option<Phase> {
        let phases = self.phases();
        let i = phases.iter().position(|p| *p == phase)?;
        phases.get(i + 1).copied()
    }

    pub fn position(self, phase: Phase) -> Option<usize> {
        self.phases().iter().position(|p| *p == phase)
    }
}

impl fmt::Display for Track {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum Phase {
    Planning,
    Preparation,
    Testing,
    Deployment,
    Stabilisation,
    Closure,
    Initiation,
    Assessment,
    Validation,
    Documentation,
    Closed,
}

impl Phase {
    pub const ALL: [Phase; 11] = [
        Phase::Planning,
        Phase::Preparation,
        Phase::Testing,
        Phase::Deployment,
        Phase::Stabilisation,
        Phase::Closure,
        Phase::Initiation,
        Phase::Assessment,
        Phase::Validation,
        Phase::Documentation,
        Phase::Closed,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Phase::Planning => "planning",
            Phase::Preparation => "preparation",
            Phase::Testing => "testing",
            Phase::Deployment => "deployment",
            Phase::Stabilisation => "stabilisation",
            Phase::Closure => "closure",
            Phase::Initiation => "initiation",
            Phase::Assessment => "assessment",
            Phase::Validation => "validation",
            Phase::Documentation => "documentation",
            Phase::Closed => "closed",
        }
    }

    pub fn from_key(key: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.key() == key)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}
