//! The records, as one immutable snapshot built from the cluster state by a pure function:
//! mesos-dns' names for tasks (plain, canonical, `.slave`, SRV from ports and DiscoveryInfo),
//! frameworks, agents, masters and the server itself, plus what `/v1/enumerate` lists.
//! Lookups are by lowercased absolute name (`web.marathon.mesos.`).

use crate::names::{agent_tail, hash5, LabelRule};
use crate::state::{ClusterState, Status, Task};
use hickory_proto::rr::Name;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

/// Where a task's IP comes from (mesos-dns' `IPSources`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpSource {
    /// The agent's IP.
    Host,
    /// The status label `MesosContainerizer.NetworkSettings.IPAddress`.
    Mesos,
    /// The status label `Docker.NetworkSettings.IPAddress`.
    Docker,
    /// `container_status.network_infos[].ip_addresses[]` of the status.
    Netinfo,
}

impl IpSource {
    pub fn parse(s: &str) -> Option<IpSource> {
        Some(match s {
            "host" => IpSource::Host,
            "mesos" => IpSource::Mesos,
            "docker" => IpSource::Docker,
            "netinfo" => IpSource::Netinfo,
            _ => return None,
        })
    }
}

/// What the records are built with.
#[derive(Clone, Debug)]
pub struct BuildConfig {
    /// `mesos` (lowercase, no trailing dot).
    pub domain: String,
    pub rule: LabelRule,
    pub ip_sources: Vec<IpSource>,
    /// The server's own name (`SOAMname`) and its addresses.
    pub ns_name: String,
    pub ns_ips: Vec<IpAddr>,
    /// Leave out tasks whose latest status says `healthy: false`.
    pub health_aware: bool,
}

impl BuildConfig {
    pub fn from_config(c: &crate::Config, ns_ips: Vec<IpAddr>, health_aware: bool) -> Self {
        BuildConfig {
            domain: c.domain.clone(),
            rule: c.label_rule(),
            ip_sources: c
                .ip_sources
                .iter()
                .filter_map(|s| IpSource::parse(s))
                .collect(),
            ns_name: c.soa_mname.to_ascii_lowercase(),
            ns_ips,
            health_aware,
        }
    }
}

/// Hostnames (agents', frameworks', masters') resolved to addresses at the edge.
pub type Hosts = HashMap<String, Vec<IpAddr>>;

/// An SRV target: its lowercased absolute name, as text and parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub text: Box<str>,
    pub(crate) name: Name,
}

/// An SRV record's target and port (priority 0; the weight is the config's).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Srv {
    pub target: Arc<Target>,
    pub port: u16,
}

/// One record, in the order mesos-dns lists a task's records.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Rec {
    Addr(Arc<str>, IpAddr),
    Srv(Arc<str>, Srv),
}

/// The records one task (or the cluster's fixed names) gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskRecords {
    pub name: String,
    pub id: String,
    pub records: Vec<Rec>,
}

/// Records gathered in order, each once.
#[derive(Default)]
struct Gather {
    records: Vec<Rec>,
    seen: HashSet<Rec>,
}

impl Gather {
    fn with_capacity(n: usize) -> Gather {
        Gather {
            records: Vec::with_capacity(n),
            seen: HashSet::with_capacity(n),
        }
    }

    fn push(&mut self, r: Rec) {
        if !self.seen.contains(&r) {
            self.seen.insert(r.clone());
            self.records.push(r);
        }
    }

    fn a(&mut self, name: &Arc<str>, ip: IpAddr) {
        self.push(Rec::Addr(name.clone(), ip));
    }

    fn srv(&mut self, name: &Arc<str>, target: &Arc<Target>, port: u16) {
        let srv = Srv {
            target: target.clone(),
            port,
        };
        self.push(Rec::Srv(name.clone(), srv));
    }
}

/// One record of a task, as `/v1/enumerate` lists it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EnumRecord {
    pub name: String,
    pub host: String,
    pub rtype: &'static str,
}

impl EnumRecord {
    fn of(r: &Rec) -> EnumRecord {
        match r {
            Rec::Addr(n, ip) => EnumRecord {
                name: n.to_string(),
                host: ip.to_string(),
                rtype: if ip.is_ipv4() { "A" } else { "AAAA" },
            },
            Rec::Srv(n, s) => EnumRecord {
                name: n.to_string(),
                host: format!("{}:{}", s.target.text, s.port),
                rtype: "SRV",
            },
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EnumTask {
    pub name: String,
    pub id: String,
    pub records: Vec<EnumRecord>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EnumFramework {
    pub tasks: Vec<EnumTask>,
    pub name: String,
}

/// `/v1/enumerate`'s body.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, Default)]
pub struct Enumeration {
    pub frameworks: Vec<EnumFramework>,
}

/// Every record of the domain, immutable once built.
#[derive(Debug, Default)]
pub struct RecordSet {
    pub(crate) addrs: HashMap<Arc<str>, Vec<IpAddr>>,
    pub(crate) srvs: HashMap<Arc<str>, Vec<Srv>>,
    /// Names with no records of their own but records below them (`marathon.mesos.`).
    pub(crate) interior: HashSet<Box<str>>,
    /// Each framework's name and its tasks' records.
    pub(crate) frameworks: Vec<(String, Vec<Arc<TaskRecords>>)>,
    /// The SOA serial: when this set was built (seconds).
    pub serial: u32,
}

impl RecordSet {
    /// The A and AAAA addresses of a lowercased absolute name.
    pub fn addrs(&self, name: &str) -> &[IpAddr] {
        self.addrs.get(name).map_or(&[], |v| v.as_slice())
    }

    /// The SRV records of a lowercased absolute name.
    pub fn srvs(&self, name: &str) -> &[Srv] {
        self.srvs.get(name).map_or(&[], |v| v.as_slice())
    }

    /// Whether the name exists (has records, or names below it do).
    pub fn exists(&self, name: &str) -> bool {
        self.addrs.contains_key(name)
            || self.srvs.contains_key(name)
            || self.interior.contains(name)
    }

    /// How many names have records.
    pub fn len(&self) -> usize {
        self.addrs.len() + self.srvs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All names with A/AAAA records, and with SRV records (for `/v1/axfr`).
    pub fn all_addrs(&self) -> impl Iterator<Item = (&str, &[IpAddr])> {
        self.addrs.iter().map(|(k, v)| (&**k, v.as_slice()))
    }

    pub fn all_srvs(&self) -> impl Iterator<Item = (&str, &[Srv])> {
        self.srvs.iter().map(|(k, v)| (&**k, v.as_slice()))
    }

    /// What `/v1/enumerate` shows: every framework, with the records of its tasks.
    pub fn enumeration(&self) -> Enumeration {
        Enumeration {
            frameworks: self
                .frameworks
                .iter()
                .map(|(name, tasks)| EnumFramework {
                    name: name.clone(),
                    tasks: tasks
                        .iter()
                        .map(|t| EnumTask {
                            name: t.name.clone(),
                            id: t.id.clone(),
                            records: t.records.iter().map(EnumRecord::of).collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

const MESOS_IP_LABEL: &str = "MesosContainerizer.NetworkSettings.IPAddress";
const DOCKER_IP_LABEL: &str = "Docker.NetworkSettings.IPAddress";

fn target(text: &str) -> Option<Arc<Target>> {
    Some(Arc::new(Target {
        name: Name::from_ascii(text).ok()?,
        text: text.into(),
    }))
}

fn ips_of(host: &str, hosts: &Hosts) -> Vec<IpAddr> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
        return vec![ip];
    }
    hosts.get(host).cloned().unwrap_or_default()
}

fn task_ips(cfg: &BuildConfig, t: &Task, agent_ips: &[IpAddr]) -> Vec<IpAddr> {
    let status: Option<&Status> = t.running.as_ref();
    let label_ips = |key: &str| -> Vec<IpAddr> {
        status
            .map(|s| {
                s.labels
                    .0
                    .iter()
                    .filter(|l| l.key == key)
                    .filter_map(|l| l.value.as_deref()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    for src in &cfg.ip_sources {
        let ips: Vec<IpAddr> = match src {
            IpSource::Host => agent_ips.to_vec(),
            IpSource::Mesos => label_ips(MESOS_IP_LABEL),
            IpSource::Docker => label_ips(DOCKER_IP_LABEL),
            IpSource::Netinfo => status
                .map(|s| {
                    s.container_status
                        .network_infos
                        .iter()
                        .flat_map(|n| {
                            let many = n
                                .ip_addresses
                                .iter()
                                .filter_map(|a| a.ip_address.as_deref());
                            let one = n
                                .ip_addresses
                                .is_empty()
                                .then_some(n.ip_address.as_deref())
                                .flatten();
                            many.chain(one)
                        })
                        .filter_map(|a| a.parse().ok())
                        .collect()
                })
                .unwrap_or_default(),
        };
        if !ips.is_empty() {
            return ips;
        }
    }
    Vec::new()
}

/// The records of one running task (pure).
pub fn task_records(
    cfg: &BuildConfig,
    t: &Task,
    fname: &str,
    agent_ips: &[IpAddr],
) -> Option<TaskRecords> {
    let rule = cfg.rule;
    let label = match &t.discovery {
        Some(d) => rule.label(&d.name),
        None => rule.label(&t.name),
    };
    if label.is_empty() || fname.is_empty() {
        return None;
    }
    let mut out = Gather::with_capacity(8 + 4 * t.ports.len());
    let tail = format!(".{}.", cfg.domain);
    let canonical = format!(
        "{label}-{}-{}.{fname}",
        hash5(&t.id),
        agent_tail(&t.agent_id)
    );
    let arec = format!("{label}.{fname}");
    let arec_d: Arc<str> = format!("{arec}{tail}").into();
    let canon_d: Arc<str> = format!("{canonical}{tail}").into();
    for ip in task_ips(cfg, t, agent_ips) {
        out.a(&arec_d, ip);
        out.a(&canon_d, ip);
    }
    let arec_s: Arc<str> = format!("{arec}.slave{tail}").into();
    let canon_s: Arc<str> = format!("{canonical}.slave{tail}").into();
    for &ip in agent_ips {
        out.a(&arec_s, ip);
        out.a(&canon_s, ip);
    }
    let discovery = t.discovery.as_ref();
    if let (Some(target_s), false) = (target(&canon_s), t.ports.is_empty()) {
        let names: Vec<Arc<str>> = ["tcp", "udp"]
            .iter()
            .flat_map(|proto| {
                let name = format!("_{label}._{proto}.{fname}");
                let plain = discovery.is_none().then(|| format!("{name}{tail}"));
                std::iter::once(format!("{name}.slave{tail}")).chain(plain)
            })
            .map(Arc::from)
            .collect();
        for &port in &t.ports {
            for n in &names {
                out.srv(n, &target_s, port);
            }
        }
    }
    if let (Some(d), Some(target_d)) = (discovery, target(&canon_d)) {
        for p in &d.ports.ports {
            let Ok(number) = u16::try_from(p.number) else {
                continue;
            };
            let proto = rule.label(&p.protocol);
            let protos: &[&str] = if proto.is_empty() {
                &["tcp", "udp"]
            } else {
                &[&proto]
            };
            let port_name = rule.label(&p.name);
            for proto in protos {
                let name = format!("_{label}._{proto}.{fname}{tail}");
                let named = (!port_name.is_empty())
                    .then(|| Arc::<str>::from(format!("_{port_name}.{name}")));
                out.srv(&name.into(), &target_d, number);
                if let Some(named) = named {
                    out.srv(&named, &target_d, number);
                }
            }
        }
    }
    Some(TaskRecords {
        name: t.name.clone(),
        id: t.id.clone(),
        records: out.records,
    })
}

/// The records of the cluster's fixed names: frameworks, agents, the server, the masters.
fn cluster_records(state: &ClusterState, cfg: &BuildConfig, hosts: &Hosts) -> TaskRecords {
    TaskRecords {
        records: cluster_gather(state, cfg, hosts).records,
        ..TaskRecords::default()
    }
}

fn cluster_gather(state: &ClusterState, cfg: &BuildConfig, hosts: &Hosts) -> Gather {
    let rule = cfg.rule;
    let tail = format!(".{}.", cfg.domain);
    let mut out = Gather::default();
    for f in state.frameworks.values() {
        let fname = rule.domain_frag(&f.name);
        if let (Some(h), false) = (&f.host, fname.is_empty()) {
            let n: Arc<str> = format!("{fname}{tail}").into();
            for ip in ips_of(h, hosts) {
                out.a(&n, ip);
            }
        }
    }
    let slave: Arc<str> = format!("slave{tail}").into();
    let slave_target = target(&slave);
    for a in state.agents.values() {
        let ips = ips_of(&a.host, hosts);
        for &ip in &ips {
            out.a(&slave, ip);
        }
        if let (Some(port), Some(t), false) = (a.port, &slave_target, ips.is_empty()) {
            out.srv(&format!("_slave._tcp{tail}").into(), t, port);
        }
    }
    let ns: Arc<str> = cfg.ns_name.as_str().into();
    for &ip in &cfg.ns_ips {
        out.a(&ns, ip);
    }
    let Some(leader) = &state.leader else {
        return out;
    };
    let Some((lhost, lport)) = split_host_port(leader) else {
        return out;
    };
    let leader_ips = ips_of(lhost, hosts);
    let leader_name: Arc<str> = format!("leader{tail}").into();
    let all: Arc<str> = format!("master{tail}").into();
    for &ip in &leader_ips {
        out.a(&leader_name, ip);
        out.a(&all, ip);
    }
    if let (Ok(port), Some(t)) = (lport.parse::<u16>(), target(&leader_name)) {
        out.srv(&format!("_leader._tcp{tail}").into(), &t, port);
        out.srv(&format!("_leader._udp{tail}").into(), &t, port);
    }
    let mut idx = 0;
    let mut leader_numbered = false;
    let mut seen = HashSet::new();
    for m in &state.masters {
        if !seen.insert(m.as_str()) {
            continue;
        }
        let Some((host, _)) = split_host_port(m) else {
            continue;
        };
        let ips = ips_of(host, hosts);
        if ips.is_empty() {
            continue;
        }
        let n: Arc<str> = format!("master{idx}{tail}").into();
        for &ip in &ips {
            out.a(&all, ip);
            out.a(&n, ip);
        }
        leader_numbered |= m == leader;
        idx += 1;
    }
    if !leader_numbered {
        let n: Arc<str> = format!("master{idx}{tail}").into();
        for &ip in &leader_ips {
            out.a(&n, ip);
        }
    }
    out
}

/// `host:port` → (host, port); `[v6]:port` too.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let (h, p) = s.rsplit_once(':')?;
    Some((h.trim_start_matches('[').trim_end_matches(']'), p))
}

/// A task's records as last built, and what they were built from.
struct Cached {
    version: u64,
    fname: String,
    agent_ips: Vec<IpAddr>,
    records: Option<Arc<TaskRecords>>,
}

/// Builds record sets, remembering each task's records until the task, its agent's addresses or
/// its framework's name change: a burst of events rebuilds only the tasks they touched, then
/// merges. Deterministic: the same state gives the same records as a fresh builder.
pub struct Builder {
    cfg: BuildConfig,
    cache: HashMap<(String, String), Cached>,
}

impl Builder {
    pub fn new(cfg: BuildConfig) -> Builder {
        Builder {
            cfg,
            cache: HashMap::new(),
        }
    }

    /// Every record of the domain from the cluster state.
    pub fn build(&mut self, state: &ClusterState, hosts: &Hosts, serial: u32) -> RecordSet {
        let cfg = &self.cfg;
        let rule = cfg.rule;
        let fnames: HashMap<&str, String> = state
            .frameworks
            .iter()
            .map(|(id, f)| (id.as_str(), rule.domain_frag(&f.name)))
            .collect();
        let agent_ips: HashMap<&str, Vec<IpAddr>> = state
            .agents
            .iter()
            .map(|(id, a)| (id.as_str(), ips_of(&a.host, hosts)))
            .collect();
        let mut frameworks: Vec<(String, Vec<Arc<TaskRecords>>)> = Vec::new();
        let mut fw_index: HashMap<&str, usize> = HashMap::new();
        for (id, f) in &state.frameworks {
            fw_index.insert(id.as_str(), frameworks.len());
            frameworks.push((f.name.clone(), Vec::new()));
        }
        self.cache.retain(|k, _| state.tasks.contains_key(k));
        let mut total = 0;
        for (key, t) in &state.tasks {
            if t.state != "TASK_RUNNING" || (cfg.health_aware && t.healthy == Some(false)) {
                continue;
            }
            let (Some(fname), Some(ips), Some(&fi)) = (
                fnames.get(key.0.as_str()),
                agent_ips.get(t.agent_id.as_str()),
                fw_index.get(key.0.as_str()),
            ) else {
                continue;
            };
            let fresh =
                |c: &Cached| c.version == t.version && c.fname == *fname && c.agent_ips == *ips;
            let records = match self.cache.get(key) {
                Some(c) if fresh(c) => c.records.clone(),
                _ => {
                    let records = task_records(cfg, t, fname, ips).map(Arc::new);
                    let c = Cached {
                        version: t.version,
                        fname: fname.clone(),
                        agent_ips: ips.clone(),
                        records: records.clone(),
                    };
                    self.cache.insert(key.clone(), c);
                    records
                }
            };
            if let Some(r) = records {
                total += r.records.len();
                frameworks[fi].1.push(r);
            }
        }
        let fixed = cluster_records(state, cfg, hosts);
        merge(&cfg.domain, fixed, frameworks, total, serial)
    }
}

/// Build every record of the domain from the cluster state (pure; see [`Builder`] to build
/// again and again).
pub fn build(state: &ClusterState, cfg: &BuildConfig, hosts: &Hosts, serial: u32) -> RecordSet {
    Builder::new(cfg.clone()).build(state, hosts, serial)
}

fn merge(
    domain: &str,
    fixed: TaskRecords,
    frameworks: Vec<(String, Vec<Arc<TaskRecords>>)>,
    total: usize,
    serial: u32,
) -> RecordSet {
    let mut addrs: HashMap<Arc<str>, Vec<IpAddr>> = HashMap::with_capacity(total / 2 + 16);
    let mut srvs: HashMap<Arc<str>, Vec<Srv>> = HashMap::with_capacity(total / 2 + 16);
    let all = std::iter::once(&fixed).chain(
        frameworks
            .iter()
            .flat_map(|(_, ts)| ts.iter().map(|t| &**t)),
    );
    for t in all {
        for r in &t.records {
            match r {
                Rec::Addr(n, ip) => match addrs.get_mut(&**n) {
                    Some(v) => v.push(*ip),
                    None => {
                        addrs.insert(n.clone(), vec![*ip]);
                    }
                },
                Rec::Srv(n, s) => match srvs.get_mut(&**n) {
                    Some(v) => v.push(s.clone()),
                    None => {
                        srvs.insert(n.clone(), vec![s.clone()]);
                    }
                },
            }
        }
    }
    for v in addrs.values_mut().filter(|v| v.len() > 1) {
        v.sort_unstable();
        v.dedup();
    }
    for v in srvs.values_mut().filter(|v| v.len() > 1) {
        v.sort_unstable_by(|a, b| (&a.target.text, a.port).cmp(&(&b.target.text, b.port)));
        v.dedup();
    }
    let apex_len = domain.len() + 1;
    let mut interior: HashSet<Box<str>> = HashSet::new();
    for name in addrs.keys().chain(srvs.keys()) {
        let mut rest: &str = name;
        while let Some((_, parent)) = rest.split_once('.') {
            if parent.len() <= apex_len || interior.contains(parent) {
                break;
            }
            interior.insert(parent.into());
            rest = parent;
        }
    }
    interior.retain(|n| !addrs.contains_key(&**n) && !srvs.contains_key(&**n));
    RecordSet {
        addrs,
        srvs,
        interior,
        frameworks,
        serial,
    }
}

#[cfg(test)]
mod tests;
