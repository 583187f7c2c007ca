//! The editor's pages against a fake Marathon that records what it is sent: the form a page
//! renders, read back as a browser would submit it, saves the definition unchanged; a change
//! is that change alone; Marathon's errors show at their fields; versions and their diff; a
//! version applied.

use super::*;
use crate::live::Live;
use axum::body::Body;
use axum::extract::State;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tower::ServiceExt;

/// A Marathon of one app, its versions, and an answer for the next change.
#[derive(Default)]
struct Fake {
    app: Mutex<Value>,
    versions: Mutex<BTreeMap<String, Value>>,
    /// The status and body the next POST or PUT gets (default: success).
    answer: Mutex<Option<(u16, Value)>>,
    /// (method, path and query, body) of every change.
    seen: Mutex<Vec<(String, String, Value)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn fake_marathon(
    State(f): State<Arc<Fake>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    let path = uri.path().to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let app = lock(&f.app).clone();
    let id = app["id"].as_str().unwrap_or_default().to_string();
    if method == axum::http::Method::GET {
        let rest = path.strip_prefix(&format!("/v2/apps{id}"));
        return match rest {
            Some("") => axum::Json(json!({ "app": app })).into_response(),
            Some("/versions") => {
                let v: Vec<String> = lock(&f.versions).keys().rev().cloned().collect();
                axum::Json(json!({ "versions": v })).into_response()
            }
            Some(r) => match r
                .strip_prefix("/versions/")
                .and_then(|v| lock(&f.versions).get(v).cloned())
            {
                Some(d) => axum::Json(d).into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            },
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    let pq = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    lock(&f.seen).push((method.to_string(), pq, body.clone()));
    match lock(&f.answer).take() {
        Some((s, b)) => (
            StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(b),
        )
            .into_response(),
        None if method == axum::http::Method::POST => {
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
        None => axum::Json(json!({"deploymentId": "d1", "version": "v9"})).into_response(),
    }
}

/// A UI whose Marathon is the fake, with `app` (as Marathon answers it) and its versions.
async fn rig(app: Value, versions: &[(&str, Value)]) -> (Arc<Ui>, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    *lock(&fake.app) = app;
    for (v, d) in versions {
        lock(&fake.versions).insert(v.to_string(), d.clone());
    }
    let router = Router::new()
        .fallback(fake_marathon)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let live = Arc::new(Live::new("t".into()));
    let ui = Ui::detached(
        live,
        vec![format!("http://{addr}")],
        "http://127.0.0.1:9".into(),
    )
    .expect("a UI");
    (ui, fake)
}

async fn text(r: Response) -> (u16, String, Option<String>) {
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_string);
    let body = axum::body::to_bytes(r.into_body(), 16 << 20)
        .await
        .expect("a body");
    (status, String::from_utf8_lossy(&body).into_owned(), loc)
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').unwrap_or(0);
        let ent = &rest[1..end.max(1)];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) if end > 0 => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let k = format!(" {name}=\"");
    let i = tag.find(&k)? + k.len();
    let j = tag[i..].find('"')? + i;
    Some(unescape(&tag[i..j]))
}

/// The form `id="spec"` of a page as a browser submits it (no button): inputs, textareas
/// (the newline right after the tag dropped, line ends as CRLF), selects' selected options.
fn form_of(html: &str) -> HashMap<String, String> {
    let start = html.find("<form id=\"spec\"").expect("the spec form");
    let end = html[start..].find("</form>").expect("its end") + start;
    let f = &html[start..end];
    let mut out = HashMap::new();
    let mut at = 0;
    while let Some(i) = f[at..].find('<').map(|i| i + at) {
        let close = f[i..].find('>').map(|j| j + i).expect("a tag's end");
        let tag = &f[i..=close];
        at = close + 1;
        let name = attr(tag, "name");
        if tag.starts_with("<input") {
            let kind = attr(tag, "type").unwrap_or_default();
            if kind == "checkbox" && !tag.contains(" checked") {
                continue;
            }
            if let Some(n) = name {
                out.insert(n, attr(tag, "value").unwrap_or_default());
            }
        } else if tag.starts_with("<textarea") {
            let stop = f[at..].find("</textarea>").expect("textarea's end") + at;
            let raw = &f[at..stop];
            let raw = raw.strip_prefix('\n').unwrap_or(raw);
            out.insert(
                name.expect("named"),
                unescape(raw).replace("\r\n", "\n").replace('\n', "\r\n"),
            );
            at = stop;
        } else if tag.starts_with("<select") {
            let stop = f[at..].find("</select>").expect("select's end") + at;
            let opts = &f[at..stop];
            let chosen = opts
                .split("<option")
                .skip(1)
                .find(|o| o.contains(" selected"))
                .or_else(|| opts.split("<option").nth(1))
                .and_then(|o| attr(&format!(" {o}"), "value"))
                .unwrap_or_default();
            out.insert(name.expect("named"), chosen);
            at = stop;
        }
    }
    out
}

fn rich() -> Value {
    json!({
        "id": "/prod/web", "cmd": "python3 -m http.server $PORT0\n# <b>&'\"</b>",
        "cpus": 0.25, "mem": 64.5, "disk": 0, "instances": 2,
        "env": {"PLAIN": "x & <y>", "DB_PASSWORD": {"secret": "pw"}},
        "secrets": {"pw": {"source": "/prod/db-password"}},
        "labels": {"team": "web"},
        "fetch": [{"uri": "https://example.com/a.tgz", "extract": true}],
        "container": {"type": "DOCKER", "docker": {"image": "python:3.12", "futureKey": [1]}},
        "healthChecks": [{"protocol": "HTTP", "path": "/health", "portIndex": 0, "unknown": {"x": 1}}],
        "portDefinitions": [{"port": 10000, "protocol": "tcp", "name": "http"}],
        "constraints": [["hostname", "UNIQUE"]],
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
        "backoffFactor": 1.5, "someFutureField": {"a": [1, {"b": null}]},
        "version": "2026-12-04T10:00:00.000Z", "tasksRunning": 2, "deployments": [],
        "versionInfo": {"lastScalingAt": "2026-12-04T10:00:00.000Z"}
    })
}

#[tokio::test]
async fn an_unchanged_edit_sends_the_definition_back_and_a_change_only_itself() {
    let (ui, fake) = rig(rich(), &[]).await;
    let (s, html, _) = text(
        edit_page(
            ui.clone(),
            "prod/web".into(),
            HashMap::new(),
            HeaderMap::new(),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{html}");
    // Every control has its label.
    for f in Field::ALL {
        assert!(
            html.contains(&format!("<label for=\"f-{}\">", f.name())),
            "{f:?}"
        );
    }
    assert!(
        html.contains("DB_PASSWORD (a secret)"),
        "what is kept is said"
    );
    let form = form_of(&html);
    assert_eq!(
        form["cmd"],
        "python3 -m http.server $PORT0\r\n# <b>&'\"</b>"
    );
    let (s, _, loc) = text(
        save_edit(
            ui.clone(),
            "/prod/web".into(),
            form.clone(),
            HeaderMap::new(),
        )
        .await,
    )
    .await;
    assert_eq!((s, loc.as_deref()), (303, Some("/ui/apps/prod/web")));
    let (method, path, body) = lock(&fake.seen).remove(0);
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("PUT", "/v2/apps/prod/web?partialUpdate=false")
    );
    assert_eq!(
        body,
        spec::definition(&rich()),
        "unchanged: the definition as it was"
    );
    assert!(
        body.get("version").is_none(),
        "a PUT with version would be a rollback"
    );

    let mut changed = form.clone();
    changed.insert("cmd".into(), "sleep 1000".into());
    text(save_edit(ui.clone(), "/prod/web".into(), changed, HeaderMap::new()).await).await;
    let (_, _, body) = lock(&fake.seen).remove(0);
    let mut want = spec::definition(&rich());
    want["cmd"] = json!("sleep 1000");
    assert_eq!(body, want);
}

#[tokio::test]
async fn marathons_refusal_shows_at_the_fields_with_what_the_user_typed() {
    let (ui, fake) = rig(rich(), &[]).await;
    let (_, html, _) = text(
        edit_page(
            ui.clone(),
            "/prod/web".into(),
            HashMap::new(),
            HeaderMap::new(),
        )
        .await,
    )
    .await;
    let mut form = form_of(&html);
    form.insert("cpus".into(), "-1".into());
    *lock(&fake.answer) = Some((
        422,
        json!({"message": "Object is not valid", "details": [
        {"path": "/cpus", "errors": ["got -1.0, expected 0.0 or more"]},
        {"path": "/upgradeStrategy/minimumHealthCapacity", "errors": ["is not between 0 and 1"]}]}),
    ));
    let (s, html, _) =
        text(save_edit(ui.clone(), "/prod/web".into(), form, HeaderMap::new()).await).await;
    assert_eq!(s, 422);
    assert!(
        html.contains(r#"id="f-cpus" name="cpus" type="text" value="-1""#),
        "{html}"
    );
    assert!(
        html.contains(r#"aria-describedby="f-cpus-error f-cpus-hint" aria-invalid="true""#),
        "{html}"
    );
    assert!(html.contains(r#"<div class="field-error" id="f-cpus-error">"#));
    assert!(html.contains("got -1.0, expected 0.0 or more"));
    assert!(
        html.contains(r##"<a href="#f-cpus">CPUs: got -1.0"##),
        "the summary links the field"
    );
    assert!(html.contains("/upgradeStrategy/minimumHealthCapacity: is not between 0 and 1"));

    // Someone else changed the app meanwhile: nothing is sent, their change is kept.
    let mut newer = rich();
    newer["version"] = json!("2026-12-04T11:00:00.000Z");
    newer["instances"] = json!(7);
    *lock(&fake.app) = newer;
    lock(&fake.seen).clear();
    let mut old_form = form_of(
        &text(
            edit_page(
                ui.clone(),
                "/prod/web".into(),
                HashMap::new(),
                HeaderMap::new(),
            )
            .await,
        )
        .await
        .1,
    );
    old_form.insert("opened".into(), "2026-12-04T10:00:00.000Z".into());
    old_form.insert("base".into(), spec::definition(&rich()).to_string());
    old_form.insert("instances".into(), "2".into());
    old_form.insert("cmd".into(), "sleep 1".into());
    let (s, html, _) =
        text(save_edit(ui.clone(), "/prod/web".into(), old_form, HeaderMap::new()).await).await;
    assert_eq!(s, 409);
    assert!(lock(&fake.seen).is_empty());
    assert!(
        html.contains("changed since this form was opened"),
        "{html}"
    );
    let again = form_of(&html);
    assert_eq!(
        (again["instances"].as_str(), again["cmd"].as_str()),
        ("7", "sleep 1")
    );
}

#[tokio::test]
async fn a_new_app_from_the_form_and_its_conflict_at_the_id() {
    let (ui, fake) = rig(json!({"id": "/other"}), &[]).await;
    let get = |path: &str| {
        axum::http::Request::get(path)
            .body(Body::empty())
            .expect("request")
    };
    let r = crate::router(ui.clone())
        .oneshot(get("/ui/apps/new"))
        .await
        .expect("answer");
    let (s, html, _) = text(r).await;
    assert_eq!(s, 200);
    assert!(html.contains("<h1>New app</h1>") && html.contains("<title>New app · Drover</title>"));
    let mut form = form_of(&html);
    form.insert("id".into(), "/ui-new".into());
    form.insert("cmd".into(), "sleep 1000".into());
    form.insert("labels".into(), "a=1".into());
    let post = |form: &HashMap<String, String>| {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{}={}", crate::table::encode(k), crate::table::encode(v)))
            .collect();
        axum::http::Request::post("/ui/apps/new")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.join("&")))
            .expect("request")
    };
    let (s, _, loc) = text(
        crate::router(ui.clone())
            .oneshot(post(&form))
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!((s, loc.as_deref()), (303, Some("/ui/apps/ui-new")));
    let (m, p, body) = lock(&fake.seen).remove(0);
    assert_eq!((m.as_str(), p.as_str()), ("POST", "/v2/apps"));
    assert_eq!(
        body,
        json!({"id": "/ui-new", "cmd": "sleep 1000", "cpus": 0.1, "mem": 128, "disk": 0,
            "instances": 1, "labels": {"a": "1"}})
    );
    *lock(&fake.answer) = Some((
        409,
        json!({"message": "An app with id [/ui-new] already exists."}),
    ));
    let (s, html, _) = text(
        crate::router(ui.clone())
            .oneshot(post(&form))
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(s, 409);
    assert!(
        html.contains(r#"aria-describedby="f-id-error f-id-hint" aria-invalid="true""#),
        "{html}"
    );
    assert!(html.contains("already exists"));
}

#[tokio::test]
async fn form_and_json_switch_carrying_the_values() {
    let (ui, fake) = rig(rich(), &[]).await;
    let (_, html, _) = text(
        edit_page(
            ui.clone(),
            "/prod/web".into(),
            HashMap::new(),
            HeaderMap::new(),
        )
        .await,
    )
    .await;
    let mut form = form_of(&html);
    form.insert("cmd".into(), "sleep 2".into());
    form.insert("action".into(), "to_json".into());
    let (s, html, _) =
        text(save_edit(ui.clone(), "/prod/web".into(), form, HeaderMap::new()).await).await;
    assert_eq!(s, 200);
    let mut json_form = form_of(&html);
    assert_eq!(json_form["mode"], "json");
    let typed: Value = serde_json::from_str(&json_form["json"]).expect("the textarea holds JSON");
    assert_eq!(typed["cmd"], "sleep 2");
    assert_eq!(typed["someFutureField"], json!({"a": [1, {"b": null}]}));
    // Edited as JSON, then back to the form: the form shows it.
    json_form.insert(
        "json".into(),
        json_form["json"].replace("\"mem\": 64.5", "\"mem\": 100"),
    );
    json_form.insert("action".into(), "to_form".into());
    let (_, html, _) = text(
        save_edit(
            ui.clone(),
            "/prod/web".into(),
            json_form.clone(),
            HeaderMap::new(),
        )
        .await,
    )
    .await;
    let back = form_of(&html);
    assert_eq!(
        (
            back["mode"].as_str(),
            back["mem"].as_str(),
            back["cmd"].as_str()
        ),
        ("form", "100", "sleep 2")
    );
    // Saved from JSON mode: what was typed, without what Marathon adds.
    json_form.insert("action".into(), "save".into());
    json_form.insert(
        "json".into(),
        json_form["json"].replacen('{', "{\"version\": \"x\", \"tasksRunning\": 3,", 1),
    );
    let (s, _, _) =
        text(save_edit(ui.clone(), "/prod/web".into(), json_form, HeaderMap::new()).await).await;
    assert_eq!(s, 303);
    let (_, _, body) = lock(&fake.seen).remove(0);
    assert_eq!(body["mem"], 100);
    assert!(body.get("version").is_none() && body.get("tasksRunning").is_none());
    // JSON that is not JSON stays in JSON mode, said at the textarea.
    let bad = HashMap::from([
        ("mode".to_string(), "json".to_string()),
        ("json".to_string(), "{\"id\": ".to_string()),
        ("action".to_string(), "to_form".to_string()),
    ]);
    let (s, html, _) =
        text(save_edit(ui.clone(), "/prod/web".into(), bad, HeaderMap::new()).await).await;
    assert_eq!(s, 422);
    assert!(
        html.contains(r#"aria-describedby="f-json-error f-json-hint" aria-invalid="true""#),
        "{html}"
    );
}

#[tokio::test]
async fn versions_show_the_diff_and_a_version_is_applied() {
    let v1 = "2026-12-04T09:00:00.000Z";
    let v2 = "2026-12-04T10:00:00.000Z";
    let mut old = rich();
    old["cmd"] = json!("sleep 1");
    old["version"] = json!(v1);
    let mut new = rich();
    new["cmd"] = json!("sleep 2");
    new["version"] = json!(v2);
    let (ui, fake) = rig(new.clone(), &[(v1, old.clone()), (v2, new.clone())]).await;
    let (s, html, _) = text(
        versions_page(
            ui.clone(),
            "/prod/web".into(),
            HashMap::new(),
            HeaderMap::new(),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{html}");
    assert!(
        html.contains(&format!("<h2 id=\"h-diff\">Changes from {v1} to {v2}</h2>")),
        "{html}"
    );
    assert!(html.contains(r#"<tr class="del"><td class="sign"><span aria-hidden="true">−</span><span class="vh">removed</span></td><td class="n">"#));
    assert!(
        html.contains("<code>  &#34;cmd&#34;: &#34;sleep 1&#34;,</code>"),
        "{html}"
    );
    assert!(html.contains("<code>  &#34;cmd&#34;: &#34;sleep 2&#34;,</code>"));
    assert!(
        !html.contains("versionInfo"),
        "bookkeeping is not part of the diff"
    );
    // The unchanged lines left out are said (a class of its own: `.skip` is the skip link's).
    assert!(
        html.contains(r#"<tr class="gap"><td colspan="4">⋯ "#),
        "{html}"
    );
    assert!(html.contains(&format!(
        "<button type=\"submit\">Apply this version ({v1})</button>"
    )));
    // Two versions named: that diff; the same one twice: none.
    let q = HashMap::from([
        ("a".to_string(), v2.to_string()),
        ("b".to_string(), v1.to_string()),
    ]);
    let (_, html, _) =
        text(versions_page(ui.clone(), "/prod/web".into(), q, HeaderMap::new()).await).await;
    assert!(html.contains(&format!("Changes from {v2} to {v1}")));

    let form = HashMap::from([("version".to_string(), v1.to_string())]);
    let (s, _, loc) =
        text(apply_version(ui.clone(), "/prod/web".into(), form, HeaderMap::new()).await).await;
    assert_eq!((s, loc.as_deref()), (303, Some("/ui/apps/prod/web")));
    let (m, p, body) = lock(&fake.seen).remove(0);
    assert_eq!(
        (m.as_str(), p.as_str()),
        ("PUT", "/v2/apps/prod/web?partialUpdate=false")
    );
    assert_eq!(body, spec::definition(&old));

    // A deployment in the way: said, with a way to force it.
    *lock(&fake.answer) = Some((
        409,
        json!({"message": "App is locked by one or more deployments."}),
    ));
    let form = HashMap::from([("version".to_string(), v1.to_string())]);
    let (s, html, _) =
        text(apply_version(ui.clone(), "/prod/web".into(), form, HeaderMap::new()).await).await;
    assert_eq!(s, 409);
    assert!(
        html.contains("App is locked")
            && html.contains(r#"<input type="hidden" name="force" value="true">"#)
    );
}

#[tokio::test]
async fn ids_that_are_not_marathons_never_reach_it() {
    let (ui, fake) = rig(rich(), &[]).await;
    for bad in ["../v2/x", "/a/../b", "/A", "/a?b", ""] {
        let (s, _, _) =
            text(edit_page(ui.clone(), bad.into(), HashMap::new(), HeaderMap::new()).await).await;
        assert_eq!(s, 404, "{bad}");
    }
    let form = HashMap::from([("version".to_string(), "../../x".to_string())]);
    let (s, _, _) =
        text(apply_version(ui.clone(), "/prod/web".into(), form, HeaderMap::new()).await).await;
    assert_eq!(s, 422);
    assert!(lock(&fake.seen).is_empty());
    assert_eq!(app_id("prod/web/"), Some("/prod/web".into()));
}
