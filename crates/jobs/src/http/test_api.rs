//! A jobs scheduler on a real port for the HTTP tests (state in memory, a master that never
//! answers, so runs wait for offers), and a small client for it.

use crate::{JobsConfig, JobsHandle};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub(crate) struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub handle: JobsHandle,
}

pub(crate) async fn api() -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("its address");
    let cfg = JobsConfig::new("127.0.0.1:1".into(), addr.to_string());
    let handle = crate::start(cfg, listener, None).expect("started");
    Api {
        base: format!("http://{addr}"),
        http: drover_httpclient::client().expect("a client"),
        handle,
    }
}

impl Api {
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("an answer");
        let status = resp.status();
        (status, resp.text().await.expect("a body"))
    }
    pub(crate) async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, text) = self.call(method, path, body).await;
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }
    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.json(Method::POST, path, Some(body)).await
    }
    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.json(Method::GET, path, None).await
    }
    pub(crate) async fn job(&self, name: &str) -> Value {
        let (status, v) = self.get(&format!("/v1/scheduler/job/{name}")).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }
}
