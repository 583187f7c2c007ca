//! Marathon apps that run Docker images: bridge networking with a port mapping drawn from the
//! offer, a health check through the mapped port, scale, rolling restart and removal.

mod common;
use common::dockerimage::*;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn until(up: &Up, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out: {what}\n{}", up.log());
}

/// Removes this test's containers (labelled with its work dir) however the test ends.
struct Sweep(String);

impl Drop for Sweep {
    fn drop(&mut self) {
        let out = std::process::Command::new("curl")
            .args(["-s", "--unix-socket", SOCKET, "http://localhost/containers/json?all=1&filters=%7B%22label%22%3A%5B%22drover.work_dir%22%5D%7D"])
            .output();
        let list: Value = out
            .ok()
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or(json!([]));
        for c in list.as_array().cloned().unwrap_or_default() {
            if c["Labels"]["drover.work_dir"]
                .as_str()
                .map(|w| w.starts_with(&self.0))
                .unwrap_or(false)
            {
                let id = c["Id"].as_str().unwrap_or_default();
                let _ = std::process::Command::new("curl")
                    .args([
                        "-s",
                        "-X",
                        "DELETE",
                        "--unix-socket",
                        SOCKET,
                        &format!("http://localhost/containers/{id}?force=true"),
                    ])
                    .output();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_app_with_bridge_port_mapping_is_healthy_scales_restarts_and_goes_away() {
    let d = engine().await;
    let image = test_image(&d).await;
    let up = tokio::task::spawn_blocking(|| Up::start_with_marathon(1, &[]))
        .await
        .unwrap();
    let _sweep = Sweep(up.dir.path().display().to_string());
    let m = up.marathon.clone();
    let app = json!({
        "id": "/docker/web", "instances": 2, "cpus": 0.1, "mem": 32,
        "cmd": "mkdir -p /www && echo hello-from-docker > /www/index.html && exec httpd -f -p 80 -h /www",
        "container": {"type": "DOCKER", "docker": {"image": image}, "portMappings": [{"containerPort": 80, "hostPort": 0, "name": "http"}]},
        "networks": [{"mode": "container/bridge"}],
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30, "intervalSeconds": 1, "timeoutSeconds": 2}],
    });
    let (code, body) = call("POST", &format!("http://{m}/v2/apps"), Some(&app));
    assert_eq!(code, 201, "{body}");
    let m2 = m.clone();
    tokio::task::spawn_blocking(move || {
        let get = || call("GET", &format!("http://{m2}/v2/apps/docker/web"), None).1["app"].clone();
        until(&up, "2 healthy containers", || get()["tasksHealthy"] == 2);
        // The mapped host port serves the container's port 80.
        let task = get()["tasks"][0].clone();
        let port = task["ports"][0].as_u64().unwrap();
        let page = std::process::Command::new("curl").args(["-s", &format!("http://127.0.0.1:{port}/")]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&page.stdout).trim(), "hello-from-docker");
        // Scale and restart like any app.
        assert_eq!(call("PUT", &format!("http://{m2}/v2/apps/docker/web"), Some(&json!({"instances": 3}))).0, 200);
        until(&up, "3 healthy", || get()["tasksHealthy"] == 3 && get()["deployments"].as_array().map(|a| a.is_empty()).unwrap_or(false));
        let before: Vec<Value> = get()["tasks"].as_array().unwrap().iter().map(|t| t["id"].clone()).collect();
        assert_eq!(call("POST", &format!("http://{m2}/v2/apps/docker/web/restart"), None).0, 200);
        until(&up, "restarted", || {
            let a = get();
            a["tasksHealthy"] == 3 && a["deployments"].as_array().map(|d| d.is_empty()).unwrap_or(false)
                && a["tasks"].as_array().unwrap().iter().all(|t| !before.contains(&t["id"]))
        });
        assert_eq!(call("DELETE", &format!("http://{m2}/v2/apps/docker/web"), None).0, 200);
        until(&up, "removed", || call("GET", &format!("http://{m2}/v2/apps/docker/web"), None).0 == 404);
        // And no container of this cluster is left running.
        let root = up.dir.path().display().to_string();
        until(&up, "containers gone", || {
            let out = std::process::Command::new("curl")
                .args(["-s", "--unix-socket", SOCKET, "http://localhost/containers/json?filters=%7B%22label%22%3A%5B%22drover.work_dir%22%5D%7D"])
                .output()
                .unwrap();
            let list: Value = serde_json::from_slice(&out.stdout).unwrap_or(json!([]));
            !list.as_array().unwrap().iter().any(|c| c["Labels"]["drover.work_dir"].as_str().map(|w| w.starts_with(&root)).unwrap_or(false))
        });
    })
    .await
    .unwrap();
}
