//! `drover package ...`: the package catalogue through the gateway's Cosmos API (what `dcos
//! package` speaks: its media types, its bodies) — search, describe, install (waiting for the
//! Marathon deployment it starts), list, uninstall, and `repo list|add|remove`. Cosmos' errors
//! become the CLI's: a bad option names the option and the schema rule it breaks.

use crate::args::WaitArgs;
use crate::client::Client;
use crate::deployment::wait::{wait_for, EventFeed, Watched};
use crate::error::{Error, Server};
use crate::render::{labelled, outln, print_json, table, truncate, value_text};
use crate::views::Deployment;
use clap::{Args, Subcommand};
use comfy_table::Table;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `drover package`: where the gateway is, and `--json`.
#[derive(Args, Debug, Clone)]
pub struct PackageArgs {
    /// The gateway serving the package API (Cosmos), as host:port or a URL.
    #[arg(
        long,
        global = true,
        env = "DROVER_GATEWAY",
        default_value = "http://127.0.0.1:8000"
    )]
    pub gateway: String,
    /// Print Cosmos' JSON instead of tables, and no progress.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum PackageCmd {
    /// Find packages: a word matched in names, descriptions and tags, or a pattern with `*`.
    Search {
        /// What to look for; everything when left out.
        query: Option<String>,
    },
    /// Show a package: what it is, its versions, its options and their defaults.
    Describe {
        name: String,
        /// A version other than the current one.
        #[arg(long)]
        package_version: Option<String>,
        /// Print the options' JSON schema.
        #[arg(long)]
        config: bool,
        /// Print the Marathon app the package would run (with --options, with those).
        #[arg(long)]
        render: bool,
        /// Options for --render: a JSON file, or - for stdin.
        #[arg(long, value_name = "FILE")]
        options: Option<PathBuf>,
    },
    /// Install a package: its Marathon app is created, and its deployment waited for.
    Install {
        name: String,
        #[arg(long)]
        package_version: Option<String>,
        /// The options: a JSON file (defaults fill in the rest), or - for stdin.
        #[arg(long, value_name = "FILE")]
        options: Option<PathBuf>,
        /// Run it under this app id instead of the package's own.
        #[arg(long)]
        app_id: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List the installed packages (the Marathon apps that carry a package's labels).
    List {
        /// Only this package.
        name: Option<String>,
        /// Only the package run by this app.
        #[arg(long)]
        app_id: Option<String>,
    },
    /// Uninstall a package: its app is removed (and a framework's framework torn down).
    Uninstall {
        name: String,
        /// The app to remove, when the package runs as several.
        #[arg(long)]
        app_id: Option<String>,
        /// Remove every app of the package.
        #[arg(long)]
        all: bool,
    },
    /// The repositories packages come from.
    #[command(subcommand)]
    Repo(RepoCmd),
}

#[derive(Subcommand, Debug)]
pub enum RepoCmd {
    /// List the repositories, in the order they are searched.
    List,
    /// Add a repository: a Universe repository's http(s):// URL, file:// URL or local path.
    Add {
        name: String,
        uri: String,
        /// Its place in the list (0 is searched first); the end by default.
        #[arg(long)]
        index: Option<u32>,
    },
    /// Remove repositories by name.
    Remove {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// How long a Cosmos call may take (an install waits for Marathon to accept the app).
const TIMEOUT: Duration = Duration::from_secs(60);

/// The gateway's Cosmos API.
struct Cosmos {
    http: reqwest::Client,
    base: String,
}

impl Cosmos {
    fn new(gateway: &str) -> Result<Cosmos, Error> {
        let base = crate::client::base_url(gateway);
        let http = drover_httpclient::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| Error::usage(format!("no HTTP client: {e}")))?;
        Ok(Cosmos { http, base })
    }

    fn addr(&self) -> &str {
        self.base.strip_prefix("http://").unwrap_or(&self.base)
    }

    /// `POST /package/<ep>` asking for the response `versions` in order (the next one when
    /// Cosmos refuses a version), as `dcos package` does.
    async fn call(&self, ep: &str, versions: &[u8], body: &Value) -> Result<Value, Error> {
        let kind = ep.replace('/', ".");
        let request = format!("POST /package/{ep}");
        let mut last = None;
        for v in versions {
            let accept = format!(
                "application/vnd.dcos.package.{kind}-response+json;charset=utf-8;version=v{v}"
            );
            let resp = self
                .http
                .post(format!("{}/package/{ep}", self.base))
                .header(
                    CONTENT_TYPE,
                    format!(
                        "application/vnd.dcos.package.{kind}-request+json;charset=utf-8;version=v1"
                    ),
                )
                .header(ACCEPT, &accept)
                .body(body.to_string())
                .send()
                .await
                .map_err(|e| self.unreachable(&e))?;
            let status = resp.status();
            let content_type = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|c| c.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let text = resp.text().await.unwrap_or_default();
            let parsed: Option<Value> = serde_json::from_str(&text).ok();
            if status.is_success() {
                return match parsed {
                    Some(v) if content_type.contains(&accept) => Ok(v),
                    _ => Err(self.refused(
                        &request,
                        format!("answered {content_type:?}, not {accept}: is {} a Drover gateway? (--gateway, DROVER_GATEWAY)", self.addr()),
                    )),
                };
            }
            let error = match parsed {
                Some(e) if e.get("type").is_some() => e,
                _ => {
                    let start: String = text.chars().take(80).collect();
                    return Err(self.refused(&request, format!("{status}: {}", start.trim())));
                }
            };
            if error["type"] == "UnsupportedContentType" {
                last = Some(error);
                continue;
            }
            return Err(cosmos_error(&error, &request, self.addr()));
        }
        Err(cosmos_error(
            &last.unwrap_or_else(|| json!({"message": "no version offered"})),
            &request,
            self.addr(),
        ))
    }

    fn unreachable(&self, e: &reqwest::Error) -> Error {
        let mut inner: &dyn std::error::Error = e;
        while let Some(s) = inner.source() {
            inner = s;
        }
        Error::Unreachable {
            server: Server::Gateway,
            addr: self.addr().to_string(),
            cause: inner.to_string(),
        }
    }

    fn refused(&self, request: &str, what: String) -> Error {
        Error::Cosmos {
            addr: self.addr().to_string(),
            request: request.to_string(),
            kind: String::new(),
            message: what,
        }
    }
}

/// A Cosmos error (`{"type", "message", "data"}`) as the CLI's error for it.
fn cosmos_error(e: &Value, request: &str, addr: &str) -> Error {
    let kind = e["type"].as_str().unwrap_or_default();
    let message = e["message"].as_str().unwrap_or("failed").to_string();
    match kind {
        "PackageNotFound" | "VersionNotFound" | "PackageNotInstalled"
        | "UninstallNonExistentAppForPackage" | "RepositoryNotPresent" => Error::NotFound {
            what: message,
            hint: Some("`drover package search` lists the packages, `drover package list` the installed ones".into()),
        },
        "PackageAlreadyInstalled" => Error::Conflict {
            message: format!("{message}: its app exists"),
            hint: Some("install it under another app id with --app-id, or uninstall it first".into()),
        },
        "RepositoryAlreadyPresent" => Error::Conflict { message, hint: None },
        "AmbiguousAppId" => Error::Usage {
            message,
            hint: Some("name the app with --app-id, or remove them all with --all".into()),
        },
        "JsonSchemaMismatch" => Error::Usage {
            message: schema_mismatch(e),
            hint: Some("`drover package describe <name>` lists the options, --config prints their schema".into()),
        },
        "OptionsNotAllowed" | "RepositoryUriSyntax" | "UnsupportedRepositoryUri"
        | "RepositoryAddIndexOutOfBounds" | "RepoNameOrUriMissing" => Error::usage(message),
        "MarathonBadResponse" => {
            let details = e["data"]["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|d| {
                    let path = d["path"].as_str().unwrap_or("/");
                    let errs: Vec<String> = match (&d["errors"], &d["error"]) {
                        (Value::Array(list), _) => list.iter().map(value_text).collect(),
                        (_, Value::String(one)) => vec![one.clone()],
                        _ => vec![d.to_string()],
                    };
                    errs.into_iter().map(move |x| format!("{path}: {x}"))
                })
                .map(|l| format!("\n  {l}"))
                .collect::<String>();
            Error::DeploymentFailed {
                failures: vec![format!("Marathon refused the package's app: {message}{details}")],
            }
        }
        _ => Error::Cosmos {
            addr: addr.to_string(),
            request: request.to_string(),
            kind: kind.to_string(),
            message,
        },
    }
}

/// `the options break the package's schema:` then one line per broken rule: where, and what.
fn schema_mismatch(e: &Value) -> String {
    let mut out = String::from("the options do not match the package's schema:");
    for r in e["data"]["errors"].as_array().into_iter().flatten() {
        let pointer = r["instance"]["pointer"].as_str().unwrap_or_default();
        let at = if pointer.is_empty() {
            "(top level)".to_string()
        } else {
            pointer.trim_start_matches('/').replace('/', ".")
        };
        let list = |k: &str| -> Option<String> {
            r[k].as_array()
                .map(|l| l.iter().map(value_text).collect::<Vec<_>>().join(", "))
        };
        let what = match r["keyword"].as_str().unwrap_or_default() {
            "type" => format!(
                "is {}, must be {}",
                value_text(&r["found"]),
                list("expected").unwrap_or_default()
            ),
            "additionalProperties" => {
                format!(
                    "has unknown options: {}",
                    list("unwanted").unwrap_or_default()
                )
            }
            "required" => format!(
                "lacks required options: {}",
                list("missing").unwrap_or_default()
            ),
            "minimum" => format!("is {}, at least {} is allowed", r["found"], r["minimum"]),
            "maximum" => format!("is {}, at most {} is allowed", r["found"], r["maximum"]),
            "enum" => format!("is {}, must be one of {}", r["value"], r["enum"]),
            "pattern" => format!("{} does not match {}", r["string"], r["regex"]),
            _ => r["message"].as_str().unwrap_or("is invalid").to_string(),
        };
        out.push_str(&format!("\n  {at}: {what}"));
    }
    out
}

/// The options in `file` (or stdin for `-`): a JSON object.
fn read_options(file: &Path) -> Result<Map<String, Value>, Error> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| Error::usage(format!("cannot read the options from stdin: {e}")))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| Error::usage(format!("cannot read {}: {e}", file.display())))?
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::usage(format!(
            "{} must hold a JSON object of options",
            file.display()
        ))),
        Err(e) => Err(Error::usage(format!(
            "{} is not valid JSON: {e}",
            file.display()
        ))),
    }
}

pub async fn package(cmd: PackageCmd, c: PackageArgs) -> Result<(), Error> {
    let cosmos = Cosmos::new(&c.gateway)?;
    match cmd {
        PackageCmd::Search { query } => {
            let v = cosmos
                .call("search", &[1], &json!({"query": query.unwrap_or_default()}))
                .await?;
            if c.json {
                print_json(&v);
            } else if v["packages"].as_array().is_none_or(Vec::is_empty) {
                outln!("no packages found");
            } else {
                outln!("{}", search_table(&v));
            }
            Ok(())
        }
        PackageCmd::Describe {
            name,
            package_version,
            config,
            render,
            options,
        } => {
            let mut req = json!({ "packageName": name });
            if let Some(v) = &package_version {
                req["packageVersion"] = json!(v);
            }
            if render {
                if let Some(f) = &options {
                    req["options"] = Value::Object(read_options(f)?);
                }
                let v = cosmos.call("render", &[1], &req).await?;
                print_json(&v["marathonJson"]);
                return Ok(());
            }
            let v = cosmos.call("describe", &[3, 2], &req).await?;
            let def = v.get("package").cloned().unwrap_or(v);
            if config {
                print_json(&def["config"]);
            } else if c.json {
                print_json(&def);
            } else {
                let versions = cosmos
                    .call(
                        "list-versions",
                        &[1],
                        &json!({"packageName": name, "includePackageVersions": true}),
                    )
                    .await
                    .unwrap_or_default();
                outln!("{}", describe_text(&def, &versions["results"]));
            }
            Ok(())
        }
        PackageCmd::Install {
            name,
            package_version,
            options,
            app_id,
            wait,
        } => {
            let mut req = json!({"packageName": name, "options": {}});
            if let Some(v) = &package_version {
                req["packageVersion"] = json!(v);
            }
            if let Some(f) = &options {
                req["options"] = Value::Object(read_options(f)?);
            }
            if let Some(id) = &app_id {
                req["appId"] = json!(id);
            }
            install(&cosmos, &c, &req, &wait).await
        }
        PackageCmd::List { name, app_id } => {
            let mut req = json!({});
            if let Some(n) = name {
                req["packageName"] = json!(n);
            }
            if let Some(id) = app_id {
                req["appId"] = json!(id);
            }
            let v = cosmos.call("list", &[1], &req).await?;
            if c.json {
                print_json(&v["packages"]);
            } else if v["packages"].as_array().is_none_or(Vec::is_empty) {
                outln!("no packages installed");
            } else {
                outln!("{}", list_table(&v));
            }
            Ok(())
        }
        PackageCmd::Uninstall { name, app_id, all } => {
            let mut req = json!({ "packageName": name });
            if let Some(id) = app_id {
                req["appId"] = json!(id);
            }
            if all {
                req["all"] = json!(true);
            }
            let v = cosmos.call("uninstall", &[1], &req).await?;
            if c.json {
                print_json(&v);
                return Ok(());
            }
            for r in v["results"].as_array().into_iter().flatten() {
                outln!(
                    "uninstalled {} {} ({})",
                    value_text(&r["packageName"]),
                    value_text(&r["packageVersion"]),
                    value_text(&r["appId"])
                );
                if let Some(n) = r["postUninstallNotes"].as_str() {
                    outln!("{n}");
                }
            }
            Ok(())
        }
        PackageCmd::Repo(cmd) => repo(&cosmos, &c, cmd).await,
    }
}

/// Install, then wait for the deployment of the app it created.
async fn install(
    cosmos: &Cosmos,
    c: &PackageArgs,
    req: &Value,
    wait: &WaitArgs,
) -> Result<(), Error> {
    let timeout = crate::args::secs(wait.timeout)?;
    let marathon = Client::new(
        Server::Marathon,
        &format!("{}/service/marathon", cosmos.base),
    )?;
    let feed = if wait.no_wait {
        EventFeed::none()
    } else {
        EventFeed::subscribe(&marathon).await
    };
    let v = cosmos.call("install", &[2, 1], req).await?;
    let name = value_text(&v["packageName"]);
    let version = value_text(&v["packageVersion"]);
    let app = v["appId"].as_str().map(str::to_string);
    if c.json {
        print_json(&v);
    } else {
        match &app {
            Some(id) => outln!("installed {name} {version} as the Marathon app {id}"),
            None => outln!("installed {name} {version} (it runs no app)"),
        }
    }
    if let (Some(id), false) = (&app, wait.no_wait) {
        let deps: Vec<Deployment> = marathon.get("/v2/deployments").await?;
        if let Some(d) = deps
            .iter()
            .find(|d| d.affected_apps.iter().any(|a| a == id))
        {
            let w = Watched::new(d.id.clone(), vec![id.clone()], "deployed");
            wait_for(&marathon, &feed, vec![w], timeout, !c.json).await?;
        }
    }
    if !c.json {
        if let Some(n) = v["postInstallNotes"].as_str() {
            outln!("{n}");
        }
        if v.get("cli").is_some_and(|x| !x.is_null()) {
            outln!("it has a dcos CLI subcommand: `dcos package install {name} --cli` installs it");
        }
    }
    Ok(())
}

async fn repo(cosmos: &Cosmos, c: &PackageArgs, cmd: RepoCmd) -> Result<(), Error> {
    let v = match cmd {
        RepoCmd::List => cosmos.call("repository/list", &[1], &json!({})).await?,
        RepoCmd::Add { name, uri, index } => {
            let mut req = json!({"name": name, "uri": uri});
            if let Some(i) = index {
                req["index"] = json!(i);
            }
            cosmos.call("repository/add", &[1], &req).await?
        }
        RepoCmd::Remove { names } => {
            let mut last = Value::Null;
            for name in names {
                last = cosmos
                    .call("repository/delete", &[1], &json!({ "name": name }))
                    .await?;
            }
            last
        }
    };
    if c.json {
        print_json(&v["repositories"]);
    } else {
        outln!("{}", repo_table(&v));
    }
    Ok(())
}

fn search_table(v: &Value) -> Table {
    let mut t = table(&["NAME", "VERSION", "SELECTED", "FRAMEWORK", "DESCRIPTION"]);
    for p in v["packages"].as_array().into_iter().flatten() {
        t.add_row(vec![
            value_text(&p["name"]),
            value_text(&p["currentVersion"]),
            yes(&p["selected"]),
            yes(&p["framework"]),
            truncate(&value_text(&p["description"]), 60),
        ]);
    }
    t
}

fn list_table(v: &Value) -> Table {
    let mut t = table(&["NAME", "VERSION", "APP", "DESCRIPTION"]);
    for p in v["packages"].as_array().into_iter().flatten() {
        let def = &p["packageInformation"]["packageDefinition"];
        t.add_row(vec![
            value_text(&def["name"]),
            value_text(&def["version"]),
            value_text(&p["appId"]),
            truncate(&value_text(&def["description"]), 50),
        ]);
    }
    t
}

fn repo_table(v: &Value) -> Table {
    let mut t = table(&["#", "NAME", "URI"]);
    for (i, r) in v["repositories"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        t.add_row(vec![
            i.to_string(),
            value_text(&r["name"]),
            value_text(&r["uri"]),
        ]);
    }
    t
}

fn yes(v: &Value) -> String {
    if v.as_bool() == Some(true) { "yes" } else { "" }.into()
}

/// `label: value` lines for a package, then its options: dotted name, type, default.
fn describe_text(def: &Value, versions: &Value) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("name", value_text(&def["name"])),
        ("version", value_text(&def["version"])),
        ("description", value_text(&def["description"])),
        ("maintainer", value_text(&def["maintainer"])),
        (
            "tags",
            def["tags"]
                .as_array()
                .map(|t| t.iter().map(value_text).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
        ),
        (
            "framework",
            if def["framework"] == true {
                "yes"
            } else {
                "no"
            }
            .into(),
        ),
    ];
    if let Some(v) = versions.as_object() {
        rows.push(("versions", v.keys().cloned().collect::<Vec<_>>().join(", ")));
    }
    let app = def["marathon"]["v2AppMustacheTemplate"].is_string();
    rows.push(("runs an app", if app { "yes" } else { "no" }.into()));
    if def["resource"]["cli"].is_object() {
        rows.push((
            "CLI",
            format!(
                "dcos {} (`dcos package install {} --cli`)",
                value_text(&def["name"]),
                value_text(&def["name"])
            ),
        ));
    }
    let mut out = labelled(&rows);
    let mut options = Vec::new();
    flatten_options(&def["config"], "", &mut options);
    if !options.is_empty() {
        let mut t = table(&["OPTION", "TYPE", "DEFAULT", "DESCRIPTION"]);
        for o in options {
            t.add_row(o);
        }
        out.push_str(&format!("\n\n{t}"));
    }
    out
}

/// The leaf options of a schema: `[dotted name, type, default, description]`.
fn flatten_options(schema: &Value, prefix: &str, out: &mut Vec<Vec<String>>) {
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    for (name, p) in props {
        let dotted = format!("{prefix}{name}");
        if p["properties"].is_object() {
            flatten_options(p, &format!("{dotted}."), out);
            continue;
        }
        let default = match &p["default"] {
            Value::Null => String::new(),
            v => v.to_string(),
        };
        out.push(vec![
            dotted,
            value_text(&p["type"]),
            truncate(&default, 30),
            truncate(&value_text(&p["description"]), 50),
        ]);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::cells;

    #[test]
    fn cosmos_errors_become_the_cli_errors_they_are() {
        let cases = [
            (json!({"type": "PackageNotFound", "message": "Package [x] not found"}), 3, "Package [x] not found"),
            (json!({"type": "PackageAlreadyInstalled", "message": "Package is already installed"}), 4, "Package is already installed: its app exists"),
            (json!({"type": "AmbiguousAppId", "message": "Multiple apps named [w]"}), 2, "Multiple apps named [w]"),
            (json!({"type": "RepositoryUriSyntax", "message": "bad uri"}), 2, "bad uri"),
            (json!({"type": "MarathonBadResponse", "message": "Object is not valid",
                    "data": {"errors": [{"path": "/cpus", "errors": ["got -1"]}]}}), 1,
             "Marathon refused the package's app: Object is not valid\n  /cpus: got -1"),
            (json!({"type": "ServiceUnavailable", "message": "Unable to complete request due to service [marathon] unavailability"}), 1,
             "Cosmos at 127.0.0.1:8000 refused POST /package/list: Unable to complete request due to service [marathon] unavailability (ServiceUnavailable)"),
        ];
        for (body, code, text) in cases {
            let e = cosmos_error(&body, "POST /package/list", "127.0.0.1:8000");
            assert_eq!(
                (e.exit_code(), e.to_string().as_str()),
                (code, text),
                "{body}"
            );
        }
    }

    #[test]
    fn a_schema_mismatch_names_each_option_and_rule() {
        let body = json!({"type": "JsonSchemaMismatch", "message": "Options JSON failed validation", "data": {"errors": [
            {"keyword": "type", "instance": {"pointer": "/port"}, "found": "string", "expected": ["integer"]},
            {"keyword": "additionalProperties", "instance": {"pointer": ""}, "unwanted": ["prot"]},
            {"keyword": "minimum", "instance": {"pointer": "/service/cpus"}, "found": 0, "minimum": 0.01},
            {"keyword": "required", "instance": {"pointer": "/service"}, "missing": ["name"]},
            {"keyword": "format", "instance": {"pointer": "/url"}, "message": "\"x\" is not a \"uri\""}
        ]}});
        let e = cosmos_error(&body, "POST /package/install", "g");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "the options do not match the package's schema:\n  port: is string, must be integer\n  (top level): has unknown options: prot\n  service.cpus: is 0, at least 0.01 is allowed\n  service: lacks required options: name\n  url: \"x\" is not a \"uri\""
        );
        assert!(e.hint().unwrap().contains("describe"));
    }

    #[test]
    fn options_files_must_hold_an_object() {
        let dir = std::env::temp_dir().join(format!("drover-package-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(&good, r#"{"port": 9000}"#).unwrap();
        assert_eq!(read_options(&good).unwrap()["port"], 9000);
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "[1]").unwrap();
        assert!(read_options(&bad)
            .unwrap_err()
            .to_string()
            .contains("JSON object"));
        std::fs::write(&bad, "{").unwrap();
        assert!(read_options(&bad)
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
        assert_eq!(
            read_options(&dir.join("missing.json"))
                .unwrap_err()
                .exit_code(),
            2
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tables_show_packages_and_options() {
        let search = json!({"packages": [
            {"name": "static-web", "currentVersion": "1.0.0", "selected": true, "framework": false, "description": "A static web server"},
            {"name": "helloworld", "currentVersion": "0.1.0", "framework": false, "description": "Example"}
        ]});
        assert_eq!(
            cells(&search_table(&search)),
            vec![
                vec!["static-web", "1.0.0", "yes", "", "A static web server"],
                vec!["helloworld", "0.1.0", "", "", "Example"]
            ]
        );
        let list = json!({"packages": [{"appId": "/helloworld", "packageInformation": {"packageDefinition": {"name": "helloworld", "version": "0.1.0", "description": "Example"}}}]});
        assert_eq!(
            cells(&list_table(&list)),
            vec![vec!["helloworld", "0.1.0", "/helloworld", "Example"]]
        );
        let def = json!({"name": "w", "version": "1", "description": "d", "maintainer": "m", "tags": ["a", "b"],
            "config": {"properties": {"port": {"type": "integer", "default": 8080, "description": "the port"},
                                      "service": {"properties": {"name": {"type": "string", "default": "w"}}}}}});
        let text = describe_text(&def, &json!({"1": "0", "2": "1"}));
        assert!(
            text.contains("versions:") && text.contains("1, 2"),
            "{text}"
        );
        assert!(text.contains("tags:") && text.contains("a, b"), "{text}");
        assert!(
            text.contains("service.name") && text.contains("\"w\"") && text.contains("8080"),
            "{text}"
        );
        let repos = json!({"repositories": [{"name": "Universe", "uri": "builtin:universe"}]});
        assert_eq!(
            cells(&repo_table(&repos)),
            vec![vec!["0", "Universe", "builtin:universe"]]
        );
    }
}
