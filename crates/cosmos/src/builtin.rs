//! The built-in repository, shipped in the binary so packages install with no network. Its
//! packages are kept in Universe's source layout under `crates/cosmos/universe/packages/<name>/
//! <releaseVersion>/` (`package.json`, `config.json`, `marathon.json.mustache`, `resource.json`)
//! and assembled into a v4 repository at startup, as Universe's build does: the template base64
//! encoded, the release version from the directory. CLI binaries shipped beside them are served
//! by this crate at `/package/cli/<package>/<version>/<file>`; their `resource.json` URLs are
//! relative (made absolute per request from the `Host` the client used) and their sha256 is
//! computed here from the shipped bytes.

use crate::universe::{Package, Repository};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// One package version as shipped.
struct Shipped {
    release: u64,
    package: &'static str,
    config: Option<&'static str>,
    marathon: Option<&'static str>,
    resource: Option<&'static str>,
}

macro_rules! shipped {
    ($dir:literal, $release:literal, config: $c:tt, marathon: $m:tt, resource: $r:tt) => {
        Shipped {
            release: $release,
            package: include_str!(concat!("../universe/packages/", $dir, "/package.json")),
            config: shipped!(@file $dir, "config.json", $c),
            marathon: shipped!(@file $dir, "marathon.json.mustache", $m),
            resource: shipped!(@file $dir, "resource.json", $r),
        }
    };
    (@file $dir:literal, $name:literal, yes) => {
        Some(include_str!(concat!("../universe/packages/", $dir, "/", $name)))
    };
    (@file $dir:literal, $name:literal, no) => {
        None
    };
}

const PACKAGES: &[Shipped] = &[
    shipped!("helloworld/0", 0, config: yes, marathon: yes, resource: no),
    shipped!("static-web/0", 0, config: yes, marathon: yes, resource: no),
    shipped!("drover/0", 0, config: no, marathon: no, resource: yes),
    shipped!("marathon/0", 0, config: yes, marathon: yes, resource: yes),
];

/// A CLI binary served by this crate: `/package/cli/<package>/<version>/<file>`.
pub struct CliFile {
    pub package: &'static str,
    pub version: &'static str,
    pub file: &'static str,
    pub bytes: &'static [u8],
}

const CLI_FILES: &[CliFile] = &[CliFile {
    package: "drover",
    version: "0.1.0",
    file: "dcos-drover",
    bytes: include_bytes!("../universe/cli/dcos-drover"),
}];

/// The path a CLI file is served at.
pub fn cli_path(f: &CliFile) -> String {
    format!("/package/cli/{}/{}/{}", f.package, f.version, f.file)
}

/// The shipped CLI file at `package`/`version`/`file`.
pub fn cli_file(package: &str, version: &str, file: &str) -> Option<&'static CliFile> {
    CLI_FILES
        .iter()
        .find(|f| f.package == package && f.version == version && f.file == file)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The built-in repository, assembled; `Err` names a shipped file that is wrong (a test checks
/// there is none).
pub fn repository() -> Result<Repository, String> {
    let parse = |what: &str, text: &str| -> Result<Value, String> {
        serde_json::from_str(text).map_err(|e| format!("built-in {what}: {e}"))
    };
    let mut packages = Vec::new();
    for s in PACKAGES {
        let mut p = parse("package.json", s.package)?;
        let name = p["name"].as_str().unwrap_or_default().to_string();
        p["releaseVersion"] = json!(s.release);
        if let Some(c) = s.config {
            p["config"] = parse(&format!("{name} config.json"), c)?;
        }
        if let Some(m) = s.marathon {
            let b64 = base64::engine::general_purpose::STANDARD.encode(m);
            p["marathon"] = json!({ "v2AppMustacheTemplate": b64 });
        }
        if let Some(r) = s.resource {
            let mut r = parse(&format!("{name} resource.json"), r)?;
            hash_cli_binaries(&mut r)?;
            p["resource"] = r;
        }
        packages.push(Package::from_json(p).map_err(|e| format!("built-in {name}: {e}"))?);
    }
    Ok(Repository { packages })
}

/// Fill `contentHash` of every `cli.binaries.<os>.<arch>` that names a shipped file.
fn hash_cli_binaries(resource: &mut Value) -> Result<(), String> {
    let Some(oses) = resource
        .pointer_mut("/cli/binaries")
        .and_then(Value::as_object_mut)
    else {
        return Ok(());
    };
    for arches in oses.values_mut().filter_map(Value::as_object_mut) {
        for binary in arches.values_mut() {
            let url = binary["url"].as_str().unwrap_or_default();
            let Some(f) = CLI_FILES.iter().find(|f| cli_path(f) == url) else {
                if url.starts_with('/') {
                    return Err(format!("built-in CLI binary {url} is not shipped"));
                }
                continue;
            };
            binary["contentHash"] = json!([{"algo": "sha256", "value": sha256_hex(f.bytes)}]);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::render;

    #[test]
    fn the_shipped_packages_assemble_and_render() {
        let repo = repository().unwrap();
        let names: Vec<&str> = repo.packages.iter().map(|p| p.name()).collect();
        assert_eq!(
            names,
            vec!["helloworld", "static-web", "drover", "marathon"]
        );
        for p in &repo.packages {
            let name = p.name();
            assert!(
                name.len() > 1 && name.starts_with(|c: char| c.is_ascii_lowercase()),
                "{name}"
            );
            if p.marathon_template().is_some() {
                let app = render(p, "builtin:universe", None, None).unwrap().unwrap();
                assert!(app["id"].as_str().unwrap().starts_with('/'), "{name}");
                assert!(!app["cmd"].as_str().unwrap().is_empty(), "{name}");
            }
        }
        let hello = &repo.packages[0];
        assert_eq!(hello.version(), "0.1.0");
        let app = render(hello, "builtin:universe", None, None)
            .unwrap()
            .unwrap();
        assert_eq!(app["id"], "/helloworld");
        assert_eq!(app["cmd"], "python3 -m http.server $PORT0");
        assert_eq!(app["portDefinitions"][0]["port"], 8080);
        assert_eq!(
            hello.config().unwrap()["properties"]["port"]["default"],
            8080
        );
        assert_eq!(hello.config().unwrap()["additionalProperties"], false);
        assert!(hello.text("postInstallNotes").is_some());

        let web = &repo.packages[1];
        let opts = json!({"service": {"name": "site"}, "web": {"health_check": false}});
        let app = render(web, "u", opts.as_object(), None).unwrap().unwrap();
        assert_eq!(app["id"], "/site");
        assert!(app.get("healthChecks").is_none());
        assert_eq!(
            render(web, "u", None, None).unwrap().unwrap()["healthChecks"][0]["protocol"],
            "HTTP"
        );
    }

    #[test]
    fn cli_binaries_carry_the_hash_of_the_shipped_bytes() {
        let repo = repository().unwrap();
        let cli = repo.packages.iter().find(|p| p.name() == "drover").unwrap();
        let bin = &cli.resource().unwrap()["cli"]["binaries"]["linux"]["x86-64"];
        assert_eq!(bin["kind"], "executable");
        assert_eq!(bin["url"], "/package/cli/drover/0.1.0/dcos-drover");
        let f = cli_file("drover", "0.1.0", "dcos-drover").unwrap();
        assert_eq!(bin["contentHash"][0]["algo"], "sha256");
        assert_eq!(bin["contentHash"][0]["value"], sha256_hex(f.bytes));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(f.bytes.starts_with(b"#!/bin/sh\n"));
        assert!(cli_file("drover", "9", "dcos-drover").is_none());
    }

    #[test]
    fn the_cli_binary_answers_info_and_config_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dcos-drover");
        std::fs::write(
            &path,
            cli_file("drover", "0.1.0", "dcos-drover").unwrap().bytes,
        )
        .unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("sh")
                .arg(&path)
                .args(args)
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).to_string(),
            )
        };
        let (ok, info) = run(&["drover", "--info"]);
        assert!(ok && info.lines().count() == 1, "{info}");
        let (ok, schema) = run(&["drover", "--config-schema"]);
        assert!(ok);
        let schema: Value = serde_json::from_str(&schema).unwrap();
        assert_eq!(schema["type"], "object");
        let (ok, help) = run(&["drover", "--help"]);
        assert!(ok && help.contains("dcos drover info"), "{help}");
        assert!(!run(&["drover", "bogus"]).0);
    }
}
