//! Answering one DNS query, pure: the query's bytes, the record snapshot (none before the first
//! load) and a seed for the shuffle in, the reply's bytes (or "forward it") out. mesos-dns'
//! behaviour: authoritative for the domain, case-insensitive names, A/AAAA/SRV/SOA/NS/ANY, SRV
//! targets' addresses as additional records, NXDOMAIN vs NODATA with the SOA in the authority
//! section, answers shuffled, replies cut to the UDP/EDNS size (TC set), other names forwarded.
//! Garbage gets FORMERR (or nothing, when not even a header can be read), as do names in the
//! domain that no record could have; names outside it are forwarded whatever their bytes.
//! Nothing panics.

use crate::config::{resolver_addr, Config};
use crate::records::{RecordSet, Srv};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// How the query came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What to do with a query.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<'z> {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Not ours: ask these resolvers, in order, and relay the first answer (REFUSED when the
    /// forward cannot be made, SERVFAIL when none answers).
    Forward(&'z [SocketAddr]),
    /// Not a query (a response, or not even a header): say nothing.
    Drop,
}

/// The largest query read; anything longer is refused as malformed.
pub const MAX_QUERY: usize = 4096;
/// The largest UDP reply offered with EDNS.
const EDNS_PAYLOAD: u16 = 4096;

/// A name's labels, lowercased, without the root's empty one (`[b"example", b"com"]`).
type Labels = Vec<Box<[u8]>>;

/// What answering needs from the config, prepared once.
#[derive(Clone, Debug)]
pub struct Zone {
    /// `mesos.`
    apex: String,
    apex_name: Name,
    /// The domain's labels, lowercased (`[b"mesos"]`).
    apex_labels: Labels,
    ttl: u32,
    mname: Name,
    /// The server's own name, lowercased, as records are keyed.
    mname_key: String,
    rname: Name,
    refresh: i32,
    retry: i32,
    expire: i32,
    weight: u16,
    set_truncate_bit: bool,
    recurse_on: bool,
    /// Zone suffixes as labels (`[b"example", b"com"]`), most labels first, with their
    /// resolvers.
    zones: Vec<(Labels, Vec<SocketAddr>)>,
    resolvers: Vec<SocketAddr>,
}

impl Zone {
    /// From a checked config (see [`Config::from_json`]); resolvers it cannot parse are left out.
    pub fn new(c: &Config) -> Zone {
        let name = |s: &str| Name::from_ascii(s).unwrap_or_else(|_| Name::root());
        let addrs = |v: &[String]| {
            v.iter()
                .filter_map(|r| resolver_addr(r))
                .collect::<Vec<_>>()
        };
        let mut zones: Vec<(Labels, Vec<SocketAddr>)> = if c.external_on {
            c.zone_resolvers
                .iter()
                .map(|(z, rs)| (text_labels(z), addrs(rs)))
                .collect()
        } else {
            Vec::new()
        };
        zones.sort_by_key(|(z, _)| std::cmp::Reverse(z.len()));
        Zone {
            apex: format!("{}.", c.domain),
            apex_name: name(&format!("{}.", c.domain)),
            apex_labels: text_labels(&c.domain),
            ttl: c.ttl,
            mname: name(&c.soa_mname),
            mname_key: c.soa_mname.to_ascii_lowercase(),
            rname: name(&c.soa_rname),
            refresh: c.soa_refresh as i32,
            retry: c.soa_retry as i32,
            expire: c.soa_expire as i32,
            weight: c.srv_record_default_weight,
            set_truncate_bit: c.set_truncate_bit,
            recurse_on: c.recurse_on,
            zones,
            resolvers: if c.external_on {
                addrs(&c.resolvers)
            } else {
                Vec::new()
            },
        }
    }

    /// The resolvers a name outside the domain goes to (longest matching zone, else the default).
    fn resolvers_for(&self, labels: &[&[u8]]) -> &[SocketAddr] {
        for (z, rs) in &self.zones {
            if ends_with(labels, z) {
                return rs;
            }
        }
        &self.resolvers
    }

    fn soa(&self, serial: u32) -> Record {
        Record::from_rdata(
            self.apex_name.clone(),
            self.ttl,
            RData::SOA(SOA::new(
                self.mname.clone(),
                self.rname.clone(),
                serial,
                self.refresh,
                self.retry,
                self.expire,
                self.ttl,
            )),
        )
    }
}

/// A header-only reply to something that could not be parsed: its id and opcode, FORMERR.
fn formerr_raw(query: &[u8]) -> Outcome<'static> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return Outcome::Drop;
    }
    let mut out = vec![0u8; 12];
    out[0] = query[0];
    out[1] = query[1];
    out[2] = 0x80 | (query[2] & 0x79); // QR, the opcode and RD copied
    out[3] = ResponseCode::FormErr.low();
    Outcome::Reply(out)
}

/// `example.com` (dots at either end or not, any case) → `[b"example", b"com"]`, lowercased.
fn text_labels(text: &str) -> Labels {
    text.split('.')
        .filter(|l| !l.is_empty())
        .map(|l| l.to_ascii_lowercase().into_bytes().into_boxed_slice())
        .collect()
}

/// Whether `labels` ends with `suffix` (lowercase), comparing label by label, ASCII letters
/// case-insensitively: a label with a dot in it never matches two.
fn ends_with(labels: &[&[u8]], suffix: &[Box<[u8]>]) -> bool {
    labels.len() >= suffix.len()
        && labels[labels.len() - suffix.len()..]
            .iter()
            .zip(suffix)
            .all(|(l, s)| l.eq_ignore_ascii_case(s))
}

/// A name's labels, a `*` label after the first dropped (mesos-dns' `cleanWild`).
fn clean_labels(name: &Name) -> Vec<&[u8]> {
    name.iter()
        .enumerate()
        .filter(|&(i, l)| i == 0 || l != b"*")
        .map(|(_, l)| l)
        .collect()
}

/// The lowercased absolute name records are keyed by, for a name in the domain; `None` when it
/// cannot be one (a label with a dot, non-ASCII or control bytes in it).
fn key_of(labels: &[&[u8]]) -> Option<String> {
    let mut key = String::with_capacity(labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1);
    for label in labels {
        for &b in *label {
            if b == b'.' || !b.is_ascii() || b.is_ascii_control() {
                return None;
            }
            key.push(b.to_ascii_lowercase() as char);
        }
        key.push('.');
    }
    Some(key)
}

/// Answer one query.
pub fn answer<'z>(
    query: &[u8],
    records: Option<&RecordSet>,
    zone: &'z Zone,
    transport: Transport,
    seed: u64,
) -> Outcome<'z> {
    if query.len() > MAX_QUERY {
        return formerr_raw(query);
    }
    let req = match Message::from_vec(query) {
        Ok(m) => m,
        Err(_) => return formerr_raw(query),
    };
    if req.message_type != MessageType::Query {
        return Outcome::Drop;
    }
    let mut resp = Message::new(req.id, MessageType::Response, req.op_code);
    resp.metadata.recursion_desired = req.recursion_desired;
    resp.metadata.checking_disabled = req.checking_disabled;
    if req.edns.is_some() {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        resp.edns = Some(e);
    }
    let max = match transport {
        Transport::Tcp => u16::MAX as usize,
        Transport::Udp => req
            .edns
            .as_ref()
            .map_or(512, |e| e.max_payload().max(512) as usize),
    };
    if req.op_code != OpCode::Query {
        resp.metadata.response_code = ResponseCode::NotImp;
        return reply(resp, max, zone, false);
    }
    if req.queries.len() != 1 {
        resp.metadata.response_code = ResponseCode::FormErr;
        return reply(resp, max, zone, false);
    }
    if req.edns.as_ref().is_some_and(|e| e.version() > 0) {
        resp.metadata.response_code = ResponseCode::BADVERS;
        return reply(resp, max, zone, false);
    }
    let q = req.queries[0].clone();
    resp.queries.push(q.clone());
    let labels = clean_labels(q.name());
    if !ends_with(&labels, &zone.apex_labels) {
        // Not ours, whatever its bytes: the resolvers judge it.
        let rs = zone.resolvers_for(&labels);
        if rs.is_empty() {
            resp.metadata.response_code = ResponseCode::Refused;
            return reply(resp, max, zone, false);
        }
        return Outcome::Forward(rs);
    }
    let Some(key) = key_of(&labels) else {
        // In the domain but no name records could have.
        resp.metadata.response_code = ResponseCode::FormErr;
        return reply(resp, max, zone, false);
    };
    resp.metadata.authoritative = true;
    resp.metadata.recursion_available = zone.recurse_on;
    let Some(rs) = records else {
        resp.metadata.authoritative = false;
        resp.metadata.response_code = ResponseCode::ServFail;
        return reply(resp, max, zone, false);
    };
    if !matches!(q.query_class(), DNSClass::IN | DNSClass::ANY) {
        resp.metadata.response_code = ResponseCode::Refused;
        return reply(resp, max, zone, false);
    }
    let owner = q.name().clone();
    let apex = key == zone.apex;
    let qt = q.query_type();
    let any = qt == RecordType::ANY;
    let addrs = rs.addrs(&key);
    // What could be answered, as cheap references: records are made only of those that can go.
    let mut cands: Vec<Cand<'_>> = Vec::new();
    if qt == RecordType::A || any {
        cands.extend(addrs.iter().filter_map(|ip| match ip {
            IpAddr::V4(v4) => Some(Cand::V4(*v4)),
            IpAddr::V6(_) => None,
        }));
    }
    if qt == RecordType::AAAA || any {
        cands.extend(addrs.iter().filter_map(|ip| match ip {
            IpAddr::V6(v6) => Some(Cand::V6(*v6)),
            IpAddr::V4(_) => None,
        }));
    }
    if qt == RecordType::SRV || any {
        cands.extend(rs.srvs(&key).iter().map(Cand::Srv));
    }
    if apex && (qt == RecordType::SOA || any) {
        cands.push(Cand::Soa);
    }
    if apex && (qt == RecordType::NS || any) {
        cands.push(Cand::Ns);
    }
    if cands.is_empty() {
        if !apex && !rs.exists(&key) {
            resp.metadata.response_code = ResponseCode::NXDomain;
        }
        resp.authorities.push(zone.soa(rs.serial));
        return reply(resp, max, zone, false);
    }
    // Shuffled, and no more than could fit in `max` bytes: the first `take` of a Fisher-Yates
    // shuffle (all of them, uniformly shuffled, when they could all fit).
    let take = cands.len().min(max.saturating_sub(HEADER) / MIN_RECORD);
    let mut rng = fastrand::Rng::with_seed(seed);
    for i in 0..take {
        let j = rng.usize(i..cands.len());
        cands.swap(i, j);
    }
    let left_out = take < cands.len();
    cands.truncate(take);
    // Each SRV target's addresses once; none when records were left out (they would be cut
    // first anyway).
    let mut seen: HashSet<&str> = HashSet::new();
    for c in &cands {
        let rdata = match c {
            Cand::V4(v4) => RData::A(A(*v4)),
            Cand::V6(v6) => RData::AAAA(AAAA(*v6)),
            Cand::Srv(s) => {
                if !left_out && seen.insert(&s.target.text) {
                    additional_addrs(&mut resp, rs, &s.target.text, &s.target.name, zone.ttl);
                }
                RData::SRV(SRV::new(0, zone.weight, s.port, s.target.name.clone()))
            }
            Cand::Soa => {
                resp.answers.push(zone.soa(rs.serial));
                continue;
            }
            Cand::Ns => {
                if !left_out {
                    additional_addrs(&mut resp, rs, &zone.mname_key, &zone.mname, zone.ttl);
                }
                RData::NS(NS(zone.mname.clone()))
            }
        };
        resp.answers
            .push(Record::from_rdata(owner.clone(), zone.ttl, rdata));
    }
    reply(resp, max, zone, left_out)
}

/// An answer that could be given, before a record is made of it.
enum Cand<'r> {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    Srv(&'r Srv),
    Soa,
    Ns,
}

/// A message's header.
const HEADER: usize = 12;
/// The fewest bytes an answer takes: its owner (the question's name, at least a 2-byte
/// compression pointer), type, class, TTL and length (10), and the shortest data (an NS' name,
/// at least a pointer, 2). So `(max - HEADER) / MIN_RECORD` answers are more than fit in `max`.
const MIN_RECORD: usize = 14;

/// The first A and first AAAA of `key`, as additional records.
fn additional_addrs(resp: &mut Message, rs: &RecordSet, key: &str, name: &Name, ttl: u32) {
    let addrs = rs.addrs(key);
    if let Some(IpAddr::V4(v4)) = addrs.iter().find(|i| i.is_ipv4()) {
        resp.additionals
            .push(Record::from_rdata(name.clone(), ttl, RData::A(A(*v4))));
    }
    if let Some(IpAddr::V6(v6)) = addrs.iter().find(|i| i.is_ipv6()) {
        resp.additionals.push(Record::from_rdata(
            name.clone(),
            ttl,
            RData::AAAA(AAAA(*v6)),
        ));
    }
}

/// Encode, cut to `max` bytes as mesos-dns does: additional records first, then answers from
/// the end; TC set when anything was cut, or `left_out` (answers left out before, as more than
/// could fit), unless `SetTruncateBit` is off.
fn reply(mut resp: Message, max: usize, zone: &Zone, left_out: bool) -> Outcome<'static> {
    if !left_out {
        let Ok(full) = resp.to_vec() else {
            return servfail(resp);
        };
        if full.len() <= max {
            return Outcome::Reply(full);
        }
    }
    resp.metadata.truncation = zone.set_truncate_bit;
    resp.additionals.clear();
    match resp.to_vec() {
        Ok(b) if b.len() <= max => return Outcome::Reply(b),
        Ok(_) => {}
        Err(_) => return servfail(resp),
    }
    let answers = std::mem::take(&mut resp.answers);
    // The most answers that fit: a binary search over how many are kept.
    let (mut lo, mut hi) = (0usize, answers.len());
    let mut best: Option<Vec<u8>> = None;
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        resp.answers = answers[..mid].to_vec();
        match resp.to_vec() {
            Ok(b) if b.len() <= max => {
                lo = mid;
                best = Some(b);
            }
            _ => hi = mid - 1,
        }
    }
    if let Some(b) = best {
        return Outcome::Reply(b);
    }
    resp.answers.clear();
    resp.authorities.clear();
    match resp.to_vec() {
        Ok(b) => Outcome::Reply(b),
        Err(_) => servfail(resp),
    }
}

fn servfail(mut resp: Message) -> Outcome<'static> {
    resp.answers.clear();
    resp.authorities.clear();
    resp.additionals.clear();
    resp.queries.clear();
    resp.metadata.response_code = ResponseCode::ServFail;
    match resp.to_vec() {
        Ok(b) => Outcome::Reply(b),
        Err(_) => Outcome::Drop,
    }
}

/// A reply with only a response code, for a query that was to be forwarded: REFUSED when the
/// forward could not be made, SERVFAIL when no resolver answered. `None` for garbage.
pub fn error_reply(query: &[u8], code: ResponseCode) -> Option<Vec<u8>> {
    let req = Message::from_vec(query).ok()?;
    let mut resp = Message::new(req.id, MessageType::Response, req.op_code);
    resp.metadata.recursion_desired = req.recursion_desired;
    resp.metadata.response_code = code;
    resp.queries = req.queries;
    if req.edns.is_some() {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        resp.edns = Some(e);
    }
    resp.to_vec().ok()
}

#[cfg(test)]
mod tests;
