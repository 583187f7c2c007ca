//! The DNS' metrics, served at `/metrics` on its HTTP API's listener in the Prometheus text
//! format (mesos-dns has none; Drover adds it):
//!
//! - `drover_dns_answers_total{transport,rcode}`: replies sent, forwarded ones included, by
//!   their response code (`NOERROR`, `NXDOMAIN`, `SERVFAIL`, `REFUSED`, …);
//! - `drover_dns_forwards_total{transport,outcome}`: queries for names outside the domain sent
//!   to the resolvers: `answered`, `failed` (none answered in time: SERVFAIL) or `shed` (too
//!   many in flight: SERVFAIL without asking);
//! - `drover_dns_records{type}`: the A, AAAA and SRV records served now, read at each scrape;
//! - `drover_dns_rebuild_duration_seconds`: each build of the records that was published (its
//!   `_count` is the number of rebuilds), and `drover_dns_rebuild_panics_total`;
//! - `drover_dns_http_requests_total` and `drover_dns_http_request_duration_seconds` of the
//!   HTTP API, per route.

use crate::answer::Transport;
use crate::server::Published;
use drover_metrics::{
    exponential_buckets, Histogram, HttpMetrics, Kind, Registry, Series, Snapshot,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    transport: &'static str,
    rcode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ForwardLabels {
    transport: &'static str,
    outcome: &'static str,
}

/// How a forwarded query ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Forwarded {
    Answered,
    Failed,
    Shed,
}

/// What the server loops and the rebuild loop count.
#[derive(Clone, Debug)]
pub(crate) struct DnsMetrics {
    answers: Family<AnswerLabels, Counter>,
    forwards: Family<ForwardLabels, Counter>,
    rebuilds: Histogram,
    rebuild_panics: Counter,
}

fn transport(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    }
}

/// The response code of a reply: the header's four bits, with the OPT record's extended bits
/// when it is the reply's last record and carries no options (as this server writes it, so
/// its BADVERS is told from NOERROR).
fn rcode(reply: &[u8]) -> u16 {
    let Some(&b3) = reply.get(3) else {
        return 0;
    };
    let low = u16::from(b3 & 0x0f);
    let arcount = reply
        .get(10..12)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let n = reply.len();
    // root name, TYPE OPT (41), CLASS, TTL (extended rcode, version, flags), RDLENGTH 0
    if arcount > 0
        && n >= 12 + 11
        && reply[n - 11] == 0
        && reply[n - 10..n - 8] == [0, 41]
        && reply[n - 2..] == [0, 0]
    {
        return (u16::from(reply[n - 6]) << 4) | low;
    }
    low
}

fn rcode_label(code: u16) -> &'static str {
    match code {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADVERS",
        _ => "OTHER",
    }
}

impl DnsMetrics {
    /// Register the DNS' families in `r` (give it the prefix).
    pub fn register(r: &mut Registry) -> DnsMetrics {
        let m = DnsMetrics {
            answers: Family::default(),
            forwards: Family::default(),
            rebuilds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            rebuild_panics: Counter::default(),
        };
        r.register(
            "answers",
            "DNS replies sent, forwarded ones included, by transport and response code",
            m.answers.clone(),
        );
        r.register(
            "forwards",
            "Queries for names outside the domain sent to the resolvers, by transport and \
             outcome (answered, failed: none answered in time, shed: too many in flight)",
            m.forwards.clone(),
        );
        r.register(
            "rebuild_duration_seconds",
            "Time to build the records from the cluster's state, for each set published",
            m.rebuilds.clone(),
        );
        r.register(
            "rebuild_panics",
            "Builds of the records that panicked (the records before them kept being served)",
            m.rebuild_panics.clone(),
        );
        m
    }

    /// A reply sent over `t`.
    pub fn answered(&self, reply: &[u8], t: Transport) {
        self.answers
            .get_or_create(&AnswerLabels {
                transport: transport(t),
                rcode: rcode_label(rcode(reply)),
            })
            .inc();
    }

    pub fn forwarded(&self, t: Transport, outcome: Forwarded) {
        let outcome = match outcome {
            Forwarded::Answered => "answered",
            Forwarded::Failed => "failed",
            Forwarded::Shed => "shed",
        };
        self.forwards
            .get_or_create(&ForwardLabels {
                transport: transport(t),
                outcome,
            })
            .inc();
    }

    /// A set of records built in `cost` and published.
    pub fn rebuilt(&self, cost: Duration) {
        self.rebuilds.observe(cost.as_secs_f64());
    }

    pub fn rebuild_panicked(&self) {
        self.rebuild_panics.inc();
    }
}

/// What the DNS counts, and the registry its `/metrics` serves.
#[derive(Clone, Debug)]
pub struct Metrics {
    pub(crate) dns: DnsMetrics,
    pub(crate) http: HttpMetrics,
    pub(crate) registry: Arc<Registry>,
}

impl Metrics {
    /// The DNS' metrics, with the records of `published` counted at each scrape.
    pub fn new(published: &Published) -> Metrics {
        let mut root = Registry::default();
        let own = root.sub_registry_with_prefix("drover_dns");
        let dns = DnsMetrics::register(own);
        let http = HttpMetrics::register(own);
        let records = published.clone();
        own.register_collector(Box::new(Snapshot::new(move || {
            vec![records_series(records.current().as_deref())]
        })));
        Metrics {
            dns,
            http,
            registry: Arc::new(root),
        }
    }
}

fn records_series(rs: Option<&crate::RecordSet>) -> Series {
    let (mut a, mut aaaa, mut srv) = (0usize, 0usize, 0usize);
    if let Some(rs) = rs {
        for (_, ips) in rs.all_addrs() {
            let v4 = ips.iter().filter(|i| i.is_ipv4()).count();
            a += v4;
            aaaa += ips.len() - v4;
        }
        srv = rs.all_srvs().map(|(_, list)| list.len()).sum();
    }
    Series::by(
        "records",
        "Records served now, by type",
        Kind::Gauge,
        "type",
        [("A", a), ("AAAA", aaaa), ("SRV", srv)].map(|(t, n)| (t.to_string(), n as f64)),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};

    fn reply(code: ResponseCode, edns: bool) -> Vec<u8> {
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.metadata.response_code = code;
        if edns {
            m.edns = Some(Edns::new());
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn response_codes_are_read_from_replies() {
        for (code, edns, want) in [
            (ResponseCode::NoError, false, "NOERROR"),
            (ResponseCode::NXDomain, true, "NXDOMAIN"),
            (ResponseCode::ServFail, false, "SERVFAIL"),
            (ResponseCode::Refused, true, "REFUSED"),
            (ResponseCode::BADVERS, true, "BADVERS"),
            (ResponseCode::NoError, true, "NOERROR"),
        ] {
            assert_eq!(rcode_label(rcode(&reply(code, edns))), want, "{code:?}");
        }
        assert_eq!(rcode(&[]), 0);
    }

    #[test]
    fn records_are_counted_by_type_at_each_scrape() {
        let published = Published::default();
        let m = Metrics::new(&published);
        let text = drover_metrics::encode(&m.registry).unwrap();
        assert!(
            text.contains("drover_dns_records{type=\"A\"} 0\n"),
            "{text}"
        );
        let mut rs = crate::RecordSet::default();
        let ips = vec!["10.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        rs.addrs.insert("web.marathon.mesos.".into(), ips);
        published.publish(rs);
        let text = drover_metrics::encode(&m.registry).unwrap();
        for line in [
            "drover_dns_records{type=\"A\"} 1\n",
            "drover_dns_records{type=\"AAAA\"} 1\n",
            "drover_dns_records{type=\"SRV\"} 0\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
    }
}
