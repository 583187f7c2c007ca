//! The crate's one error type: what can go wrong reading a config or starting the service.

/// Why the DNS service could not be configured or started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `config.json` is not a JSON object.
    #[error("the mesos-dns config is not a JSON object: {0}")]
    ConfigSyntax(#[source] serde_json::Error),
    /// A key of `config.json` has a value of the wrong type.
    #[error("the mesos-dns config has a bad value: {0}")]
    ConfigValue(#[source] serde_json::Error),
    /// A value is well-typed but not usable (a bad domain, an unknown IP source…).
    #[error("the mesos-dns config is invalid: {key}: {why}")]
    ConfigInvalid { key: &'static str, why: String },
    /// The `--master` flag is neither `host:port` nor a usable `zk://` URL.
    #[error("bad --master '{master}': {source}")]
    Master {
        master: String,
        #[source]
        source: drover_zk::ZkError,
    },
    /// A socket handed to `start` cannot say where it is bound.
    #[error("reading the bound address of a listener: {0}")]
    Socket(#[source] std::io::Error),
    /// No HTTP client could be built for the master's event stream.
    #[error("building the HTTP client for the master: {0}")]
    HttpClient(#[source] reqwest::Error),
}
