//! The CLI's one HTTP client: where a server is, how a request goes to it, and how its answer
//! becomes a typed value or an [`Error`] — unreachable, refused (with the server's status and
//! message, Marathon's validation details, or the deployment that locks an app), or unreadable.

use crate::error::{Error, Server};
use drover_api::marathon::ValidationDetail;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// How long a request may take, from connecting to the end of its body.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long `zk://` may take to name the leading master.
const ZK_LEADER_WAIT: Duration = Duration::from_secs(15);
/// How long the event stream may take to connect (it then stays open).
const STREAM_CONNECT: Duration = Duration::from_secs(5);

/// A server (the master, Marathon, an agent) at one address.
pub(crate) struct Client {
    http: reqwest::Client,
    server: Server,
    /// `http://host:port`, no trailing slash.
    base: String,
}

/// A server's answer: its status and body (the JSON, the text as a JSON string when it is not
/// JSON, null when empty).
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Value,
    /// `GET /v2/apps`, for messages.
    request: String,
    json: bool,
}

impl Answer {
    /// The request answered, as messages name it: `PUT /v2/apps/web`.
    pub fn request(&self) -> &str {
        &self.request
    }

    /// A JSON answer to `request`, for tests of what reads one.
    #[cfg(test)]
    pub fn json(request: &str, status: StatusCode, body: Value) -> Answer {
        Answer {
            status,
            body,
            request: request.into(),
            json: true,
        }
    }
}

/// The body of an error answer, as Marathon (and, with only text, the master) sends it.
#[derive(Deserialize, Default)]
struct Refusal {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Vec<ValidationDetail>,
    /// A 409's deployments that hold the app.
    #[serde(default)]
    deployments: Vec<crate::views::IdRef>,
}

/// `host:port` → `http://host:port`; URLs as given, without a trailing slash.
pub(crate) fn base_url(addr: &str) -> String {
    let m = addr.trim_end_matches('/');
    if m.starts_with("http://") || m.starts_with("https://") {
        m.to_string()
    } else {
        format!("http://{m}")
    }
}

/// The innermost cause of a failed request, short: `connection refused`, `no answer within 30 s`.
fn cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    let mut inner: &dyn std::error::Error = e;
    while let Some(s) = inner.source() {
        inner = s;
    }
    let text = inner.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => "no answer".into(),
    }
}

impl Client {
    pub fn new(server: Server, addr: &str) -> Result<Client, Error> {
        let base = base_url(addr);
        let http = drover_httpclient::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| Error::Unreachable {
                server,
                addr: addr.to_string(),
                cause: format!("no HTTP client: {e}"),
            })?;
        Ok(Client { http, server, base })
    }

    /// The master named by `--master`: host:port or a URL, or `zk://…/mesos` for whichever
    /// master leads now (found in ZooKeeper as Mesos' clients find it).
    pub async fn master(flag: &str) -> Result<Client, Error> {
        if !drover_zk::ZkUrl::is_zk(flag) {
            return Client::new(Server::Master, flag);
        }
        let unreachable = |cause: String| Error::Unreachable {
            server: Server::Master,
            addr: flag.to_string(),
            cause,
        };
        let mut leader =
            drover_zk::Leader::new(flag, Duration::from_secs(10)).map_err(|e| Error::Usage {
                message: e.to_string(),
                hint: Some("--master takes host:port or zk://host:2181,…/mesos".into()),
            })?;
        let addr = tokio::time::timeout(ZK_LEADER_WAIT, leader.get())
            .await
            .map_err(|_| {
                unreachable(format!(
                    "no leading master found in ZooKeeper within {}s",
                    ZK_LEADER_WAIT.as_secs()
                ))
            })?;
        Client::new(Server::Master, &addr)
    }

    /// The address as messages show it: `host:port` for plain http, else the URL.
    pub fn addr(&self) -> &str {
        self.base.strip_prefix("http://").unwrap_or(&self.base)
    }

    fn unreachable(&self, e: &reqwest::Error) -> Error {
        Error::Unreachable {
            server: self.server,
            addr: self.addr().to_string(),
            cause: cause(e),
        }
    }

    /// Send a request and read the whole answer, whatever its status.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, Error> {
        let request = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .query(query);
        if let Some(b) = body {
            rb = rb.header(CONTENT_TYPE, "application/json").body(b);
        }
        let resp = rb.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let (body, json) = if text.trim().is_empty() {
            (Value::Null, true)
        } else {
            match serde_json::from_str(&text) {
                Ok(v) => (v, true),
                Err(_) => (Value::String(text), false),
            }
        };
        Ok(Answer {
            status,
            body,
            request,
            json,
        })
    }

    /// A successful answer's body as `T`; an error status as the error it names.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<T, Error> {
        let a = self.send_ok(method, path, query, body).await?;
        self.decode(a)
    }

    /// [`Client::send`], with an error status as the error it names.
    pub async fn send_ok(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, Error> {
        let a = self.send(method, path, query, body).await?;
        if !a.status.is_success() {
            return Err(self.refused(a));
        }
        Ok(a)
    }

    /// Post a v1 operator call (`POST /api/v1`) whose answer carries nothing but its status.
    pub async fn operator(&self, call: &serde_json::Value) -> Result<(), Error> {
        self.send_ok(
            Method::POST,
            "/api/v1",
            &[],
            Some(call.to_string().into_bytes()),
        )
        .await?;
        Ok(())
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.call(Method::GET, path, &[], None).await
    }

    /// The body as `T`, or why it cannot be read.
    pub fn decode<T: DeserializeOwned>(&self, a: Answer) -> Result<T, Error> {
        let invalid = |cause: String| self.invalid(&a.request, cause);
        if !a.json {
            let text = a.body.as_str().unwrap_or_default();
            let start: String = text.chars().take(60).collect();
            return Err(invalid(format!("not JSON: {}", start.trim())));
        }
        T::deserialize(&a.body).map_err(|e| invalid(e.to_string()))
    }

    /// `request`'s answer is not what the API promises, because of `cause`.
    pub fn invalid(&self, request: &str, cause: String) -> Error {
        Error::InvalidResponse {
            server: self.server,
            addr: self.addr().to_string(),
            request: request.to_string(),
            cause,
        }
    }

    /// An error answer as the failure it names: a deployment lock or another conflict (409),
    /// else a refusal with the server's message and Marathon's validation details.
    pub fn refused(&self, a: Answer) -> Error {
        let r = match &a.body {
            Value::Null => Refusal::default(),
            Value::String(t) => Refusal {
                message: Some(t.clone()),
                ..Refusal::default()
            },
            other => Refusal::deserialize(other).unwrap_or_else(|_| Refusal {
                message: Some(other.to_string()),
                ..Refusal::default()
            }),
        };
        let message = r.message.unwrap_or_default();
        if a.status == StatusCode::CONFLICT {
            let addr = self.addr();
            return match r.deployments.first() {
                Some(first) => {
                    let ids: Vec<&str> = r.deployments.iter().map(|d| d.id.as_str()).collect();
                    let first = &first.id;
                    Error::Conflict {
                        message: format!(
                            "{} at {addr} refused {}: the app is locked by deployment {}",
                            self.server,
                            a.request,
                            ids.join(", ")
                        ),
                        hint: Some(format!("wait for it (drover deployment watch {first}), roll it back (drover deployment rollback {first}), or pass --force to override it")),
                    }
                }
                None => Error::Conflict {
                    message: format!(
                        "{} at {addr} refused {} (409 Conflict){}",
                        self.server,
                        a.request,
                        if message.is_empty() {
                            String::new()
                        } else {
                            format!(": {message}")
                        }
                    ),
                    hint: None,
                },
            };
        }
        let details = r
            .details
            .iter()
            .flat_map(|d| {
                let path = if d.path.is_empty() { "/" } else { &d.path };
                if d.errors.is_empty() {
                    vec![format!("{path}: invalid")]
                } else {
                    d.errors.iter().map(|e| format!("{path}: {e}")).collect()
                }
            })
            .collect();
        Error::Refused {
            server: self.server,
            addr: self.addr().to_string(),
            request: a.request,
            status: a.status,
            message,
            details,
        }
    }

    /// Open a streaming GET (no overall timeout), or `None` when it cannot be opened.
    pub async fn open_stream(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Option<reqwest::Response> {
        let client = drover_httpclient::builder()
            .connect_timeout(STREAM_CONNECT)
            .build()
            .ok()?;
        let req = client
            .get(format!("{}{path}", self.base))
            .query(query)
            .header(ACCEPT, "text/event-stream")
            .send();
        match tokio::time::timeout(STREAM_CONNECT, req).await {
            Ok(Ok(resp)) if resp.status().is_success() => Some(resp),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: StatusCode, body: Value) -> Answer {
        Answer::json("PUT /v2/apps/web", status, body)
    }

    #[test]
    fn marathon_refusals_become_the_failure_they_name() {
        let c = Client::new(Server::Marathon, "127.0.0.1:8080").unwrap();
        let body = json!({"message": "Object is not valid", "details": [{"path": "/cpus", "errors": ["got -1, expected 0 or more"]}, {"path": "/id", "errors": ["bad", "worse"]}]});
        let e = c.refused(answer(StatusCode::UNPROCESSABLE_ENTITY, body));
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "Marathon at 127.0.0.1:8080 refused PUT /v2/apps/web (422 Unprocessable Entity): Object is not valid\n  /cpus: got -1, expected 0 or more\n  /id: bad\n  /id: worse");

        let e = c.refused(answer(
            StatusCode::CONFLICT,
            json!({"message": "locked", "deployments": [{"id": "d1"}, {"id": "d2"}]}),
        ));
        assert_eq!(e.exit_code(), 4);
        let text = e.render();
        assert!(
            text.contains("locked by deployment d1, d2")
                && text.contains("rollback d1")
                && text.contains("--force"),
            "{text}"
        );
        let e = c.refused(answer(
            StatusCode::CONFLICT,
            json!({"message": "An app with id [/web] already exists."}),
        ));
        assert_eq!(e.exit_code(), 4);
        assert!(
            e.to_string()
                .ends_with("(409 Conflict): An app with id [/web] already exists."),
            "{e}"
        );

        // Text and odd JSON are kept as the message.
        let e = c.refused(answer(
            StatusCode::BAD_GATEWAY,
            Value::String("upstream gone".into()),
        ));
        assert!(
            e.to_string().ends_with("(502 Bad Gateway): upstream gone"),
            "{e}"
        );
        let e = c.refused(answer(StatusCode::BAD_REQUEST, json!({"message": 3})));
        assert!(
            e.to_string()
                .ends_with(r#"(400 Bad Request): {"message":3}"#),
            "{e}"
        );
    }

    #[test]
    fn bodies_that_do_not_fit_say_what_is_wrong() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Apps {
            apps: Vec<Value>,
        }
        let c = Client::new(Server::Marathon, "http://m:8080/").unwrap();
        assert_eq!(c.addr(), "m:8080");
        let e = c
            .decode::<Apps>(answer(StatusCode::OK, json!({"app": []})))
            .unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("missing field `apps`"), "{e}");
        let mut a = answer(StatusCode::OK, Value::String("<html>hello</html>".into()));
        a.json = false;
        let e = c.decode::<Apps>(a).unwrap_err();
        assert!(
            e.to_string().ends_with("not JSON: <html>hello</html>"),
            "{e}"
        );
        assert!(e.hint().unwrap().contains("DROVER_MARATHON"));
    }

    #[tokio::test]
    async fn a_port_nobody_listens_on_is_unreachable_with_a_short_cause() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = Client::new(Server::Master, &format!("127.0.0.1:{port}")).unwrap();
        let e = c.get::<Value>("/master/slaves").await.unwrap_err();
        assert_eq!(e.exit_code(), 5);
        assert_eq!(
            e.to_string(),
            format!("cannot reach the master at 127.0.0.1:{port} (connection refused)")
        );
    }
}
