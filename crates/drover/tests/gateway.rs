//! The gateway of `drover up` over real sockets: DC/OS' routes to the master, agents, Marathon
//! and a framework's web UI; the metadata the dcos CLI needs; streams passed through as they
//! come; upstreams that are down or silent answered with 502/504 JSON naming them.

mod common;
use common::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Status and headers of a request (curl -I style), for HEAD and for non-JSON answers.
fn status_of(method: &str, url: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
        ])
        .args(if method == "HEAD" {
            vec!["-I"]
        } else {
            vec!["-X", method]
        })
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn routes_metadata_and_streams_through_the_gateway() {
    let up = Up::start_with_marathon(1, &[]);
    let g = format!("http://{}", up.gateway);

    // The metadata and open-cluster answers the dcos CLI's `cluster setup` needs.
    let (s, meta) = call("GET", &format!("{g}/metadata"), None);
    assert_eq!(s, 200);
    let id = meta["CLUSTER_ID"].as_str().expect("CLUSTER_ID").to_string();
    assert_eq!(id.len(), 36);
    assert_eq!(id, id.to_lowercase());
    assert_eq!(&id[14..15], "4", "a UUID v4: {id}");
    assert_eq!(meta["PUBLIC_IPV4"], "127.0.0.1");
    assert_eq!(
        call("GET", &format!("{g}/metadata"), None).1["CLUSTER_ID"],
        id
    );
    assert_eq!(
        status_of("HEAD", &format!("{g}/pkgpanda/active.buildinfo.full.json")),
        200
    );
    assert_eq!(
        status_of("GET", &format!("{g}/acs/api/v1/auth/providers")),
        404
    );
    let (s, v) = call("GET", &format!("{g}/dcos-metadata/dcos-version.json"), None);
    assert_eq!(s, 200);
    assert_eq!(v["dcos-variant"], "open");
    assert!(v["version"].as_str().is_some_and(|v| v.starts_with("1.")));

    // The leading master, and an agent by its id under /slave/ and /agent/.
    let (s, state) = call("GET", &format!("{g}/mesos/master/state.json"), None);
    assert_eq!(s, 200);
    let agent = state["slaves"][0]["id"]
        .as_str()
        .expect("an agent")
        .to_string();
    let (s, summary) = call("GET", &format!("{g}/mesos/state-summary"), None);
    assert_eq!(s, 200);
    assert!(summary["cluster"].is_string(), "{summary}");
    for prefix in ["slave", "agent"] {
        let (s, a) = call("GET", &format!("{g}/{prefix}/{agent}/state.json"), None);
        assert_eq!(s, 200, "/{prefix}/{agent}/state.json");
        assert_eq!(a["id"], agent);
    }
    let (s, e) = call("GET", &format!("{g}/slave/no-such-agent/state.json"), None);
    assert_eq!(s, 404);
    assert!(
        e["message"]
            .as_str()
            .unwrap_or("")
            .contains("no-such-agent"),
        "{e}"
    );

    // Marathon under /service/marathon/ and /marathon/.
    let (s, info) = call("GET", &format!("{g}/service/marathon/v2/info"), None);
    assert_eq!(s, 200);
    assert_eq!(info["name"], "marathon");
    assert_eq!(call("GET", &format!("{g}/marathon/v2/apps"), None).0, 200);
    let (s, e) = call("GET", &format!("{g}/service/marathon/v2/apps/nope"), None);
    assert_eq!(s, 404);
    assert_eq!(e["message"], "App '/nope' does not exist");

    // Marathon's event stream passes through as it comes: an app posted after the stream
    // opened shows up on it while the stream is still open.
    let mut events = Command::new("curl")
        .args(["-sN", "-H", "Accept: text/event-stream"])
        .arg(format!("{g}/service/marathon/v2/events"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let (tx, rx) = std::sync::mpsc::channel();
    let out = events.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    // The stream is open once Marathon's first event arrives (it sends event_stream_attached).
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the stream opened");
    assert!(!first.is_empty());
    let app = json!({"id": "/gw", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1});
    let (s, _) = call("POST", &format!("{g}/service/marathon/v2/apps"), Some(&app));
    assert_eq!(s, 201);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = false;
    while Instant::now() < deadline && !seen {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
            seen = l.contains("api_post_event");
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    assert!(
        seen,
        "the app's api_post_event came through the open stream"
    );

    // The master's operator event stream (RecordIO) through /mesos/api/v1.
    let mut sub = Command::new("curl")
        .args(["-sN", "-X", "POST", "-H", "Content-Type: application/json"])
        .args([
            "-H",
            "Accept: application/json",
            "-d",
            r#"{"type":"SUBSCRIBE"}"#,
        ])
        .arg(format!("{g}/mesos/api/v1"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let mut out = BufReader::new(sub.stdout.take().expect("stdout"));
    let mut len = String::new();
    out.read_line(&mut len)
        .expect("the operator stream's first record");
    let len: usize = len.trim().parse().expect("RecordIO: a length first");
    let mut record = vec![0u8; len];
    out.read_exact(&mut record).expect("the whole first record");
    let _ = sub.kill();
    let _ = sub.wait();
    let first: serde_json::Value = serde_json::from_slice(&record).expect("JSON");
    assert_eq!(first["type"], "SUBSCRIBED");

    // A framework's web UI under /service/<name>/, at its webui_url's path.
    let site = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(site.path().join("ui")).expect("mkdir");
    std::fs::write(
        site.path().join("ui/hello.txt"),
        "hello from the framework\n",
    )
    .expect("write");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut web = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(site.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 http.server");
    let mut fw = curl_framework(
        &up.master,
        json!({"name": "webfw", "webui_url": format!("http://127.0.0.1:{port}/ui")}),
    );
    let mut body = String::new();
    wait_for(Duration::from_secs(20), || {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "5"])
            .arg(format!("{g}/service/webfw/hello.txt"))
            .output()
            .expect("curl");
        body = String::from_utf8_lossy(&out.stdout).to_string();
        out.status.success()
    });
    assert_eq!(body, "hello from the framework\n");
    let (s, e) = call("GET", &format!("{g}/service/nobody/x"), None);
    assert_eq!(s, 404);
    assert!(
        e["message"].as_str().unwrap_or("").contains("nobody"),
        "{e}"
    );

    // /metrics for Prometheus: the gateway's own, and each part's through the gateway.
    let text = |url: String| {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "20"])
            .arg(&url)
            .output()
            .expect("curl");
        assert!(out.status.success(), "{url}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let gw = text(format!("{g}/metrics"));
    for line in [
        "drover_gateway_http_requests_total{route=\"/metadata\",method=\"GET\",status=\"2xx\"} 2\n",
        "drover_gateway_http_requests_total{route=\"marathon\",method=\"POST\",status=\"2xx\"} 1\n",
        "drover_gateway_http_requests_total{route=\"agent\",method=\"GET\",status=\"4xx\"} 1\n",
    ] {
        assert!(gw.contains(line), "no {line:?} in\n{gw}");
    }
    let master = text(format!("{g}/mesos/metrics"));
    assert!(
        master.contains("mesos_master_slaves_active 1\n"),
        "{master}"
    );
    assert!(
        master.contains("drover_master_task_state_transitions_total{state=\"TASK_STAGING\"}"),
        "{master}"
    );
    let marathon = text(format!("{g}/service/marathon/metrics/prometheus"));
    assert!(
        marathon.contains("marathon_apps_active_gauge 1\n"),
        "{marathon}"
    );
    assert!(
        marathon.contains("marathon_deployments_started_total 1\n"),
        "{marathon}"
    );
    let slave = text(format!("{g}/slave/{agent}/metrics"));
    assert!(slave.contains("mesos_slave_registered 1\n"), "{slave}");

    let _ = fw.kill();
    let _ = fw.wait();
    let _ = web.kill();
    let _ = web.wait();
}

#[test]
fn upstreams_that_are_down_or_silent_get_502_and_504_naming_them() {
    // A port nothing listens on, and a listener that accepts and never answers.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_port = dead.local_addr().expect("addr").port();
    drop(dead);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    // Detached: it holds what it accepts until the test process ends.
    std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().flatten() {
            conns.push(c);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let marathon = format!("http://127.0.0.1:{dead_port}");
    let master = format!("127.0.0.1:{silent_port}");
    let mut gw = Proc::spawn(
        &[
            "gateway",
            "--master",
            &master,
            "--marathon",
            &marathon,
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--upstream-timeout",
            "1",
            "--work-dir",
            dir.path().join("gw").to_str().expect("utf-8"),
        ],
        &dir.path().join("gw.log"),
    );
    let line = gw.wait_line("gateway: http://", Duration::from_secs(20));
    let g = line.trim().trim_start_matches("gateway: ").to_string();

    let started = Instant::now();
    let (s, e) = call("GET", &format!("{g}/service/marathon/v2/apps"), None);
    assert_eq!(s, 502, "{e}");
    assert_eq!(e["route"], "/service/marathon");
    assert_eq!(e["upstream"], marathon);
    assert!(
        e["message"].as_str().unwrap_or("").contains(&marathon),
        "{e}"
    );

    let (s, e) = call("GET", &format!("{g}/mesos/master/state"), None);
    assert_eq!(s, 504, "{e}");
    assert_eq!(e["route"], "/mesos");
    assert_eq!(e["upstream"], format!("http://{master}"));
    assert!(started.elapsed() < Duration::from_secs(15), "never a hang");

    // A body over the limit is refused before it is sent anywhere.
    let mut big = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
        ])
        .arg(format!("{g}/service/marathon/v2/apps"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    {
        let mut stdin = big.stdin.take().expect("stdin");
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..17 {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
        }
    }
    let out = big.wait_with_output().expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "413");
    gw.stop();
}

#[test]
fn a_gateway_tries_the_next_marathon_refuses_loops_and_cuts_chunked_bodies() {
    let up = Up::start_with_marathon(1, &[]);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_port = dead.local_addr().expect("addr").port();
    drop(dead);
    let dir = tempfile::tempdir().expect("tempdir");
    let marathons = format!("http://127.0.0.1:{dead_port},http://{}", up.marathon);
    let mut gw = Proc::spawn(
        &[
            "gateway",
            "--master",
            &up.master,
            "--marathon",
            &marathons,
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--max-body-bytes",
            "1000",
            "--work-dir",
            dir.path().join("gw").to_str().expect("utf-8"),
        ],
        &dir.path().join("gw.log"),
    );
    let line = gw.wait_line("gateway: http://", Duration::from_secs(20));
    let g = line.trim().trim_start_matches("gateway: ").to_string();

    // The first Marathon is down: the second answers.
    let (s, info) = call("GET", &format!("{g}/service/marathon/v2/info"), None);
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["name"], "marathon");

    // A framework whose web UI is the gateway itself: a loop, refused (508), not followed.
    let mut fw = curl_framework(
        &up.master,
        json!({"name": "loopy", "webui_url": format!("{g}/service/loopy")}),
    );
    let mut last = (0, serde_json::Value::Null);
    wait_for(Duration::from_secs(20), || {
        last = call("GET", &format!("{g}/service/loopy/x"), None);
        last.0 != 404
    });
    assert_eq!(last.0, 508, "{}", last.1);
    assert!(
        last.1["message"]
            .as_str()
            .unwrap_or("")
            .contains("leads back"),
        "{}",
        last.1
    );
    let _ = fw.kill();
    let _ = fw.wait();

    // A chunked body (no Content-Length) past the limit: 413, as for a declared one.
    let mut big = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args([
            "-H",
            "Content-Type: application/json",
            "-H",
            "Transfer-Encoding: chunked",
        ])
        .args(["--data-binary", "@-"])
        .arg(format!("{g}/service/marathon/v2/apps"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    {
        let mut stdin = big.stdin.take().expect("stdin");
        let _ = stdin.write_all(&[b' '; 5000]);
    }
    let out = big.wait_with_output().expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "413");
    gw.stop();
}
