//! The line diff of two definitions, for an app's versions: each pretty-printed with its keys
//! sorted (so key order never shows as a change), diffed by line (`similar`, Myers), cut into
//! hunks with a few unchanged lines of context.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `v` pretty-printed with its object keys sorted (whatever order the map keeps), for
/// reading and for diffs that do not depend on key order.
pub fn pretty(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let b: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
                let mut o = Map::new();
                for (k, v) in b {
                    o.insert(k.clone(), v);
                }
                Value::Object(o)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            v => v.clone(),
        }
    }
    serde_json::to_string_pretty(&sorted(v)).unwrap_or_default()
}

/// One row of a line diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffRow {
    Same {
        old: usize,
        new: usize,
        text: String,
    },
    Removed {
        old: usize,
        text: String,
    },
    Added {
        new: usize,
        text: String,
    },
    /// Unchanged lines not shown.
    Skipped(usize),
}

/// The most lines a side may have to be diffed (Myers' time grows with their product).
pub const MAX_DIFF_LINES: usize = 20_000;

/// A line diff of two definitions' pretty, key-sorted JSON, in hunks with `context` unchanged
/// lines around each change (line numbers from 1). `None` when a side is too large.
pub fn diff(old: &Value, new: &Value, context: usize) -> Option<Vec<DiffRow>> {
    let (a, b) = (pretty(old), pretty(new));
    if a.lines().count() > MAX_DIFF_LINES || b.lines().count() > MAX_DIFF_LINES {
        return None;
    }
    let d = similar::TextDiff::from_lines(&a, &b);
    let mut rows = Vec::new();
    let mut shown_to = 0; // old lines before this are shown or skipped
    let groups = d.grouped_ops(context);
    for group in &groups {
        let Some(first) = group.first() else { continue };
        let start = first.old_range().start;
        if start > shown_to {
            rows.push(DiffRow::Skipped(start - shown_to));
        }
        for op in group {
            for c in d.iter_changes(op) {
                let text = c.value().trim_end_matches(['\n', '\r']).to_string();
                rows.push(match c.tag() {
                    similar::ChangeTag::Equal => DiffRow::Same {
                        old: c.old_index().unwrap_or(0) + 1,
                        new: c.new_index().unwrap_or(0) + 1,
                        text,
                    },
                    similar::ChangeTag::Delete => DiffRow::Removed {
                        old: c.old_index().unwrap_or(0) + 1,
                        text,
                    },
                    similar::ChangeTag::Insert => DiffRow::Added {
                        new: c.new_index().unwrap_or(0) + 1,
                        text,
                    },
                });
            }
            shown_to = op.old_range().end;
        }
    }
    let total = a.lines().count();
    if !groups.is_empty() && total > shown_to {
        rows.push(DiffRow::Skipped(total - shown_to));
    }
    Some(rows)
}
