//! Marathon and the Mesos master as Cosmos uses them: where they are (the [`Upstreams`] the
//! gateway implements), and the few calls made to them — list, read, create and delete apps, read
//! an app's tasks; read the master's state and tear a framework down — each failure mapped to
//! Cosmos' error.

use crate::error::Error;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Where Marathon and the leading master are now: base URLs such as `http://127.0.0.1:8080`, or
/// `None` while unknown. Implemented by the gateway.
pub trait Upstreams: Send + Sync {
    fn marathon(&self) -> Option<String>;
    fn master(&self) -> Option<String>;
    /// How the cluster's tasks find the master (`host:port` or `zk://…/mesos`): templates of
    /// framework packages read it as `{{cluster.master}}` (a Drover extension of the context).
    fn mesos_master(&self) -> Option<String> {
        None
    }
    /// Where the cluster's agents reach the gateway (`http://ip:port`, as it advertises itself):
    /// the origin of the resource URLs a rendered app fetches (the `marathon` package's
    /// `/package/assets/drover`). `None` uses the client's `Host`, which may be a loopback
    /// address other machines cannot reach. URLs the client itself downloads (CLI binaries,
    /// images) always follow its `Host`.
    fn asset_origin(&self) -> Option<String> {
        None
    }
}

/// How long one call to Marathon or the master may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An answer: status and body (JSON, or the text as a JSON string, or null when empty).
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

/// Calls to Marathon and the master.
pub(crate) struct Client {
    http: reqwest::Client,
}

/// Which upstream a call goes to, as errors name it.
#[derive(Clone, Copy)]
pub(crate) enum Service {
    Marathon,
    Master,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Marathon => "marathon",
            Service::Master => "mesos",
        }
    }
}

impl Client {
    pub fn new(http: reqwest::Client) -> Client {
        Client { http }
    }

    /// Send a request to `base` + `path`; a transport failure is the service's unavailability.
    pub async fn send(
        &self,
        service: Service,
        base: &str,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Answer, Error> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let mut rb = self.http.request(method, &url).timeout(TIMEOUT);
        if let Some((content_type, bytes)) = body {
            rb = rb
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| Error::unavailable(service.name(), format!("{url}: {}", cause(&e))))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| Error::unavailable(service.name(), format!("{url}: {}", cause(&e))))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Answer { status, body })
    }

    /// `GET /v2/apps` (with labels, which Marathon always includes).
    pub async fn apps(&self, marathon: &str) -> Result<Value, Error> {
        let a = self
            .send(Service::Marathon, marathon, Method::GET, "/v2/apps", None)
            .await?;
        marathon_ok(&a)?;
        Ok(a.body)
    }

    /// The app `id` (`GET /v2/apps/<id>`'s `app`), `None` when Marathon has none.
    pub async fn app(&self, marathon: &str, id: &str) -> Result<Option<Value>, Error> {
        let a = self
            .send(
                Service::Marathon,
                marathon,
                Method::GET,
                &app_path(id)?,
                None,
            )
            .await?;
        if a.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        marathon_ok(&a)?;
        Ok(Some(a.body.get("app").cloned().unwrap_or(a.body)))
    }

    /// `GET /v2/apps/<id>/tasks` (`{"tasks": […]}`); an app gone has none.
    pub async fn app_tasks(&self, marathon: &str, id: &str) -> Result<Value, Error> {
        let path = format!("{}/tasks", app_path(id)?);
        let a = self
            .send(Service::Marathon, marathon, Method::GET, &path, None)
            .await?;
        if a.status == StatusCode::NOT_FOUND {
            return Ok(serde_json::json!({ "tasks": [] }));
        }
        marathon_ok(&a)?;
        Ok(a.body)
    }

    /// `POST /v2/apps`: a conflict is `PackageAlreadyInstalled`, another 4xx Marathon's own
    /// refusal (`MarathonBadResponse` with its details).
    pub async fn create_app(&self, marathon: &str, app: &Value) -> Result<Value, Error> {
        let body = serde_json::to_vec(app).unwrap_or_default();
        let a = self
            .send(
                Service::Marathon,
                marathon,
                Method::POST,
                "/v2/apps",
                Some(("application/json", body)),
            )
            .await?;
        if a.status == StatusCode::CONFLICT {
            return Err(Error::PackageAlreadyInstalled);
        }
        if a.status.is_client_error() {
            let message = a.body.get("message").and_then(Value::as_str);
            return Err(match message {
                Some(m) => Error::MarathonBadResponse {
                    message: m.to_string(),
                    details: a.body.get("details").and_then(Value::as_array).cloned(),
                },
                None => Error::MarathonGenericError {
                    marathon_status: a.status.as_u16(),
                },
            });
        }
        marathon_ok(&a)?;
        Ok(a.body)
    }

    /// `DELETE /v2/apps/<id>?force=true`; an app already gone is fine.
    pub async fn delete_app(&self, marathon: &str, id: &str) -> Result<(), Error> {
        let path = format!("{}?force=true", app_path(id)?);
        let a = self
            .send(Service::Marathon, marathon, Method::DELETE, &path, None)
            .await?;
        if a.status.is_success() || a.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(Error::MarathonAppDeleteError { app_id: id.into() })
    }

    /// The master's `GET /master/state`.
    pub async fn master_state(&self, master: &str) -> Result<Value, Error> {
        let a = self
            .send(Service::Master, master, Method::GET, "/master/state", None)
            .await?;
        if !a.status.is_success() || !a.body.is_object() {
            return Err(Error::MasterBadResponse {
                cause: format!("GET /master/state answered {}", a.status),
            });
        }
        Ok(a.body)
    }

    /// `POST /master/teardown` with the form `frameworkId=<id>`.
    pub async fn teardown(&self, master: &str, framework_id: &str) -> Result<(), Error> {
        let body = format!("frameworkId={}", form_encode(framework_id)).into_bytes();
        let a = self
            .send(
                Service::Master,
                master,
                Method::POST,
                "/master/teardown",
                Some(("application/x-www-form-urlencoded", body)),
            )
            .await?;
        if !a.status.is_success() {
            return Err(Error::MasterBadResponse {
                cause: format!(
                    "POST /master/teardown of {framework_id} answered {}{}",
                    a.status,
                    a.body
                        .as_str()
                        .map(|t| format!(": {t}"))
                        .unwrap_or_default()
                ),
            });
        }
        Ok(())
    }
}

/// `/v2/apps/<id>` for an app id with or without its leading `/`: only a Marathon path id
/// (never a `..` that would leave `/v2/apps/`), each segment percent-encoded.
fn app_path(id: &str) -> Result<String, Error> {
    let id = crate::installed::valid_app_id(id)?;
    let segments: Vec<String> = id[1..].split('/').map(path_encode).collect();
    Ok(format!("/v2/apps/{}", segments.join("/")))
}

/// A path segment percent-encoded: all but RFC 3986's unreserved characters.
fn path_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Marathon error status as Cosmos reports it: 5xx a bad gateway, others generic.
fn marathon_ok(a: &Answer) -> Result<(), Error> {
    if a.status.is_success() {
        Ok(())
    } else if a.status.is_server_error() {
        Err(Error::MarathonBadGateway {
            marathon_status: a.status.as_u16(),
        })
    } else {
        Err(Error::MarathonGenericError {
            marathon_status: a.status.as_u16(),
        })
    }
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The innermost cause of a failed request, short.
pub(crate) fn cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time".into();
    }
    let mut inner: &dyn std::error::Error = e;
    while let Some(s) = inner.source() {
        inner = s;
    }
    inner.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_forms_are_encoded() {
        assert_eq!(app_path("/a/b").unwrap(), "/v2/apps/a/b");
        assert_eq!(app_path("hw/").unwrap(), "/v2/apps/hw");
        assert_eq!(app_path("/a.b/c-d").unwrap(), "/v2/apps/a.b/c-d");
        for bad in [
            "../groups/prod",
            "/a/../../v2/groups",
            "a?force=true",
            "a#b",
            "/",
        ] {
            assert_eq!(app_path(bad).unwrap_err().kind(), "InvalidAppId", "{bad}");
        }
        assert_eq!(path_encode("a b/c?d%"), "a%20b%2Fc%3Fd%25");
        assert_eq!(path_encode("a.b-c_d~9"), "a.b-c_d~9");
        assert_eq!(form_encode("ab-12_c.d"), "ab-12_c.d");
        assert_eq!(form_encode("a b&c"), "a%20b%26c");
    }
}
