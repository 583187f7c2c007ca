//! Tables paged, sorted and filtered on the server: the query a table is asked with (every
//! filter in the URL, so every view is a link), and the page of rows it answers. A tab never
//! holds more than one page.

use serde::Deserialize;
use std::cmp::Ordering;

/// The most rows one page may ask for.
pub const MAX_PER: usize = 200;
pub const DEFAULT_PER: usize = 50;

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(default)]
pub struct Query {
    pub page: Option<usize>,
    pub per: Option<usize>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    /// Free text, matched against names and ids.
    pub q: Option<String>,
    pub state: Option<String>,
    pub framework: Option<String>,
    pub host: Option<String>,
    pub folder: Option<String>,
}

impl Query {
    pub fn per(&self) -> usize {
        self.per.unwrap_or(DEFAULT_PER).clamp(1, MAX_PER)
    }

    pub fn page(&self) -> usize {
        self.page.unwrap_or(1).max(1)
    }

    pub fn descending(&self) -> bool {
        self.dir.as_deref() == Some("desc")
    }

    pub fn sort_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.sort
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(default)
    }

    /// Whether `text` matches the free-text filter (case-insensitive); no filter matches all.
    pub fn matches(&self, texts: &[&str]) -> bool {
        match self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            None => true,
            Some(q) => {
                let q = q.to_lowercase();
                texts.iter().any(|t| t.to_lowercase().contains(&q))
            }
        }
    }

    /// This query's URL on `path` with some parameters changed (`None` removes one).
    pub fn link(&self, path: &str, changes: &[(&str, Option<String>)]) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let fields: [(&str, Option<String>); 9] = [
            ("q", self.q.clone()),
            ("state", self.state.clone()),
            ("framework", self.framework.clone()),
            ("host", self.host.clone()),
            ("folder", self.folder.clone()),
            ("sort", self.sort.clone()),
            ("dir", self.dir.clone()),
            ("per", self.per.map(|p| p.to_string())),
            ("page", self.page.map(|p| p.to_string())),
        ];
        for (k, v) in fields {
            let v = match changes.iter().find(|(c, _)| *c == k) {
                Some((_, new)) => new.clone(),
                None => v,
            };
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                pairs.push((k, v));
            }
        }
        if pairs.is_empty() {
            return path.to_string();
        }
        let qs: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode(&v)))
            .collect();
        format!("{path}?{}", qs.join("&"))
    }

    /// The link a column header sorts by: ascending first, then the other way.
    pub fn sort_link(&self, path: &str, column: &str, default: &str) -> String {
        let dir = if self.sort_or(default) == column && !self.descending() {
            Some("desc".to_string())
        } else {
            None
        };
        self.link(
            path,
            &[("sort", Some(column.into())), ("dir", dir), ("page", None)],
        )
    }

    /// `aria-sort` of a column.
    pub fn aria_sort(&self, column: &str, default: &str) -> &'static str {
        match (self.sort_or(default) == column, self.descending()) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        }
    }
}

/// Percent-encode a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One page of a table.
pub struct Paged<T> {
    pub rows: Vec<T>,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub first: usize,
}

/// Sort `rows` by `cmp` (reversed when descending) and cut the page asked for; a page past
/// the end shows the last one.
pub fn page<T>(mut rows: Vec<T>, q: &Query, cmp: impl Fn(&T, &T) -> Ordering) -> Paged<T> {
    let desc = q.descending();
    rows.sort_by(|a, b| if desc { cmp(b, a) } else { cmp(a, b) });
    let per = q.per();
    let total = rows.len();
    let pages = total.div_ceil(per).max(1);
    let page = q.page().min(pages);
    let first = (page - 1) * per;
    let rows: Vec<T> = rows.into_iter().skip(first).take(per).collect();
    Paged {
        rows,
        total,
        page,
        pages,
        first,
    }
}

/// The pager under a table: links to the first, previous, next and last pages.
pub struct Pager {
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub shown_from: usize,
    pub shown_to: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub first: Option<String>,
    pub last: Option<String>,
}

impl Pager {
    pub fn new<T>(p: &Paged<T>, q: &Query, path: &str) -> Pager {
        let at = |n: usize| q.link(path, &[("page", Some(n.to_string()))]);
        Pager {
            total: p.total,
            page: p.page,
            pages: p.pages,
            shown_from: if p.total == 0 { 0 } else { p.first + 1 },
            shown_to: p.first + p.rows.len(),
            prev: (p.page > 1).then(|| at(p.page - 1)),
            next: (p.page < p.pages).then(|| at(p.page + 1)),
            first: (p.page > 2).then(|| at(1)),
            last: (p.page + 1 < p.pages).then(|| at(p.pages)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_cut_after_sorting_and_never_past_the_end() {
        let q = Query {
            page: Some(2),
            per: Some(3),
            dir: Some("desc".into()),
            ..Query::default()
        };
        let p = page((1..=10).collect(), &q, |a: &i32, b| a.cmp(b));
        assert_eq!(p.rows, [7, 6, 5]);
        assert_eq!((p.total, p.pages, p.page), (10, 4, 2));
        let far = Query {
            page: Some(99),
            per: Some(3),
            ..Query::default()
        };
        assert_eq!(
            page((1..=10).collect(), &far, |a: &i32, b| a.cmp(b)).rows,
            [10]
        );
        let huge = Query {
            per: Some(100_000),
            ..Query::default()
        };
        assert_eq!(huge.per(), MAX_PER);
    }

    #[test]
    fn links_keep_the_filters_and_change_what_is_asked() {
        let q = Query {
            q: Some("web app".into()),
            state: Some("TASK_RUNNING".into()),
            page: Some(3),
            ..Query::default()
        };
        assert_eq!(
            q.link("/ui/tasks", &[("page", Some("4".into()))]),
            "/ui/tasks?q=web%20app&state=TASK_RUNNING&page=4"
        );
        assert_eq!(
            q.sort_link("/ui/tasks", "name", "name"),
            "/ui/tasks?q=web%20app&state=TASK_RUNNING&sort=name&dir=desc"
        );
        assert_eq!(q.aria_sort("name", "name"), "ascending");
        assert!(q.matches(&["my-WEB APP-1"]) && !q.matches(&["db"]));
    }
}
