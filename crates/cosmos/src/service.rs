//! [`Cosmos`]: the package API's operations, each a plain async function from a decoded request
//! to the answer's JSON. It holds the repository list (persisted in the state directory), a cache
//! of fetched repositories (refreshed after a minute, one fetch per URI at a time; a failure is
//! remembered for a minute, and a stale copy serves while its source is down or being fetched
//! again), the built-in repository, and reaches Marathon and the master through [`Upstreams`].
//! No fetch happens while the repository list is locked.
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
/// A repository that could not be fetched is not tried again for this long.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// How long fetching a repository may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest repository accepted (Mesosphere's full Universe is about 20 MiB).
const MAX_REPOSITORY: usize = 64 << 20;

/// What is known of one repository URI.
#[derive(Default)]
struct Cached {
    /// The last copy fetched, and when.
    copy: Option<(Instant, Arc<Repository>)>,
    /// The last failure since that copy, and when.
    failure: Option<(Instant, Error)>,
    /// Held while the URI is fetched: one fetch per URI at a time.
    gate: Arc<tokio::sync::Mutex<()>>,
}

/// What a request for a repository does, given what is known of it.
#[derive(Debug, PartialEq)]
enum Plan {
    /// Use this copy: fresh, or stale while its source failed lately.
    Use(Arc<Repository>),
    /// The source failed lately and there is no copy.
    Fail(Error),
    /// Fetch it (`stale` serves if another request is fetching it already).
    Fetch { stale: Option<Arc<Repository>> },
}

/// The plan for a repository with cache entry `c` at `now`. Pure.
fn plan(c: &Cached, now: Instant) -> Plan {
    let copy = c.copy.as_ref();
    if let Some((at, r)) = copy {
        if now.saturating_duration_since(*at) < REFRESH {
            return Plan::Use(r.clone());
        }
    }
    if let Some((at, e)) = &c.failure {
        if now.saturating_duration_since(*at) < RETRY_AFTER {
            return match copy {
                Some((_, r)) => Plan::Use(r.clone()),
                None => Plan::Fail(e.clone()),
            };
        }
    }
    Plan::Fetch {
        stale: copy.map(|(_, r)| r.clone()),
    }
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

    /// `repo`'s packages: from the cache while fresh, else fetched. While another request
    /// fetches it, a stale copy serves (or, without one, the request waits for that fetch); a
    /// failure is remembered for [`RETRY_AFTER`], the stale copy serving meanwhile.
    async fn cached(&self, repo: &PackageRepository) -> Result<Arc<Repository>, Error> {
        let (gate, stale) = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let c = cache.entry(repo.uri.clone()).or_default();
            match plan(c, Instant::now()) {
                Plan::Use(r) => return Ok(r),
                Plan::Fail(e) => return Err(e),
                Plan::Fetch { stale } => (c.gate.clone(), stale),
            }
        };
        let _fetching = match stale {
            Some(r) => match gate.try_lock_owned() {
                Ok(g) => g,
                Err(_) => return Ok(r),
            },
            None => gate.lock_owned().await,
        };
        // Another request may have fetched it (or failed to) while this one waited.
        let stale = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            match plan(cache.entry(repo.uri.clone()).or_default(), Instant::now()) {
                Plan::Use(r) => return Ok(r),
                Plan::Fail(e) => return Err(e),
                Plan::Fetch { stale } => stale,
            }
        };
        match self.fetch(repo).await {
            Ok(r) => Ok(self.remember(repo, r)),
            Err(e) => {
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                let c = cache.entry(repo.uri.clone()).or_default();
                c.failure = Some((Instant::now(), e.clone()));
                match stale {
                    Some(r) => {
                        tracing::warn!(repository = %repo.name, uri = %repo.uri, "{e}; using the copy fetched before");
                        Ok(r)
                    }
                    None => Err(e),
                }
            }
        }
    }

    fn remember(&self, repo: &PackageRepository, r: Repository) -> Arc<Repository> {
        let r = Arc::new(r);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let c = cache.entry(repo.uri.clone()).or_default();
        c.copy = Some((Instant::now(), r.clone()));
        c.failure = None;
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
                let bytes = tokio::time::timeout(FETCH_TIMEOUT, read_local(&path, MAX_REPOSITORY))
                    .await
                    .map_err(|_| connection("no answer in time".into()))?
                    .map_err(connection)?;
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
                            "larger than {}",
                            size_text(MAX_REPOSITORY)
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
                // The agents fetch these, not the client.
                origin: self
                    .upstreams
                    .asset_origin()
                    .map(|o| o.trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .unwrap_or_else(|| origin.to_string()),
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
    /// id is `PackageAlreadyInstalled`; an install whose answer is lost removes the app it made
    /// (one carrying this install's nonce in [`render::INSTALL_ID_LABEL`], never another's).
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
                if self.client.app(&marathon, id).await?.is_some() {
                    return Err(Error::PackageAlreadyInstalled);
                }
            }
            let nonce = install_nonce();
            let mut app = Value::Object(app);
            if let Some(labels) = app.get_mut("labels").and_then(Value::as_object_mut) {
                labels.insert(render::INSTALL_ID_LABEL.into(), json!(nonce));
            }
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
                    // The app may have been made with its answer lost: removed if it carries this
                    // install's nonce (another install may have made an app of that id since).
                    if let Some(id) = &id {
                        self.remove_if_ours(&marathon, id, &nonce).await;
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

    /// Delete the app `id` if it is the one the install with `nonce` made.
    async fn remove_if_ours(&self, marathon: &str, id: &str, nonce: &str) {
        let ours = match self.client.app(marathon, id).await {
            Ok(Some(app)) => {
                app.pointer(&format!("/labels/{}", render::INSTALL_ID_LABEL))
                    .and_then(Value::as_str)
                    == Some(nonce)
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(app = %id, "an install failed half-way and whether it made its app is unknown: {e}");
                return;
            }
        };
        if !ours {
            tracing::info!(app = %id, "an install failed half-way; the app of its id is another install's and stays");
            return;
        }
        if let Err(d) = self.client.delete_app(marathon, id).await {
            tracing::warn!(app = %id, "an install failed half-way and its app could not be removed: {d}");
        }
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
    /// down the framework a framework package's app names. Which framework is decided before
    /// the app is deleted (while its tasks can still be read): see
    /// [`installed::framework_to_tear_down`].
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
            let framework = match &t.framework_name {
                Some(fw) => Some((fw, self.framework_of(&marathon, t, fw).await)),
                None => None,
            };
            self.client.delete_app(&marathon, &t.app_id).await?;
            if let Some((fw, found)) = framework {
                self.teardown(t, fw, found?).await?;
            }
            results.push(installed::uninstall_result(t));
        }
        Ok(json!({ "results": results }))
    }

    /// The master to tear `t`'s framework down at and which framework, decided while `t`'s app
    /// still runs. A master that cannot be reached is an `IncompleteUninstall`.
    async fn framework_of(
        &self,
        marathon: &str,
        t: &installed::Installed,
        fw: &str,
    ) -> Result<(String, installed::Teardown), Error> {
        let master = self.master().map_err(|e| incomplete(t, e))?;
        let state = self
            .client
            .master_state(&master)
            .await
            .map_err(|e| incomplete(t, e))?;
        let tasks = match self.client.app_tasks(marathon, &t.app_id).await {
            Ok(tasks) => installed::task_endpoints(&tasks),
            Err(e) => {
                tracing::warn!(app = %t.app_id, "the app's tasks could not be read, its framework is found by name alone: {e}");
                Vec::new()
            }
        };
        let found = installed::framework_to_tear_down(&state, fw, &tasks, Some(marathon));
        Ok((master, found))
    }

    /// Tear down the framework chosen for `t`; none is fine, several are not told apart.
    async fn teardown(
        &self,
        t: &installed::Installed,
        fw: &str,
        (master, found): (String, installed::Teardown),
    ) -> Result<(), Error> {
        match found {
            installed::Teardown::Nothing => Ok(()),
            installed::Teardown::One(id) => self
                .client
                .teardown(&master, &id)
                .await
                .map_err(|e| incomplete(t, e)),
            installed::Teardown::Ambiguous(ids) => Err(Error::MultipleFrameworkIds {
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

    /// `POST /package/repository/add`: the repository must be readable now. It is fetched
    /// without the list locked (the list is checked before, and again when it is changed).
    pub async fn repository_add(&self, req: RepositoryAddRequest) -> Result<Value, Error> {
        let repo = PackageRepository {
            name: req.name,
            uri: req.uri,
        };
        {
            let list = self.repos.lock().await;
            repositories::add(&list, repo.clone(), req.index)?;
        }
        let fetched = self.fetch(&repo).await?;
        let mut list = self.repos.lock().await;
        let next = repositories::add(&list, repo.clone(), req.index)?;
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
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|uri, _| next.iter().any(|r| &r.uri == uri));
        drop(cache);
        *list = next;
        Ok(json!({ "repositories": *list }))
    }
}

/// The master's unavailability during `t`'s uninstall, as Cosmos reports it.
fn incomplete(t: &installed::Installed, e: Error) -> Error {
    match e {
        Error::ServiceUnavailable { .. } => Error::IncompleteUninstall {
            name: t.name.clone(),
        },
        other => other,
    }
}

/// A value no other install sets: this process' random hasher keys, the time, the process id
/// and a counter, hashed.
fn install_nonce() -> String {
    use sha2::Digest;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut random = std::collections::hash_map::RandomState::new().build_hasher();
    random.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut h = sha2::Sha256::new();
    h.update(random.finish().to_le_bytes());
    h.update(now.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A repository file's bytes: only a regular file (checked before opening, so that opening
/// does not wait for a FIFO's writer, and again on the opened handle), at most `max` bytes.
async fn read_local(path: &std::path::Path, max: usize) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let regular = |m: std::fs::Metadata| {
        if m.is_file() {
            Ok(())
        } else {
            Err("not a regular file".to_string())
        }
    };
    regular(tokio::fs::metadata(path).await.map_err(|e| e.to_string())?)?;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| e.to_string())?;
    regular(file.metadata().await.map_err(|e| e.to_string())?)?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| e.to_string())?;
    if bytes.len() > max {
        return Err(format!("larger than {}", size_text(max)));
    }
    Ok(bytes)
}

/// `64 MiB`, `10 bytes`.
fn size_text(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Nowhere;

    impl Upstreams for Nowhere {
        fn marathon(&self) -> Option<String> {
            None
        }
        fn master(&self) -> Option<String> {
            None
        }
    }

    fn cosmos(dir: &tempfile::TempDir) -> Arc<Cosmos> {
        Arc::new(Cosmos::new(dir.path().to_path_buf(), Arc::new(Nowhere)).unwrap())
    }

    fn repo(name: &str, uri: &str) -> PackageRepository {
        PackageRepository {
            name: name.into(),
            uri: uri.into(),
        }
    }

    /// A repository over HTTP answering `status` after `delay`, counting the requests.
    async fn counted(status: u16, delay: Duration) -> (String, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let app = axum::Router::new().route(
            "/repo",
            axum::routing::get(move || {
                let seen = seen.clone();
                async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        r#"{"packages": []}"#,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("http://{addr}/repo"), count)
    }

    #[test]
    fn the_cache_plans_use_fetch_or_fail() {
        let now = Instant::now() + Duration::from_secs(1000);
        let copy = Arc::new(Repository::default());
        let e = Error::RepoNameOrUriMissing;
        let ago = |s: u64| now - Duration::from_secs(s);
        let entry = |copy: Option<(u64, &Arc<Repository>)>, failure: Option<u64>| Cached {
            copy: copy.map(|(s, r)| (ago(s), r.clone())),
            failure: failure.map(|s| (ago(s), e.clone())),
            gate: Arc::default(),
        };
        let fetch_stale = Plan::Fetch {
            stale: Some(copy.clone()),
        };
        let cases = [
            (entry(None, None), Plan::Fetch { stale: None }),
            (entry(Some((10, &copy)), None), Plan::Use(copy.clone())),
            (entry(Some((61, &copy)), None), fetch_stale),
            // A recent failure: the stale copy serves, or the failure is the answer.
            (entry(Some((200, &copy)), Some(5)), Plan::Use(copy.clone())),
            (entry(None, Some(5)), Plan::Fail(e.clone())),
            // An old failure is tried again.
            (entry(None, Some(61)), Plan::Fetch { stale: None }),
        ];
        for (i, (c, want)) in cases.into_iter().enumerate() {
            assert_eq!(plan(&c, now), want, "case {i}");
        }
    }

    #[tokio::test]
    async fn only_regular_files_are_read_and_only_so_much() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("repo.json");
        std::fs::write(&file, "0123456789").unwrap();
        assert_eq!(read_local(&file, 10).await.unwrap(), b"0123456789");
        assert_eq!(
            read_local(&file, 9).await.unwrap_err(),
            "larger than 9 bytes"
        );
        // /dev/zero has no length to check, a FIFO would wait for a writer, a directory.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        let mut refused = vec![
            std::path::PathBuf::from("/dev/zero"),
            dir.path().to_path_buf(),
        ];
        if made {
            refused.push(fifo);
        }
        for p in refused {
            let r = tokio::time::timeout(Duration::from_secs(5), read_local(&p, 1 << 20)).await;
            assert_eq!(
                r.map_err(|_| "hung"),
                Ok(Err("not a regular file".to_string())),
                "{}",
                p.display()
            );
        }
        assert_eq!(size_text(MAX_REPOSITORY), "64 MiB");
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_fetch() {
        let dir = tempfile::tempdir().unwrap();
        let c = cosmos(&dir);
        let (uri, count) = counted(200, Duration::from_millis(200)).await;
        let r = repo("slow", &uri);
        let asks: Vec<_> = (0..8)
            .map(|_| {
                let (c, r) = (c.clone(), r.clone());
                tokio::spawn(async move { c.cached(&r).await.map(|_| ()) })
            })
            .collect();
        for a in asks {
            assert_eq!(a.await.unwrap(), Ok(()));
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failure_is_remembered_and_a_stale_copy_serves_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let c = cosmos(&dir);
        let (uri, count) = counted(500, Duration::ZERO).await;
        let r = repo("down", &uri);
        for _ in 0..3 {
            let e = c.cached(&r).await.unwrap_err();
            assert_eq!(e.kind(), "UniverseClientHttpError");
        }
        assert_eq!(count.load(Ordering::SeqCst), 1, "one try per minute");

        // A copy fetched long ago: fetched again once, failing; the copy serves each time.
        let (uri, count) = counted(500, Duration::ZERO).await;
        let r = repo("stale", &uri);
        let old = Arc::new(Repository::default());
        c.cache.lock().unwrap().insert(
            uri.clone(),
            Cached {
                copy: Instant::now()
                    .checked_sub(REFRESH * 2)
                    .map(|at| (at, old.clone())),
                ..Cached::default()
            },
        );
        for _ in 0..3 {
            assert!(Arc::ptr_eq(&c.cached(&r).await.unwrap(), &old));
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_list_is_not_locked_while_a_repository_is_fetched() {
        let dir = tempfile::tempdir().unwrap();
        let c = cosmos(&dir);
        let (uri, _) = counted(200, Duration::from_secs(600)).await;
        let adding = {
            let c = c.clone();
            tokio::spawn(async move {
                c.repository_add(RepositoryAddRequest {
                    name: "hangs".into(),
                    uri,
                    index: None,
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let list = tokio::time::timeout(Duration::from_secs(2), c.repository_list()).await;
        assert_eq!(
            list.unwrap(),
            json!({"repositories": [{"name": "Universe", "uri": "builtin:universe"}]})
        );
        let deleted = tokio::time::timeout(
            Duration::from_secs(2),
            c.repository_delete(RepositoryDeleteRequest {
                name: Some("Universe".into()),
                uri: None,
            }),
        )
        .await;
        assert!(deleted.unwrap().is_ok());
        adding.abort();
    }

    #[tokio::test]
    async fn a_repository_added_meanwhile_is_not_added_twice() {
        let dir = tempfile::tempdir().unwrap();
        let c = cosmos(&dir);
        let (uri, _) = counted(200, Duration::from_millis(200)).await;
        let add = |name: &str| {
            let (c, uri, name) = (c.clone(), uri.clone(), name.to_string());
            tokio::spawn(async move {
                c.repository_add(RepositoryAddRequest {
                    name,
                    uri,
                    index: None,
                })
                .await
                .map(|_| ())
                .map_err(|e| e.kind())
            })
        };
        let (a, b) = (add("a"), add("b"));
        let mut got = vec![a.await.unwrap(), b.await.unwrap()];
        got.sort();
        assert_eq!(got, vec![Ok(()), Err("RepositoryAlreadyPresent")]);
        assert_eq!(
            c.repository_list().await["repositories"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}
