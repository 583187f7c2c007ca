//! Repositories over HTTP, the unknown Marathon, and what the gateway serves of built-in
//! packages (CLI binaries, assets agents fetch).

use super::uninstall::framework_repo;
use super::*;

#[tokio::test]
async fn repositories_are_added_listed_deleted_and_kept() {
    let rig = rig().await;
    let r = rig.post("repository/list", 1, json!({})).await;
    assert_eq!(
        r.content_type,
        "application/vnd.dcos.package.repository.list-response+json;charset=utf-8;version=v1"
    );
    assert_eq!(
        r.body,
        json!({"repositories": [{"name": "Universe", "uri": "builtin:universe"}]})
    );
    let uri = framework_repo(rig.dir.path());
    // The dcos CLI sends the index as a string.
    let r = rig
        .post(
            "repository/add",
            1,
            json!({"name": "local", "uri": uri, "index": "0"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["repositories"][0]["name"], "local");
    rig.fails(
        "repository/add",
        1,
        json!({"name": "local", "uri": "http://x/"}),
        400,
        "RepositoryAlreadyPresent",
    )
    .await;
    assert_eq!(
        rig.post("search", 1, json!({"query": "fwpkg"})).await.body["packages"][0]["name"],
        "fwpkg"
    );

    // A new Cosmos on the same directory has the same list.
    let again = Cosmos::new(
        rig.dir.path().to_path_buf(),
        Arc::new(Fixed {
            marathon: None,
            master: None,
            assets: None,
        }),
    )
    .unwrap();
    let list = again.repository_list().await;
    assert_eq!(
        list["repositories"][0],
        json!({"name": "local", "uri": uri})
    );
    assert_eq!(list["repositories"][1]["name"], "Universe");

    let r = rig
        .post("repository/delete", 1, json!({"name": "Universe"}))
        .await;
    assert_eq!(r.body["repositories"].as_array().unwrap().len(), 1);
    rig.fails(
        "repository/delete",
        1,
        json!({"name": "Universe"}),
        400,
        "RepositoryNotPresent",
    )
    .await;
    rig.fails(
        "describe",
        3,
        json!({"packageName": "helloworld"}),
        400,
        "PackageNotFound",
    )
    .await;
    let again = Cosmos::new(
        rig.dir.path().to_path_buf(),
        Arc::new(Fixed {
            marathon: None,
            master: None,
            assets: None,
        }),
    )
    .unwrap();
    assert_eq!(
        again.repository_list().await["repositories"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn bad_repositories_are_refused_with_cosmos_errors() {
    let rig = rig().await;
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/repo", l.local_addr().unwrap())
    };
    let html = serve(Router::new().route(
        "/repo",
        get(|| async { ([("content-type", "text/html")], "<html>not a repo</html>") }),
    ))
    .await;
    let json_garbage =
        serve(Router::new().route("/repo", get(|| async { Json(json!({"pkgs": []})) }))).await;
    let missing = serve(Router::new()).await;
    let cases = [
        (down, 400, "RepositoryUriConnection"),
        (format!("{html}/repo"), 400, "UnsupportedContentType"),
        (format!("{json_garbage}/repo"), 400, "JsonDecodingError"),
        (format!("{missing}/repo"), 400, "UniverseClientHttpError"),
        ("http://".to_string(), 400, "RepositoryUriSyntax"),
        ("ftp://x/repo".to_string(), 400, "UnsupportedRepositoryUri"),
        (
            "file:///nonexistent/repo.json".to_string(),
            400,
            "RepositoryUriConnection",
        ),
    ];
    for (i, (uri, status, kind)) in cases.into_iter().enumerate() {
        rig.fails(
            "repository/add",
            1,
            json!({"name": format!("r{i}"), "uri": uri}),
            status,
            kind,
        )
        .await;
    }
    let r = rig.post("repository/list", 1, json!({})).await;
    assert_eq!(
        r.body["repositories"].as_array().unwrap().len(),
        1,
        "nothing was added"
    );
}

#[tokio::test]
async fn an_unknown_marathon_is_a_503_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cosmos = Cosmos::new(
        dir.path().to_path_buf(),
        Arc::new(Fixed {
            marathon: None,
            master: None,
            assets: None,
        }),
    )
    .unwrap();
    let rig = Rig {
        base: serve(router(Arc::new(cosmos))).await,
        marathon: String::new(),
        fake: Arc::default(),
        dir,
        http: drover_httpclient::client().unwrap(),
    };
    let e = rig
        .fails("list", 1, json!({}), 503, "ServiceUnavailable")
        .await;
    assert!(e["message"].as_str().unwrap().contains("[marathon]"), "{e}");
    rig.fails(
        "install",
        2,
        json!({"packageName": "helloworld"}),
        503,
        "ServiceUnavailable",
    )
    .await;
}

#[tokio::test]
async fn cli_binaries_are_served_where_describe_points() {
    let rig = rig().await;
    let v3 = rig
        .post("describe", 3, json!({"packageName": "drover"}))
        .await;
    let bin = &v3.body["package"]["resource"]["cli"]["binaries"]["linux"]["x86-64"];
    let url = bin["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!("{}/package/cli/drover/0.1.0/dcos-drover", rig.base)
    );
    let resp = rig
        .http
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap();
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(bin["contentHash"][0]["value"], hex);
    let install = rig
        .post("install", 2, json!({"packageName": "drover"}))
        .await;
    assert_eq!(install.status, 200, "{}", install.body);
    assert!(install.body.get("appId").is_none());
    assert_eq!(
        install.body["cli"]["binaries"]["linux"]["x86-64"]["url"],
        url
    );
    let resp = rig
        .http
        .get(format!("{}/package/cli/drover/0.1.0/nope", rig.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn resources_agents_fetch_are_at_the_advertised_origin_cli_binaries_at_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let marathon = fake_marathon(Arc::default()).await;
    let cosmos = Cosmos::new(
        dir.path().to_path_buf(),
        Arc::new(Fixed {
            marathon: Some(marathon.clone()),
            assets: Some("http://10.9.8.7:8000/".into()),
            ..Fixed::default()
        }),
    )
    .unwrap();
    let advertised = Rig {
        base: serve(router(Arc::new(cosmos))).await,
        marathon,
        fake: Arc::default(),
        dir,
        http: drover_httpclient::client().unwrap(),
    };
    let r = advertised
        .post("render", 1, json!({"packageName": "marathon"}))
        .await;
    assert_eq!(
        r.body["marathonJson"]["fetch"][0]["uri"], "http://10.9.8.7:8000/package/assets/drover",
        "{}",
        r.body
    );
    let install = advertised
        .post("install", 2, json!({"packageName": "drover"}))
        .await;
    assert_eq!(
        install.body["cli"]["binaries"]["linux"]["x86-64"]["url"],
        format!("{}/package/cli/drover/0.1.0/dcos-drover", advertised.base)
    );

    // Unknown, the client's Host is used.
    let rig = rig().await;
    let r = rig
        .post("render", 1, json!({"packageName": "marathon"}))
        .await;
    assert_eq!(
        r.body["marathonJson"]["fetch"][0]["uri"],
        format!("{}/package/assets/drover", rig.base)
    );
}
