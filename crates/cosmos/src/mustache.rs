//! A mustache renderer with Cosmos' semantics (mustache.java with HTML escaping turned off, over
//! a context converted as Cosmos converts it), for `marathon.json.mustache` templates.
//!
//! - `{{x}}`, `{{{x}}}` and `{{&x}}` are the same: nothing is HTML-escaped.
//! - A string is inserted JSON-escaped without its quotes (`a"b` → `a\"b`), so `"{{x}}"` in a
//!   template is always a valid JSON string; a string inside an array keeps its quotes, so an
//!   array renders as the JSON array `["a", "b"]` (Java's list formatting).
//! - Integral numbers render as integers (`8080`, also for `8080.0`); others as decimals.
//! - Sections `{{#x}}…{{/x}}` repeat over lists, enter objects, and render once for any other
//!   truthy value; `null`, `false`, `""` and `[]` are falsy. Inverted sections `{{^x}}` render
//!   when falsy. Names are dotted (`resource.assets.uris.executor-zip`), `.` is the current
//!   value; a missing name renders empty.
//! - `{{#asJson}}name{{/asJson}}` is Cosmos' lambda: the top-level string option `name`, raw.
//! - Comments `{{! }}`, delimiter changes `{{=<% %>=}}`; partials `{{> x}}` render nothing.
//!
//! Templates come from repositories anyone may add, so rendering is bounded: sections nest at
//! most [`MAX_DEPTH`] deep, the output is at most [`MAX_OUTPUT`] bytes, and at most
//! [`MAX_STEPS`] nodes are visited (nested sections over lists multiply).

use serde_json::Value;
use std::ops::Range;

/// How deep sections may nest.
pub const MAX_DEPTH: usize = 64;
/// The longest rendered text.
pub const MAX_OUTPUT: usize = 16 << 20;
/// The most nodes one rendering visits.
pub const MAX_STEPS: usize = 1 << 22;

/// A template that is not valid mustache (an unclosed tag or section, a stray closing tag,
/// sections nested too deep) or whose rendering goes past a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(pub String);

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Var(String),
    Section {
        name: String,
        inverted: bool,
        children: Vec<Node>,
        /// Where the template text between the opening and closing tags is (the lambda's
        /// argument).
        raw: Range<usize>,
    },
}

/// A context value, converted as Cosmos converts JSON before rendering.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    List(Vec<Val>),
    Map(Vec<(String, Val)>),
}

impl Val {
    fn from_json(v: &Value, in_array: bool) -> Val {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Num(number_text(n)),
            Value::String(s) => {
                let quoted = Value::String(s.clone()).to_string();
                if in_array {
                    Val::Str(quoted)
                } else {
                    let inner = &quoted[1..quoted.len() - 1];
                    Val::Str(inner.to_string())
                }
            }
            Value::Array(a) => Val::List(a.iter().map(|x| Val::from_json(x, true)).collect()),
            Value::Object(m) => Val::Map(
                m.iter()
                    .map(|(k, x)| (k.clone(), Val::from_json(x, false)))
                    .collect(),
            ),
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Str(s) => !s.is_empty(),
            Val::List(l) => !l.is_empty(),
            Val::Num(_) | Val::Map(_) => true,
        }
    }

    fn get(&self, key: &str) -> Option<&Val> {
        match self {
            Val::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Val::Null => {}
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Num(s) | Val::Str(s) => out.push_str(s),
            Val::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Val::Map(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// `8080` and `8080.0` → `8080`; `0.5` → `0.5`.
fn number_text(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e18 => format!("{f:.0}"),
        Some(f) => format!("{f}"),
        None => n.to_string(),
    }
}

/// Render `template` with `context` (a JSON object: the options and `resource`).
pub fn render(template: &str, context: &Value) -> Result<String, SyntaxError> {
    render_limited(template, context, MAX_OUTPUT, MAX_STEPS)
}

fn render_limited(
    template: &str,
    context: &Value,
    max_output: usize,
    max_steps: usize,
) -> Result<String, SyntaxError> {
    let nodes = parse(template)?;
    let root = Val::from_json(context, false);
    let mut r = Renderer {
        template,
        root: context,
        out: String::with_capacity(template.len().min(max_output)),
        steps: 0,
        max_output,
        max_steps,
    };
    let mut stack = vec![&root];
    r.nodes(&nodes, &mut stack)?;
    Ok(r.out)
}

fn lookup<'a>(stack: &[&'a Val], name: &str) -> Option<&'a Val> {
    if name == "." {
        return stack.last().copied();
    }
    let mut parts = name.split('.');
    let first = parts.next()?;
    let mut found = stack.iter().rev().find_map(|scope| scope.get(first))?;
    for p in parts {
        found = found.get(p)?;
    }
    Some(found)
}

/// One rendering: the template (for sections' raw text), the JSON context (for `asJson`), the
/// output so far and the budget left.
struct Renderer<'t> {
    template: &'t str,
    root: &'t Value,
    out: String,
    steps: usize,
    max_output: usize,
    max_steps: usize,
}

impl<'t> Renderer<'t> {
    /// Count a node visited, and check the output's length.
    fn step(&mut self) -> Result<(), SyntaxError> {
        self.steps += 1;
        if self.steps > self.max_steps {
            return Err(SyntaxError(format!(
                "rendering takes more than {} steps",
                self.max_steps
            )));
        }
        if self.out.len() > self.max_output {
            return Err(SyntaxError(format!(
                "the rendered text is longer than {} MiB",
                self.max_output >> 20
            )));
        }
        Ok(())
    }

    fn nodes<'a>(
        &mut self,
        nodes: &'a [Node],
        stack: &mut Vec<&'a Val>,
    ) -> Result<(), SyntaxError> {
        for node in nodes {
            self.step()?;
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Var(name) => {
                    if let Some(v) = lookup(stack, name) {
                        v.write(&mut self.out);
                    }
                }
                Node::Section {
                    name,
                    inverted: false,
                    raw,
                    ..
                } if name == "asJson" && lookup(stack, name).is_none() => {
                    let key = self.template.get(raw.clone()).unwrap_or_default();
                    match self.root.get(key).and_then(Value::as_str) {
                        Some(s) => self.out.push_str(s),
                        None => self.out.push_str("null"),
                    }
                }
                Node::Section {
                    name,
                    inverted,
                    children,
                    ..
                } => {
                    let value = lookup(stack, name);
                    let truthy = value.is_some_and(Val::truthy);
                    if *inverted {
                        if !truthy {
                            self.nodes(children, stack)?;
                        }
                        continue;
                    }
                    let Some(v) = value.filter(|v| v.truthy()) else {
                        continue;
                    };
                    match v {
                        Val::List(items) => {
                            for item in items {
                                stack.push(item);
                                let r = self.nodes(children, stack);
                                stack.pop();
                                r?;
                            }
                        }
                        other => {
                            stack.push(other);
                            let r = self.nodes(children, stack);
                            stack.pop();
                            r?;
                        }
                    }
                }
            }
        }
        self.step()
    }
}

/// An open section while parsing: its name, whether inverted, its children so far, and where its
/// body starts in the template.
struct Open {
    name: String,
    inverted: bool,
    children: Vec<Node>,
    body_start: usize,
}

fn parse(template: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut open_d = "{{".to_string();
    let mut close_d = "}}".to_string();
    let mut stack: Vec<Open> = vec![Open {
        name: String::new(),
        inverted: false,
        children: Vec::new(),
        body_start: 0,
    }];
    let mut pos = 0;
    while pos < template.len() {
        let rest = &template[pos..];
        let Some(at) = rest.find(open_d.as_str()) else {
            push_text(&mut stack, rest);
            break;
        };
        push_text(&mut stack, &rest[..at]);
        let tag_start = pos + at;
        let after_open = tag_start + open_d.len();
        let triple = open_d == "{{" && template[after_open..].starts_with('{');
        let (content, tag_end) = if triple {
            let body = after_open + 1;
            let end = template[body..]
                .find("}}}")
                .ok_or_else(|| unclosed(template, tag_start))?;
            (&template[body..body + end], body + end + 3)
        } else {
            let end = template[after_open..]
                .find(close_d.as_str())
                .ok_or_else(|| unclosed(template, tag_start))?;
            (
                &template[after_open..after_open + end],
                after_open + end + close_d.len(),
            )
        };
        pos = tag_end;
        let content = content.trim();
        if triple {
            push_node(&mut stack, Node::Var(content.to_string()));
            continue;
        }
        let (sigil, name) = match content.chars().next() {
            Some(c @ ('#' | '^' | '/' | '!' | '>' | '&' | '=')) => (Some(c), content[1..].trim()),
            _ => (None, content),
        };
        match sigil {
            None | Some('&') => push_node(&mut stack, Node::Var(name.to_string())),
            Some('!') | Some('>') => {}
            Some('=') => {
                let inner = name.strip_suffix('=').unwrap_or(name).trim();
                let mut parts = inner.split_whitespace();
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(o), Some(c), None) => {
                        open_d = o.to_string();
                        close_d = c.to_string();
                    }
                    _ => {
                        return Err(SyntaxError(format!(
                            "bad delimiter change '{content}' at {}",
                            line_col(template, tag_start)
                        )))
                    }
                }
            }
            Some('#') | Some('^') if stack.len() > MAX_DEPTH => {
                return Err(SyntaxError(format!(
                    "sections nest deeper than {MAX_DEPTH} at {}",
                    line_col(template, tag_start)
                )))
            }
            Some('#') | Some('^') => stack.push(Open {
                name: name.to_string(),
                inverted: sigil == Some('^'),
                children: Vec::new(),
                body_start: tag_end,
            }),
            Some(_) => {
                // '/': close the innermost section, which must have this name.
                if stack.len() < 2 {
                    return Err(SyntaxError(format!(
                        "closing tag '{name}' at {} closes no section",
                        line_col(template, tag_start)
                    )));
                }
                let Some(open) = stack.pop() else {
                    continue;
                };
                if open.name != name {
                    return Err(SyntaxError(format!(
                        "section '{}' is closed by '{name}' at {}",
                        open.name,
                        line_col(template, tag_start)
                    )));
                }
                push_node(
                    &mut stack,
                    Node::Section {
                        name: open.name,
                        inverted: open.inverted,
                        children: open.children,
                        raw: open.body_start..tag_start,
                    },
                );
            }
        }
    }
    if stack.len() > 1 {
        let names: Vec<&str> = stack[1..].iter().map(|o| o.name.as_str()).collect();
        return Err(SyntaxError(format!(
            "unclosed section '{}'",
            names.join("', '")
        )));
    }
    Ok(stack.pop().map(|o| o.children).unwrap_or_default())
}

fn push_node(stack: &mut [Open], node: Node) {
    if let Some(top) = stack.last_mut() {
        top.children.push(node);
    }
}

fn push_text(stack: &mut [Open], text: &str) {
    if !text.is_empty() {
        push_node(stack, Node::Text(text.to_string()));
    }
}

fn line_col(template: &str, at: usize) -> String {
    let before = &template[..at];
    let line = before.matches('\n').count() + 1;
    let col = at - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    format!("line {line}, column {col}")
}

fn unclosed(template: &str, at: usize) -> SyntaxError {
    SyntaxError(format!("unclosed tag at {}", line_col(template, at)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_as_cosmos_does() {
        let ctx = json!({
            "port": 8080, "ratio": 0.5, "whole": 2.0, "big": 12345678901_i64,
            "name": "a\"b<c>&d", "flag": true, "off": false, "empty": "", "none": null,
            "list": ["x", "y"], "nums": [1, 2], "objs": [{"k": "one"}, {"k": "two"}],
            "service": {"name": "web", "user-name": "nobody"},
            "resource": {"assets": {"uris": {"executor-zip": "http://h/e.zip"}}},
            "cmd": "echo \"hi\""
        });
        let cases = [
            ("{{port}}", "8080"),
            ("{{ratio}}/{{whole}}/{{big}}", "0.5/2/12345678901"),
            // No HTML escaping, JSON escaping of strings, same for every tag form.
            (
                "{{name}}|{{{name}}}|{{&name}}",
                r#"a\"b<c>&d|a\"b<c>&d|a\"b<c>&d"#,
            ),
            ("\"{{cmd}}\"", r#""echo \"hi\"""#),
            ("{{flag}} {{off}}", "true false"),
            ("[{{missing}}][{{none}}][{{empty}}]", "[][][]"),
            ("{{service.name}} {{service.user-name}}", "web nobody"),
            ("{{resource.assets.uris.executor-zip}}", "http://h/e.zip"),
            ("{{service.missing.deeper}}.", "."),
            // Arrays: their strings keep quotes, so an array is a JSON array.
            ("{{list}}", r#"["x", "y"]"#),
            ("{{#list}}<{{.}}>{{/list}}", r#"<"x"><"y">"#),
            ("{{#nums}}{{.}};{{/nums}}", "1;2;"),
            ("{{#objs}}{{k}},{{/objs}}", "one,two,"),
            // Sections: objects are entered, truthy values render once, falsy ones not at all.
            ("{{#service}}{{name}}{{/service}}", "web"),
            ("{{#flag}}on{{/flag}}{{#off}}off{{/off}}", "on"),
            (
                "{{#empty}}e{{/empty}}{{#none}}n{{/none}}{{#missing}}m{{/missing}}",
                "",
            ),
            ("{{#port}}{{port}}{{/port}}", "8080"),
            // Inverted sections.
            (
                "{{^off}}a{{/off}}{{^empty}}b{{/empty}}{{^missing}}c{{/missing}}",
                "abc",
            ),
            ("{{^flag}}x{{/flag}}{{^list}}y{{/list}}", ""),
            // Outer names stay visible inside a section.
            ("{{#service}}{{port}}{{/service}}", "8080"),
            // Comments, partials, delimiter changes.
            ("a{{! note }}b{{> part}}c", "abc"),
            ("{{=<% %>=}}<%port%> {{port}}", "8080 {{port}}"),
            // Cosmos' asJson lambda: a top-level string, raw.
            (
                "{{#asJson}}cmd{{/asJson}} {{#asJson}}port{{/asJson}}",
                "echo \"hi\" null",
            ),
        ];
        for (template, want) in cases {
            assert_eq!(render(template, &ctx).unwrap(), want, "{template}");
        }
    }

    #[test]
    fn broken_templates_say_where() {
        let cases = [
            ("{{#a}}x", "unclosed section 'a'"),
            ("x{{/a}}", "closes no section"),
            ("{{#a}}{{/b}}", "section 'a' is closed by 'b'"),
            ("{\n  \"id\": {{port", "unclosed tag at line 2, column 9"),
        ];
        for (template, want) in cases {
            let e = render(template, &json!({})).unwrap_err();
            assert!(e.0.contains(want), "{template}: {e}");
        }
    }

    #[test]
    fn nesting_output_and_work_are_bounded() {
        let nested = |n: usize| format!("{}x{}", "{{#a}}".repeat(n), "{{/a}}".repeat(n));
        let ctx = json!({"a": true, "l": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]});
        assert_eq!(render(&nested(MAX_DEPTH), &ctx).unwrap(), "x");
        let e = render(&nested(MAX_DEPTH + 1), &ctx).unwrap_err();
        assert!(
            e.0.contains("sections nest deeper than 64 at line 1"),
            "{e}"
        );
        // Far deeper is the same error, not a stack overflow.
        let e = render(&nested(100_000), &ctx).unwrap_err();
        assert!(e.0.contains("deeper than 64"), "{e}");

        // Lists multiply: 10^3 copies of 10 bytes, under the cap and past a 4 KiB one.
        let t = "{{#l}}{{#l}}{{#l}}0123456789{{/l}}{{/l}}{{/l}}";
        assert_eq!(render(t, &ctx).unwrap().len(), 10_000);
        let e = render_limited(t, &ctx, 1 << 12, MAX_STEPS).unwrap_err();
        assert!(e.0.contains("rendered text is longer than"), "{e}");
        // Work that writes nothing is bounded too: 10^8 empty visits.
        let t = format!("{}{}", "{{#l}}".repeat(8), "{{/l}}".repeat(8));
        let e = render_limited(&t, &ctx, MAX_OUTPUT, 1 << 16).unwrap_err();
        assert!(e.0.contains("more than 65536 steps"), "{e}");
        let e = render(&t, &ctx).unwrap_err();
        assert!(e.0.contains("steps"), "{e}");
    }

    #[test]
    fn a_section_keeps_where_its_body_is_not_a_copy() {
        let nodes = parse("ab{{#s}}c{{x}}d{{/s}}").unwrap();
        let Node::Section { raw, .. } = &nodes[1] else {
            panic!("{nodes:?}");
        };
        assert_eq!(raw, &(8..15));
    }

    #[test]
    fn a_real_universe_template_renders_to_json() {
        let template = r#"{
  "id": "{{service.name}}",
  "cpus": {{service.cpus}},
  "instances": {{service.instances}},
  "cmd": "{{service.cmd}}",
  {{#service.role}}"role": "{{service.role}}",{{/service.role}}
  "uris": [ "{{resource.assets.uris.executor-zip}}" ],
  "labels": {
    "DCOS_PACKAGE_FRAMEWORK_NAME": "{{service.name}}"
  }
}"#;
        let ctx = json!({
            "service": {"name": "kafka", "cpus": 1.5, "instances": 1.0, "cmd": "./run \"$X\"\n"},
            "resource": {"assets": {"uris": {"executor-zip": "http://x/e.zip"}}}
        });
        let out: Value = serde_json::from_str(&render(template, &ctx).unwrap()).unwrap();
        assert_eq!(out["id"], "kafka");
        assert_eq!(out["cpus"], 1.5);
        assert_eq!(out["instances"], 1);
        assert_eq!(out["cmd"], "./run \"$X\"\n");
        assert!(out.get("role").is_none());
        assert_eq!(out["labels"]["DCOS_PACKAGE_FRAMEWORK_NAME"], "kafka");
    }
}
