//! `zk://[user:pass@]host1:port1,host2:port2/path`, the form Mesos, Marathon and their clients
//! take (`--zk`, `--master zk://…`). The path is where a group lives (`/mesos`, `/marathon`).

use crate::ZkError;

/// A parsed `zk://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkUrl {
    /// `host1:port1,host2:port2`, as the client connects to it.
    pub servers: String,
    /// Absolute, without a trailing slash: `/mesos`.
    pub path: String,
    /// `user:pass` for ZooKeeper's digest scheme, when the URL carries one.
    pub digest: Option<String>,
}

impl ZkUrl {
    pub fn parse(url: &str) -> Result<ZkUrl, ZkError> {
        let bad = |why: &str| ZkError::BadUrl {
            url: url.to_string(),
            why: why.to_string(),
        };
        let rest = url
            .strip_prefix("zk://")
            .ok_or_else(|| bad("it must start with zk://"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => {
                return Err(bad(
                    "it needs a path after the servers, e.g. zk://host:2181/mesos",
                ))
            }
        };
        let (digest, servers) = match authority.rsplit_once('@') {
            Some((cred, servers)) => {
                if !cred.contains(':') {
                    return Err(bad("credentials must be user:password"));
                }
                (Some(cred.to_string()), servers)
            }
            None => (None, authority),
        };
        if servers.is_empty() {
            return Err(bad("no servers"));
        }
        for s in servers.split(',') {
            let (host, port) = s
                .rsplit_once(':')
                .ok_or_else(|| bad(&format!("server '{s}' needs a port (host:2181)")))?;
            if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(bad(&format!("server '{s}' is not host:port")));
            }
        }
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return Err(bad("the path must not be /"));
        }
        if path
            .split('/')
            .skip(1)
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err(bad("the path has an empty, '.' or '..' segment"));
        }
        Ok(ZkUrl {
            servers: servers.to_string(),
            path: path.to_string(),
            digest,
        })
    }

    /// The same servers and credentials with another path (Marathon's state beside its latch).
    pub fn with_path(&self, path: &str) -> ZkUrl {
        ZkUrl {
            path: path.trim_end_matches('/').to_string(),
            ..self.clone()
        }
    }

    /// The URL with its credentials, to hand to another process or part.
    pub fn to_string_with_secret(&self) -> String {
        match &self.digest {
            Some(d) => format!("zk://{d}@{}{}", self.servers, self.path),
            None => format!("zk://{}{}", self.servers, self.path),
        }
    }

    /// Whether `s` is meant as a ZooKeeper URL (and not as host:port).
    pub fn is_zk(s: &str) -> bool {
        s.starts_with("zk://")
    }
}

impl std::fmt::Display for ZkUrl {
    /// The URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.digest {
            Some(d) => {
                let user = d.split(':').next().unwrap_or_default();
                write!(f, "zk://{user}:***@{}{}", self.servers, self.path)
            }
            None => write!(f, "zk://{}{}", self.servers, self.path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_mesos_takes() {
        let u = ZkUrl::parse("zk://z1:2181,z2:2181,z3:2181/mesos").unwrap();
        assert_eq!(u.servers, "z1:2181,z2:2181,z3:2181");
        assert_eq!(u.path, "/mesos");
        assert_eq!(u.digest, None);
        let u = ZkUrl::parse("zk://bob:secret@10.0.0.1:2181/a/b/").unwrap();
        assert_eq!(u.path, "/a/b");
        assert_eq!(u.digest.as_deref(), Some("bob:secret"));
        assert_eq!(u.to_string(), "zk://bob:***@10.0.0.1:2181/a/b");
        assert_eq!(u.with_path("/marathon").path, "/marathon");
    }

    #[test]
    fn refuses_what_cannot_work_and_says_why() {
        for (url, why) in [
            ("http://z1:2181/mesos", "zk://"),
            ("zk://z1:2181", "path"),
            ("zk://z1:2181/", "must not be /"),
            ("zk:///mesos", "no servers"),
            ("zk://z1/mesos", "needs a port"),
            ("zk://z1:0/mesos", "not host:port"),
            ("zk://z1:2181,:2181/mesos", "not host:port"),
            ("zk://z1:2181//mesos", "empty"),
            ("zk://bob@z1:2181/mesos", "user:password"),
        ] {
            let e = ZkUrl::parse(url).expect_err(url).to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(e.contains(url), "the error names the URL: {e}");
        }
    }
}
