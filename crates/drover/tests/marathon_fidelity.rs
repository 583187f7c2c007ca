//! Marathon fidelity over real HTTP, against `tests/marathon/schema.json` (Marathon's RAML
//! facts): every endpoint's answer and every event of a create, scale, update, health
//! failure, kill, restart and delete — on the event stream and POSTed to a callback
//! subscriber — has Marathon's types and fields; default ports get service ports the tasks
//! report; an app sent back unchanged, or changed only in what running tasks do not carry,
//! restarts nothing.

mod common;
use common::marathon_schema::{event_violations, violations};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn until(up: &Up, what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out: {what}\n{}", up.log());
}

/// A callback subscriber: an HTTP server keeping every JSON body POSTed to it.
fn callback_server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/callback", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            let keep = keep.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut w = conn;
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    // Request line and headers.
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        keep.lock().unwrap().push(v);
                    }
                    if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, got)
}

/// Every event of `/v2/events` (no filter), as (type, body).
fn event_stream(m: &str) -> Arc<Mutex<Vec<(String, Value)>>> {
    let mut sse = std::process::Command::new("curl")
        .args([
            "-sN",
            "-H",
            "Accept: text/event-stream",
            &format!("http://{m}/v2/events"),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = sse.stdout.take().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        let _sse = sse;
        let mut kind = String::new();
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(k) = l.strip_prefix("event:") {
                kind = k.trim().to_string();
            } else if let Some(d) = l.strip_prefix("data:") {
                let v: Value =
                    serde_json::from_str(d.trim()).expect("each data line is one JSON object");
                keep.lock().unwrap().push((kind.clone(), v));
            }
        }
    });
    seen
}

fn app(m: &str, id: &str) -> Value {
    call("GET", &format!("http://{m}/v2/apps{id}"), None).1["app"].clone()
}

fn running_ids(m: &str, id: &str) -> BTreeSet<String> {
    app(m, id)["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .filter_map(|t| t["id"].as_str().map(String::from))
        .collect()
}

fn healthy(m: &str, id: &str, n: u64) -> bool {
    let a = app(m, id);
    a["tasksHealthy"] == n && a["tasksRunning"] == n && a["deployments"] == json!([])
}

/// Assert `v` is a `ty` as the schema says, naming the endpoint.
fn conforms(what: &str, ty: &str, v: &Value) {
    let bad = violations(ty, v);
    assert!(
        bad.is_empty(),
        "{what} is not Marathon's {ty}:\n  {}\n{v:#}",
        bad.join("\n  ")
    );
}

#[test]
fn every_answer_and_event_is_marathons_and_quiet_changes_restart_nothing() {
    let up = Up::start_with_marathon(1, &[]);
    let m = up.marathon.clone();
    let events = event_stream(&m);
    let (cb_url, callbacks) = callback_server();
    std::thread::sleep(Duration::from_millis(300));

    // A callback subscriber, as marathon-python and Marathon 1.4 have them.
    let (code, sub) = call(
        "POST",
        &format!("http://{m}/v2/eventSubscriptions?callbackUrl={cb_url}"),
        None,
    );
    assert_eq!(code, 200, "{sub}");
    assert_eq!(
        (sub["eventType"].as_str(), sub["callbackUrl"].as_str()),
        (Some("subscribe_event"), Some(cb_url.as_str()))
    );
    // A dead subscriber beside it (nothing listens there) must not hold up the live one.
    let dead = "http://127.0.0.1:9/dead";
    let url = format!("http://{m}/v2/eventSubscriptions?callbackUrl={dead}");
    assert_eq!(call("POST", &url, None).0, 200);
    let (code, list) = call("GET", &format!("http://{m}/v2/eventSubscriptions"), None);
    assert_eq!(code, 200);
    conforms("GET /v2/eventSubscriptions", "CallbackUrls", &list);
    assert_eq!(list["callbackUrls"], json!([cb_url, dead]));
    let (code, bad) = call(
        "POST",
        &format!("http://{m}/v2/eventSubscriptions?callbackUrl=not-a-url"),
        None,
    );
    assert_eq!(code, 422, "{bad}");

    // A web app with a health check and the default port.
    let web = json!({"id": "/fid/web", "cmd": "python3 -m http.server $PORT0", "instances": 2, "cpus": 0.05, "mem": 32,
        "healthChecks": [{"protocol": "HTTP", "path": "/", "intervalSeconds": 1, "gracePeriodSeconds": 30}]});
    let (code, created) = call("POST", &format!("http://{m}/v2/apps"), Some(&web));
    assert_eq!(code, 201, "{created}");
    conforms("POST /v2/apps", "App", &created);
    until(&up, "2 healthy", 60, || healthy(&m, "/fid/web", 2));

    let shown = app(&m, "/fid/web");
    conforms("GET /v2/apps/{id}", "App", &shown);
    let hc = &shown["healthChecks"][0];
    assert_eq!(
        (
            hc["intervalSeconds"].to_string(),
            hc["timeoutSeconds"].to_string(),
            hc["gracePeriodSeconds"].to_string()
        ),
        ("1".into(), "20".into(), "30".into()),
        "integers, not 1.0: {hc}"
    );
    assert_eq!(shown["backoffSeconds"].to_string(), "1");
    assert_eq!(shown["maxLaunchDelaySeconds"].to_string(), "300");
    assert_eq!(shown["networks"], json!([{"mode": "host"}]));
    let service = shown["portDefinitions"][0]["port"].as_u64().unwrap();
    assert!(
        (10000..=20000).contains(&service),
        "a service port from the range: {shown}"
    );
    assert_eq!(shown["ports"], json!([service]));
    let listed = call(
        "GET",
        &format!(
            "http://{m}/v2/apps?embed=apps.tasks&embed=apps.lastTaskFailure&embed=apps.readiness"
        ),
        None,
    )
    .1;
    for a in listed["apps"].as_array().unwrap() {
        conforms("GET /v2/apps?embed=apps.tasks", "App", a);
        for t in a["tasks"].as_array().unwrap() {
            assert_eq!(
                t["servicePorts"],
                json!([service]),
                "every task reports its service port"
            );
            assert_eq!(t["ports"].as_array().map(|p| p.len()), Some(1));
        }
    }
    let tasks = call("GET", &format!("http://{m}/v2/tasks"), None).1;
    for t in tasks["tasks"].as_array().unwrap() {
        conforms("GET /v2/tasks", "Task", t);
    }
    let before = running_ids(&m, "/fid/web");
    assert_eq!(before.len(), 2);

    // GET and PUT back unchanged: no new version, no deployment, nothing restarted.
    let version = shown["version"].clone();
    let url = format!(
        "http://{m}/v2/apps/fid/web/versions/{}",
        version.as_str().unwrap()
    );
    conforms(
        "GET /v2/apps/{id}/versions/{v}",
        "App",
        &call("GET", &url, None).1,
    );
    let (code, put) = call("PUT", &format!("http://{m}/v2/apps/fid/web"), Some(&shown));
    assert_eq!(code, 200, "{put}");
    conforms("PUT /v2/apps/{id}", "DeploymentResult", &put);
    assert_eq!(put["version"], version);
    assert_eq!(app(&m, "/fid/web")["version"], version);
    assert_eq!(
        call("GET", &format!("http://{m}/v2/deployments"), None).1,
        json!([])
    );
    // Scale, and change only what running tasks do not carry: the same tasks keep running.
    for patch in [
        json!({"instances": 3}),
        json!({"labels": {"HAPROXY_GROUP": "external"}}),
        json!({"upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}, "backoffSeconds": 2}),
    ] {
        let (code, r) = call("PUT", &format!("http://{m}/v2/apps/fid/web"), Some(&patch));
        assert_eq!(code, 200, "{patch}: {r}");
        until(&up, "3 healthy", 60, || healthy(&m, "/fid/web", 3));
        let now = running_ids(&m, "/fid/web");
        assert!(
            before.is_subset(&now),
            "{patch} restarted tasks: {before:?} -> {now:?}"
        );
    }

    // A check that fails: Marathon's health events, then the kill of the unhealthy instance.
    let sick = json!({"id": "/fid/sick", "cmd": "python3 -m http.server $PORT0", "instances": 1, "cpus": 0.05, "mem": 32,
        "healthChecks": [{"protocol": "HTTP", "path": "/missing", "intervalSeconds": 1, "gracePeriodSeconds": 0, "maxConsecutiveFailures": 2}]});
    assert_eq!(
        call("POST", &format!("http://{m}/v2/apps"), Some(&sick)).0,
        201
    );
    until(&up, "an unhealthy kill", 60, || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|(k, _)| k == "unhealthy_instance_kill_event")
    });
    let deployments = call("GET", &format!("http://{m}/v2/deployments"), None).1;
    assert!(
        !deployments.as_array().unwrap().is_empty(),
        "the sick app's deployment is in progress"
    );
    for d in deployments.as_array().unwrap() {
        conforms("GET /v2/deployments", "Deployment", d);
    }
    let queue = call("GET", &format!("http://{m}/v2/queue"), None).1;
    for q in queue["queue"].as_array().unwrap() {
        conforms("GET /v2/queue", "QueueItem", q);
    }
    assert_eq!(
        call(
            "DELETE",
            &format!("http://{m}/v2/apps/fid/sick?force=true"),
            None
        )
        .0,
        200
    );

    // Kill a task (replaced), restart, delete.
    let one = running_ids(&m, "/fid/web").into_iter().next().unwrap();
    assert_eq!(
        call(
            "DELETE",
            &format!("http://{m}/v2/apps/fid/web/tasks/{one}"),
            None
        )
        .0,
        200
    );
    until(&up, "replaced", 60, || {
        healthy(&m, "/fid/web", 3) && !running_ids(&m, "/fid/web").contains(&one)
    });
    assert_eq!(
        call("POST", &format!("http://{m}/v2/apps/fid/web/restart"), None).0,
        200
    );
    until(&up, "restarted", 90, || healthy(&m, "/fid/web", 3));

    conforms(
        "GET /v2/groups",
        "Group",
        &call("GET", &format!("http://{m}/v2/groups"), None).1,
    );
    conforms(
        "GET /v2/groups/fid",
        "Group",
        &call("GET", &format!("http://{m}/v2/groups/fid"), None).1,
    );
    conforms(
        "GET /v2/info",
        "Info",
        &call("GET", &format!("http://{m}/v2/info"), None).1,
    );
    assert_eq!(
        call("DELETE", &format!("http://{m}/v2/apps/fid/web"), None).0,
        200
    );
    until(&up, "app_terminated_event", 60, || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|(k, _)| k == "app_terminated_event")
    });

    // Every event, on the stream and at the callback, is Marathon's.
    let seen = events.lock().unwrap().clone();
    let mut problems = Vec::new();
    for (kind, body) in &seen {
        assert_eq!(
            body["eventType"],
            kind.as_str(),
            "the SSE event name is its eventType"
        );
        problems.extend(event_violations(kind, body));
    }
    let kinds: BTreeSet<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    for want in [
        "event_stream_attached",
        "subscribe_event",
        "api_post_event",
        "group_change_success",
        "deployment_info",
        "deployment_step_success",
        "deployment_success",
        "status_update_event",
        "instance_changed_event",
        "health_status_changed_event",
        "instance_health_changed_event",
        "failed_health_check_event",
        "unhealthy_instance_kill_event",
        "add_health_check_event",
        "remove_health_check_event",
        "app_terminated_event",
    ] {
        assert!(kinds.contains(want), "no {want} among {kinds:?}");
    }
    until(&up, "the callback got app_terminated_event", 30, || {
        callbacks
            .lock()
            .unwrap()
            .iter()
            .any(|e| e["eventType"] == "app_terminated_event")
    });
    let posted = callbacks.lock().unwrap().clone();
    for e in &posted {
        problems.extend(event_violations(e["eventType"].as_str().unwrap_or("?"), e));
    }
    let posted_kinds: BTreeSet<&str> = posted
        .iter()
        .filter_map(|e| e["eventType"].as_str())
        .collect();
    for k in &kinds {
        // The stream attached before the callback subscribed; everything after reached both.
        assert!(
            posted_kinds.contains(k) || *k == "event_stream_attached",
            "the callback missed {k}: {posted_kinds:?}"
        );
    }
    assert!(
        problems.is_empty(),
        "events that are not Marathon's:\n  {}",
        problems.join("\n  ")
    );

    let (code, unsub) = call(
        "DELETE",
        &format!("http://{m}/v2/eventSubscriptions?callbackUrl={cb_url}"),
        None,
    );
    assert_eq!(
        (code, unsub["eventType"].as_str()),
        (200, Some("unsubscribe_event"))
    );
    assert_eq!(
        call("GET", &format!("http://{m}/v2/eventSubscriptions"), None).1["callbackUrls"],
        json!([dead])
    );
}

#[test]
fn a_service_port_another_app_holds_is_refused_naming_both() {
    let up = Up::start_with_marathon(1, &[]);
    let m = up.marathon.clone();
    let a = json!({"id": "/lb/a", "cmd": "sleep 600", "cpus": 0.05, "mem": 16, "instances": 0, "portDefinitions": [{"port": 12345}]});
    assert_eq!(
        call("POST", &format!("http://{m}/v2/apps"), Some(&a)).0,
        201
    );
    let b = json!({"id": "/lb/b", "cmd": "sleep 600", "cpus": 0.05, "mem": 16, "instances": 0, "portDefinitions": [{"port": 12345}]});
    let (code, r) = call("POST", &format!("http://{m}/v2/apps"), Some(&b));
    assert_eq!(code, 422, "{r}");
    let msg = r["details"].to_string();
    assert!(
        msg.contains("12345") && msg.contains("/lb/a") && msg.contains("/lb/b"),
        "{r}"
    );
    // A fraction where Marathon has an integer is refused, naming the field.
    let c = json!({"id": "/lb/c", "cmd": "sleep 600", "healthChecks": [{"protocol": "TCP", "intervalSeconds": 0.5}]});
    let (code, r) = call("POST", &format!("http://{m}/v2/apps"), Some(&c));
    assert_eq!(code, 422, "{r}");
    assert_eq!(
        r["details"][0]["path"], "/healthChecks(0)/intervalSeconds",
        "{r}"
    );
}
