//! What the editor's templates show: the form's fields (labels, hints, errors, what is kept
//! unshown), the JSON mode, and the versions with their diff. Built from [`crate::spec`]'s
//! values; no I/O.

use crate::spec::{self, DiffRow, Errors, Field};
use serde_json::Value;
use std::collections::HashMap;

/// How a field is edited.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// One line of text (numbers too: `type=number` would let the browser rewrite what
    /// Marathon gave, `64.50` or `1e3`, and the form must send back what it showed).
    Text,
    /// A textarea of lines.
    Lines,
    Select,
}

/// A control of the form, as shown.
pub struct FieldView {
    pub name: &'static str,
    pub id: String,
    pub label: &'static str,
    pub hint: &'static str,
    pub value: String,
    pub kind: Kind,
    pub rows: usize,
    pub inputmode: &'static str,
    pub options: Vec<(String, String)>,
    pub errors: Vec<String>,
    /// Why the field is read-only, or what it keeps without showing.
    pub note: Option<String>,
    pub readonly: bool,
}

impl FieldView {
    pub fn lines(&self) -> bool {
        self.kind == Kind::Lines
    }

    pub fn select(&self) -> bool {
        self.kind == Kind::Select && !self.readonly
    }

    /// `aria-describedby`: the hint, the note and the errors.
    pub fn describedby(&self) -> String {
        let mut ids = Vec::new();
        if !self.errors.is_empty() {
            ids.push(format!("{}-error", self.id));
        }
        if !self.hint.is_empty() {
            ids.push(format!("{}-hint", self.id));
        }
        if self.note.is_some() {
            ids.push(format!("{}-note", self.id));
        }
        ids.join(" ")
    }
}

pub struct Group {
    pub legend: &'static str,
    pub fields: Vec<FieldView>,
}

/// (label, hint, kind, rows, inputmode) of a field.
fn meta(f: Field) -> (&'static str, &'static str, Kind, usize, &'static str) {
    match f {
        Field::Id => ("ID", "A path such as /web or /team/web: lowercase letters, digits, hyphens and dots.", Kind::Text, 0, ""),
        Field::Cmd => ("Command", "A shell command. Leave it empty to run the image's own command, or to pass arguments instead.", Kind::Lines, 3, ""),
        Field::Args => ("Arguments", "One argument per line, instead of a command (given to the image's entrypoint).", Kind::Lines, 2, ""),
        Field::Cpus => ("CPUs", "Per instance, e.g. 0.1.", Kind::Text, 0, "decimal"),
        Field::Mem => ("Memory (MiB)", "Per instance.", Kind::Text, 0, "decimal"),
        Field::Disk => ("Disk (MiB)", "Per instance.", Kind::Text, 0, "decimal"),
        Field::Instances => ("Instances", "How many to run.", Kind::Text, 0, "numeric"),
        Field::Image => ("Docker image", "Such as nginx:1.27. Empty: no container image.", Kind::Text, 0, ""),
        Field::Env => ("Environment variables", "One per line: NAME=value.", Kind::Lines, 4, ""),
        Field::Labels => ("Labels", "One per line: key=value.", Kind::Lines, 3, ""),
        Field::Ports => ("Ports", "Comma-separated port numbers; 0 picks a free one. Empty: no ports.", Kind::Text, 0, ""),
        Field::HcProtocol => ("Health check", "Marathon's first health check of the app.", Kind::Select, 0, ""),
        Field::HcPath => ("Health check path", "The HTTP path checked, e.g. /health.", Kind::Text, 0, ""),
        Field::HcPortIndex => ("Health check port index", "Which of the ports is checked: 0 is the first.", Kind::Text, 0, "numeric"),
        Field::Constraints => ("Constraints", "One per line: field:OPERATOR or field:OPERATOR:value, e.g. hostname:UNIQUE.", Kind::Lines, 2, ""),
    }
}

const GROUPS: &[(&str, &[Field])] = &[
    ("Application", &[Field::Id, Field::Cmd, Field::Args]),
    (
        "Resources",
        &[Field::Cpus, Field::Mem, Field::Disk, Field::Instances],
    ),
    ("Container", &[Field::Image]),
    ("Environment and labels", &[Field::Env, Field::Labels]),
    ("Networking", &[Field::Ports]),
    (
        "Health check",
        &[Field::HcProtocol, Field::HcPath, Field::HcPortIndex],
    ),
    ("Placement", &[Field::Constraints]),
];

/// The form's groups of fields for `base`: each showing `texts`' value when given (what the
/// user entered, kept across a failed save), else the base's; with its errors.
pub fn groups(
    base: &Value,
    texts: Option<&HashMap<String, String>>,
    errors: &Errors,
    editing: bool,
) -> Vec<Group> {
    GROUPS
        .iter()
        .map(|(legend, fields)| Group {
            legend,
            fields: fields
                .iter()
                .map(|&f| {
                    let (label, hint, kind, rows, inputmode) = meta(f);
                    let locked = f.locked(base);
                    let value = match texts.and_then(|t| t.get(f.name())) {
                        Some(t) if locked.is_none() => t.clone(),
                        _ => f.render(base),
                    };
                    let id_fixed = editing && f == Field::Id;
                    let mut options = vec![("none".to_string(), "None".to_string())];
                    options.extend(
                        spec::HC_PROTOCOLS
                            .iter()
                            .map(|p| (p.to_string(), p.to_string())),
                    );
                    FieldView {
                        name: f.name(),
                        id: format!("f-{}", f.name()),
                        label,
                        hint: if id_fixed {
                            "An app's id cannot change once it exists."
                        } else {
                            hint
                        },
                        value,
                        kind,
                        rows: rows.max(
                            f.render(base).lines().count().min(20)
                                + usize::from(kind == Kind::Lines),
                        ),
                        inputmode,
                        options: if kind == Kind::Select {
                            options
                        } else {
                            vec![]
                        },
                        errors: errors.fields.get(&f).cloned().unwrap_or_default(),
                        note: locked.clone().or_else(|| f.kept(base)),
                        readonly: locked.is_some() || id_fixed,
                    }
                })
                .collect(),
        })
        .collect()
}

/// The editor's form, in either mode.
pub struct SpecForm {
    pub action: String,
    pub editing: bool,
    pub json_mode: bool,
    /// The definition the form was rendered from (JSON), carried to the save.
    pub base: String,
    /// The app's version when the form was opened (a save that finds another says so).
    pub opened: String,
    pub groups: Vec<Group>,
    pub json: String,
    pub json_errors: Vec<String>,
    /// Links to the fields with errors, and errors no field shows.
    pub summary: Vec<(String, String)>,
    pub notice: Option<String>,
    pub offer_force: bool,
    pub submit: &'static str,
    pub cancel: String,
    pub form_url: String,
    pub json_url: String,
}

/// What a form page shows beyond the base: the user's texts or JSON, errors, a notice.
#[derive(Default)]
pub struct Draft {
    pub texts: Option<HashMap<String, String>>,
    pub json: Option<String>,
    pub errors: Errors,
    pub json_errors: Vec<String>,
    pub notice: Option<String>,
    pub offer_force: bool,
}

impl SpecForm {
    /// The form of `base` at `url` (the page's own path) for a new app or an edit.
    pub fn new(
        url: &str,
        base: &Value,
        opened: &str,
        json_mode: bool,
        editing: bool,
        cancel: String,
        d: Draft,
    ) -> SpecForm {
        let groups = groups(base, d.texts.as_ref(), &d.errors, editing);
        let mut summary: Vec<(String, String)> = Vec::new();
        if !json_mode {
            for g in &groups {
                for f in &g.fields {
                    for e in &f.errors {
                        summary.push((format!("#{}", f.id), format!("{}: {e}", f.label)));
                    }
                }
            }
            summary.extend(d.errors.general.iter().map(|e| (String::new(), e.clone())));
        }
        let json_errors = if json_mode && d.json_errors.is_empty() {
            d.errors.all()
        } else {
            d.json_errors
        };
        SpecForm {
            action: url.to_string(),
            editing,
            json_mode,
            base: base.to_string(),
            opened: opened.to_string(),
            groups,
            json: d.json.unwrap_or_else(|| spec::pretty(base)),
            json_errors,
            summary,
            notice: d.notice,
            offer_force: d.offer_force,
            submit: if editing { "Save" } else { "Create app" },
            cancel,
            form_url: url.to_string(),
            json_url: format!("{url}?mode=json"),
        }
    }
}

/// A row of the diff table: the sign and its words (never colour alone), line numbers, text.
pub struct RowView {
    pub class: &'static str,
    pub sign: &'static str,
    pub words: &'static str,
    pub old: String,
    pub new: String,
    pub text: String,
}

pub fn rows(d: &[DiffRow]) -> Vec<RowView> {
    d.iter()
        .map(|r| match r {
            DiffRow::Same { old, new, text } => RowView {
                class: "same",
                sign: "",
                words: "",
                old: old.to_string(),
                new: new.to_string(),
                text: text.clone(),
            },
            DiffRow::Removed { old, text } => RowView {
                class: "del",
                sign: "−",
                words: "removed",
                old: old.to_string(),
                new: String::new(),
                text: text.clone(),
            },
            DiffRow::Added { new, text } => RowView {
                class: "add",
                sign: "+",
                words: "added",
                old: String::new(),
                new: new.to_string(),
                text: text.clone(),
            },
            DiffRow::Skipped(n) => RowView {
                class: "gap",
                sign: "",
                words: "",
                old: String::new(),
                new: String::new(),
                text: format!("⋯ {n} unchanged line{}", if *n == 1 { "" } else { "s" }),
            },
        })
        .collect()
}

/// A version in the list.
pub struct VersionRow {
    pub version: String,
    pub current: bool,
    /// The link comparing it with the version before it.
    pub compare: Option<String>,
    pub shown: bool,
}

/// The diff shown: versions `a` (older) and `b`.
pub struct DiffView {
    pub a: String,
    pub b: String,
    pub a_current: bool,
    pub rows: Vec<RowView>,
    pub added: usize,
    pub removed: usize,
    pub too_large: bool,
}

/// A failure on the versions page (applying a version), and whether forcing would help.
pub struct Notice {
    pub message: String,
    pub details: Vec<String>,
    pub force_version: Option<String>,
}
