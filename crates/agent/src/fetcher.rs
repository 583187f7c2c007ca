//! The fetcher: puts a task's `uris` into its sandbox before it starts. Local paths (plain or
//! `file://`) are copied, `http://` and `https://` URLs downloaded with a size limit (https
//! certificates checked against the system's roots, or `SSL_CERT_FILE`); archives are extracted
//! when `extract` is set (tar, tar.gz/tgz, tar.bz2, tar.xz, zip, gz), files made executable when
//! asked, and `cache` keeps a download in the agent's cache dir for the next task.

use drover_api::CommandURI;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("'{uri}': {msg}")]
    Failed { uri: String, msg: String },
}

fn fail(uri: &str, msg: impl std::fmt::Display) -> FetchError {
    FetchError::Failed {
        uri: uri.to_string(),
        msg: msg.to_string(),
    }
}

pub struct Fetcher {
    pub cache_dir: PathBuf,
    pub max_bytes: u64,
    pub http: reqwest::Client,
}

fn basename(uri: &str) -> String {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    path.rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("download")
        .to_string()
}

fn cache_key(uri: &str) -> String {
    // FNV-1a: stable across runs, no dependency needed for a file name.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in uri.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}-{}", basename(uri))
}

/// An error with its causes: reqwest's own message only says that sending failed, the reason (an
/// unknown certificate issuer, a refused connection) is further down the chain.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cause = c.source();
    }
    msg
}

impl Fetcher {
    pub async fn fetch_all(&self, uris: &[CommandURI], sandbox: &Path) -> Result<(), FetchError> {
        for u in uris {
            self.fetch(u, sandbox).await?;
        }
        Ok(())
    }

    async fn fetch(&self, u: &CommandURI, sandbox: &Path) -> Result<(), FetchError> {
        let uri = u.value.trim();
        if uri.is_empty() {
            return Err(fail(uri, "empty URI"));
        }
        let name = u.output_file.clone().unwrap_or_else(|| basename(uri));
        if name.contains("..") || name.starts_with('/') {
            return Err(fail(
                uri,
                "output_file must be a relative path inside the sandbox",
            ));
        }
        let dest = sandbox.join(&name);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| fail(uri, e))?;
        }
        let is_http = uri.starts_with("http://") || uri.starts_with("https://");
        if is_http {
            let cached = self.cache_dir.join(cache_key(uri));
            if u.cache.unwrap_or(false) && tokio::fs::metadata(&cached).await.is_ok() {
                tokio::fs::copy(&cached, &dest)
                    .await
                    .map_err(|e| fail(uri, format!("copying from cache: {e}")))?;
            } else {
                self.download(uri, &dest).await?;
                if u.cache.unwrap_or(false) {
                    let _ = tokio::fs::create_dir_all(&self.cache_dir).await;
                    let _ = tokio::fs::copy(&dest, &cached).await;
                }
            }
        } else {
            let src = uri.strip_prefix("file://").unwrap_or(uri);
            if !src.starts_with('/') {
                return Err(fail(
                    uri,
                    "unsupported URI scheme (use an absolute path, file://, http:// or https://)",
                ));
            }
            let meta = tokio::fs::metadata(src).await.map_err(|e| fail(uri, e))?;
            if meta.len() > self.max_bytes {
                return Err(fail(
                    uri,
                    format!(
                        "{} bytes exceeds the fetch limit of {} bytes",
                        meta.len(),
                        self.max_bytes
                    ),
                ));
            }
            tokio::fs::copy(src, &dest)
                .await
                .map_err(|e| fail(uri, e))?;
        }
        if u.executable.unwrap_or(false) {
            use std::os::unix::fs::PermissionsExt;
            tokio::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
                .await
                .map_err(|e| fail(uri, e))?;
        } else if u.extract.unwrap_or(true) {
            self.extract(uri, &dest, sandbox).await?;
        }
        Ok(())
    }

    async fn download(&self, uri: &str, dest: &Path) -> Result<(), FetchError> {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let resp = self
            .http
            .get(uri)
            .send()
            .await
            .map_err(|e| fail(uri, with_causes(&e)))?;
        if !resp.status().is_success() {
            return Err(fail(uri, format!("HTTP {}", resp.status())));
        }
        if let Some(len) = resp.content_length() {
            if len > self.max_bytes {
                return Err(fail(
                    uri,
                    format!(
                        "{len} bytes exceeds the fetch limit of {} bytes",
                        self.max_bytes
                    ),
                ));
            }
        }
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| fail(uri, e))?;
        let mut total: u64 = 0;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| fail(uri, with_causes(&e)))?;
            total += chunk.len() as u64;
            if total > self.max_bytes {
                drop(file);
                let _ = tokio::fs::remove_file(dest).await;
                return Err(fail(
                    uri,
                    format!(
                        "download exceeds the fetch limit of {} bytes",
                        self.max_bytes
                    ),
                ));
            }
            file.write_all(&chunk).await.map_err(|e| fail(uri, e))?;
        }
        file.flush().await.map_err(|e| fail(uri, e))?;
        Ok(())
    }

    /// Extract archives by their extension, as Mesos' fetcher does (it also uses tar and unzip).
    async fn extract(&self, uri: &str, file: &Path, sandbox: &Path) -> Result<(), FetchError> {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let f = file.to_string_lossy().to_string();
        let s = sandbox.to_string_lossy().to_string();
        let cmd: Vec<String> = if [
            ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
        ]
        .iter()
        .any(|e| name.ends_with(e))
        {
            vec!["tar".into(), "-C".into(), s, "-xf".into(), f]
        } else if name.ends_with(".zip") {
            vec!["unzip".into(), "-o".into(), "-q".into(), f, "-d".into(), s]
        } else if name.ends_with(".gz") {
            vec!["gzip".into(), "-d".into(), "-f".into(), f]
        } else {
            return Ok(());
        };
        let out = tokio::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .output()
            .await
            .map_err(|e| fail(uri, format!("running {}: {e}", cmd[0])))?;
        if !out.status.success() {
            return Err(fail(
                uri,
                format!(
                    "extracting failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher(dir: &Path) -> Fetcher {
        Fetcher {
            cache_dir: dir.join("cache"),
            max_bytes: 1024,
            http: drover_httpclient::builder().build().expect("http client"),
        }
    }

    fn uri(v: &str) -> CommandURI {
        CommandURI {
            value: v.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn copies_local_files_and_marks_executable() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("run.sh");
        std::fs::write(&src, "#!/bin/sh\necho hi\n").unwrap();
        let sb = d.path().join("sandbox");
        std::fs::create_dir_all(&sb).unwrap();
        let mut u = uri(&format!("file://{}", src.display()));
        u.executable = Some(true);
        fetcher(d.path()).fetch_all(&[u], &sb).await.unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(sb.join("run.sh"))
                .unwrap()
                .permissions()
                .mode()
                & 0o111,
            0o111
        );
    }

    #[tokio::test]
    async fn extracts_tarballs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("hello.txt"), "hello").unwrap();
        let tgz = d.path().join("pkg.tgz");
        let ok = std::process::Command::new("tar")
            .args([
                "-C",
                &d.path().display().to_string(),
                "-czf",
                &tgz.display().to_string(),
                "hello.txt",
            ])
            .status()
            .unwrap();
        assert!(ok.success());
        let sb = d.path().join("sandbox");
        std::fs::create_dir_all(&sb).unwrap();
        fetcher(d.path())
            .fetch_all(&[uri(&tgz.display().to_string())], &sb)
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(sb.join("hello.txt")).unwrap(),
            "hello"
        );
    }

    #[tokio::test]
    async fn refuses_missing_oversized_and_escaping_uris() {
        let d = tempfile::tempdir().unwrap();
        let sb = d.path().join("sandbox");
        std::fs::create_dir_all(&sb).unwrap();
        let f = fetcher(d.path());
        let e = f
            .fetch_all(&[uri("/nonexistent/file")], &sb)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/file"));
        let big = d.path().join("big");
        std::fs::write(&big, vec![0u8; 4096]).unwrap();
        let e = f
            .fetch_all(&[uri(&big.display().to_string())], &sb)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("exceeds the fetch limit"));
        let mut u = uri(&big.display().to_string());
        u.output_file = Some("../../etc/x".into());
        assert!(f.fetch_all(&[u], &sb).await.is_err());
        assert!(f.fetch_all(&[uri("ftp://example/x")], &sb).await.is_err());
    }

    /// Serve `body` at /<name> on an ephemeral port until the returned handle is aborted.
    async fn serve(name: &'static str, body: Vec<u8>) -> (String, tokio::task::JoinHandle<()>) {
        let app = axum::Router::new().route(
            &format!("/{name}"),
            axum::routing::get(move || async move { body.clone() }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/{name}", l.local_addr().unwrap());
        (
            url,
            tokio::spawn(async move { axum::serve(l, app).await.unwrap() }),
        )
    }

    #[tokio::test]
    async fn downloads_extracts_and_caches_http_artifacts() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("app.txt"), "from http").unwrap();
        let tgz = d.path().join("app.tar.gz");
        let ok = std::process::Command::new("tar")
            .args([
                "-C",
                &d.path().display().to_string(),
                "-czf",
                &tgz.display().to_string(),
                "app.txt",
            ])
            .status()
            .unwrap();
        assert!(ok.success());
        let (url, server) = serve("app.tar.gz", std::fs::read(&tgz).unwrap()).await;
        let f = fetcher(d.path());
        let mut u = uri(&url);
        u.cache = Some(true);
        let sb1 = d.path().join("sb1");
        std::fs::create_dir_all(&sb1).unwrap();
        f.fetch_all(std::slice::from_ref(&u), &sb1).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(sb1.join("app.txt")).unwrap(),
            "from http"
        );
        // The server is gone: the second task still gets the artifact, from the cache.
        server.abort();
        let _ = server.await;
        let sb2 = d.path().join("sb2");
        std::fs::create_dir_all(&sb2).unwrap();
        f.fetch_all(&[u], &sb2).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(sb2.join("app.txt")).unwrap(),
            "from http"
        );
    }

    #[tokio::test]
    async fn http_downloads_over_the_limit_or_failing_are_refused_clearly() {
        let d = tempfile::tempdir().unwrap();
        let sb = d.path().join("sb");
        std::fs::create_dir_all(&sb).unwrap();
        let (url, _server) = serve("big.bin", vec![1u8; 8192]).await;
        let e = fetcher(d.path())
            .fetch_all(&[uri(&url)], &sb)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("exceeds the fetch limit"), "{e}");
        let missing = url.replace("big.bin", "nothing-here");
        let e = fetcher(d.path())
            .fetch_all(&[uri(&missing)], &sb)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("404"), "{e}");
    }
}
