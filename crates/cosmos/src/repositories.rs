//! The list of configured repositories: adding and deleting as Cosmos does (no duplicate names
//! or URIs, an optional insertion index), where a repository's URI points (the built-in
//! repository, `http(s)://`, `file://` or a local path), and the list's file in the state
//! directory, written atomically (a temporary file renamed over it).

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The built-in repository's URI.
pub const BUILTIN_URI: &str = "builtin:universe";
/// The built-in repository's default name.
pub const BUILTIN_NAME: &str = "Universe";
const FILE_NAME: &str = "cosmos-repositories.json";

/// A configured repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRepository {
    pub name: String,
    pub uri: String,
}

/// The list before anything was added or deleted: the built-in repository alone.
pub fn default_list() -> Vec<PackageRepository> {
    vec![PackageRepository {
        name: BUILTIN_NAME.into(),
        uri: BUILTIN_URI.into(),
    }]
}

/// `list` with `repo` added at `index` (the end by default).
pub fn add(
    list: &[PackageRepository],
    repo: PackageRepository,
    index: Option<i64>,
) -> Result<Vec<PackageRepository>, Error> {
    let name = list
        .iter()
        .any(|r| r.name == repo.name)
        .then(|| repo.name.clone());
    let uri = list
        .iter()
        .any(|r| r.uri == repo.uri)
        .then(|| repo.uri.clone());
    if name.is_some() || uri.is_some() {
        return Err(Error::RepositoryAlreadyPresent { name, uri });
    }
    let mut out = list.to_vec();
    match index {
        None => out.push(repo),
        Some(i) if i >= 0 && (i as usize) <= list.len() => out.insert(i as usize, repo),
        Some(i) => {
            return Err(Error::RepositoryAddIndexOutOfBounds {
                attempted: i,
                max: list.len(),
            })
        }
    }
    Ok(out)
}

/// `list` without the repository named `name` and/or at `uri` (both must match when both given).
pub fn delete(
    list: &[PackageRepository],
    name: Option<&str>,
    uri: Option<&str>,
) -> Result<Vec<PackageRepository>, Error> {
    if name.is_none() && uri.is_none() {
        return Err(Error::RepoNameOrUriMissing);
    }
    let hit =
        |r: &PackageRepository| name.is_none_or(|n| r.name == n) && uri.is_none_or(|u| r.uri == u);
    let out: Vec<PackageRepository> = list.iter().filter(|r| !hit(r)).cloned().collect();
    if out.len() == list.len() {
        return Err(Error::RepositoryNotPresent {
            name: name.map(str::to_string),
            uri: uri.map(str::to_string),
        });
    }
    Ok(out)
}

/// Where a repository's packages are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Builtin,
    Http(String),
    File(PathBuf),
}

/// Where `repo`'s URI points, or why it cannot be used.
pub fn locate(repo: &PackageRepository) -> Result<Location, Error> {
    let uri = repo.uri.trim();
    if uri == BUILTIN_URI {
        return Ok(Location::Builtin);
    }
    if uri.starts_with('/') {
        return Ok(Location::File(PathBuf::from(uri)));
    }
    let syntax = |cause: String| Error::RepositoryUriSyntax {
        name: repo.name.clone(),
        uri: repo.uri.clone(),
        cause,
    };
    let url = reqwest::Url::parse(uri).map_err(|e| syntax(e.to_string()))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some_and(|h| !h.is_empty()) => {
            Ok(Location::Http(url.to_string()))
        }
        "http" | "https" => Err(syntax("no host".into())),
        "file" => url
            .to_file_path()
            .map(Location::File)
            .map_err(|()| syntax("not a local file path".into())),
        _ => Err(Error::UnsupportedRepositoryUri {
            uri: repo.uri.clone(),
        }),
    }
}

/// The list's file in the state directory.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    repositories: Vec<PackageRepository>,
}

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store {
            path: state_dir.join(FILE_NAME),
        }
    }

    fn error(&self, cause: impl ToString) -> Error {
        Error::Storage {
            path: self.path.display().to_string(),
            cause: cause.to_string(),
        }
    }

    /// The saved list, or the default one when none was saved.
    pub fn load(&self) -> Result<Vec<PackageRepository>, Error> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice::<OnDisk>(&bytes)
                .map(|d| d.repositories)
                .map_err(|e| self.error(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(default_list()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Replace the saved list: written to a temporary file, synced, renamed over the old, and the
    /// directory synced so that the rename survives a crash.
    pub fn save(&self, list: &[PackageRepository]) -> Result<(), Error> {
        let body = serde_json::to_vec_pretty(&OnDisk {
            repositories: list.to_vec(),
        })
        .map_err(|e| self.error(e))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.error(e))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.error(e)
        })?;
        // The rename is durable only once the directory holding the new entry is synced.
        if let Some(dir) = self.path.parent() {
            sync_dir(dir).map_err(|e| self.error(e))?;
        }
        Ok(())
    }
}

/// Flush `dir`'s entries (a rename into it) to disk.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn repo(name: &str, uri: &str) -> PackageRepository {
        PackageRepository {
            name: name.into(),
            uri: uri.into(),
        }
    }

    #[test]
    fn add_and_delete_as_cosmos_does() {
        let list = default_list();
        let list = add(&list, repo("a", "http://a/repo"), None).unwrap();
        let list = add(&list, repo("b", "http://b/repo"), Some(0)).unwrap();
        let names: Vec<&str> = list.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["b", "Universe", "a"]);
        let cases = [
            (
                repo("a", "http://x"),
                None,
                "RepositoryAlreadyPresent",
                "Repository name [a] is already present in the list",
            ),
            (
                repo("x", "http://a/repo"),
                None,
                "RepositoryAlreadyPresent",
                "Repository URI [http://a/repo] is already present in the list",
            ),
            (
                repo("x", "http://x"),
                Some(4),
                "RepositoryAddIndexOutOfBounds",
                "Index (4) is out of range. Index value must be between 0 and 3 inclusive.",
            ),
            (
                repo("x", "http://x"),
                Some(-1),
                "RepositoryAddIndexOutOfBounds",
                "Index (-1) is out of range. Index value must be between 0 and 3 inclusive.",
            ),
        ];
        for (r, index, kind, message) in cases {
            let e = add(&list, r, index).unwrap_err();
            assert_eq!((e.kind(), e.to_string().as_str()), (kind, message));
        }
        assert_eq!(
            add(&list, repo("x", "http://x"), Some(3)).unwrap()[3].name,
            "x"
        );

        let after = delete(&list, Some("Universe"), None).unwrap();
        assert_eq!(after.len(), 2);
        assert_eq!(delete(&list, None, Some("http://a/repo")).unwrap().len(), 2);
        assert_eq!(
            delete(&list, Some("a"), Some("http://b/repo"))
                .unwrap_err()
                .kind(),
            "RepositoryNotPresent"
        );
        assert_eq!(
            delete(&list, Some("zz"), None).unwrap_err().to_string(),
            "Repository name [zz] is not present in the list"
        );
        assert_eq!(
            delete(&list, None, None).unwrap_err().kind(),
            "RepoNameOrUriMissing"
        );
    }

    #[test]
    fn uris_are_located_or_refused() {
        let cases: Vec<(&str, Result<Location, &str>)> = vec![
            ("builtin:universe", Ok(Location::Builtin)),
            (
                "http://h:8/repo.json",
                Ok(Location::Http("http://h:8/repo.json".into())),
            ),
            (
                "https://universe.example.com/repo",
                Ok(Location::Http("https://universe.example.com/repo".into())),
            ),
            (
                "file:///tmp/repo.json",
                Ok(Location::File("/tmp/repo.json".into())),
            ),
            (
                "/tmp/repo.json",
                Ok(Location::File("/tmp/repo.json".into())),
            ),
            ("not a uri", Err("RepositoryUriSyntax")),
            ("http://", Err("RepositoryUriSyntax")),
            ("ftp://h/repo", Err("UnsupportedRepositoryUri")),
        ];
        for (uri, want) in cases {
            let got = locate(&repo("r", uri));
            match want {
                Ok(l) => assert_eq!(got.unwrap(), l, "{uri}"),
                Err(kind) => assert_eq!(got.unwrap_err().kind(), kind, "{uri}"),
            }
        }
    }

    #[test]
    fn the_list_survives_in_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert_eq!(store.load().unwrap(), default_list());
        let list = vec![repo("a", "http://a")];
        store.save(&list).unwrap();
        assert_eq!(Store::new(dir.path()).load().unwrap(), list);
        assert!(!dir.path().join("cosmos-repositories.json.tmp").exists());
        std::fs::write(dir.path().join(FILE_NAME), "garbage").unwrap();
        assert_eq!(store.load().unwrap_err().kind(), "StorageError");
    }
}
