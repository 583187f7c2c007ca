//! The sandbox's pieces on their own (paths kept inside the sandbox, the tail's offsets and
//! back-off, a listing rendered from a `/files/browse` answer), then the pages and the log
//! tail against a fake agent on loopback serving the files API from memory.

use super::files::{self, find_directory, usable, Asked, Rel, SandboxError, CHUNK};
use super::tail::{self, Tail, FIRST, IDLE_MAX, SIZE_EVERY};
use super::*;
use crate::testing::{agent, framework, get, subscribed, task, task_updated, ui_with};
use axum::extract::Query as AQuery;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

fn rel(raw: &str) -> Rel {
    match Asked::parse(raw).expect("a good path") {
        Asked::Relative(r) => r,
        a => panic!("{raw}: {a:?}"),
    }
}

#[test]
fn paths_stay_inside_the_sandbox() {
    assert!(rel("").is_root());
    assert_eq!(rel("").as_string(), "");
    assert_eq!(rel("a/./b//c/").as_string(), "a/b/c");
    assert_eq!(rel("./stdout").on_agent("/w/sb/"), "/w/sb/stdout");
    assert_eq!(rel("").on_agent("/w/sb"), "/w/sb");
    for bad in ["..", "a/../../etc", "a/..", "/w/sb/../x", "std\nout"] {
        match Asked::parse(bad) {
            Err(e @ SandboxError::BadParam { field: "path", .. }) => {
                assert_eq!(e.status(), 400);
                assert!(e.to_string().starts_with("path: "), "{e}");
            }
            other => panic!("{bad:?} was taken: {other:?}"),
        }
    }
    // An absolute path is taken when it is inside the sandbox, and no other.
    let inside = Asked::parse("/w/sb/dir/file").expect("parses");
    assert_eq!(
        inside.within("/w/sb").expect("inside").as_string(),
        "dir/file"
    );
    assert!(Asked::parse("/w/sb")
        .expect("parses")
        .within("/w/sb/")
        .expect("itself")
        .is_root());
    for outside in ["/etc/passwd", "/w/sbx/f", "/w"] {
        let e = Asked::parse(outside)
            .expect("parses")
            .within("/w/sb")
            .expect_err(outside);
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("outside the task's sandbox"), "{e}");
    }
    let r = rel("a/b/c");
    assert_eq!(
        r.ancestry().iter().map(Rel::as_string).collect::<Vec<_>>(),
        ["a", "a/b", "a/b/c"]
    );
    assert_eq!(r.name(), "c");
}

#[test]
fn a_tail_starts_where_asked_unless_the_file_says_otherwise() {
    assert_eq!(Tail::start(Some(100), 500).0.offset(), 100);
    assert_eq!(
        Tail::start(None, 500).0.offset(),
        500,
        "nothing asked: from the end"
    );
    let (t, note) = Tail::start(Some(900), 500);
    assert_eq!(t.offset(), 0, "the file shrank: from its start");
    assert!(note.is_some_and(|n| n.contains("shorter")));
    let size = 10 * tail::CATCH_UP;
    let (t, note) = Tail::start(Some(10), size);
    assert_eq!(t.offset(), size - CHUNK, "far behind: the end");
    assert!(note.is_some_and(|n| n.contains("skipped")));
}

#[test]
fn a_tail_reads_on_at_once_after_a_full_chunk_and_backs_off_when_idle() {
    let mut t = Tail::start(Some(0), 0).0;
    assert_eq!(t.read("line 0\n"), (7, FIRST));
    assert_eq!(t.offset(), 7);
    let full = "x".repeat(CHUNK as usize);
    assert_eq!(
        t.read(&full),
        (full.len(), Duration::ZERO),
        "more is waiting"
    );
    let waits: Vec<Duration> = (0..6).map(|_| t.read("").1).collect();
    let ms = |m| Duration::from_millis(m);
    assert_eq!(
        waits,
        [ms(250), ms(500), ms(1000), ms(2000), ms(2000), ms(2000)]
    );
    assert_eq!(t.read("more\n"), (5, FIRST), "new text: quick again");
    assert_eq!(t.offset(), 7 + CHUNK + 5);
    // Failures back off the same way, to the same bound.
    let fails: Vec<Duration> = (0..5).map(|_| t.failed()).collect();
    assert_eq!(fails.last(), Some(&IDLE_MAX));
    assert!(fails.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn a_tail_checks_the_size_when_idle_and_starts_over_on_a_truncated_file() {
    let mut t = Tail::start(Some(1000), 1000).0;
    for i in 1..=SIZE_EVERY {
        assert!(!t.check_size(), "not yet at read {i}");
        t.read("");
    }
    assert!(t.check_size());
    assert_eq!(t.resize(1200), None, "grew: go on");
    assert_eq!(t.offset(), 1000);
    assert!(t.resize(10).is_some_and(|n| n.contains("truncated")));
    assert_eq!(t.offset(), 0);
}

#[test]
fn a_chunk_cut_inside_a_character_is_taken_up_to_its_last_line() {
    assert_eq!(usable("abc\ndé", false), 7);
    assert_eq!(
        usable("abc\nd\u{FFFD}", false),
        4,
        "the cut char is read again"
    );
    assert_eq!(
        usable("d\u{FFFD}", false),
        0,
        "no line yet: wait for the rest"
    );
    assert_eq!(usable("d\u{FFFD}", true), 4, "a full chunk is taken whole");
    let mut t = Tail::start(Some(0), 0).0;
    assert_eq!(t.read("ab\nc\u{FFFD}").0, 3);
    assert_eq!(t.offset(), 3);
}

#[test]
fn a_chunk_that_starts_inside_a_character_counts_its_stray_bytes_as_bytes() {
    // "é" is 2 bytes: a read starting at its second byte gets one stray byte, one U+FFFD.
    assert_eq!(files::read_len("\u{FFFD}abc\n", true), 5);
    // A 4-byte character cut after its first byte: three strays.
    assert_eq!(files::read_len("\u{FFFD}\u{FFFD}\u{FFFD}x", true), 4);
    // From the file's start there is nothing to be inside of.
    assert_eq!(files::read_len("\u{FFFD}x", false), 4);
    assert_eq!(files::read_len("plain\n", true), 6);
}

#[test]
fn log_specs_name_a_task_and_stdout_or_stderr() {
    assert_eq!(
        tail::parse_spec("web.1:stderr").expect("good"),
        ("web.1".into(), LogFile::Stderr)
    );
    assert_eq!(tail::parse_spec("a:b:stdout").expect("good").0, "a:b");
    for bad in ["web.1", ":stdout", "web.1:stdin"] {
        let e = tail::parse_spec(bad).expect_err(bad);
        assert!(e.to_string().starts_with("log: "), "{e}");
    }
}

fn browse_json() -> Value {
    json!([
        {"path": "/w/sb/stdout", "size": 2048, "mode": "100644", "mtime": 1_796_376_612, "nlink": 1, "uid": "0", "gid": "0"},
        {"path": "/w/sb/logs", "size": 4096, "mode": "40755", "mtime": 1_796_376_600, "nlink": 2, "uid": "0", "gid": "0"},
        {"path": "/w/sb/a <b>.txt", "size": 10, "mode": "-rw-r--r--", "mtime": 1_796_376_612.5},
        {"path": "/w/sb/stderr", "size": 3_500_000, "mode": "100600", "mtime": 1_796_376_612},
        {"size": 1}
    ])
}

#[test]
fn a_listing_renders_from_a_browse_answer() {
    let es = files::entries(&browse_json());
    assert_eq!(es.len(), 4, "an entry without a path is skipped");
    let l = listing("web.1", &rel("sub"), es, 10);
    let names: Vec<&str> = l.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["logs", "a <b>.txt", "stderr", "stdout"],
        "directories first"
    );
    assert_eq!(l.rows[0].href, "/ui/tasks/web.1/files?path=sub/logs");
    assert_eq!(l.rows[0].mode, "drwxr-xr-x");
    assert_eq!(l.rows[3].href, "/ui/tasks/web.1/files/view?path=sub/stdout");
    assert_eq!(l.rows[3].size, "2 KiB");
    assert_eq!(l.rows[2].size, "3.3 MiB");
    assert_eq!(l.rows[2].mode, "-rw-------");
    let w = files::Where {
        task_id: "web.1".into(),
        task_name: "web".into(),
        framework_id: "F1".into(),
        agent_id: "S0".into(),
        agent: None,
    };
    let page = BrowsePage {
        page: Page {
            title: "Sandbox of web".into(),
            section: "tasks",
            topics: "",
            since: "t-0".into(),
            fragment: false,
        },
        crumbs: crumbs(&w, &rel("sub")),
        task_name: "web".into(),
        at: "sub".into(),
        listing: l,
    };
    let html = page.render().expect("renders");
    assert!(
        html.contains(r#"<a class="dir" href="/ui/tasks/web.1/files?path=sub/logs">logs/</a>"#),
        "{html}"
    );
    assert!(
        html.contains("a &#60;b&#62;.txt") || html.contains("a &lt;b&gt;.txt"),
        "escaped: {html}"
    );
    assert!(html.contains("2026-12-04 09:30:12 UTC"));
    assert!(
        html.contains(r#"<a href="/ui/tasks/web.1/files?path=sub" aria-current="page">sub</a>"#),
        "{html}"
    );
    assert!(html.contains(r#"<nav class="crumbs" aria-label="Breadcrumb">"#));
    // Too many entries: the first ones, and how many there are.
    let cut = listing("web.1", &Rel::default(), files::entries(&browse_json()), 2);
    assert!(cut.cut() && cut.total == 4 && cut.rows.len() == 2);
}

#[test]
fn the_sandbox_is_found_in_the_agents_state() {
    let state = json!({"frameworks": [
        {"id": "F1", "executors": [
            {"id": "x", "directory": "/w/x", "tasks": [{"id": "other"}], "queued_tasks": []},
            {"id": "web.1", "directory": "/w/web.1", "tasks": [{"id": "web.1"}]}],
         "completed_executors": [{"id": "old", "directory": "/w/old", "completed_tasks": [{"id": "old.1"}]}]},
        {"id": "F2", "executors": [{"directory": "/w/f2", "tasks": [{"id": "web.1"}]}]}]});
    assert_eq!(
        find_directory(&state, "F1", "web.1").as_deref(),
        Some("/w/web.1")
    );
    assert_eq!(
        find_directory(&state, "F1", "old.1").as_deref(),
        Some("/w/old")
    );
    assert_eq!(
        find_directory(&state, "F2", "web.1").as_deref(),
        Some("/w/f2")
    );
    assert_eq!(find_directory(&state, "F1", "nope"), None);
}

#[test]
fn lines_and_sizes_read_as_people_write_them() {
    assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
    assert_eq!(last_lines("a\nb\nc", 2), "b\nc");
    assert_eq!(last_lines("a\nb\n", 5), "a\nb\n");
    assert_eq!(last_lines("a\n", 0), "");
    assert_eq!(bytes(0), "0 B");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(5 << 30), "5 GiB");
}

// --- against a fake agent ------------------------------------------------------------------------

/// An agent's files API over files kept in memory, under the sandbox `/w/sb`.
#[derive(Default)]
struct FakeAgent {
    files: Mutex<HashMap<String, String>>,
}

impl FakeAgent {
    fn append(&self, path: &str, text: &str) {
        let mut f = self.files.lock().expect("lock");
        f.entry(path.to_string()).or_default().push_str(text);
    }
}

async fn fake_agent() -> (Arc<FakeAgent>, u16) {
    let fake = Arc::new(FakeAgent::default());
    fake.append("/w/sb/stdout", "");
    fake.append("/w/sb/stderr", "oops\n");
    let state = json!({"frameworks": [{"id": "F1", "executors": [
        {"id": "web.00000", "directory": "/w/sb", "tasks": [{"id": "web.00000"}]}]}]});
    let f1 = fake.clone();
    let f2 = fake.clone();
    let app = axum::Router::new()
        .route("/state", axum::routing::get(move || async move { axum::Json(state) }))
        .route(
            "/files/browse",
            axum::routing::get(move |AQuery(q): AQuery<HashMap<String, String>>| async move {
                let files = f1.files.lock().expect("lock");
                let dir = q.get("path").cloned().unwrap_or_default();
                let list: Vec<Value> = files
                    .iter()
                    .filter(|(p, _)| p.rsplit_once('/').is_some_and(|(d, _)| d == dir))
                    .map(|(p, t)| json!({"path": p, "size": t.len(), "mode": "100644", "mtime": 1_796_376_612}))
                    .collect();
                axum::Json(Value::Array(list))
            }),
        )
        .route(
            "/files/read",
            axum::routing::get(move |AQuery(q): AQuery<HashMap<String, String>>| async move {
                let files = f2.files.lock().expect("lock");
                let Some(text) = q.get("path").and_then(|p| files.get(p)) else {
                    return (axum::http::StatusCode::NOT_FOUND, "no such file").into_response();
                };
                let offset: i64 = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(-1);
                if offset < 0 {
                    return axum::Json(json!({"data": "", "offset": text.len()})).into_response();
                }
                let len: usize = q.get("length").and_then(|l| l.parse().ok()).unwrap_or(usize::MAX);
                let from = (offset as usize).min(text.len());
                let to = from.saturating_add(len).min(text.len());
                axum::Json(json!({"data": &text[from..to], "offset": offset})).into_response()
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(l, app).await });
    (fake, port)
}

/// A UI over one task (`web.00000` of F1) on an agent at 127.0.0.1:`port`.
fn ui_on(port: u16) -> Arc<Ui> {
    let mut a = agent("S0", "127.0.0.1", 4.0, 4096.0);
    a["agent_info"]["port"] = json!(port);
    ui_with(&[subscribed(
        vec![a],
        vec![framework("F1", "marathon")],
        vec![task("web.00000", "web", "F1", "S0", "TASK_RUNNING")],
    )])
}

#[tokio::test]
async fn the_task_page_shows_the_log_end_and_the_sandbox() {
    let (fake, port) = fake_agent().await;
    for i in 0..300 {
        fake.append("/w/sb/stdout", &format!("line {i}\n"));
    }
    let ui = ui_on(port);
    let (s, html) = get(&ui, "/ui/tasks/web.00000").await;
    assert_eq!(s, 200, "{html}");
    assert!(
        html.contains("line 299\n") && html.contains("line 100\n"),
        "{html}"
    );
    assert!(!html.contains("line 99\n"), "the last 200 lines only");
    let size: usize = (0..300).map(|i| format!("line {i}\n").len()).sum();
    assert!(
        html.contains(&format!(
            r#"data-log="web.00000:stdout" data-log-offset="{size}""#
        )),
        "{html}"
    );
    assert!(html.contains(r#"data-topics="task,log""#));
    assert!(
        html.contains(r#"href="/ui/tasks/web.00000/files/view?path=stderr">stderr</a>"#),
        "{html}"
    );
    assert!(html.contains("/agent/S0/files/download?path=/w/sb/stdout"));
    let (_, err) = get(&ui, "/ui/tasks/web.00000?log=stderr").await;
    assert!(
        err.contains(">oops\n</pre>") && err.contains(r#"data-log="web.00000:stderr""#),
        "{err}"
    );
}

#[tokio::test]
async fn the_browser_lists_views_and_refuses_what_is_outside() {
    let (fake, port) = fake_agent().await;
    fake.append("/w/sb/stdout", &"x".repeat(100_000));
    fake.append("/w/sb/stdout", "\nthe end\n");
    let ui = ui_on(port);
    let (s, html) = get(&ui, "/ui/tasks/web.00000/files").await;
    assert_eq!(s, 200, "{html}");
    assert!(
        html.contains(r#"href="/ui/tasks/web.00000/files/view?path=stderr">stderr</a>"#),
        "{html}"
    );
    assert!(html.contains("<h1>Sandbox of web</h1>"));
    let (s, view) = get(&ui, "/ui/tasks/web.00000/files/view?path=stdout").await;
    assert_eq!(s, 200, "{view}");
    assert!(
        view.contains("The last 64 KiB of 97.7 KiB") && view.contains("the end\n</pre>"),
        "{view}"
    );
    assert!(view.len() < 70_000, "the file's end only");
    assert!(
        view.contains(
            r#"<a href="/ui/tasks/web.00000/files/view?path=stdout" aria-current="page">stdout</a>"#
        ),
        "the last crumb is the file's view: {view}"
    );
    for bad in ["../../etc/passwd", "/etc/passwd", "a/../../x"] {
        let (s, html) = get(
            &ui,
            &format!(
                "/ui/tasks/web.00000/files?path={}",
                crate::table::encode(bad)
            ),
        )
        .await;
        assert_eq!(s, 400, "{bad}: {html}");
        assert!(html.contains("path: "), "the field is named: {html}");
    }
    let (s, html) = get(&ui, "/ui/tasks/web.00000/files/view?path=nope").await;
    assert_eq!(s, 404, "{html}");
    assert!(html.contains("no such file"), "the agent's word: {html}");
    let (s, _) = get(&ui, "/ui/tasks/nope/files").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn an_agent_that_cannot_be_reached_is_said_so() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let ui = ui_on(port);
    let (s, html) = get(&ui, "/ui/tasks/web.00000/files").await;
    assert_eq!(s, 502, "{html}");
    assert!(
        html.contains(&format!(
            "The agent at 127.0.0.1:{port} could not be reached"
        )),
        "{html}"
    );
    let (s, task) = get(&ui, "/ui/tasks/web.00000").await;
    assert_eq!(s, 200, "the task page still shows the task");
    assert!(task.contains("could not be reached"), "{task}");
}

/// The next `log` event on an event stream's body, within a deadline.
async fn next_log(body: &mut axum::body::BodyDataStream, buf: &mut String) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event: log") {
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                return serde_json::from_str(&data).expect("JSON");
            }
        }
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("a log event within 20 s")
            .expect("the stream goes on")
            .expect("a chunk");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_event_stream_tails_the_log_from_the_offset_asked() {
    let (fake, port) = fake_agent().await;
    fake.append("/w/sb/stdout", "line 0\nline 1\n");
    let ui = ui_on(port);
    let rq =
        axum::http::Request::get("/ui/events?topics=task,log&log=web.00000:stdout&log_offset=7")
            .body(axum::body::Body::empty())
            .expect("a request");
    use tower::ServiceExt;
    let resp = crate::router(ui.clone())
        .oneshot(rq)
        .await
        .expect("an answer");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body().into_data_stream();
    let mut buf = String::new();
    let first = next_log(&mut body, &mut buf).await;
    assert_eq!(
        first,
        json!({"file": "stdout", "offset": 7, "next": 14, "data": "line 1\n"})
    );
    fake.append("/w/sb/stdout", "line 2\n");
    let second = next_log(&mut body, &mut buf).await;
    assert_eq!(
        second,
        json!({"file": "stdout", "offset": 14, "next": 21, "data": "line 2\n"})
    );
    // Hub events still come on the same stream, with their ids.
    ui.live.master_event(
        "10.0.0.1:5050",
        task_updated("web.00000", "F1", "TASK_RUNNING"),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !buf.contains("event: task") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("a task event")
            .expect("more")
            .expect("a chunk");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(buf.contains("id: t-"), "{buf}");
}

#[tokio::test]
async fn a_bad_log_spec_is_said_once_on_the_stream() {
    let ui = ui_on(9);
    let mut s = tail::events(ui, "web.00000:stdin", None);
    let e = tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("at once");
    assert!(e.is_some());
    assert!(s.next().await.is_none(), "then nothing");
}
