//! The flags commands share: where the master or Marathon is, `--json`, and how a change waits
//! for its deployment.

use crate::error::Error;
use clap::Args;
use std::time::Duration;

/// `drover node|framework|task`: the master.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The master, as host:port or a URL, or zk://host:2181,…/mesos for the leading one.
    #[arg(
        long,
        global = true,
        env = "DROVER_MASTER",
        default_value = "127.0.0.1:5050"
    )]
    pub master: String,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `drover app|deployment`: Marathon.
#[derive(Args, Debug, Clone)]
pub struct MarathonArgs {
    /// Marathon, as host:port or a URL (`drover up` prints it).
    #[arg(
        long,
        global = true,
        env = "DROVER_MARATHON",
        default_value = "127.0.0.1:8080"
    )]
    pub marathon: String,
    /// Print Marathon's JSON instead of tables, and no progress.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A change that starts a deployment: wait for it, or not.
#[derive(Args, Debug, Clone)]
pub struct WaitArgs {
    /// Return once Marathon accepted the change, without waiting for the deployment.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for the deployment before failing (it goes on in Marathon).
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    pub timeout: f64,
}

/// A `--timeout` in seconds as a duration.
pub(crate) fn secs(t: f64) -> Result<Duration, Error> {
    if !(t > 0.0 && t.is_finite()) {
        return Err(Error::usage(format!(
            "--timeout must be a positive number of seconds, got {t}"
        )));
    }
    Ok(Duration::from_secs_f64(t))
}
