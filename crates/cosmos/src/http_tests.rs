//! The router over HTTP, as the `dcos` CLI calls it (its media types, its bodies), against a fake
//! Marathon and a fake master serving on 127.0.0.1.

use super::router;
use crate::service::Cosmos;
use crate::upstream::Upstreams;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// What the fakes hold and were asked.
#[derive(Default)]
struct Fake {
    apps: Vec<Value>,
    /// `METHOD /path?query`, in order.
    calls: Vec<String>,
    frameworks: Vec<Value>,
    teardowns: Vec<String>,
}

type Shared = Arc<Mutex<Fake>>;

fn lock(f: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    f.lock().unwrap_or_else(|p| p.into_inner())
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// Marathon: apps by id; `/racy` is never found by GET but conflicts on POST; `/bad` is refused;
/// `/lost` is made but its answer lost (the connection dropped); so is `/stolen`'s, where another
/// install's app of that id is found.
async fn fake_marathon(fake: Shared) -> String {
    async fn list(State(f): State<Shared>) -> Json<Value> {
        let mut f = lock(&f);
        f.calls.push("GET /v2/apps".into());
        Json(json!({ "apps": f.apps }))
    }
    async fn one(State(f): State<Shared>, Path(id): Path<String>) -> (StatusCode, Json<Value>) {
        let mut f = lock(&f);
        if let Some(app) = id.strip_suffix("/tasks") {
            let app = format!("/{app}");
            f.calls.push(format!("GET /v2/apps{app}/tasks"));
            return match f.apps.iter().find(|a| a["id"] == app.as_str()) {
                Some(a) => (
                    StatusCode::OK,
                    Json(json!({"tasks": a.get("tasks").cloned().unwrap_or(json!([]))})),
                ),
                None => (
                    StatusCode::NOT_FOUND,
                    Json(json!({"message": "no such app"})),
                ),
            };
        }
        let id = format!("/{id}");
        match f
            .apps
            .iter()
            .find(|a| a["id"] == id.as_str() && id != "/racy")
        {
            Some(a) => (StatusCode::OK, Json(json!({ "app": a }))),
            None => (
                StatusCode::NOT_FOUND,
                Json(json!({"message": format!("App '{id}' does not exist")})),
            ),
        }
    }
    async fn create(State(f): State<Shared>, Json(app): Json<Value>) -> (StatusCode, Json<Value>) {
        let mut f = lock(&f);
        f.calls.push("POST /v2/apps".into());
        let id = app["id"].as_str().unwrap_or_default().to_string();
        if id == "/racy" || f.apps.iter().any(|a| a["id"] == id.as_str()) {
            return (
                StatusCode::CONFLICT,
                Json(json!({"message": format!("An app with id [{id}] already exists.")})),
            );
        }
        if id == "/bad" {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(
                    json!({"message": "Object is not valid", "details": [{"path": "/cpus", "errors": ["got -1, expected 0 or more"]}]}),
                ),
            );
        }
        if id == "/stolen" {
            let mut theirs = app.clone();
            theirs["labels"]["DROVER_PACKAGE_INSTALL_ID"] = json!("another install");
            f.apps.push(theirs);
        } else {
            f.apps.push(app.clone());
        }
        if id == "/lost" || id == "/stolen" {
            drop(f);
            // Drops the connection: the answer is lost.
            std::panic::resume_unwind(Box::new("the answer is lost"));
        }
        let mut out = app;
        out["deployments"] = json!([{"id": "d1"}]);
        (StatusCode::CREATED, Json(out))
    }
    async fn delete(
        State(f): State<Shared>,
        Path(id): Path<String>,
        axum::extract::RawQuery(q): axum::extract::RawQuery,
    ) -> (StatusCode, Json<Value>) {
        let mut f = lock(&f);
        let id = format!("/{id}");
        f.calls
            .push(format!("DELETE /v2/apps{id}?{}", q.unwrap_or_default()));
        let before = f.apps.len();
        f.apps.retain(|a| a["id"] != id.as_str());
        if f.apps.len() == before {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"message": "no such app"})),
            );
        }
        (
            StatusCode::OK,
            Json(json!({"deploymentId": "d2", "version": "v"})),
        )
    }
    serve(
        Router::new()
            .route("/v2/apps", get(list).post(create))
            .route("/v2/apps/{*id}", get(one).delete(delete))
            .with_state(fake),
    )
    .await
}

async fn fake_master(fake: Shared) -> String {
    async fn state(State(f): State<Shared>) -> Json<Value> {
        let f = lock(&f);
        Json(json!({"frameworks": f.frameworks, "completed_frameworks": []}))
    }
    async fn teardown(State(f): State<Shared>, body: String) -> StatusCode {
        lock(&f).teardowns.push(body);
        StatusCode::OK
    }
    serve(
        Router::new()
            .route("/master/state", get(state))
            .route("/master/teardown", post(teardown))
            .with_state(fake),
    )
    .await
}

#[derive(Default)]
struct Fixed {
    marathon: Option<String>,
    master: Option<String>,
    assets: Option<String>,
}

impl Upstreams for Fixed {
    fn marathon(&self) -> Option<String> {
        self.marathon.clone()
    }
    fn master(&self) -> Option<String> {
        self.master.clone()
    }
    fn asset_origin(&self) -> Option<String> {
        self.assets.clone()
    }
}

/// Cosmos with its own state directory, a fake Marathon and master, served.
struct Rig {
    base: String,
    /// The fake Marathon's base URL, as the Upstreams give it.
    marathon: String,
    fake: Shared,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

async fn rig() -> Rig {
    let fake: Shared = Arc::default();
    let marathon = fake_marathon(fake.clone()).await;
    let master = fake_master(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let upstreams = Arc::new(Fixed {
        marathon: Some(marathon.clone()),
        master: Some(master),
        assets: None,
    });
    let cosmos = Cosmos::new(dir.path().to_path_buf(), upstreams).unwrap();
    let base = serve(router(Arc::new(cosmos))).await;
    Rig {
        base,
        marathon,
        fake,
        dir,
        http: drover_httpclient::client().unwrap(),
    }
}

struct Reply {
    status: u16,
    content_type: String,
    body: Value,
}

impl Rig {
    /// `POST /package/<ep>` as the dcos CLI sends it, asking for response version `v`.
    async fn post(&self, ep: &str, v: u8, body: Value) -> Reply {
        let kind = ep.replace('/', ".");
        let resp = self
            .http
            .post(format!("{}/package/{ep}", self.base))
            .header(
                "Content-Type",
                format!(
                    "application/vnd.dcos.package.{kind}-request+json;charset=utf-8;version=v1"
                ),
            )
            .header(
                "Accept",
                format!(
                    "application/vnd.dcos.package.{kind}-response+json;charset=utf-8;version=v{v}"
                ),
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|c| c.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// A Cosmos error answer of class `kind` and status `status`.
    async fn fails(&self, ep: &str, v: u8, body: Value, status: u16, kind: &str) -> Value {
        let r = self.post(ep, v, body.clone()).await;
        assert_eq!(
            (r.status, r.body["type"].as_str()),
            (status, Some(kind)),
            "{ep} {body}: {}",
            r.body
        );
        assert_eq!(r.content_type, crate::media::ERROR);
        r.body
    }
}

const ERROR_TYPE: &str = "application/vnd.dcos.package.error+json;charset=utf-8;version=v1";

#[tokio::test]
async fn capabilities_and_media_types_are_exact() {
    let rig = rig().await;
    let resp = rig
        .http
        .get(format!("{}/capabilities", rig.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.dcos.capabilities+json;charset=utf-8;version=v1"
    );
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"capabilities": [{"name": "PACKAGE_MANAGEMENT"}, {"name": "METRONOME"}]})
    );

    let r = rig.post("search", 1, json!({"query": "hello"})).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.content_type,
        "application/vnd.dcos.package.search-response+json;charset=utf-8;version=v1"
    );
    assert_eq!(r.body["packages"][0]["name"], "helloworld");

    let v3 = rig
        .post("describe", 3, json!({"packageName": "helloworld"}))
        .await;
    assert_eq!(
        v3.content_type,
        "application/vnd.dcos.package.describe-response+json;charset=utf-8;version=v3"
    );
    assert_eq!(v3.body["package"]["name"], "helloworld");
    assert_eq!(v3.body["package"]["releaseVersion"], 0);
    let v2 = rig
        .post("describe", 2, json!({"packageName": "helloworld"}))
        .await;
    assert_eq!(
        v2.content_type,
        "application/vnd.dcos.package.describe-response+json;charset=utf-8;version=v2"
    );
    assert_eq!(v2.body["name"], "helloworld");
    assert!(v2.body.get("package").is_none());
    assert!(v2.body["marathon"]["v2AppMustacheTemplate"].is_string());
    let v1 = rig
        .fails(
            "describe",
            1,
            json!({"packageName": "helloworld"}),
            400,
            "UnsupportedContentType",
        )
        .await;
    assert!(
        v1["message"].as_str().unwrap().contains("version=v3"),
        "{v1}"
    );

    rig.fails(
        "describe",
        3,
        json!({"packageName": "nope"}),
        400,
        "PackageNotFound",
    )
    .await;
    rig.fails(
        "describe",
        3,
        json!({"packageName": "helloworld", "packageVersion": "9"}),
        400,
        "VersionNotFound",
    )
    .await;
    rig.fails(
        "describe",
        3,
        json!({"name": "x"}),
        400,
        "JsonDecodingError",
    )
    .await;
    let versions = rig
        .post(
            "list-versions",
            1,
            json!({"packageName": "helloworld", "includePackageVersions": true}),
        )
        .await;
    assert_eq!(versions.body, json!({"results": {"0.1.0": "0"}}));

    let r = rig
        .http
        .post(format!("{}/cosmos/service/describe", rig.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], ERROR_TYPE);
    assert_eq!(r.json::<Value>().await.unwrap()["type"], "NotImplemented");
}

#[tokio::test]
async fn install_creates_a_labelled_app_once() {
    let rig = rig().await;
    let r = rig.post("render", 1, json!({"packageName": "helloworld", "packageVersion": "0.1.0", "options": {"port": 9000}})).await;
    assert_eq!(r.body["marathonJson"]["portDefinitions"][0]["port"], 9000);
    assert!(r.body["marathonJson"]["labels"]
        .get("DROVER_PACKAGE_INSTALL_ID")
        .is_none());
    assert!(lock(&rig.fake).apps.is_empty(), "render creates nothing");

    let r = rig
        .post(
            "install",
            2,
            json!({"packageName": "helloworld", "packageVersion": "0.1.0", "options": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.content_type,
        "application/vnd.dcos.package.install-response+json;charset=utf-8;version=v2"
    );
    assert_eq!(r.body["appId"], "/helloworld");
    assert_eq!(r.body["packageVersion"], "0.1.0");
    assert!(r.body["postInstallNotes"].is_string());
    {
        let f = lock(&rig.fake);
        let app = &f.apps[0];
        assert_eq!(app["id"], "/helloworld");
        assert_eq!(app["portDefinitions"][0]["port"], 8080);
        let labels = &app["labels"];
        assert_eq!(labels["DCOS_PACKAGE_NAME"], "helloworld");
        assert_eq!(labels["DCOS_PACKAGE_VERSION"], "0.1.0");
        assert_eq!(labels["DCOS_PACKAGE_SOURCE"], "builtin:universe");
        assert!(labels["DCOS_PACKAGE_DEFINITION"].is_string());
        let nonce = labels["DROVER_PACKAGE_INSTALL_ID"].as_str().unwrap();
        assert_eq!(nonce.len(), 32, "{nonce}");
        let options = base64::engine::general_purpose::STANDARD
            .decode(labels["DCOS_PACKAGE_OPTIONS"].as_str().unwrap())
            .unwrap();
        assert_eq!(options, b"{}");
    }
    rig.fails(
        "install",
        2,
        json!({"packageName": "helloworld"}),
        409,
        "PackageAlreadyInstalled",
    )
    .await;
    // Marathon's own conflict (the app appeared after the check).
    rig.fails(
        "install",
        2,
        json!({"packageName": "helloworld", "appId": "/racy"}),
        409,
        "PackageAlreadyInstalled",
    )
    .await;
    let bad = rig
        .fails(
            "install",
            1,
            json!({"packageName": "helloworld", "appId": "bad"}),
            400,
            "MarathonBadResponse",
        )
        .await;
    assert_eq!(
        bad["data"]["errors"][0]["errors"][0],
        "got -1, expected 0 or more"
    );
    assert_eq!(lock(&rig.fake).apps.len(), 1);

    let v1 = rig
        .post(
            "install",
            1,
            json!({"packageName": "helloworld", "appId": "/hw2"}),
        )
        .await;
    assert_eq!(
        v1.content_type,
        "application/vnd.dcos.package.install-response+json;charset=utf-8;version=v1"
    );
    assert_eq!(
        v1.body,
        json!({"packageName": "helloworld", "packageVersion": "0.1.0", "appId": "/hw2"})
    );
}

#[tokio::test]
async fn an_install_whose_answer_is_lost_removes_only_its_own_app() {
    let rig = rig().await;
    let e = rig
        .fails(
            "install",
            2,
            json!({"packageName": "helloworld", "appId": "/lost"}),
            503,
            "ServiceUnavailable",
        )
        .await;
    assert!(e["message"].as_str().unwrap().contains("[marathon]"), "{e}");
    {
        let f = lock(&rig.fake);
        assert!(f.apps.is_empty(), "{:?}", f.apps);
        assert!(
            f.calls
                .contains(&"DELETE /v2/apps/lost?force=true".to_string()),
            "{:?}",
            f.calls
        );
    }
    rig.fails(
        "install",
        2,
        json!({"packageName": "helloworld", "appId": "/stolen"}),
        503,
        "ServiceUnavailable",
    )
    .await;
    let f = lock(&rig.fake);
    assert_eq!(f.apps.len(), 1);
    assert_eq!(
        f.apps[0]["labels"]["DROVER_PACKAGE_INSTALL_ID"],
        "another install"
    );
    assert!(
        !f.calls
            .iter()
            .any(|c| c.starts_with("DELETE /v2/apps/stolen")),
        "{:?}",
        f.calls
    );
}

#[tokio::test]
async fn app_ids_outside_marathons_grammar_are_refused_before_marathon_is_asked() {
    let rig = rig().await;
    for id in ["../groups/prod", "/a/./b", "Web", "a?force=true"] {
        let e = rig
            .fails(
                "install",
                2,
                json!({"packageName": "helloworld", "appId": id}),
                400,
                "InvalidAppId",
            )
            .await;
        assert_eq!(e["data"]["appId"], id);
        assert!(e["message"].as_str().unwrap().contains("appId"), "{e}");
        rig.fails(
            "render",
            1,
            json!({"packageName": "helloworld", "appId": id}),
            400,
            "InvalidAppId",
        )
        .await;
    }
    assert!(lock(&rig.fake).calls.is_empty());
}

#[tokio::test]
async fn options_breaking_the_schema_name_the_field_and_install_nothing() {
    let rig = rig().await;
    let body = rig
        .fails(
            "install",
            2,
            json!({"packageName": "helloworld", "options": {"port": "eighty"}}),
            400,
            "JsonSchemaMismatch",
        )
        .await;
    let e = &body["data"]["errors"][0];
    assert_eq!(e["instance"]["pointer"], "/port");
    assert_eq!(e["found"], "string");
    assert_eq!(e["expected"], json!(["integer"]));
    let body = rig
        .fails(
            "render",
            1,
            json!({"packageName": "helloworld", "options": {"prot": 1}}),
            400,
            "JsonSchemaMismatch",
        )
        .await;
    assert_eq!(body["data"]["errors"][0]["unwanted"], json!(["prot"]));
    assert!(lock(&rig.fake).calls.iter().all(|c| !c.starts_with("POST")));
}

#[tokio::test]
async fn list_reads_packages_back_from_marathon() {
    let rig = rig().await;
    rig.post("install", 2, json!({"packageName": "helloworld"}))
        .await;
    lock(&rig.fake)
        .apps
        .push(json!({"id": "/unrelated", "labels": {}}));
    let r = rig.post("list", 1, json!({})).await;
    assert_eq!(
        r.content_type,
        "application/vnd.dcos.package.list-response+json;charset=utf-8;version=v1"
    );
    let packages = r.body["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 1, "{}", r.body);
    assert_eq!(packages[0]["appId"], "/helloworld");
    let def = &packages[0]["packageInformation"]["packageDefinition"];
    assert_eq!(
        (def["name"].as_str(), def["version"].as_str()),
        (Some("helloworld"), Some("0.1.0"))
    );
    assert_eq!(
        rig.post("list", 1, json!({"packageName": "static-web"}))
            .await
            .body,
        json!({"packages": []})
    );
}

#[path = "http_tests/repositories.rs"]
mod repositories;
#[path = "http_tests/uninstall.rs"]
mod uninstall;
