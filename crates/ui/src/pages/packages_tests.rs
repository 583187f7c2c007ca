//! The packages pages against Drover's own Cosmos (its router on a loopback port, the built-in
//! repository) over a Marathon faked here (apps kept in a list), so install, list and
//! uninstall run end to end without a cluster or a browser.

use super::*;
use crate::live::Live;
use axum::body::Body;
use std::sync::Mutex;
use tower::ServiceExt;

type Apps = Arc<Mutex<Vec<Value>>>;

/// A Marathon answering what Cosmos asks of it: the apps, one app, create, delete.
async fn marathon(apps: Apps) -> String {
    use axum::extract::Path as P;
    let key = |id: &str| format!("/{}", id.trim_matches('/'));
    let a1 = apps.clone();
    let a2 = apps.clone();
    let a3 = apps.clone();
    let a4 = apps;
    let app = Router::new()
        .route(
            "/v2/apps",
            get(move || {
                let apps = a1.lock().unwrap().clone();
                async move { axum::Json(json!({ "apps": apps })) }
            })
            .post(move |axum::Json(app): axum::Json<Value>| {
                let mut apps = a2.lock().unwrap();
                let id = key(app["id"].as_str().unwrap_or_default());
                let answer = if apps.iter().any(|a| a["id"] == id) {
                    (
                        StatusCode::CONFLICT,
                        axum::Json(json!({"message": "exists"})),
                    )
                } else {
                    let mut app = app;
                    app["id"] = json!(id);
                    apps.push(app.clone());
                    (StatusCode::CREATED, axum::Json(app))
                };
                async move { answer }
            }),
        )
        .route(
            "/v2/apps/{*id}",
            get(move |P(id): P<String>| {
                let found = a3
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|a| a["id"] == key(&id))
                    .cloned();
                async move {
                    match found {
                        Some(app) => (StatusCode::OK, axum::Json(json!({ "app": app }))),
                        None => (
                            StatusCode::NOT_FOUND,
                            axum::Json(json!({"message": "no app"})),
                        ),
                    }
                }
            })
            .delete(move |P(id): P<String>| {
                a4.lock().unwrap().retain(|a| a["id"] != key(&id));
                async { axum::Json(json!({"deploymentId": "d1", "version": "v"})) }
            }),
        );
    serve(app).await
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

struct Upstream(String);

impl drover_cosmos::Upstreams for Upstream {
    fn marathon(&self) -> Option<String> {
        Some(self.0.clone())
    }
    fn master(&self) -> Option<String> {
        None
    }
}

struct Rig {
    ui: Arc<Ui>,
    apps: Apps,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let apps = Apps::default();
    let m = marathon(apps.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let cosmos =
        drover_cosmos::Cosmos::new(dir.path().to_path_buf(), Arc::new(Upstream(m))).unwrap();
    let gateway = serve(drover_cosmos::router(Arc::new(cosmos))).await;
    let ui = Ui::detached(Arc::new(Live::new("t".into())), vec![], gateway).unwrap();
    Rig {
        ui,
        apps,
        _dir: dir,
    }
}

/// POST a form through the UI's router: status, Location, body.
async fn post(ui: &Arc<Ui>, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let rq = axum::http::Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.join("&")))
        .unwrap();
    let resp = crate::router(ui.clone()).oneshot(rq).await.unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (
        status,
        location,
        String::from_utf8_lossy(&bytes).to_string(),
    )
}

/// The opening tag of the element with `id`.
fn tag<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id} in {html}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}

/// The id of the input named `name`.
fn id_of(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no control {name}"));
    let start = html[..at].rfind('<').unwrap();
    let t = &html[start..at];
    let i = t.find("id=\"").unwrap() + 4;
    t[i..i + t[i..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn the_catalogue_is_searched_by_cosmos_and_sorted_here() {
    let r = rig().await;
    let (s, html) = crate::testing::get(&r.ui, "/ui/packages").await;
    assert_eq!(s, 200, "{html}");
    for name in ["helloworld", "static-web", "marathon", "drover"] {
        assert!(
            html.contains(&format!("href=\"/ui/packages/{name}\"")),
            "{name}: {html}"
        );
    }
    assert!(html.contains("No package is installed."), "{html}");
    let (_, html) = crate::testing::get(&r.ui, "/ui/packages?q=static").await;
    assert!(html.contains("/ui/packages/static-web") && !html.contains("/ui/packages/helloworld"));
    let (_, html) = crate::testing::get(&r.ui, "/ui/packages?sort=name&dir=desc&per=1").await;
    assert!(html.contains("/ui/packages/static-web") && !html.contains("/ui/packages/drover\""));
    assert!(html.contains("rel=\"next\""), "paged: {html}");
}

#[tokio::test]
async fn a_package_page_has_its_facts_and_a_form_from_its_schema() {
    let r = rig().await;
    let (s, html) = crate::testing::get(&r.ui, "/ui/packages/helloworld").await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("drover@localhost"), "maintainer");
    let port = tag(&html, &id_of(&html, "options/port")).to_string();
    for attr in [
        "type=\"number\"",
        "min=\"1\"",
        "max=\"65535\"",
        "value=\"8080\"",
    ] {
        assert!(port.contains(attr), "{attr} in {port}");
    }
    assert!(html.contains("<label for=\"opt-1\">port"), "{html}");
    assert!(
        html.contains("&#34;port&#34;: 8080"),
        "the JSON box: {html}"
    );

    // Objects as fieldsets, a boolean as a checkbox, a default pre-filled.
    let (_, html) = crate::testing::get(&r.ui, "/ui/packages/static-web").await;
    assert!(html.contains("<legend>service</legend>") && html.contains("<legend>web</legend>"));
    let check = tag(&html, &id_of(&html, "options/web/health_check")).to_string();
    assert!(
        check.contains("type=\"checkbox\"") && check.contains(" checked"),
        "{check}"
    );
    assert!(tag(&html, &id_of(&html, "options/service/name")).contains("value=\"static-web\""));

    let (s, html) = crate::testing::get(&r.ui, "/ui/packages/no-such").await;
    assert_eq!(s, 404);
    assert!(html.contains("Package [no-such] not found"), "{html}");
}

#[tokio::test]
async fn install_from_the_form_lists_it_and_uninstall_removes_it() {
    let r = rig().await;
    let (s, to, html) = post(
        &r.ui,
        "/ui/packages/helloworld/install",
        &[
            ("packageVersion", "0.1.0"),
            ("appId", ""),
            ("extra", ""),
            ("options/port", "9123"),
            ("json", "{}"),
            ("mode", "form"),
        ],
    )
    .await;
    assert_eq!(s, 303, "{html}");
    assert_eq!(
        to,
        "/ui/packages?installed=/helloworld&package=helloworld#installed"
    );
    let app = r.apps.lock().unwrap()[0].clone();
    assert_eq!(app["portDefinitions"][0]["port"], 9123, "{app}");
    let (_, html) = crate::testing::get(&r.ui, &to).await;
    assert!(
        html.contains("Installed helloworld as the app /helloworld."),
        "{html}"
    );
    assert!(
        html.contains("helloworld is starting as the Marathon app"),
        "notes: {html}"
    );
    assert!(html.contains("href=\"/ui/apps/helloworld\""), "{html}");
    assert!(
        html.contains("action=\"/ui/packages/helloworld/uninstall\""),
        "{html}"
    );

    // Again: the app id is taken, said at its field.
    let (s, _, html) = post(
        &r.ui,
        "/ui/packages/helloworld/install",
        &[("options/port", "9124"), ("mode", "form")],
    )
    .await;
    assert_eq!(s, 409);
    let field = tag(&html, "app-id");
    assert!(
        field.contains("aria-invalid=\"true\"") && field.contains("app-id-err"),
        "{field}"
    );
    assert!(html.contains("Package is already installed"), "{html}");
    assert!(
        tag(&html, &id_of(&html, "options/port")).contains("value=\"9124\""),
        "kept"
    );

    // Uninstall: asked first (without the script), then done.
    let path = "/ui/packages/helloworld/uninstall";
    let (s, _, html) = post(&r.ui, path, &[("appId", "/helloworld"), ("confirmed", "")]).await;
    assert_eq!(s, 200);
    assert!(html.contains("name=\"confirmed\" value=\"yes\""), "{html}");
    assert_eq!(
        r.apps.lock().unwrap().len(),
        1,
        "not before it is confirmed"
    );
    let (s, to, _) = post(
        &r.ui,
        path,
        &[("appId", "/helloworld"), ("confirmed", "yes")],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(
        to,
        "/ui/packages?uninstalled=/helloworld&package=helloworld#installed"
    );
    assert!(r.apps.lock().unwrap().is_empty());
    let (_, html) = crate::testing::get(&r.ui, &to).await;
    assert!(html.contains("Uninstalled helloworld"), "{html}");
    assert!(html.contains("helloworld is uninstalled."), "notes: {html}");
    let (s, _, html) = post(
        &r.ui,
        path,
        &[("appId", "/helloworld"), ("confirmed", "yes")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        html.contains("was not uninstalled") && html.contains("not installed"),
        "{html}"
    );
}

#[tokio::test]
async fn cosmos_validation_errors_are_shown_at_their_fields() {
    let r = rig().await;
    // JSON mode: a string where an integer goes; Cosmos' report names /port.
    let (s, _, html) = post(
        &r.ui,
        "/ui/packages/helloworld/install",
        &[
            ("options/port", "8080"),
            ("json", "{\"port\": \"abc\"}"),
            ("mode", "json"),
        ],
    )
    .await;
    assert_eq!(s, 422, "{html}");
    let id = id_of(&html, "options/port");
    let port = tag(&html, &id).to_string();
    assert!(port.contains("aria-invalid=\"true\""), "{port}");
    assert!(
        port.contains(&format!("aria-describedby=\"{id}-hint {id}-err\"")),
        "{port}"
    );
    assert!(
        port.contains("value=\"abc\"") && port.contains("type=\"text\""),
        "{port}"
    );
    assert!(tag(&html, &format!("{id}-err")).starts_with("<p class=\"field-error\""));
    assert!(
        html.contains("instance type (string) does not match"),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"#{id}\"")),
        "the summary links to it"
    );
    assert!(
        html.contains("{&#34;port&#34;: &#34;abc&#34;}"),
        "the JSON as typed"
    );
    assert!(
        html.contains("<details class=\"json-mode\" open>"),
        "{html}"
    );

    // The form: beyond the maximum (Cosmos' report), not a number (never sent).
    let (s, _, html) = post(
        &r.ui,
        "/ui/packages/helloworld/install",
        &[("options/port", "70000"), ("mode", "form")],
    )
    .await;
    assert_eq!(s, 422);
    assert!(html.contains("greater than the required maximum"), "{html}");
    assert!(tag(&html, &id_of(&html, "options/port")).contains("aria-invalid"));
    let (s, _, html) = post(
        &r.ui,
        "/ui/packages/helloworld/install",
        &[("options/port", "abc"), ("mode", "form")],
    )
    .await;
    assert_eq!(s, 422);
    assert!(html.contains("“abc” is not a number"), "{html}");
    // Options the schema refuses as a whole go to the JSON box.
    let (s, _, html) = post(
        &r.ui,
        "/ui/packages/helloworld/install",
        &[("json", "{\"prot\": 1}"), ("mode", "json")],
    )
    .await;
    assert_eq!(s, 422);
    assert!(
        tag(&html, "options-json").contains("aria-invalid=\"true\""),
        "{html}"
    );
    let (s, _, html) = post(
        &r.ui,
        "/ui/packages/helloworld/install",
        &[("json", "[1"), ("mode", "json")],
    )
    .await;
    assert_eq!(s, 422);
    assert!(html.contains("not valid JSON"), "{html}");
    assert!(r.apps.lock().unwrap().is_empty(), "nothing was installed");
}

#[tokio::test]
async fn without_cosmos_the_pages_say_so() {
    let ui = crate::testing::ui_with(&[]);
    let (s, html) = crate::testing::get(&ui, "/ui/packages").await;
    assert_eq!(s, 200);
    assert!(html.contains("The catalogue could not be read"), "{html}");
    let (s, _) = crate::testing::get(&ui, "/ui/packages/helloworld").await;
    assert_eq!(s, 502);
}

#[test]
fn media_types_are_cosmos_own() {
    assert_eq!(
        cosmos::media("describe-response", 3),
        "application/vnd.dcos.package.describe-response+json;charset=utf-8;version=v3"
    );
}

#[tokio::test]
async fn a_form_larger_than_the_limit_is_refused_before_cosmos_is_asked() {
    let r = rig().await;
    let big = "x".repeat(MAX_FORM + 1);
    let (s, _, _) = post(
        &r.ui,
        "/ui/packages/helloworld/install",
        &[("json", &big), ("mode", "json")],
    )
    .await;
    assert_eq!(s, 413);
    assert!(r.apps.lock().unwrap().is_empty());
}

#[test]
fn a_form_is_read_in_its_mode_and_a_refusal_placed_where_it_belongs() {
    let schema = json!({"properties": {"port": {"type": "integer", "default": 8080}}});
    let form = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // JSON mode: the box, whatever the fields say; the defaults under it for the form.
    let a = asked(
        &schema,
        &form(&[
            ("options/port", "1"),
            ("json", "{\"x\": 2}"),
            ("mode", "json"),
        ]),
    );
    assert_eq!(Value::Object(a.options), json!({"x": 2}));
    assert_eq!(Value::Object(a.current), json!({"port": 8080, "x": 2}));
    assert_eq!(a.json.as_deref(), Some("{\"x\": 2}"));
    for (typed, want) in [
        ("[1]", Some("the options must be a JSON object")),
        ("null", Some("the options must be a JSON object")),
        ("{", None),
        ("  ", None),
    ] {
        let a = asked(&schema, &form(&[("json", typed), ("mode", "json")]));
        match (want, typed.trim().is_empty()) {
            (Some(w), _) => assert_eq!(a.errors[""], [w], "{typed}"),
            (None, true) => assert!(a.errors.is_empty() && a.options.is_empty()),
            (None, false) => assert!(a.errors[""][0].starts_with("not valid JSON"), "{typed}"),
        }
    }
    // Form mode (the default): the fields.
    let a = asked(&schema, &form(&[("options/port", "9"), ("json", "{}")]));
    assert_eq!(Value::Object(a.options), json!({"port": 9}));
    assert!(a.json.is_none());

    let refusal = |kind: &str, status: u16, data: Value| Refusal {
        status,
        kind: kind.into(),
        message: format!("{kind} said"),
        data,
    };
    let r = refused(
        &schema,
        &refusal("PackageAlreadyInstalled", 409, Value::Null),
    );
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r
        .app_id_error
        .is_some_and(|e| e.starts_with("PackageAlreadyInstalled said")));
    let r = refused(&schema, &refusal("InvalidAppId", 400, Value::Null));
    assert!(r.app_id_error.is_some() && r.problem.is_none());
    let r = refused(&schema, &refusal("ServiceUnavailable", 503, Value::Null));
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.problem.as_deref(),
        Some("ServiceUnavailable said (ServiceUnavailable)")
    );
    let data = json!({"errors": [{"instance": {"pointer": "/port"}, "message": "bad"}]});
    let r = refused(&schema, &refusal("JsonSchemaMismatch", 400, data));
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.errors["/port"], ["bad"]);
}
