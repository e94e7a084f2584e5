//! Reading CDEvents 0.5 JSON lines: only the fields the KPI mapping uses (docs/metrics.md).
//! Strings are borrowed from the line where JSON allows it; everything else in an event is
//! skipped unread.

use std::borrow::Cow;

use serde::Deserialize;

use crate::history::Time;

/// What the importer acts on. `kind` is the event type without its prefix and version:
/// `service.deployed`, `pipelinerun.finished`, ...
#[derive(Debug)]
pub struct Event<'a> {
    pub id: Cow<'a, str>,
    pub chain: Option<Cow<'a, str>>,
    pub kind: Kind,
    pub at: Time,
    pub subject: Cow<'a, str>,
    pub environment: Option<Cow<'a, str>>,
    pub artefact: Option<Cow<'a, str>>,
    pub change: Option<Cow<'a, str>>,
    pub outcome: Option<Cow<'a, str>>,
    /// `subject.content.service.id` (incidents).
    pub service: Option<Cow<'a, str>>,
    pub custom: Custom<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ServiceDeployed,
    PipelineQueued,
    PipelineStarted,
    PipelineFinished,
    ServiceRolledBack,
    ChangeMerged,
    ArtifactPackaged,
    IncidentDetected,
    IncidentResolved,
    /// A valid CDEvent the KPIs do not use (`build.started`, `repository.created`, ...).
    Other,
}

impl Kind {
    fn of(subject_predicate: &str) -> Kind {
        match subject_predicate {
            "service.deployed" | "service.upgraded" => Kind::ServiceDeployed,
            "pipelinerun.queued" => Kind::PipelineQueued,
            "pipelinerun.started" => Kind::PipelineStarted,
            "pipelinerun.finished" => Kind::PipelineFinished,
            "service.rolledback" => Kind::ServiceRolledBack,
            "change.merged" => Kind::ChangeMerged,
            "artifact.packaged" => Kind::ArtifactPackaged,
            "incident.detected" => Kind::IncidentDetected,
            "incident.resolved" => Kind::IncidentResolved,
            _ => Kind::Other,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Custom<'a> {
    #[serde(borrow, default)]
    pub environment: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub service: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "committedAt")]
    pub committed_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub severity: Option<Cow<'a, str>>,
    #[serde(default)]
    pub emergency: Option<bool>,
    #[serde(borrow, default)]
    pub incident: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    context: Context<'a>,
    #[serde(borrow)]
    subject: Subject<'a>,
    #[serde(borrow, default, rename = "customData", deserialize_with = "custom_data")]
    custom: Custom<'a>,
}

/// `customData` may be any JSON value; only an object is read, anything else is skipped
/// (without buffering it, as an untagged enum would).
fn custom_data<'de: 'a, 'a, D: serde::Deserializer<'de>>(d: D) -> Result<Custom<'a>, D::Error> {
    struct V<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
        type Value = Custom<'a>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<Custom<'a>, M::Error> {
            Custom::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
        fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<Custom<'a>, S::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(Custom::default())
        }
        fn visit_str<E>(self, _: &str) -> Result<Custom<'a>, E> {
            Ok(Custom::default())
        }
        fn visit_bool<E>(self, _: bool) -> Result<Custom<'a>, E> {
            Ok(Custom::default())
        }
        fn visit_i64<E>(self, _: i64) -> Result<Custom<'a>, E> {
            Ok(Custom::default())
        }
        fn visit_u64<E>(self, _: u64) -> Result<Custom<'a>, E> {
            Ok(Custom::default())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Custom<'a>, E> {
            Ok(Custom::default())
        }
        fn visit_unit<E>(self) -> Result<Custom<'a>, E> {
            Ok(Custom::default())
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

#[derive(Deserialize)]
struct Context<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, default, rename = "chainId")]
    chain: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Subject<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    content: Option<Content<'a>>,
}

#[derive(Deserialize, Default)]
struct Content<'a> {
    #[serde(borrow, default)]
    environment: Option<Reference<'a>>,
    #[serde(borrow, default, rename = "artifactId")]
    artefact: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    change: Option<Reference<'a>>,
    #[serde(borrow, default)]
    outcome: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    service: Option<Reference<'a>>,
}

#[derive(Deserialize)]
struct Reference<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// One line: `Ok(event)`, or what is wrong with it.
pub fn parse(line: &[u8]) -> Result<Event<'_>, String> {
    let l: Line<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let kind = event_kind(&l.context.kind)?;
    let at = time(&l.context.timestamp).map_err(|e| format!("context.timestamp: {e}"))?;
    if l.context.id.is_empty() {
        return Err("context.id is empty".into());
    }
    let content = l.subject.content.unwrap_or_default();
    let custom = l.custom;
    Ok(Event {
        id: l.context.id,
        chain: l.context.chain.filter(|c| !c.is_empty()),
        kind,
        at,
        subject: l.subject.id,
        environment: content.environment.map(|e| e.id),
        artefact: content.artefact.filter(|a| !a.is_empty()),
        change: content.change.map(|c| c.id),
        outcome: content.outcome,
        service: content.service.map(|s| s.id),
        custom,
    })
}

/// `dev.cdevents.service.deployed.0.3.0` → the subject and predicate; other types are refused.
fn event_kind(t: &str) -> Result<Kind, String> {
    let rest = t.strip_prefix("dev.cdevents.").ok_or_else(|| format!("context.type `{t}` is not a CDEvents type"))?;
    let mut parts = rest.splitn(3, '.');
    let (Some(subject), Some(predicate), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("context.type `{t}`: expected dev.cdevents.<subject>.<predicate>.<version>"));
    };
    if !version.split('.').all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("context.type `{t}`: `{version}` is not a version"));
    }
    Ok(Kind::of(&format!("{subject}.{predicate}")))
}

/// RFC 3339 to Unix seconds (fractions truncated).
pub fn time(s: &str) -> Result<Time, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|e| format!("`{s}` is not an RFC 3339 time ({e})"))
}

/// Lines parsed ahead of the importer, on another thread: the events with their strings copied
/// into one arena per batch, so a batch of thousands of events costs a few allocations.
#[derive(Default)]
pub struct Parsed {
    text: String,
    lines: Vec<Stashed>,
}

/// A span of [`Parsed::text`].
#[derive(Clone, Copy)]
struct Span(u32, u32);

enum Stashed {
    Blank,
    Bad(Span),
    Event(StashedEvent),
}

struct StashedEvent {
    kind: Kind,
    at: Time,
    id: Span,
    chain: Option<Span>,
    subject: Span,
    environment: Option<Span>,
    artefact: Option<Span>,
    change: Option<Span>,
    outcome: Option<Span>,
    service: Option<Span>,
    custom: [Option<Span>; 5],
    emergency: Option<bool>,
}

impl Parsed {
    /// A batch holds at most this many lines or this much text; the reader starts another.
    pub const LINES: usize = 8_192;
    pub const TEXT: usize = 4 << 20;

    pub fn is_full(&self) -> bool {
        self.lines.len() >= Self::LINES || self.text.len() >= Self::TEXT
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Parses one line (without its newline) into the batch.
    pub fn push(&mut self, line: &[u8]) {
        let stashed = if line.iter().all(u8::is_ascii_whitespace) {
            Stashed::Blank
        } else {
            match parse(line) {
                Err(why) => Stashed::Bad(self.stash(&why)),
                Ok(e) => {
                    let mut opt = |s: &Option<Cow<'_, str>>| s.as_deref().map(|s| self.stash(s));
                    let custom = [
                        opt(&e.custom.environment),
                        opt(&e.custom.service),
                        opt(&e.custom.committed_at),
                        opt(&e.custom.severity),
                        opt(&e.custom.incident),
                    ];
                    let (chain, environment, artefact) = (opt(&e.chain), opt(&e.environment), opt(&e.artefact));
                    let (change, outcome, service) = (opt(&e.change), opt(&e.outcome), opt(&e.service));
                    Stashed::Event(StashedEvent {
                        kind: e.kind,
                        at: e.at,
                        id: self.stash(&e.id),
                        chain,
                        subject: self.stash(&e.subject),
                        environment,
                        artefact,
                        change,
                        outcome,
                        service,
                        custom,
                        emergency: e.custom.emergency,
                    })
                }
            }
        };
        self.lines.push(stashed);
    }

    fn stash(&mut self, s: &str) -> Span {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        Span(start, self.text.len() as u32)
    }

    fn get(&self, span: Span) -> Cow<'_, str> {
        Cow::Borrowed(&self.text[span.0 as usize..span.1 as usize])
    }

    /// Each line: its event, `None` for a blank line, or what is wrong with it.
    pub fn lines(&self) -> impl Iterator<Item = Result<Option<Event<'_>>, &str>> {
        self.lines.iter().map(|l| match l {
            Stashed::Blank => Ok(None),
            Stashed::Bad(why) => Err(&self.text[why.0 as usize..why.1 as usize]),
            Stashed::Event(e) => {
                let opt = |s: Option<Span>| s.map(|s| self.get(s));
                let [environment, service, committed_at, severity, incident] = e.custom.map(opt);
                Ok(Some(Event {
                    id: self.get(e.id),
                    chain: opt(e.chain),
                    kind: e.kind,
                    at: e.at,
                    subject: self.get(e.subject),
                    environment: opt(e.environment),
                    artefact: opt(e.artefact),
                    change: opt(e.change),
                    outcome: opt(e.outcome),
                    service: opt(e.service),
                    custom: Custom { environment, service, committed_at, severity, emergency: e.emergency, incident },
                }))
            }
        })
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.lines.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_deployment() {
        let line = br#"{"context":{"specversion":"0.5.0","id":"e1","chainId":"c1","source":"/ci","type":"dev.cdevents.service.deployed.0.3.0","timestamp":"2026-01-05T10:00:00Z"},"subject":{"id":"payments","source":"/ci","content":{"environment":{"id":"production"},"artifactId":"pkg:oci/payments@sha256%3Aab"}},"customData":{"emergency":true,"incident":"INC-1"}}"#;
        let e = parse(line).unwrap();
        assert_eq!(e.kind, Kind::ServiceDeployed);
        assert_eq!(e.subject, "payments");
        assert_eq!(e.environment.as_deref(), Some("production"));
        assert_eq!(e.artefact.as_deref(), Some("pkg:oci/payments@sha256%3Aab"));
        assert_eq!(e.custom.emergency, Some(true));
        assert_eq!(e.at, 1_767_607_200);
    }

    #[test]
    fn refuses_what_is_not_a_cdevent() {
        assert!(parse(b"{}").unwrap_err().contains("missing field `context`"));
        let bad_type =
            br#"{"context":{"id":"e","type":"com.example.x","timestamp":"2026-01-05T10:00:00Z"},"subject":{"id":"s"}}"#;
        assert!(parse(bad_type).unwrap_err().contains("is not a CDEvents type"));
        let bad_time = br#"{"context":{"id":"e","type":"dev.cdevents.build.started.0.2.0","timestamp":"yesterday"},"subject":{"id":"s"}}"#;
        assert!(parse(bad_time).unwrap_err().contains("context.timestamp"));
        let other = br#"{"context":{"id":"e","type":"dev.cdevents.build.started.0.2.0","timestamp":"2026-01-05T10:00:00Z"},"subject":{"id":"s"},"customData":"text"}"#;
        assert_eq!(parse(other).unwrap().kind, Kind::Other);
    }

    #[test]
    fn a_parsed_batch_gives_back_what_parsing_each_line_gives() {
        let lines: [&[u8]; 4] = [
            br#"{"context":{"id":"e\u0031","chainId":"c1","type":"dev.cdevents.incident.detected.0.3.0","timestamp":"2026-01-05T10:00:00Z"},"subject":{"id":"INC-1","content":{"environment":{"id":"production"},"artifactId":"a","service":{"id":"pay"}}},"customData":{"severity":"P1","service":"pay","environment":"prod","committedAt":"x","incident":"I","emergency":false}}"#,
            b"  ",
            b"{",
            br#"{"context":{"id":"e2","type":"dev.cdevents.pipelinerun.finished.0.2.0","timestamp":"2026-01-05T10:00:00Z"},"subject":{"id":"run","content":{"outcome":"failure","change":{"id":"c9"}}}}"#,
        ];
        let mut batch = Parsed::default();
        for l in lines {
            batch.push(l);
        }
        assert_eq!(batch.len(), 4);
        let got: Vec<_> = batch.lines().collect();
        for (line, got) in lines.iter().zip(&got) {
            match (parse(line), got) {
                (Ok(want), Ok(Some(got))) => assert_eq!(format!("{want:?}"), format!("{got:?}")),
                (Err(want), Err(got)) => assert_eq!(want, *got),
                (Err(_), Ok(None)) => assert!(line.iter().all(u8::is_ascii_whitespace)),
                _ => panic!("{}", String::from_utf8_lossy(line)),
            }
        }
        // Debug shows Borrowed/Owned alike for a Cow; the unescaped id must round-trip.
        let Ok(Some(e)) = &got[0] else { panic!() };
        assert_eq!(e.id, "e1");
        batch.clear();
        assert!(batch.is_empty());
    }
}
