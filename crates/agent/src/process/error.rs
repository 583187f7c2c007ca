//! Why a process container's process could not be started: [`SpawnError`], which the `process`
//! containerizer's launch fails with and `LaunchError::Spawn` carries. A leaf: it uses nothing of
//! the containerizer or the rest of `process`.

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("creating sandbox {path}: {source}")]
    Sandbox {
        path: String,
        source: std::io::Error,
    },
    #[error("user '{0}' does not exist on this agent")]
    NoSuchUser(String),
    #[error("failed to execute '{program}': {source}")]
    Exec {
        program: String,
        source: std::io::Error,
    },
    #[error("command is empty")]
    EmptyCommand,
}
