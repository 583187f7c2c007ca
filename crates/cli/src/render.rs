//! How the CLI shows things: tables (one style for all), `--json` (the server's JSON, pretty),
//! numbers, truncation, `label: value` blocks, and the live status line of a wait — a spinner per
//! deployment on a terminal, a plain line per change otherwise, both on stderr. Output to a
//! closed stdout (`drover app list | head`) is dropped, not an error.

use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use serde::Serialize;
use serde_json::Value;
use std::io::IsTerminal;
use std::time::Duration;

/// `println!` that ignores a closed stdout.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
pub(crate) use outln;

/// Print a value as pretty JSON on stdout.
pub(crate) fn print_json<T: Serialize + ?Sized>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(text) => outln!("{text}"),
        // Only maps with non-string keys fail, and nothing printed here has them.
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

pub(crate) fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_header(header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    t
}

/// `2`, `0.10`: whole numbers without a fraction, others with two digits.
pub(crate) fn num(f: f64) -> String {
    if f.fract() == 0.0 {
        format!("{}", f as i64)
    } else {
        format!("{f:.2}")
    }
}

/// [`num`], or nothing when the server left the number out.
pub(crate) fn opt_num(f: Option<f64>) -> String {
    f.map(num).unwrap_or_default()
}

/// A free-form JSON value (an env value, a constraint) as text: strings bare, the rest as JSON.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

/// The first 8 characters of an id.
pub(crate) fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// `label: value` lines, values aligned; an empty label continues the one above.
pub(crate) fn labelled(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    rows.iter()
        .map(|(k, v)| {
            let label = if k.is_empty() {
                String::new()
            } else {
                format!("{k}:")
            };
            format!("{label:width$}  {v}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The live lines of a wait: spinners on a terminal, plain lines otherwise, nothing when not
/// shown (`--json`).
pub(crate) struct Live {
    multi: indicatif::MultiProgress,
    show: bool,
    tty: bool,
}

impl Live {
    pub fn new(show: bool) -> Live {
        Live {
            multi: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::stderr(),
            ),
            show,
            tty: show && std::io::stderr().is_terminal(),
        }
    }

    /// A new line, showing `first` until the first [`StatusLine::set`].
    pub fn line(&self, first: &str) -> StatusLine {
        let bar = self.tty.then(|| {
            let style = indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            let bar = self
                .multi
                .add(indicatif::ProgressBar::new_spinner().with_style(style));
            bar.set_message(first.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        StatusLine {
            bar,
            plain: self.show,
            text: String::new(),
        }
    }
}

/// One deployment's live line.
pub(crate) struct StatusLine {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    /// What it says now (empty until set).
    pub text: String,
}

impl StatusLine {
    /// Show `text` if it differs from what is shown.
    pub fn set(&mut self, text: String) {
        if text == self.text {
            return;
        }
        match &self.bar {
            Some(b) => b.set_message(text.clone()),
            None if self.plain => eprintln!("{text}"),
            None => {}
        }
        self.text = text;
    }

    /// Remove the spinner (plain lines stay).
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// A table's rows as their cells' text, for tests.
#[cfg(test)]
pub(crate) fn cells(t: &Table) -> Vec<Vec<String>> {
    t.row_iter()
        .map(|r| r.cell_iter().map(|c| c.content()).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_truncation_and_labels() {
        assert_eq!(num(2.0), "2");
        assert_eq!(num(0.1), "0.10");
        assert_eq!(opt_num(None), "");
        assert_eq!(truncate("sleep 600", 40), "sleep 600");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(short("0123456789"), "01234567");
        assert_eq!(
            labelled(&[
                ("id", "/web".into()),
                ("health check", "HTTP /".into()),
                ("", "TCP".into())
            ]),
            "id:            /web\nhealth check:  HTTP /\n               TCP"
        );
    }
}
