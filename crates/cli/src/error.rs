//! The CLI's one error type: a variant per kind of failure, what a person reads for each (what
//! failed, where, and what to do about it), and the exit code of each — mapped in
//! [`Error::exit_code`] and nowhere else. [`report`] is what the binary calls with a failed
//! command's error.

use reqwest::StatusCode;
use std::fmt;
use std::io::Write;
use std::process::ExitCode;

/// The server a request went to, as a message names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Master,
    Marathon,
    Agent,
    /// The front door (`drover gateway`), where Cosmos and the DNS API are reached.
    Gateway,
    /// The DNS' HTTP API (`drover dns`).
    Dns,
    /// The jobs scheduler (`drover jobs`: Metronome's API).
    Jobs,
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Server::Master => "the master",
            Server::Marathon => "Marathon",
            Server::Agent => "the agent",
            Server::Gateway => "the gateway",
            Server::Dns => "the DNS' HTTP API",
            Server::Jobs => "the jobs scheduler",
        })
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line or an input file is wrong: a malformed setting, an unreadable or invalid
    /// app definition, a bad `--timeout`, an id prefix that matches several things.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// What the command names does not exist: an app, a task, a deployment, a sandbox.
    #[error("{what}")]
    NotFound { what: String, hint: Option<String> },
    /// The change conflicts with the server's state: a deployment holds the app, or what is
    /// being created already exists.
    #[error("{message}")]
    Conflict {
        message: String,
        hint: Option<String>,
    },
    /// Nothing answers at the address (refused, unresolvable, or no answer in time).
    #[error("cannot reach {server} at {addr} ({cause})")]
    Unreachable {
        server: Server,
        addr: String,
        cause: String,
    },
    /// The server answered the request with an error status: its message, and Marathon's
    /// validation details one per line.
    #[error("{server} at {addr} refused {request} ({status}){}{}", colon(.message), lines(.details))]
    Refused {
        server: Server,
        addr: String,
        request: String,
        status: StatusCode,
        message: String,
        details: Vec<String>,
    },
    /// The server answered with a body that is not what its API promises.
    #[error("{server} at {addr} answered {request} with a body the CLI cannot read: {cause}")]
    InvalidResponse {
        server: Server,
        addr: String,
        request: String,
        cause: String,
    },
    /// The package manager (Cosmos) refused the request, with its error type and message.
    #[error("Cosmos at {addr} refused {request}: {message}{}", paren(.kind))]
    Cosmos {
        addr: String,
        request: String,
        kind: String,
        message: String,
    },
    /// A deployment the command waited for failed (superseded, cancelled or rolled back).
    #[error("{}", .failures.join("\n"))]
    DeploymentFailed { failures: Vec<String> },
    /// The wait for a deployment ran out; the deployment goes on in Marathon.
    #[error("{message}")]
    TimedOut { message: String, hint: String },
}

fn colon(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

fn paren(kind: &str) -> String {
    if kind.is_empty() {
        String::new()
    } else {
        format!(" ({kind})")
    }
}

fn lines(details: &[String]) -> String {
    details.iter().map(|d| format!("\n  {d}")).collect()
}

impl Error {
    pub(crate) fn usage(message: impl Into<String>) -> Error {
        Error::Usage {
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn not_found(what: impl Into<String>, hint: Option<String>) -> Error {
        Error::NotFound {
            what: what.into(),
            hint,
        }
    }

    /// The process exit code for this failure (the table in the crate doc): 1 the server refused
    /// or a deployment failed, 2 usage, 3 not found, 4 conflict, 5 unreachable, 6 timed out.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Refused { .. }
            | Error::InvalidResponse { .. }
            | Error::Cosmos { .. }
            | Error::DeploymentFailed { .. } => 1,
            Error::Usage { .. } => 2,
            Error::NotFound { .. } => 3,
            Error::Conflict { .. } => 4,
            Error::Unreachable { .. } => 5,
            Error::TimedOut { .. } => 6,
        }
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Usage { hint, .. } | Error::NotFound { hint, .. } | Error::Conflict { hint, .. } => {
                hint.clone()
            }
            Error::Unreachable { server, .. } => Some(
                match server {
                    Server::Master => "is it running? start one with 'drover up', or point at it with --master HOST:PORT or DROVER_MASTER",
                    Server::Marathon => "is it running? 'drover up' starts one; point at it with --marathon HOST:PORT or DROVER_MARATHON",
                    Server::Agent => "the master lists this agent, but it does not answer: is it still running?",
                    Server::Gateway => "is it running? 'drover up' starts one on port 8000; point at it with --gateway URL or DROVER_GATEWAY",
                    Server::Dns => "is it running? 'drover up' serves it on port 8123; point at it with --dns-http URL or DROVER_DNS_HTTP",
                    Server::Jobs => "is it running? 'drover up' serves it on port 9000; point at it with --jobs URL or DROVER_JOBS, or --gateway URL for <gateway>/service/metronome",
                }
                .into(),
            ),
            Error::InvalidResponse { server, addr, .. } => match server {
                Server::Master => Some(format!("is {addr} a Drover or Mesos master? (--master, DROVER_MASTER)")),
                Server::Marathon => Some(format!("is {addr} Marathon? (--marathon, DROVER_MARATHON)")),
                Server::Gateway => Some(format!("is {addr} a Drover gateway? (--gateway, DROVER_GATEWAY)")),
                Server::Dns => Some(format!("is {addr} a Drover or mesos-dns HTTP API? (--dns-http, DROVER_DNS_HTTP)")),
                Server::Jobs => Some(format!("is {addr} Drover's jobs scheduler or Metronome? (--jobs, DROVER_JOBS; or --gateway)")),
                Server::Agent => None,
            },
            Error::TimedOut { hint, .. } => Some(hint.clone()),
            Error::Refused { .. } | Error::Cosmos { .. } | Error::DeploymentFailed { .. } => None,
        }
    }

    /// What a person reads: `error: <what failed, where>`, then what to do, indented.
    pub fn render(&self) -> String {
        let mut out = format!("error: {self}");
        if let Some(h) = self.hint() {
            for l in h.lines() {
                out.push_str(&format!("\n  {l}"));
            }
        }
        out
    }
}

/// Print a failed command's error for a person (on stderr) and give its exit code: the one place
/// a CLI failure becomes output and a code. `drover`'s `main` calls it.
pub fn report(e: &Error) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{}", e.render());
    ExitCode::from(e.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable() -> Error {
        Error::Unreachable {
            server: Server::Master,
            addr: "127.0.0.1:5050".into(),
            cause: "connection refused".into(),
        }
    }

    #[test]
    fn every_kind_of_failure_has_its_exit_code() {
        let refused = Error::Refused {
            server: Server::Marathon,
            addr: "m:8080".into(),
            request: "GET /v2/apps".into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "boom".into(),
            details: vec![],
        };
        let invalid = Error::InvalidResponse {
            server: Server::Master,
            addr: "m:5050".into(),
            request: "GET /master/slaves".into(),
            cause: "missing field `id`".into(),
        };
        let cases: Vec<(Error, u8)> = vec![
            (refused, 1),
            (invalid, 1),
            (
                Error::DeploymentFailed {
                    failures: vec!["d1 failed".into()],
                },
                1,
            ),
            (Error::usage("malformed setting"), 2),
            (Error::not_found("no app /x", None), 3),
            (
                Error::Conflict {
                    message: "locked".into(),
                    hint: None,
                },
                4,
            ),
            (unreachable(), 5),
            (
                Error::TimedOut {
                    message: "timed out".into(),
                    hint: "watch it".into(),
                },
                6,
            ),
        ];
        for (e, code) in &cases {
            assert_eq!(e.exit_code(), *code, "{e}");
        }
        // Usage matches clap's own usage errors; the rest differ from it and from each other.
        let mut codes: Vec<u8> = cases[3..].iter().map(|(e, _)| e.exit_code()).collect();
        codes.dedup();
        assert_eq!(codes, vec![2, 3, 4, 5, 6]);
    }

    #[test]
    fn unreachable_reads_as_two_lines_saying_what_to_do() {
        let text = unreachable().render();
        assert_eq!(
            text,
            "error: cannot reach the master at 127.0.0.1:5050 (connection refused)\n  is it running? start one with 'drover up', or point at it with --master HOST:PORT or DROVER_MASTER"
        );
        let marathon = Error::Unreachable {
            server: Server::Marathon,
            addr: "127.0.0.1:8080".into(),
            cause: "connection refused".into(),
        }
        .render();
        assert_eq!(marathon.lines().count(), 2, "{marathon}");
        assert!(marathon.contains("DROVER_MARATHON"), "{marathon}");
    }

    #[test]
    fn refusals_name_the_request_the_status_and_each_detail() {
        let e = Error::Refused {
            server: Server::Marathon,
            addr: "127.0.0.1:8080".into(),
            request: "POST /v2/apps".into(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "Object is not valid".into(),
            details: vec!["/cpus: got -1".into(), "/id: bad".into()],
        };
        assert_eq!(
            e.render(),
            "error: Marathon at 127.0.0.1:8080 refused POST /v2/apps (422 Unprocessable Entity): Object is not valid\n  /cpus: got -1\n  /id: bad"
        );
        let e = Error::Refused {
            server: Server::Agent,
            addr: "a:5051".into(),
            request: "GET /files/read".into(),
            status: StatusCode::NOT_FOUND,
            message: String::new(),
            details: vec![],
        };
        assert_eq!(
            e.render(),
            "error: the agent at a:5051 refused GET /files/read (404 Not Found)"
        );
    }
}
