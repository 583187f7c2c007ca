//! Where a request goes: the gateway's routing table as DC/OS' Admin Router has it, as a pure
//! function from the request path to a route and the path the upstream is asked for.

/// One of the parts behind the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/mesos/*`: the leading master.
    Mesos { path: String },
    /// `/slave/<id>/*` and `/agent/<id>/*`: that agent.
    Agent { id: String, path: String },
    /// `/service/marathon/*` and `/marathon/*`.
    Marathon { path: String },
    /// `/service/<name>/*`: the framework of that name, at its `webui_url`.
    Service { name: String, path: String },
    /// `/mesos_dns/*`: the DNS' HTTP API.
    MesosDns { path: String },
    /// The gateway's own answers (cluster metadata, the UI, Cosmos): not proxied.
    Local,
}

impl Route {
    /// What kind of route it is, bounded (no ids or names): the `route` label of the gateway's
    /// metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Route::Mesos { .. } => "mesos",
            Route::Agent { .. } => "agent",
            Route::Marathon { .. } => "marathon",
            Route::Service { .. } => "service",
            Route::MesosDns { .. } => "mesos_dns",
            Route::Local => "local",
        }
    }

    /// The prefix a request was routed by, for error messages (`/service/marathon`).
    pub fn prefix(&self) -> String {
        match self {
            Route::Mesos { .. } => "/mesos".into(),
            Route::Agent { id, .. } => format!("/slave/{id}"),
            Route::Marathon { .. } => "/service/marathon".into(),
            Route::Service { name, .. } => format!("/service/{name}"),
            Route::MesosDns { .. } => "/mesos_dns".into(),
            Route::Local => "/".into(),
        }
    }
}

/// Split `/head/rest…` into `head` and `/rest…` (`/` when nothing follows).
fn split(path: &str) -> (&str, String) {
    let p = path.strip_prefix('/').unwrap_or(path);
    match p.find('/') {
        Some(i) => (&p[..i], p[i..].to_string()),
        None => (p, "/".to_string()),
    }
}

/// Route a request path (without the query).
pub fn route(path: &str) -> Route {
    let (head, rest) = split(path);
    match head {
        "mesos" => Route::Mesos { path: rest },
        "marathon" => Route::Marathon { path: rest },
        "mesos_dns" => Route::MesosDns { path: rest },
        "slave" | "agent" => {
            let (id, rest) = split(&rest);
            if id.is_empty() {
                Route::Local
            } else {
                Route::Agent {
                    id: id.to_string(),
                    path: rest,
                }
            }
        }
        "service" => {
            let (name, rest) = split(&rest);
            match name {
                "" => Route::Local,
                "marathon" => Route::Marathon { path: rest },
                _ => Route::Service {
                    name: name.to_string(),
                    path: rest,
                },
            }
        }
        _ => Route::Local,
    }
}

/// Join an upstream base URL's path (from a framework's `webui_url`, say) and the rest of the
/// request's path, with exactly one `/` between them.
pub fn join(base_path: &str, rest: &str) -> String {
    let b = base_path.trim_end_matches('/');
    let r = rest.trim_start_matches('/');
    format!("{b}/{r}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn routes_as_admin_router() {
        let table = [
            (
                "/mesos/master/state.json",
                Route::Mesos {
                    path: s("/master/state.json"),
                },
            ),
            ("/mesos", Route::Mesos { path: s("/") }),
            ("/mesos/", Route::Mesos { path: s("/") }),
            (
                "/slave/a1-S0/files/read.json",
                Route::Agent {
                    id: s("a1-S0"),
                    path: s("/files/read.json"),
                },
            ),
            (
                "/agent/a1-S0/state",
                Route::Agent {
                    id: s("a1-S0"),
                    path: s("/state"),
                },
            ),
            (
                "/slave/a1-S0",
                Route::Agent {
                    id: s("a1-S0"),
                    path: s("/"),
                },
            ),
            ("/slave/", Route::Local),
            (
                "/service/marathon/v2/apps",
                Route::Marathon {
                    path: s("/v2/apps"),
                },
            ),
            (
                "/marathon/v2/apps/a/b",
                Route::Marathon {
                    path: s("/v2/apps/a/b"),
                },
            ),
            (
                "/service/jobs/v1/jobs",
                Route::Service {
                    name: s("jobs"),
                    path: s("/v1/jobs"),
                },
            ),
            ("/service/", Route::Local),
            (
                "/mesos_dns/v1/hosts/master.mesos",
                Route::MesosDns {
                    path: s("/v1/hosts/master.mesos"),
                },
            ),
            ("/metadata", Route::Local),
            ("/package/describe", Route::Local),
            ("/capabilities", Route::Local),
            ("/", Route::Local),
            ("/mesosx/y", Route::Local),
        ];
        for (path, want) in table {
            assert_eq!(route(path), want, "{path}");
        }
    }

    #[test]
    fn joins_paths_with_one_slash() {
        assert_eq!(join("/", "/v1/jobs"), "/v1/jobs");
        assert_eq!(join("", "/"), "/");
        assert_eq!(join("/ui/", "/x"), "/ui/x");
        assert_eq!(join("/ui", "x"), "/ui/x");
    }
}
