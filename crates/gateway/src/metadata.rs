//! The cluster's own metadata, as DC/OS serves it at its front door: the cluster id (a stable
//! lowercase UUID v4, kept in the gateway's work dir), the version document, and the answers that
//! tell the dcos CLI this is an open cluster with no login.

use crate::Error;
use std::path::Path;

/// The DC/OS release the version document claims: the CLI 0.6.1 reads it for `dcos --version`
/// and `cluster list` and checks nothing more.
pub const DCOS_VERSION: &str = "1.12.0";

/// The cluster id kept in `<dir>/cluster-id`, made on first use.
pub fn cluster_id(dir: &Path) -> Result<String, Error> {
    let file = dir.join("cluster-id");
    match std::fs::read_to_string(&file) {
        Ok(s) if is_uuid_v4(s.trim()) => return Ok(s.trim().to_string()),
        Ok(s) => {
            return Err(Error::ClusterId(format!(
                "{} holds {:?}, not a lowercase UUID v4",
                file.display(),
                s.trim()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::ClusterId(format!("reading {}: {e}", file.display()))),
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::ClusterId(format!("creating {}: {e}", dir.display())))?;
    let id = uuid::Uuid::new_v4().to_string();
    let tmp = dir.join("cluster-id.tmp");
    // Synced before and after the rename: a power cut leaves the old state or the whole id,
    // never an empty file the next start would refuse.
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(format!("{id}\n").as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &file)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| Error::ClusterId(format!("writing {}: {e}", file.display())))?;
    Ok(id)
}

/// What the dcos CLI accepts as a cluster id: `dcos cluster list` skips directories not named so.
pub fn is_uuid_v4(s: &str) -> bool {
    s.len() == 36
        && s.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '-')
        && uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4)
}

/// `GET /metadata`.
pub fn metadata(cluster_id: &str, public_ip: &str) -> serde_json::Value {
    serde_json::json!({"CLUSTER_ID": cluster_id, "PUBLIC_IPV4": public_ip})
}

/// `GET /dcos-metadata/dcos-version.json`.
pub fn version() -> serde_json::Value {
    serde_json::json!({
        "version": DCOS_VERSION,
        "dcos-variant": "open",
        "dcos-image-commit": format!("drover-{}", env!("CARGO_PKG_VERSION")),
        "bootstrap-id": format!("drover-{}", env!("CARGO_PKG_VERSION")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_id_is_made_once_and_kept() {
        let d = tempfile::tempdir().expect("tempdir");
        let a = cluster_id(d.path()).expect("made");
        assert!(is_uuid_v4(&a), "{a}");
        assert_eq!(cluster_id(d.path()).expect("read"), a);
    }

    #[test]
    fn a_damaged_cluster_id_file_is_an_error_not_a_new_cluster() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("cluster-id"), "not-a-uuid").expect("write");
        let e = cluster_id(d.path()).expect_err("refused");
        assert!(e.to_string().contains("not a lowercase UUID v4"), "{e}");
    }

    #[test]
    fn only_lowercase_v4_uuids_pass() {
        assert!(is_uuid_v4("0f8a5f4e-2b8e-4e57-9a0c-6a4b1c2d3e4f"));
        assert!(!is_uuid_v4("0F8A5F4E-2B8E-4E57-9A0C-6A4B1C2D3E4F"));
        assert!(!is_uuid_v4("0f8a5f4e-2b8e-1e57-9a0c-6a4b1c2d3e4f"));
        assert!(!is_uuid_v4("x"));
    }
}
