//! The Docker Engine for tests, and a tiny busybox image built locally (no registry is
//! reachable): imported once per busybox binary, reused after.
#![allow(dead_code)]

use bollard::query_parameters as qp;
use bollard::Docker;
use futures_util::StreamExt;
use std::path::PathBuf;

pub const SOCKET: &str = "/var/run/docker.sock";
pub const REPO: &str = "drover-test-busybox";
/// Bump when the image's layout changes.
pub const RECIPE: &str = "v1";

/// The Engine, or a loud failure: these tests need one.
pub async fn engine() -> Docker {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| SOCKET.to_string());
    let d = Docker::connect_with_unix(&socket, 60, bollard::API_DEFAULT_VERSION)
        .unwrap_or_else(|e| panic!("docker tests need a Docker Engine at unix://{socket}: {e}"));
    match d.negotiate_version().await {
        Ok(d) => d,
        Err(e) => panic!(
            "docker tests need a Docker Engine, and none answers at unix://{socket}: {e}. \
             Start dockerd (or point DOCKER_HOST at its socket); these tests do not skip."
        ),
    }
}

pub fn busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("busybox is missing: apt-get install busybox-static (.ci/run installs it)")
}

pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

/// A tiny busybox image (`/bin/sh`, `sleep`, `httpd`, `nc`, …; `/tmp`; `root` and `nobody` in
/// `/etc/passwd`), imported once per busybox binary. Returns its reference.
pub async fn test_image(d: &Docker) -> String {
    let bin = busybox();
    let bytes = std::fs::read(&bin).unwrap();
    let tag = format!("{RECIPE}-{:016x}", fnv1a(&bytes));
    let image = format!("{REPO}:{tag}");
    if d.inspect_image(&image).await.is_ok() {
        return image;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for sub in ["bin", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::write(root.join("bin/busybox"), &bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("bin/busybox"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let list = std::process::Command::new(&bin)
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if !applet.is_empty() && applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    let tar = std::process::Command::new("tar")
        .args(["-C", root.to_str().unwrap(), "-cf", "-", "."])
        .output()
        .expect("tar");
    assert!(tar.status.success(), "tar failed");
    let opts = qp::CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(REPO.into()),
        tag: Some(tag),
        ..Default::default()
    };
    let body = bollard::body_full(tar.stdout.into());
    let mut s = d.create_image(Some(opts), Some(body), None);
    while let Some(r) = s.next().await {
        r.expect("importing the test image");
    }
    image
}
