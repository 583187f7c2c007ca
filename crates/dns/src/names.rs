//! mesos-dns' naming rules, pure: DNS labels from arbitrary names (RFC 1123, or the stricter
//! RFC 952), domain fragments from dotted names, and the 5-character hash in canonical task names
//! (the zbase32 encoding of the SHA-1 of the task id).

use sha1::{Digest, Sha1};

/// Which label rule names are mangled with (`EnforceRFC952` in the config picks RFC 952).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelRule {
    Rfc1123,
    Rfc952,
}

impl LabelRule {
    /// One DNS label from `name`: lowercase, `a-z0-9` kept, `-` `.` `_` turned into `-`, the rest
    /// dropped, leading characters of the left cutset trimmed, cut to the maximum length, and
    /// trailing `-` trimmed (refilled from after the cut, as mesos-dns does).
    pub fn label(self, name: &str) -> String {
        match self {
            LabelRule::Rfc1123 => label(name, 63, b"-"),
            LabelRule::Rfc952 => label(name, 24, b"-0123456789"),
        }
    }

    /// A domain fragment: each `.`-separated part made a label, empty ones left out.
    pub fn domain_frag(self, name: &str) -> String {
        let mut out = String::with_capacity(name.len());
        for part in name.split('.') {
            let l = self.label(part);
            if !l.is_empty() {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&l);
            }
        }
        out
    }
}

fn label(name: &str, max: usize, left: &[u8]) -> String {
    let mapped: Vec<u8> = name
        .chars()
        .filter_map(|c| match c {
            'A'..='Z' => Some(c.to_ascii_lowercase() as u8),
            'a'..='z' | '0'..='9' => Some(c as u8),
            '-' | '.' | '_' => Some(b'-'),
            _ => None,
        })
        .collect();
    let start = mapped
        .iter()
        .position(|b| !left.contains(b))
        .unwrap_or(mapped.len());
    let trim = &mapped[start..];
    let size = trim.len().min(max);
    let head_end = trim[..size]
        .iter()
        .rposition(|&b| b != b'-')
        .map_or(0, |i| i + 1);
    let mut out: Vec<u8> = trim[..head_end].to_vec();
    if head_end < size {
        // The cut left trailing dashes: fill up from what follows the cut, its dashes skipped.
        let rest = &trim[size..];
        let from = rest.iter().position(|&b| b != b'-').unwrap_or(rest.len());
        let tail = &rest[from..];
        let take = tail.len().min(size - head_end);
        out.extend_from_slice(&tail[..take]);
    }
    // Only ASCII was kept.
    String::from_utf8(out).unwrap_or_default()
}

const ZBASE32: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// The first 5 characters of zbase32(sha1(`s`)): the hash in canonical task names.
pub fn hash5(s: &str) -> String {
    let d = Sha1::digest(s.as_bytes());
    // 5 characters take 25 bits: the first 4 bytes hold them.
    let bits = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
    (0..5)
        .map(|i| ZBASE32[((bits >> (27 - 5 * i)) & 31) as usize] as char)
        .collect()
}

/// The agent id's last `-`-separated field, lowercased: `…-S1` → `s1`.
pub fn agent_tail(agent_id: &str) -> String {
    agent_id
        .rsplit('-')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1123_labels() {
        let cases = [
            ("nginx", "nginx"),
            ("Nginx_Web.1", "nginx-web-1"),
            ("app.group", "app-group"),
            ("--lead", "lead"),
            ("trail--", "trail"),
            ("a b$c", "abc"),
            ("ünïcode", "ncode"),
            ("", ""),
            ("---", ""),
            ("123abc", "123abc"),
            (&"x".repeat(70), &"x".repeat(63)),
        ];
        for (input, want) in cases {
            assert_eq!(LabelRule::Rfc1123.label(input), want, "{input:?}");
        }
    }

    #[test]
    fn a_cut_that_ends_in_dashes_is_refilled_from_after_it() {
        // 62 x's, a dash at the cut, then "yz": the dash is trimmed and 'y' fills the space.
        let name = format!("{}-{}", "x".repeat(62), "yz");
        let got = LabelRule::Rfc1123.label(&name);
        assert_eq!(got, format!("{}y", "x".repeat(62)));
        assert!(got.len() <= 63);
        // Long names never make labels longer than 63, never end in a dash.
        for n in [64, 100, 300] {
            let l = LabelRule::Rfc1123.label(&"a-".repeat(n));
            assert!(
                l.len() <= 63 && !l.ends_with('-') && !l.starts_with('-'),
                "{l}"
            );
        }
    }

    #[test]
    fn rfc952_labels_cut_at_24_and_trim_leading_digits() {
        assert_eq!(LabelRule::Rfc952.label("123abc"), "abc");
        assert_eq!(LabelRule::Rfc952.label(&"a".repeat(30)), "a".repeat(24));
        assert_eq!(LabelRule::Rfc952.label("1-2-3"), "");
    }

    #[test]
    fn domain_fragments_keep_dots_between_labels() {
        let r = LabelRule::Rfc1123;
        assert_eq!(r.domain_frag("marathon"), "marathon");
        assert_eq!(r.domain_frag("My.Frame_work"), "my.frame-work");
        assert_eq!(r.domain_frag("a..b."), "a.b");
        assert_eq!(r.domain_frag("..."), "");
    }

    #[test]
    fn hash5_matches_mesos_dns_docs_example() {
        // docs/docs/http.md: task id nginx.48dccce7-… is named nginx-jhy6r-s1.
        assert_eq!(hash5("nginx.48dccce7-90bc-11e6-ae70-70b3d5800001"), "jhy6r");
        assert_eq!(hash5("x").len(), 5);
    }

    #[test]
    fn agent_tails() {
        assert_eq!(agent_tail("20160107-001256-134875658-5050-27524-S1"), "s1");
        assert_eq!(agent_tail("abc"), "abc");
        assert_eq!(agent_tail(""), "");
    }
}
