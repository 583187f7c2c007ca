//! Uninstall over HTTP against the fake Marathon and master: the app goes, and the package's
//! framework (the app's own, chosen before the delete; never the cluster's Marathon) is torn down.

use super::*;

/// A repository on disk with one framework package, whose app names its framework.
pub(super) fn framework_repo(dir: &std::path::Path) -> String {
    let template = r#"{"id": "/fwpkg", "cmd": "sleep 1000", "labels": {"DCOS_PACKAGE_FRAMEWORK_NAME": "{{framework-name}}"}}"#;
    let repo = json!({"packages": [{
        "packagingVersion": "4.0", "name": "fwpkg", "version": "1.0", "releaseVersion": 3,
        "maintainer": "m", "description": "a framework", "tags": [], "framework": true,
        "postUninstallNotes": "gone",
        "config": {"type": "object", "properties": {"framework-name": {"type": "string", "default": "fw"}}},
        "marathon": {"v2AppMustacheTemplate": base64::engine::general_purpose::STANDARD.encode(template)}
    }]});
    let path = dir.join("repo.json");
    std::fs::write(&path, repo.to_string()).unwrap();
    format!("file://{}", path.display())
}

#[tokio::test]
async fn uninstall_deletes_the_app_and_tears_its_framework_down() {
    let rig = rig().await;
    let uri = framework_repo(rig.dir.path());
    let r = rig
        .post("repository/add", 1, json!({"name": "local", "uri": uri}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = rig
        .post("install", 2, json!({"packageName": "fwpkg"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    {
        let mut f = lock(&rig.fake);
        f.apps
            .push(json!({"id": "/unrelated", "labels": {"DCOS_PACKAGE_FRAMEWORK_NAME": "fw"}}));
        f.frameworks = vec![
            json!({"id": "fw-0001", "name": "fw"}),
            json!({"id": "m-1", "name": "marathon"}),
        ];
    }
    rig.fails(
        "uninstall",
        1,
        json!({"packageName": "nope"}),
        400,
        "PackageNotInstalled",
    )
    .await;
    let r = rig
        .post("uninstall", 1, json!({"packageName": "fwpkg"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"results": [{"packageName": "fwpkg", "appId": "/fwpkg", "packageVersion": "1.0", "postUninstallNotes": "gone"}]})
    );
    let f = lock(&rig.fake);
    assert_eq!(f.teardowns, vec!["frameworkId=fw-0001"]);
    let deletes: Vec<&String> = f.calls.iter().filter(|c| c.starts_with("DELETE")).collect();
    assert_eq!(deletes, vec!["DELETE /v2/apps/fwpkg?force=true"]);
    let ids: Vec<&str> = f.apps.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["/unrelated"]);
}

#[tokio::test]
async fn uninstall_tears_down_the_apps_own_framework_chosen_before_the_app_is_deleted() {
    let rig = rig().await;
    let uri = framework_repo(rig.dir.path());
    rig.post("repository/add", 1, json!({"name": "local", "uri": uri}))
        .await;
    let r = rig
        .post("install", 2, json!({"packageName": "fwpkg"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cluster_marathon = rig.marathon.clone();
    {
        let mut f = lock(&rig.fake);
        f.apps[0]["tasks"] = json!([{"host": "10.0.0.2", "ports": [31000]}]);
        f.frameworks = vec![
            json!({"id": "other", "name": "fw", "webui_url": "http://10.0.0.3:31000"}),
            json!({"id": "ours", "name": "fw", "webui_url": "http://10.0.0.2:31000"}),
            json!({"id": "cluster", "name": "fw", "webui_url": cluster_marathon}),
        ];
        f.calls.clear();
    }
    let r = rig
        .post("uninstall", 1, json!({"packageName": "fwpkg"}))
        .await;
    assert_eq!(
        r.body,
        json!({"results": [{"packageName": "fwpkg", "appId": "/fwpkg", "packageVersion": "1.0", "postUninstallNotes": "gone"}]})
    );
    let f = lock(&rig.fake);
    assert_eq!(f.teardowns, vec!["frameworkId=ours"]);
    let order: Vec<&str> = f
        .calls
        .iter()
        .map(String::as_str)
        .filter(|c| c.contains("fwpkg"))
        .collect();
    assert_eq!(
        order,
        vec![
            "GET /v2/apps/fwpkg/tasks",
            "DELETE /v2/apps/fwpkg?force=true"
        ]
    );
}

#[tokio::test]
async fn uninstall_never_tears_down_the_clusters_marathon_and_keeps_cosmos_errors() {
    let rig = rig().await;
    let uri = framework_repo(rig.dir.path());
    rig.post("repository/add", 1, json!({"name": "local", "uri": uri}))
        .await;
    let install =
        |id: &'static str| rig.post("install", 2, json!({"packageName": "fwpkg", "appId": id}));
    assert_eq!(install("/one").await.status, 200);
    // Only the cluster's Marathon has the name (its webui_url is where Cosmos reaches it).
    lock(&rig.fake).frameworks =
        vec![json!({"id": "cluster", "name": "fw", "webui_url": format!("{}/", rig.marathon)})];
    let r = rig
        .post("uninstall", 1, json!({"packageName": "fwpkg"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(lock(&rig.fake).teardowns.is_empty());

    // Several of the name and no task of the app serving one: MultipleFrameworkIds, as Cosmos
    // says it (after the app is deleted).
    assert_eq!(install("/two").await.status, 200);
    lock(&rig.fake).frameworks = vec![
        json!({"id": "f1", "name": "fw", "webui_url": "http://10.0.0.3:1"}),
        json!({"id": "f2", "name": "fw"}),
    ];
    let e = rig
        .fails(
            "uninstall",
            1,
            json!({"packageName": "fwpkg"}),
            400,
            "MultipleFrameworkIds",
        )
        .await;
    assert_eq!(e["data"]["ids"], json!(["f1", "f2"]));
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Uninstalled package [fwpkg] version [1.0]\nUnable to shutdown"),
        "{e}"
    );
    assert!(lock(&rig.fake).apps.is_empty());
    assert!(lock(&rig.fake).teardowns.is_empty());
}

#[tokio::test]
async fn several_apps_are_ambiguous_unless_all_or_one_is_named() {
    let rig = rig().await;
    for id in ["/a", "/b"] {
        let r = rig
            .post(
                "install",
                2,
                json!({"packageName": "helloworld", "appId": id}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let e = rig
        .fails(
            "uninstall",
            1,
            json!({"packageName": "helloworld"}),
            400,
            "AmbiguousAppId",
        )
        .await;
    assert_eq!(e["data"]["appIds"], json!(["/a", "/b"]));
    let r = rig
        .post(
            "uninstall",
            1,
            json!({"packageName": "helloworld", "appId": "b"}),
        )
        .await;
    assert_eq!(r.body["results"][0]["appId"], "/b");
    rig.post(
        "install",
        2,
        json!({"packageName": "helloworld", "appId": "/c"}),
    )
    .await;
    let r = rig
        .post(
            "uninstall",
            1,
            json!({"packageName": "helloworld", "all": true}),
        )
        .await;
    assert_eq!(r.body["results"].as_array().unwrap().len(), 2);
    assert!(lock(&rig.fake).apps.is_empty());
    assert!(
        lock(&rig.fake).teardowns.is_empty(),
        "helloworld is no framework"
    );
}
