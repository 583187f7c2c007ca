//! `drover dns lookup <name> [--type A|SRV]` and `drover dns list`: what the DNS serves, read
//! from its mesos-dns HTTP API (`/v1/hosts`, `/v1/services`, `/v1/enumerate`). A lookup that
//! finds nothing fails (not found).

use crate::client::Client;
use crate::error::{Error, Server};
use crate::render::{outln, print_json, table};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

/// Where the DNS' HTTP API is.
#[derive(Args, Debug, Clone)]
pub struct DnsArgs {
    /// The DNS' HTTP API, as host:port or a URL (`drover dns` serves it on 8123).
    #[arg(
        long,
        global = true,
        env = "DROVER_DNS_HTTP",
        default_value = "http://127.0.0.1:8123"
    )]
    pub dns_http: String,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupType {
    /// Addresses (A and AAAA).
    #[value(name = "A")]
    A,
    /// Services: target, address and port.
    #[value(name = "SRV")]
    Srv,
}

#[derive(Subcommand, Debug)]
pub enum DnsCmd {
    /// Look a name up, as the DNS answers it.
    Lookup {
        /// The name: web.marathon.mesos, or _web._tcp.marathon.mesos with --type SRV.
        name: String,
        #[arg(long = "type", value_enum, default_value = "A")]
        kind: LookupType,
    },
    /// List every task's records, by framework.
    List,
}

/// The rows of an answer that found something (mesos-dns answers one all-empty element when
/// nothing matches).
fn found(v: &Value) -> Vec<&Value> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["host"].as_str().is_some_and(|h| !h.is_empty()))
                .collect()
        })
        .unwrap_or_default()
}

fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'*'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!("'{name}' is not a DNS name")))
    }
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

pub async fn dns(cmd: DnsCmd, args: DnsArgs) -> Result<(), Error> {
    // The CLI's servers have no DNS of their own yet: its messages name the master.
    let api = Client::new(Server::Dns, &args.dns_http)?;
    match cmd {
        DnsCmd::Lookup { name, kind } => {
            check_name(&name)?;
            let path = match kind {
                LookupType::A => format!("/v1/hosts/{name}"),
                LookupType::Srv => format!("/v1/services/{name}"),
            };
            let v: Value = api.get(&path).await?;
            let rows = found(&v);
            if rows.is_empty() {
                let t = if kind == LookupType::A {
                    "A/AAAA"
                } else {
                    "SRV"
                };
                return Err(Error::not_found(
                    format!("no {t} records for {name}"),
                    Some("'drover dns list' shows every name the DNS serves".into()),
                ));
            }
            if args.json {
                print_json(&rows);
                return Ok(());
            }
            let mut t = match kind {
                LookupType::A => table(&["HOST", "IP"]),
                LookupType::Srv => table(&["SERVICE", "HOST", "IP", "PORT"]),
            };
            for r in rows {
                t.add_row(match kind {
                    LookupType::A => vec![s(r, "host"), s(r, "ip")],
                    LookupType::Srv => {
                        vec![s(r, "service"), s(r, "host"), s(r, "ip"), s(r, "port")]
                    }
                });
            }
            outln!("{t}");
        }
        DnsCmd::List => {
            let v: Value = api.get("/v1/enumerate").await?;
            if args.json {
                print_json(&v);
                return Ok(());
            }
            outln!("{}", list_table(&v));
        }
    }
    Ok(())
}

fn list_table(v: &Value) -> comfy_table::Table {
    let mut t = table(&["FRAMEWORK", "TASK", "NAME", "TYPE", "VALUE"]);
    let none = Vec::new();
    for f in v["frameworks"].as_array().unwrap_or(&none) {
        for task in f["tasks"].as_array().unwrap_or(&none) {
            for r in task["records"].as_array().unwrap_or(&none) {
                t.add_row(vec![
                    s(f, "name"),
                    s(task, "id"),
                    s(r, "name"),
                    s(r, "rtype"),
                    s(r, "host"),
                ]);
            }
        }
    }
    t
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::cells;
    use serde_json::json;

    #[test]
    fn an_all_empty_answer_is_nothing_found() {
        assert!(found(&json!([{"host": "", "ip": ""}])).is_empty());
        assert_eq!(
            found(&json!([{"host": "a.mesos.", "ip": "10.0.0.1"}])).len(),
            1
        );
        assert!(found(&json!({"x": 1})).is_empty());
    }

    #[test]
    fn names_are_checked_before_they_go_in_a_path() {
        assert!(check_name("_web._tcp.marathon.mesos.").is_ok());
        for bad in ["", "a/b", "a?b", "a b", &"x".repeat(256)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_list_has_a_row_per_record() {
        let v = json!({"frameworks": [{"name": "marathon", "tasks": [{"name": "web", "id": "web.1",
            "records": [{"name": "web.marathon.mesos.", "host": "10.0.0.1", "rtype": "A"},
                        {"name": "_web._tcp.marathon.mesos.", "host": "web-x-s1.marathon.slave.mesos.:31000", "rtype": "SRV"}]}]},
            {"name": "idle", "tasks": []}]});
        let rows = cells(&list_table(&v));
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            vec!["marathon", "web.1", "web.marathon.mesos.", "A", "10.0.0.1"]
        );
    }
}
