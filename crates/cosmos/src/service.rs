//! [`Cosmos`]: the package API's operations, each a plain async function from a decoded request
//! to the answer's JSON. It holds the repository list (persisted in the state directory), a cache
//! of fetched repositories (refreshed after a minute; a stale copy serves while its source is
//! down), the built-in repository, and reaches Marathon and the master through [`Upstreams`].
//! The decisions are made by the pure modules (`catalog`, `render`, `installed`,
//! `repositories`); this is where the I/O happens.

use crate::builtin;
use crate::catalog::{self, Catalog, Source};
use crate::error::Error;
use crate::installed;
use crate::render;
use crate::repositories::{self, Location, PackageRepository, Store};
use crate::rpc::*;
use crate::universe::{parse_repository, Repository};
use crate::upstream::{cause, Client, Upstreams};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A fetched repository is used this long before it is fetched again.
const REFRESH: Duration = Duration::from_secs(60);
/// How long fetching a repository may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest repository accepted (Mesosphere's full Universe is about 20 MiB).
const MAX_REPOSITORY: usize = 64 << 20;

struct Cached {
    at: Instant,
    repo: Arc<Repository>,
}

/// The package API.
pub struct Cosmos {
    store: Store,
    /// The repository list; held across a change so that changes apply one at a time.
    repos: tokio::sync::Mutex<Vec<PackageRepository>>,
    cache: Mutex<HashMap<String, Cached>>,
    builtin: Arc<Repository>,
    upstreams: Arc<dyn Upstreams>,
    client: Client,
    http: reqwest::Client,
}

impl Cosmos {
    /// Cosmos keeping its repository list in `state_dir` (created if missing).
    pub fn new(state_dir: PathBuf, upstreams: Arc<dyn Upstreams>) -> Result<Cosmos, Error> {
        let store = Store::new(&state_dir);
        let list = store.load()?;
        let builtin = builtin::repository().map_err(|cause| Error::JsonDecodingError {
            what: "the built-in repository".into(),
            cause,
        })?;
        let http = drover_httpclient::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::unavailable("http client", e.to_string()))?;
        Ok(Cosmos {
            store,
            repos: tokio::sync::Mutex::new(list),
            cache: Mutex::new(HashMap::new()),
            builtin: Arc::new(builtin),
            upstreams,
            client: Client::new(http.clone()),
            http,
        })
    }

    fn marathon(&self) -> Result<String, Error> {
        self.upstreams
            .marathon()
            .ok_or_else(|| Error::unavailable("marathon", "no Marathon is known to the gateway"))
    }

    fn master(&self) -> Result<String, Error> {
        self.upstreams
            .master()
            .ok_or_else(|| Error::unavailable("mesos", "no leading master is known to the gateway"))
    }

    /// Every configured repository's URI and packages, in list order.
    async fn sources(&self) -> Result<Vec<(String, Arc<Repository>)>, Error> {
        let list = self.repos.lock().await.clone();
        let mut out = Vec::with_capacity(list.len());
        for r in &list {
            out.push((r.uri.clone(), self.cached(r).await?));
        }
        Ok(out)
    }

    /// `repo`'s packages: from the cache while fresh, else fetched (a stale copy if that fails).
    async fn cached(&self, repo: &PackageRepository) -> Result<Arc<Repository>, Error> {
        let stale = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            match cache.get(&repo.uri) {
                Some(c) if c.at.elapsed() < REFRESH => return Ok(c.repo.clone()),
                Some(c) => Some(c.repo.clone()),
                None => None,
            }
        };
        match self.fetch(repo).await {
            Ok(r) => Ok(self.remember(repo, r)),
            Err(e) => match stale {
                Some(r) => {
                    tracing::warn!(repository = %repo.name, uri = %repo.uri, "{e}; using the copy fetched before");
                    Ok(r)
                }
                None => Err(e),
            },
        }
    }

    fn remember(&self, repo: &PackageRepository, r: Repository) -> Arc<Repository> {
        let r = Arc::new(r);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(
            repo.uri.clone(),
            Cached {
                at: Instant::now(),
                repo: r.clone(),
            },
        );
        r
    }

    /// Read `repo` from where its URI points.
    async fn fetch(&self, repo: &PackageRepository) -> Result<Repository, Error> {
        let what = format!("repository [{}] at {}", repo.name, repo.uri);
        let connection = |cause: String| Error::RepositoryUriConnection {
            name: repo.name.clone(),
            uri: repo.uri.clone(),
            cause,
        };
        match repositories::locate(repo)? {
            Location::Builtin => Ok((*self.builtin).clone()),
            Location::File(path) => {
                let meta = tokio::fs::metadata(&path)
                    .await
                    .map_err(|e| connection(e.to_string()))?;
                if meta.len() > MAX_REPOSITORY as u64 {
                    return Err(connection(format!(
                        "larger than {} MiB",
                        MAX_REPOSITORY >> 20
                    )));
                }
                let bytes = tokio::fs::read(&path)
                    .await
                    .map_err(|e| connection(e.to_string()))?;
                parse_repository(&bytes, &what)
            }
            Location::Http(url) => {
                let accept = [
                    crate::media::universe("repo", "v5"),
                    crate::media::universe("repo", "v4"),
                    crate::media::universe("repo", "v3"),
                    "application/json;q=0.9".into(),
                ]
                .join(",");
                let mut resp = self
                    .http
                    .get(&url)
                    .header(reqwest::header::ACCEPT, accept)
                    .timeout(FETCH_TIMEOUT)
                    .send()
                    .await
                    .map_err(|e| connection(cause(&e)))?;
                if !resp.status().is_success() {
                    return Err(Error::UniverseClientHttpError {
                        name: repo.name.clone(),
                        uri: repo.uri.clone(),
                        status: resp.status().as_u16(),
                    });
                }
                let content_type = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let mut bytes = Vec::new();
                while let Some(chunk) = resp.chunk().await.map_err(|e| connection(cause(&e)))? {
                    if bytes.len() + chunk.len() > MAX_REPOSITORY {
                        return Err(connection(format!(
                            "larger than {} MiB",
                            MAX_REPOSITORY >> 20
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                parse_repository(&bytes, &what).map_err(|e| match (&e, &content_type) {
                    (Error::JsonParsingError { .. }, Some(ct)) if !ct.contains("json") => {
                        Error::UnsupportedContentType {
                            supported: vec![
                                crate::media::universe("repo", "v5"),
                                crate::media::universe("repo", "v4"),
                                crate::media::universe("repo", "v3"),
                            ],
                            actual: Some(ct.clone()),
                        }
                    }
                    _ => e,
                })
            }
        }
    }

    /// Run `f` over the catalogue of every repository.
    async fn with_catalog<T>(
        &self,
        f: impl FnOnce(&Catalog<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let sources = self.sources().await?;
        let list: Vec<Source<'_>> = sources
            .iter()
            .map(|(uri, repo)| Source { uri, repo })
            .collect();
        f(&Catalog::new(&list))
    }

    /// `POST /package/search`.
    pub async fn search(&self, req: SearchRequest, origin: &str) -> Result<Value, Error> {
        self.with_catalog(|c| Ok(c.search(req.query.as_deref(), origin)))
            .await
    }

    /// `POST /package/describe`, as the v3 (`{"package": …}`) or v2 (flat) answer.
    pub async fn describe(
        &self,
        req: DescribeRequest,
        origin: &str,
        version: u8,
    ) -> Result<Value, Error> {
        self.with_catalog(|c| {
            let (p, _) = c.find(&req.package_name, req.package_version.as_deref())?;
            Ok(if version >= 3 {
                catalog::describe_v3(p, origin)
            } else {
                catalog::describe_v2(p, origin)
            })
        })
        .await
    }

    /// `POST /package/list-versions`.
    pub async fn list_versions(&self, req: ListVersionsRequest) -> Result<Value, Error> {
        self.with_catalog(|c| c.list_versions(&req.package_name))
            .await
    }

    /// The Marathon app `req` installs, and facts about its package for the answer.
    async fn rendered(
        &self,
        req: &InstallRequest,
        origin: &str,
    ) -> Result<(Option<Map<String, Value>>, Value), Error> {
        self.with_catalog(|c| {
            let (p, source) = c.find(&req.package_name, req.package_version.as_deref())?;
            let cluster = render::Cluster {
                origin: origin.to_string(),
                master: self.upstreams.mesos_master(),
            };
            let app = render::render_in(
                p,
                source,
                req.options.as_ref(),
                req.app_id.as_deref(),
                &cluster,
            )?;
            let mut facts = Map::new();
            facts.insert("packageName".into(), json!(p.name()));
            facts.insert("packageVersion".into(), json!(p.version()));
            if let Some(n) = p.get("postInstallNotes").filter(|n| n.is_string()) {
                facts.insert("postInstallNotes".into(), n.clone());
            }
            if let Some(cli) = p.resource().and_then(|r| r.get("cli")) {
                let mut cli = cli.clone();
                catalog::absolutize(&mut cli, origin);
                facts.insert("cli".into(), cli);
            }
            Ok((app, Value::Object(facts)))
        })
        .await
    }

    /// `POST /package/render`: `{"marathonJson": …}`.
    pub async fn render(&self, req: InstallRequest, origin: &str) -> Result<Value, Error> {
        let (app, facts) = self.rendered(&req, origin).await?;
        match app {
            Some(app) => Ok(json!({ "marathonJson": app })),
            None => Err(Error::ServiceMarathonTemplateNotFound {
                name: facts["packageName"].as_str().unwrap_or_default().into(),
                version: facts["packageVersion"].as_str().unwrap_or_default().into(),
            }),
        }
    }

    /// `POST /package/install`: render, then create the app in Marathon. An app with the same
    /// id is `PackageAlreadyInstalled`; an install whose answer is lost removes the app it made.
    pub async fn install(
        &self,
        req: InstallRequest,
        origin: &str,
        version: u8,
    ) -> Result<Value, Error> {
        let (app, mut facts) = self.rendered(&req, origin).await?;
        if let Some(app) = app {
            let marathon = self.marathon()?;
            let id = app
                .get("id")
                .and_then(Value::as_str)
                .map(installed::normalize_app_id);
            if let Some(id) = &id {
                if self.client.app_exists(&marathon, id).await? {
                    return Err(Error::PackageAlreadyInstalled);
                }
            }
            let app = Value::Object(app);
            match self.client.create_app(&marathon, &app).await {
                Ok(created) => {
                    let id = created
                        .get("id")
                        .and_then(Value::as_str)
                        .map(installed::normalize_app_id)
                        .or(id);
                    if let Some(id) = id {
                        facts["appId"] = json!(id);
                    }
                }
                Err(e @ Error::ServiceUnavailable { .. }) => {
                    // The app may have been made with its answer lost: it did not exist before
                    // (checked above), so it is this install's to remove.
                    if let Some(id) = &id {
                        if let Err(d) = self.client.delete_app(&marathon, id).await {
                            tracing::warn!(app = %id, "an install failed half-way and its app could not be removed: {d}");
                        }
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        if version < 2 {
            let mut v1 = Map::new();
            for k in ["packageName", "packageVersion", "appId"] {
                if let Some(v) = facts.get(k) {
                    v1.insert(k.into(), v.clone());
                }
            }
            return Ok(Value::Object(v1));
        }
        Ok(facts)
    }

    /// `POST /package/list`: the apps Marathon runs for packages.
    pub async fn list(&self, req: ListRequest, origin: &str) -> Result<Value, Error> {
        let apps = self.client.apps(&self.marathon()?).await?;
        let inst = installed::installed(&apps);
        Ok(installed::list(
            &inst,
            req.package_name.as_deref(),
            req.app_id.as_deref(),
            origin,
        ))
    }

    /// `POST /package/uninstall`: delete each app of the package (one unless `all`), and tear
    /// down the framework a framework package's app names.
    pub async fn uninstall(&self, req: UninstallRequest) -> Result<Value, Error> {
        let marathon = self.marathon()?;
        let apps = self.client.apps(&marathon).await?;
        let inst = installed::installed(&apps);
        let targets = installed::uninstall_targets(
            &inst,
            &installed::app_ids(&apps),
            &req.package_name,
            req.app_id.as_deref(),
            req.all.unwrap_or(false),
        )?;
        let mut results = Vec::new();
        for t in targets {
            self.client.delete_app(&marathon, &t.app_id).await?;
            if let Some(fw) = &t.framework_name {
                self.teardown(t, fw).await?;
            }
            results.push(installed::uninstall_result(t));
        }
        Ok(json!({ "results": results }))
    }

    /// Tear down the one framework named `fw`; none is fine, several are not told apart.
    async fn teardown(&self, t: &installed::Installed, fw: &str) -> Result<(), Error> {
        let incomplete = |e: Error| match e {
            Error::ServiceUnavailable { .. } => Error::IncompleteUninstall {
                name: t.name.clone(),
            },
            other => other,
        };
        let master = self.master().map_err(incomplete)?;
        let state = self
            .client
            .master_state(&master)
            .await
            .map_err(incomplete)?;
        let ids = installed::framework_ids(&state, fw);
        match ids.as_slice() {
            [] => Ok(()),
            [id] => self.client.teardown(&master, id).await.map_err(incomplete),
            _ => Err(Error::MultipleFrameworkIds {
                name: t.name.clone(),
                version: t.version.clone(),
                framework_name: fw.into(),
                ids,
            }),
        }
    }

    /// `POST /package/repository/list`.
    pub async fn repository_list(&self) -> Value {
        let list = self.repos.lock().await.clone();
        json!({ "repositories": list })
    }

    /// `POST /package/repository/add`: the repository must be readable now.
    pub async fn repository_add(&self, req: RepositoryAddRequest) -> Result<Value, Error> {
        let repo = PackageRepository {
            name: req.name,
            uri: req.uri,
        };
        let mut list = self.repos.lock().await;
        let next = repositories::add(&list, repo.clone(), req.index)?;
        let fetched = self.fetch(&repo).await?;
        self.store.save(&next)?;
        self.remember(&repo, fetched);
        *list = next;
        Ok(json!({ "repositories": *list }))
    }

    /// `POST /package/repository/delete`.
    pub async fn repository_delete(&self, req: RepositoryDeleteRequest) -> Result<Value, Error> {
        let mut list = self.repos.lock().await;
        let next = repositories::delete(&list, req.name.as_deref(), req.uri.as_deref())?;
        self.store.save(&next)?;
        *list = next;
        Ok(json!({ "repositories": *list }))
    }
}
