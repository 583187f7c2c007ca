//! Cosmos' media types and the negotiation of a response's version from the request's `Accept`.
//!
//! Every response names its media type as `application/vnd.dcos.<ns>.<kind>+json;charset=utf-8;
//! version=vN`. The `dcos` CLI requires its `Accept` string to appear verbatim in the response's
//! `Content-Type`, so an accepted type is echoed byte for byte; an `Accept` naming no supported
//! version is refused (400), which is how the CLI learns to fall back to an older version.

use crate::error::Error;

/// The error media type, on every error answer.
pub const ERROR: &str = "application/vnd.dcos.package.error+json;charset=utf-8;version=v1";
/// `GET /capabilities`.
pub const CAPABILITIES: &str = "application/vnd.dcos.capabilities+json;charset=utf-8;version=v1";

/// `application/vnd.dcos.package.<kind>+json;charset=utf-8;version=v<n>`.
pub fn package(kind: &str, version: u8) -> String {
    format!("application/vnd.dcos.package.{kind}+json;charset=utf-8;version=v{version}")
}

/// `application/vnd.dcos.universe.<kind>+json;charset=utf-8;version=<v>`.
pub fn universe(kind: &str, version: &str) -> String {
    format!("application/vnd.dcos.universe.{kind}+json;charset=utf-8;version={version}")
}

/// The response chosen for a request: its version and the exact `Content-Type` to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub version: u8,
    pub content_type: String,
}

/// One entry of an `Accept` header, split: `type/subtype` and its parameters, lowercased names.
struct Range<'a> {
    essence: String,
    params: Vec<(String, &'a str)>,
}

fn parse_range(text: &str) -> Range<'_> {
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().trim_matches('"')))
        })
        .collect();
    Range { essence, params }
}

/// Choose the response media type of `kind` (e.g. `describe-response`) among `versions` (the
/// newest first) for the request's `Accept`. No `Accept`, `*/*`, `application/*` or
/// `application/json` get the newest version; an accepted Cosmos type is echoed verbatim.
pub fn negotiate(accept: Option<&str>, kind: &str, versions: &[u8]) -> Result<Negotiated, Error> {
    let newest = |v: u8| Negotiated {
        version: v,
        content_type: package(kind, v),
    };
    let Some(&latest) = versions.first() else {
        return Err(unsupported(kind, versions, accept));
    };
    let accept = match accept.map(str::trim) {
        None | Some("") => return Ok(newest(latest)),
        Some(a) => a,
    };
    let wanted = format!("application/vnd.dcos.package.{kind}+json");
    let mut wildcard = false;
    for entry in accept.split(',') {
        let entry = entry.trim();
        let range = parse_range(entry);
        if range
            .params
            .iter()
            .any(|(k, v)| k == "q" && v.parse::<f32>() == Ok(0.0))
        {
            continue;
        }
        if range.essence == wanted {
            let charset_ok = range
                .params
                .iter()
                .all(|(k, v)| k != "charset" || v.eq_ignore_ascii_case("utf-8"));
            let version = range.params.iter().find(|(k, _)| k == "version");
            let chosen = match version {
                None => Some(latest),
                Some((_, v)) => v
                    .strip_prefix('v')
                    .and_then(|n| n.parse::<u8>().ok())
                    .filter(|n| versions.contains(n)),
            };
            if let (true, Some(v)) = (charset_ok, chosen) {
                let verbatim = version.is_some() && !range.params.iter().any(|(k, _)| k == "q");
                return Ok(Negotiated {
                    version: v,
                    content_type: if verbatim {
                        entry.to_string()
                    } else {
                        package(kind, v)
                    },
                });
            }
        } else if matches!(
            range.essence.as_str(),
            "*/*" | "application/*" | "application/json"
        ) {
            wildcard = true;
        }
    }
    if wildcard {
        return Ok(newest(latest));
    }
    Err(unsupported(kind, versions, Some(accept)))
}

fn unsupported(kind: &str, versions: &[u8], accept: Option<&str>) -> Error {
    Error::UnsupportedContentType {
        supported: versions.iter().map(|v| package(kind, *v)).collect(),
        actual: accept.map(str::to_string),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepted_types_are_echoed_verbatim_and_unsupported_ones_refused() {
        let v3 = "application/vnd.dcos.package.describe-response+json;charset=utf-8;version=v3";
        let v2 = "application/vnd.dcos.package.describe-response+json;charset=utf-8;version=v2";
        let v1 = "application/vnd.dcos.package.describe-response+json;charset=utf-8;version=v1";
        let spaced =
            "application/vnd.dcos.package.describe-response+json; charset=utf-8; version=v2";
        let both = format!("{v1}, {v2}");
        // Accept → Some((version, Content-Type)), or None when refused.
        type Case<'a> = (Option<&'a str>, Option<(u8, &'a str)>);
        let cases: Vec<Case> = vec![
            (Some(v3), Some((3, v3))),
            (Some(v2), Some((2, v2))),
            (Some(spaced), Some((2, spaced))),
            (Some(v1), None),
            (None, Some((3, v3))),
            (Some("*/*"), Some((3, v3))),
            (Some("application/json"), Some((3, v3))),
            (Some("text/html"), None),
            (Some(&both), Some((2, v2))),
        ];
        for (accept, want) in cases {
            let got = negotiate(accept, "describe-response", &[3, 2]);
            match want {
                Some((version, ct)) => {
                    let n = got.unwrap();
                    assert_eq!(
                        (n.version, n.content_type.as_str()),
                        (version, ct),
                        "{accept:?}"
                    );
                }
                None => {
                    let e = got.unwrap_err();
                    assert_eq!(e.kind(), "UnsupportedContentType", "{accept:?}");
                    assert_eq!(e.status().as_u16(), 400);
                }
            }
        }
    }

    #[test]
    fn media_type_strings_have_no_spaces() {
        assert_eq!(
            package("repository.list-response", 1),
            "application/vnd.dcos.package.repository.list-response+json;charset=utf-8;version=v1"
        );
        assert!(!ERROR.contains(' ') && !CAPABILITIES.contains(' '));
    }
}
