//! Mesos' quota messages (`mesos/v1/quota/quota.proto`): a role's `QuotaConfig` (guarantees
//! and limits by resource name, what `UPDATE_QUOTA` sets, `GET_QUOTA` shows and the registry
//! keeps), and the deprecated forms the old API speaks — `QuotaInfo` (guarantees as a resource
//! list) and `QuotaRequest` (`SET_QUOTA`, `POST /quota`).
//!
//! JSON as Mesos writes it: empty maps and lists are left out (`{"role": "dev"}` is a config
//! with neither guarantees nor limits, the default quota).

use crate::mesos::{Resource, Scalar};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A role's quota: what it is guaranteed and what it may never exceed, by resource name. A name
/// without a limit is unlimited; no guarantees and no limits is the default quota (none).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct QuotaConfig {
    pub role: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub guarantees: BTreeMap<String, Scalar>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Scalar>,
}

impl QuotaConfig {
    /// No guarantees and no limits: setting it removes a role's quota.
    pub fn is_default(&self) -> bool {
        self.guarantees.is_empty() && self.limits.is_empty()
    }
}

/// The deprecated form of a role's quota: its guarantees as scalar resources (the old API's
/// guarantee was also the limit).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct QuotaInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guarantee: Vec<Resource>,
}

/// `SET_QUOTA`'s and `POST /quota`'s body: a role and its guarantee; `force` skips the check
/// that the guarantees fit in the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct QuotaRequest {
    #[serde(default)]
    pub force: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guarantee: Vec<Resource>,
}

/// `GET_QUOTA` and `GET /quota`: every role's non-default quota, in the old form (`infos`)
/// and the new (`configs`) side by side.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct QuotaStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub infos: Vec<QuotaInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<QuotaConfig>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quota_json_is_mesos_and_leaves_empty_parts_out() {
        let c: QuotaConfig = serde_json::from_value(
            json!({"role": "dev", "guarantees": {"cpus": {"value": 1}}, "limits": {"cpus": {"value": 2.5}, "mem": {"value": 64}}}),
        )
        .expect("a config");
        assert_eq!(c.guarantees["cpus"].value, 1.0);
        assert_eq!(c.limits["mem"].value, 64.0);
        let bare = QuotaConfig {
            role: "dev".into(),
            ..Default::default()
        };
        assert!(bare.is_default() && !c.is_default());
        assert_eq!(
            serde_json::to_value(&bare).expect("json"),
            json!({"role": "dev"})
        );
        // The role is required, as in the proto.
        assert!(serde_json::from_value::<QuotaConfig>(json!({"guarantees": {}})).is_err());
        let status = QuotaStatus {
            infos: vec![QuotaInfo {
                role: Some("dev".into()),
                principal: None,
                guarantee: vec![Resource::scalar("cpus", 1.0)],
            }],
            configs: vec![c],
        };
        let v = serde_json::to_value(&status).expect("json");
        assert_eq!(
            v["infos"][0],
            json!({"role": "dev", "guarantee": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}}]})
        );
        assert_eq!(v["configs"][0]["limits"]["cpus"], json!({"value": 2.5}));
        assert_eq!(
            serde_json::to_value(QuotaStatus::default()).expect("json"),
            json!({})
        );
        let r: QuotaRequest = serde_json::from_value(
            json!({"role": "dev", "guarantee": [{"name": "mem", "type": "SCALAR", "scalar": {"value": 8}}]}),
        )
        .expect("a request");
        assert!(!r.force);
        assert_eq!(r.guarantee[0].name, "mem");
    }
}
