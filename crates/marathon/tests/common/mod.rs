//! For the REST API tests: a Marathon without a master (the link keeps retrying, which is
//! enough for the REST API) on a loopback port, and a JSON call.
#![allow(clippy::unwrap_used, dead_code)]

use serde_json::Value;

pub async fn start() -> (String, drover_marathon::MarathonHandle) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let cfg = drover_marathon::MarathonConfig {
        framework_name: "marathon".into(),
        master: "127.0.0.1:9".into(),
        advertise: addr.clone(),
        hostname: "localhost".into(),
        work_dir: None,
        role: "*".into(),
        user: "root".into(),
        failover_timeout_secs: 60.0,
        max_body_bytes: 1 << 20,
        service_ports: (10000, 20000),
    };
    let handle = drover_marathon::start(cfg, listener, None).unwrap();
    (format!("http://{addr}"), handle)
}

pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
