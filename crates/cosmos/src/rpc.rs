//! The request bodies of Cosmos' endpoints (all `version=v1`), as the `dcos` CLI sends them, and
//! their decoding into a Cosmos error naming the field that is wrong.

use crate::error::Error;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    #[serde(default)]
    pub query: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRequest {
    pub package_name: String,
    #[serde(default)]
    pub package_version: Option<String>,
}

/// `render` and `install`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstallRequest {
    pub package_name: String,
    #[serde(default)]
    pub package_version: Option<String>,
    #[serde(default)]
    pub options: Option<Map<String, Value>>,
    #[serde(default)]
    pub app_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListRequest {
    #[serde(default)]
    pub package_name: Option<String>,
    #[serde(default)]
    pub app_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListVersionsRequest {
    pub package_name: String,
    #[serde(default)]
    pub include_package_versions: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UninstallRequest {
    pub package_name: String,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub all: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RepositoryAddRequest {
    pub name: String,
    pub uri: String,
    /// An integer, or (as the `dcos` CLI sends it) a string holding one.
    #[serde(default, deserialize_with = "int_or_string")]
    pub index: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct RepositoryDeleteRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
}

fn int_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("index {n} is not an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("index \"{s}\" is not an integer"))),
        Some(other) => Err(serde::de::Error::custom(format!(
            "index {other} is not an integer"
        ))),
    }
}

/// Decode a request body (an empty body reads as `{}`); `what` names the request in errors.
pub fn decode<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Error> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    let v: Value = serde_json::from_slice(body).map_err(|e| Error::JsonParsingError {
        what: format!("the {what}"),
        cause: e.to_string(),
    })?;
    T::deserialize(&v).map_err(|e| Error::JsonDecodingError {
        what: format!("the {what}"),
        cause: e.to_string(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_decode_as_the_cli_sends_them() {
        let r: RepositoryAddRequest =
            decode(br#"{"name": "a", "uri": "http://a", "index": "1"}"#, "x").unwrap();
        assert_eq!(r.index, Some(1));
        let r: RepositoryAddRequest =
            decode(br#"{"name": "a", "uri": "http://a", "index": 0}"#, "x").unwrap();
        assert_eq!(r.index, Some(0));
        let r: RepositoryAddRequest = decode(br#"{"name": "a", "uri": "http://a"}"#, "x").unwrap();
        assert_eq!(r.index, None);
        let e =
            decode::<RepositoryAddRequest>(br#"{"name": "a", "uri": "u", "index": "one"}"#, "x")
                .unwrap_err();
        assert!(e.to_string().contains("index \"one\""), "{e}");

        let s: SearchRequest = decode(b"", "search request").unwrap();
        assert_eq!(s.query, None);
        let i: InstallRequest = decode(
            br#"{"packageName": "hw", "packageVersion": "0.1.0", "options": {}}"#,
            "x",
        )
        .unwrap();
        assert_eq!(i.options, Some(Map::new()));
        let e = decode::<DescribeRequest>(br#"{"package": "hw"}"#, "describe request").unwrap_err();
        assert_eq!(e.kind(), "JsonDecodingError");
        assert!(e.to_string().contains("packageName"), "{e}");
        let e = decode::<DescribeRequest>(b"{", "describe request").unwrap_err();
        assert_eq!(e.kind(), "JsonParsingError");
    }
}
