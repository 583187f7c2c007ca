//! The jobs scheduler's REST API as the CLI calls it: where it is (`--jobs`, the gateway's
//! route, `drover up`'s), each call, and its refusals mapped onto the CLI's errors.

use super::*;

impl Api {
    pub(super) fn new(a: &JobsArgs) -> Result<Api, Error> {
        let set = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let (url, via_gateway) = match (set(&a.jobs), set(&a.gateway)) {
            (Some(j), _) => (j, false),
            (None, Some(g)) => (
                format!("{}/service/metronome", crate::client::base_url(&g)),
                true,
            ),
            (None, None) => (DEFAULT_JOBS.to_string(), false),
        };
        let server = if via_gateway {
            Server::Gateway
        } else {
            Server::Jobs
        };
        Ok(Api {
            client: Client::new(server, &url)?,
            via_gateway,
        })
    }

    pub(super) fn addr(&self) -> &str {
        self.client.addr()
    }

    /// What to do when the answer is not the scheduler's.
    pub(super) fn which_flag(&self) -> String {
        if self.via_gateway {
            "--gateway, DROVER_GATEWAY; or --jobs URL for the scheduler itself".into()
        } else {
            "--jobs URL or DROVER_JOBS, or --gateway URL for <gateway>/service/metronome".into()
        }
    }

    /// Send a request; any answer, whatever its status.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, Error> {
        self.client.send(method, path, query, body).await
    }

    /// A successful answer's JSON; an error status as the failure it names.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Value, Error> {
        let a = self.send(method, path, query, body).await?;
        if !a.status.is_success() {
            return Err(self.refused(a));
        }
        self.json(a)
    }

    pub(super) async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, Error> {
        self.call(Method::GET, path, query, None).await
    }

    /// The body of a successful answer, which must be JSON (or empty).
    pub(super) fn json(&self, a: Answer) -> Result<Value, Error> {
        if let Value::String(text) = &a.body {
            let start: String = text.chars().take(60).collect();
            return Err(self.unreadable(a.request(), format!("not JSON: {}", start.trim())));
        }
        Ok(a.body)
    }

    pub(super) fn decode<T: DeserializeOwned>(&self, request: &str, v: &Value) -> Result<T, Error> {
        T::deserialize(v).map_err(|e| self.unreadable(request, e.to_string()))
    }

    pub(super) fn unreadable(&self, request: &str, cause: String) -> Error {
        failure(vec![
            format!(
                "the jobs scheduler at {} answered {request} with a body the CLI cannot read: {cause}",
                self.addr()
            ),
            format!(
                "  is {} Drover's jobs scheduler or Metronome? ({})",
                self.addr(),
                self.which_flag()
            ),
        ])
    }

    /// An error answer as the failure it names: Metronome's 404s for a job, run or schedule
    /// (their bodies carry the `id`) are "not found"; a 409 a conflict; the rest refusals, with
    /// the scheduler's message and a 422's details one per line.
    pub(super) fn refused(&self, a: Answer) -> Error {
        let (message, details) = match &a.body {
            Value::Null => (String::new(), vec![]),
            Value::String(t) => (t.trim().to_string(), vec![]),
            v => (
                v["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
                v["details"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|d| {
                        let path = d["path"].as_str().filter(|p| !p.is_empty()).unwrap_or("/");
                        let errors: Vec<String> = d["errors"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(value_text)
                            .collect();
                        if errors.is_empty() {
                            vec![format!("  {path}: invalid")]
                        } else {
                            errors
                                .iter()
                                .map(|e| format!("  {path}: {e}"))
                                .collect::<Vec<_>>()
                        }
                    })
                    .collect(),
            ),
        };
        let addr = self.addr();
        let id = a.body["id"].as_str();
        if a.status == StatusCode::NOT_FOUND {
            if let Some(id) = id {
                let (what, hint) = match a.body["jobSpec"].as_str() {
                    Some(job) => (
                        format!("no run {id} of job '{job}'"),
                        format!("`drover job show {job}` lists its active runs, `drover job history {job}` the finished ones"),
                    ),
                    None if message.starts_with("Schedule") => (
                        format!("no schedule '{id}'"),
                        "`drover job schedule list <job>` lists a job's schedules".into(),
                    ),
                    None => (
                        format!("no job '{id}'"),
                        "`drover job list` shows the jobs".into(),
                    ),
                };
                return Error::not_found(
                    format!("{what} in the jobs scheduler at {addr} ({message})"),
                    Some(hint),
                );
            }
        }
        let said = if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        };
        let first = format!(
            "the jobs scheduler at {addr} refused {} ({}){said}",
            a.request(),
            a.status
        );
        if a.status == StatusCode::CONFLICT {
            return Error::Conflict {
                message: first,
                hint: None,
            };
        }
        let mut lines = vec![first];
        lines.extend(details);
        if a.status == StatusCode::NOT_FOUND {
            lines.push(format!(
                "  is {addr} Drover's jobs scheduler or Metronome? ({})",
                self.which_flag()
            ));
        }
        failure(lines)
    }
}
