//! Key paths into a profile, and finding where a path is written in the file. Array elements
//! with an `id` are addressed by it (`gates[standard/testing].criteria[lead-time]`), which reads
//! better than an index and still finds the element after an overlay is merged into its base.

use std::fmt;
use std::ops::Range;

use toml_edit::{Item, Table, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    /// The element of an array of tables whose `track/id` (or `id`) is this.
    Id(String),
    Index(usize),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    pub fn key(&self, key: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_owned()));
        p
    }

    pub fn id(&self, id: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Id(id.to_owned()));
        p
    }

    pub fn index(&self, i: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

/// `release-types.minor.min-lead-time`, `gates[standard/testing].criteria[lead-time].types`.
pub fn key_path(keys: &[&str]) -> KeyPath {
    KeyPath(keys.iter().map(|k| Seg::Key((*k).to_owned())).collect())
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Id(id) => write!(f, "[{id}]")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Table(t) => t.span(),
            Node::Value(v) => v.span(),
        }
    }

    /// The span of `key` itself (where it is written), and the node it names.
    fn child(self, key: &str) -> Option<(Option<Range<usize>>, Node<'a>)> {
        match self {
            Node::Table(t) => t.get(key).map(|i| (t.key(key).and_then(|k| k.span()), Node::Item(i))),
            Node::Item(Item::Table(t)) => Node::Table(t).child(key),
            Node::Item(Item::Value(v)) => Node::Value(v).child(key),
            Node::Value(Value::InlineTable(t)) => {
                t.get(key).map(|v| (t.key(key).and_then(|k| k.span()), Node::Value(v)))
            }
            _ => None,
        }
    }

    fn elements(self) -> Vec<Node<'a>> {
        match self {
            Node::Item(Item::ArrayOfTables(a)) => a.iter().map(Node::Table).collect(),
            Node::Item(Item::Value(v)) => Node::Value(v).elements(),
            Node::Value(Value::Array(a)) => a.iter().map(Node::Value).collect(),
            _ => Vec::new(),
        }
    }

    fn str_field(self, key: &str) -> Option<&'a str> {
        match self.child(key)?.1 {
            Node::Item(i) => i.as_str(),
            Node::Value(v) => v.as_str(),
            Node::Table(_) => None,
        }
    }

    fn element_key(self) -> Option<String> {
        let id = self.str_field("id")?;
        Some(match self.str_field("track") {
            Some(track) => format!("{track}/{id}"),
            None => id.to_owned(),
        })
    }
}

/// Where `path` is written in `doc`: the deepest part of the path the file contains, preferring
/// the key's own position. `None` when not even the first key is in this file.
pub fn locate(doc: &toml_edit::Document<&str>, path: &KeyPath) -> Option<Range<usize>> {
    let mut node = Node::Table(doc.as_table());
    let mut best = None;
    for seg in &path.0 {
        let found = match seg {
            Seg::Key(k) => node.child(k).map(|(key_span, n)| (key_span.or(n.span()), n)),
            Seg::Index(i) => node.elements().get(*i).map(|n| (n.span(), *n)),
            Seg::Id(id) => node
                .elements()
                .into_iter()
                .find(|n| n.element_key().as_deref() == Some(id.as_str()))
                .map(|n| (n.span(), n)),
        };
        match found {
            Some((span, next)) => {
                best = span.or(best);
                node = next;
            }
            None => break,
        }
    }
    best
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}
