//! mesos-dns' `config.json`, accepted as is: keys matched case-insensitively (as Go's JSON
//! decoder does), unknown keys ignored, mesos-dns' defaults (but Drover's ports: DNS 8053, HTTP
//! 8123), then checked and normalised as mesos-dns does at start (lowercase domain, SOA names
//! made absolute, IP sources known). `/v1/config` shows it back with mesos-dns' Go field names.

use crate::names::LabelRule;
use crate::Error;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// The IP sources a task's address can come from.
pub const IP_SOURCES: [&str; 4] = ["host", "mesos", "docker", "netinfo"];

/// mesos-dns' configuration.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(rename = "zk")]
    pub zk: String,
    #[serde(rename = "masters")]
    pub masters: Vec<String>,
    #[serde(rename = "refreshseconds")]
    pub refresh_seconds: i64,
    #[serde(rename = "ttl")]
    pub ttl: u32,
    #[serde(rename = "domain")]
    pub domain: String,
    #[serde(rename = "port")]
    pub port: u16,
    #[serde(rename = "timeout")]
    pub timeout: u64,
    #[serde(rename = "statetimeoutseconds")]
    pub state_timeout_seconds: i64,
    #[serde(rename = "zkdetectiontimeout")]
    pub zk_detection_timeout: i64,
    #[serde(rename = "resolvers")]
    pub resolvers: Vec<String>,
    #[serde(rename = "zoneresolvers")]
    pub zone_resolvers: BTreeMap<String, Vec<String>>,
    #[serde(rename = "listener")]
    pub listener: String,
    #[serde(rename = "httplistener")]
    pub http_listener: String,
    #[serde(rename = "httpport")]
    pub http_port: u16,
    /// Serve DNS (false: the DNS sockets given to [`crate::start`] are closed unserved).
    #[serde(rename = "dnson")]
    pub dns_on: bool,
    /// Serve the HTTP API (false: its socket is closed unserved).
    #[serde(rename = "httpon")]
    pub http_on: bool,
    #[serde(rename = "externalon")]
    pub external_on: bool,
    #[serde(rename = "recurseon")]
    pub recurse_on: bool,
    #[serde(rename = "enumerationon")]
    pub enumeration_on: bool,
    #[serde(rename = "settruncatebit")]
    pub set_truncate_bit: bool,
    #[serde(rename = "enforcerfc952")]
    pub enforce_rfc952: bool,
    #[serde(rename = "ipsources")]
    pub ip_sources: Vec<String>,
    #[serde(rename = "soamname")]
    pub soa_mname: String,
    #[serde(rename = "soarname")]
    pub soa_rname: String,
    #[serde(rename = "soarefresh")]
    pub soa_refresh: u32,
    #[serde(rename = "soaretry")]
    pub soa_retry: u32,
    #[serde(rename = "soaexpire")]
    pub soa_expire: u32,
    #[serde(rename = "soaminttl")]
    pub soa_minttl: u32,
    #[serde(rename = "srvrecorddefaultweight")]
    pub srv_record_default_weight: u16,
    #[serde(rename = "mesoshttpson")]
    pub mesos_https_on: bool,
    #[serde(rename = "cacertfile")]
    pub ca_cert_file: String,
    #[serde(rename = "certfile")]
    pub cert_file: String,
    #[serde(rename = "keyfile")]
    pub key_file: String,
    #[serde(rename = "iamconfigfile")]
    pub iam_config_file: String,
    #[serde(rename = "mesosauthentication")]
    pub mesos_authentication: String,
}

impl Default for Config {
    /// mesos-dns' defaults (`records.NewConfig`), with Drover's ports: DNS 8053, HTTP 8123.
    fn default() -> Self {
        Config {
            zk: String::new(),
            masters: Vec::new(),
            refresh_seconds: 60,
            ttl: 60,
            domain: "mesos".into(),
            port: 8053,
            timeout: 5,
            state_timeout_seconds: 300,
            zk_detection_timeout: 30,
            resolvers: vec!["8.8.8.8".into()],
            zone_resolvers: BTreeMap::new(),
            listener: "0.0.0.0".into(),
            http_listener: "0.0.0.0".into(),
            http_port: 8123,
            dns_on: true,
            http_on: true,
            external_on: true,
            recurse_on: true,
            enumeration_on: true,
            set_truncate_bit: true,
            enforce_rfc952: false,
            ip_sources: vec!["netinfo".into(), "mesos".into(), "host".into()],
            soa_mname: "ns1.mesos.".into(),
            soa_rname: "root.ns1.mesos.".into(),
            soa_refresh: 60,
            soa_retry: 600,
            soa_expire: 86400,
            soa_minttl: 60,
            srv_record_default_weight: 1,
            mesos_https_on: false,
            ca_cert_file: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
            iam_config_file: String::new(),
            mesos_authentication: String::new(),
        }
    }
}

fn invalid(key: &'static str, why: impl Into<String>) -> Error {
    Error::ConfigInvalid {
        key,
        why: why.into(),
    }
}

impl Config {
    /// Read a mesos-dns `config.json`, then check and normalise it.
    pub fn from_json(bytes: &[u8]) -> Result<Config, Error> {
        let v: Map<String, Value> = serde_json::from_slice(bytes).map_err(Error::ConfigSyntax)?;
        // Go's decoder matches keys case-insensitively; the last of equal keys wins.
        let lower: Map<String, Value> = v
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let c: Config = serde_json::from_value(Value::Object(lower)).map_err(Error::ConfigValue)?;
        c.normalized()
    }

    /// The checks and normalisations mesos-dns makes at start.
    pub fn normalized(mut self) -> Result<Config, Error> {
        self.domain = self.domain.trim_end_matches('.').to_ascii_lowercase();
        if self.domain.is_empty()
            || self.domain.len() > 200
            || self.domain.split('.').any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        {
            return Err(invalid(
                "domain",
                format!("'{}' is not a domain name", self.domain),
            ));
        }
        if self.ip_sources.is_empty() {
            return Err(invalid("IPSources", "empty"));
        }
        for s in &self.ip_sources {
            if !IP_SOURCES.contains(&s.as_str()) {
                return Err(invalid("IPSources", format!("unknown source '{s}'")));
            }
        }
        for r in self
            .resolvers
            .iter()
            .chain(self.zone_resolvers.values().flatten())
        {
            if resolver_addr(r).is_none() {
                return Err(invalid(
                    "resolvers",
                    format!("'{r}' is not an IP or IP:port"),
                ));
            }
        }
        let mut zones = BTreeMap::new();
        for (zone, rs) in std::mem::take(&mut self.zone_resolvers) {
            let z = zone.trim_matches('.').to_ascii_lowercase();
            if z.is_empty() || z == self.domain || z.ends_with(&format!(".{}", self.domain)) {
                return Err(invalid(
                    "zoneResolvers",
                    format!("zone '{zone}' is empty or inside the Mesos domain"),
                ));
            }
            zones.insert(z, rs);
        }
        self.zone_resolvers = zones;
        self.soa_rname = format!(
            "{}.",
            self.soa_rname.replace('@', ".").trim_end_matches('.')
        );
        self.soa_mname = format!("{}.", self.soa_mname.trim_end_matches('.'));
        for (key, name) in [("SOAMname", &self.soa_mname), ("SOARname", &self.soa_rname)] {
            if hickory_proto::rr::Name::from_ascii(name).is_err() || name == "." {
                return Err(invalid(key, format!("'{name}' is not a domain name")));
            }
        }
        if self.timeout == 0 {
            self.timeout = 5;
        }
        Ok(self)
    }

    /// The label rule names are made with.
    pub fn label_rule(&self) -> LabelRule {
        if self.enforce_rfc952 {
            LabelRule::Rfc952
        } else {
            LabelRule::Rfc1123
        }
    }

    /// The config as `/v1/config` shows it: mesos-dns' Go field names.
    pub fn to_mesos_json(&self, serial: u32) -> Value {
        let masters = if self.masters.is_empty() {
            Value::Null
        } else {
            json!(self.masters)
        };
        json!({
            "RefreshSeconds": self.refresh_seconds,
            "Port": self.port,
            "Timeout": self.timeout,
            "StateTimeoutSeconds": self.state_timeout_seconds,
            "ZkDetectionTimeout": self.zk_detection_timeout,
            "HttpPort": self.http_port,
            "TTL": self.ttl,
            "SRVRecordDefaultWeight": self.srv_record_default_weight,
            "SOASerial": serial,
            "SOARefresh": self.soa_refresh,
            "SOARetry": self.soa_retry,
            "SOAExpire": self.soa_expire,
            "SOAMinttl": self.soa_minttl,
            "SOAMname": self.soa_mname,
            "SOARname": self.soa_rname,
            "Masters": masters,
            "ZoneResolvers": self.zone_resolvers,
            "Resolvers": self.resolvers,
            "IPSources": self.ip_sources,
            "Zk": self.zk,
            "Domain": self.domain,
            "File": "",
            "Listener": self.listener,
            "HTTPListener": self.http_listener,
            "RecurseOn": self.recurse_on,
            "DnsOn": self.dns_on,
            "HttpOn": self.http_on,
            "ExternalOn": self.external_on,
            "EnforceRFC952": self.enforce_rfc952,
            "SetTruncateBit": self.set_truncate_bit,
            "EnumerationOn": self.enumeration_on,
            "MesosHTTPSOn": self.mesos_https_on,
            "CACertFile": self.ca_cert_file,
            "CertFile": self.cert_file,
            "KeyFile": self.key_file,
            "IAMConfigFile": self.iam_config_file,
            "MesosAuthentication": self.mesos_authentication,
        })
    }
}

/// A resolver as the config names it (`IP` or `IP:port`, port 53 by default).
pub fn resolver_addr(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let ip: IpAddr = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, 53))
}

/// The nameservers of an `/etc/resolv.conf`, loopback ones left out (they may be this very
/// server): what mesos-dns forwards to when `resolvers` is empty.
pub fn resolv_conf_nameservers(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter(|s| s.parse::<IpAddr>().is_ok_and(|ip| !ip.is_loopback()))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_mesos_dns_config_is_read_with_keys_in_any_case() {
        let c = Config::from_json(
            br#"{
              "zk": "zk://10.0.0.1:2181/mesos", "masters": ["10.0.0.1:5050"],
              "refreshSeconds": 60, "ttl": 30, "domain": "Mesos", "port": 53,
              "resolvers": ["169.254.169.254", "10.0.0.1:5353"], "timeout": 5,
              "httpon": true, "dnson": true, "httpport": 8123, "externalon": true,
              "listener": "10.0.0.9", "SOAMname": "ns1.mesos", "SOARname": "root@ns1.mesos",
              "SOARefresh": 60, "SOARetry": 600, "SOAExpire": 86400, "SOAMinttl": 60,
              "IPSources": ["netinfo", "mesos", "host"], "SetTruncateBit": false,
              "EnforceRFC952": false, "somethingNew": {"x": 1}
            }"#,
        )
        .unwrap();
        assert_eq!(c.domain, "mesos");
        assert_eq!(c.ttl, 30);
        assert_eq!(c.port, 53);
        assert_eq!(c.masters, vec!["10.0.0.1:5050"]);
        assert_eq!(c.soa_mname, "ns1.mesos.");
        assert_eq!(c.soa_rname, "root.ns1.mesos.");
        assert!(!c.set_truncate_bit);
        assert_eq!(c.listener, "10.0.0.9");
        let j = c.to_mesos_json(7);
        assert_eq!(j["SOASerial"], 7);
        assert_eq!(j["HttpPort"], 8123);
        assert_eq!(j["Resolvers"][1], "10.0.0.1:5353");
    }

    #[test]
    fn defaults_are_mesos_dns_with_drovers_ports() {
        let c = Config::from_json(b"{}").unwrap();
        assert_eq!((c.port, c.http_port, c.ttl), (8053, 8123, 60));
        assert_eq!(c.ip_sources, vec!["netinfo", "mesos", "host"]);
        assert_eq!(c.resolvers, vec!["8.8.8.8"]);
        assert!(c.set_truncate_bit && c.external_on && c.enumeration_on);
        assert_eq!(c.label_rule(), LabelRule::Rfc1123);
    }

    #[test]
    fn bad_configs_are_refused() {
        for bad in [
            &b"[]"[..],
            b"not json",
            br#"{"ttl": "sixty"}"#,
            br#"{"port": 70000}"#,
            br#"{"domain": "bad domain"}"#,
            br#"{"domain": ""}"#,
            br#"{"IPSources": ["rkt"]}"#,
            br#"{"IPSources": []}"#,
            br#"{"resolvers": ["dns.google"]}"#,
            br#"{"zoneResolvers": {"mesos": ["10.0.0.1"]}}"#,
        ] {
            assert!(
                Config::from_json(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn resolver_addresses_and_resolv_conf() {
        assert_eq!(
            resolver_addr("8.8.8.8"),
            Some("8.8.8.8:53".parse().unwrap())
        );
        assert_eq!(
            resolver_addr("1.2.3.4:5353"),
            Some("1.2.3.4:5353".parse().unwrap())
        );
        assert_eq!(resolver_addr("::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(resolver_addr("x"), None);
        let text = "# c\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch x\nnameserver ::1\n";
        assert_eq!(resolv_conf_nameservers(text), vec!["10.0.0.2"]);
    }
}
