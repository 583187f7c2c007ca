//! Who leads a group, from the names of its members' ephemeral sequential znodes: pure.
//!
//! Two layouts exist in the wild. Mesos masters write `json.info_<seq>` under the group's path
//! (with `log_replicas`, never a member, beside them); Curator's `LeaderLatch`, which Marathon
//! uses, writes `_c_<uuid>-latch-<seq>`. In both the member with the smallest sequence number
//! leads. Mesos compares the numbers; pymesos and the Mesos CLI compare the names as strings,
//! which agrees as long as every name has the same zero-padded width (ZooKeeper pads to 10
//! digits below 2^31).

/// The naming of a group's members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Mesos masters: `json.info_0000000012`.
    Mesos,
    /// Curator's LeaderLatch: `_c_<uuid>-latch-0000000003`.
    CuratorLatch,
}

impl Layout {
    /// The name a member creates; ZooKeeper appends the sequence.
    pub fn member_prefix(self) -> String {
        match self {
            Layout::Mesos => "json.info_".to_string(),
            Layout::CuratorLatch => format!("_c_{}-latch-", uuid::Uuid::new_v4()),
        }
    }

    /// The sequence number of a member's name; `None` for anything that is not a member.
    pub fn sequence(self, name: &str) -> Option<u64> {
        let digits = match self {
            Layout::Mesos => name.strip_prefix("json.info_")?,
            Layout::CuratorLatch => name.rsplit_once("-latch-")?.1,
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// The leading member among `children`: the smallest sequence number.
    pub fn leader(self, children: &[String]) -> Option<&str> {
        children
            .iter()
            .filter_map(|c| self.sequence(c).map(|s| (s, c.as_str())))
            .min()
            .map(|(_, c)| c)
    }
}

/// The address (`ip:port`) a Mesos master's `json.info_` data says it serves at: `address.ip`
/// and `address.port`, else the packed `ip` (network byte order) and `port`, as mesos-go reads it.
pub fn master_address(data: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    if let Some(a) = v.get("address") {
        let ip = a
            .get("ip")
            .and_then(|x| x.as_str())
            .or_else(|| a.get("hostname").and_then(|x| x.as_str()));
        if let (Some(ip), Some(port)) = (ip, a.get("port").and_then(|p| p.as_u64())) {
            return Some(format!("{ip}:{port}"));
        }
    }
    let ip = v.get("ip")?.as_u64()?;
    let port = v.get("port")?.as_u64()?;
    let b = (ip as u32).to_le_bytes();
    Some(format!("{}.{}.{}.{}:{port}", b[0], b[1], b[2], b[3]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_smallest_sequence_leads_and_other_children_are_not_members() {
        let c = names(&[
            "log_replicas",
            "json.info_0000000012",
            "json.info_0000000003",
            "info_0000000001",
            "json.info_0000000007",
        ]);
        assert_eq!(Layout::Mesos.leader(&c), Some("json.info_0000000003"));
        assert_eq!(Layout::Mesos.leader(&names(&["log_replicas"])), None);
        // The string-smallest member (what pymesos takes) is the same one.
        let smallest = c.iter().filter(|n| n.starts_with("json.info")).min();
        assert_eq!(smallest.map(|s| s.as_str()), Some("json.info_0000000003"));
    }

    #[test]
    fn curator_latch_members_are_ordered_by_their_sequence_not_their_uuid() {
        let c = names(&[
            "_c_ffffffff-0000-0000-0000-000000000000-latch-0000000001",
            "_c_00000000-0000-0000-0000-000000000000-latch-0000000002",
            "not-a-member",
        ]);
        assert_eq!(
            Layout::CuratorLatch.leader(&c),
            Some("_c_ffffffff-0000-0000-0000-000000000000-latch-0000000001")
        );
        let p = Layout::CuratorLatch.member_prefix();
        assert!(p.starts_with("_c_") && p.ends_with("-latch-"), "{p}");
        assert_eq!(
            Layout::CuratorLatch.sequence(&format!("{p}0000000042")),
            Some(42)
        );
    }

    #[test]
    fn reads_a_masters_address_as_mesos_go_does() {
        let full = br#"{"id":"x","ip":16777343,"port":5050,"address":{"hostname":"m1","ip":"10.0.0.5","port":5051}}"#;
        assert_eq!(master_address(full).as_deref(), Some("10.0.0.5:5051"));
        // 127.0.0.1 packed in network byte order, read as a little-endian uint32.
        let packed = br#"{"id":"x","ip":16777343,"port":5050}"#;
        assert_eq!(master_address(packed).as_deref(), Some("127.0.0.1:5050"));
        assert_eq!(master_address(b"not json"), None);
    }
}
