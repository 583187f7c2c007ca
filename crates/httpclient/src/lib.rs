//! The one place Drover builds HTTP clients. reqwest is built with rustls but without a crypto
//! provider (its default, aws-lc, is a long C build on small machines), so every client needs the
//! process-wide provider installed first — ring here — or reqwest panics while building it.
//! `builder()` does that, so no caller has to remember.
//!
//! Certificates are checked against the system's roots (rustls-platform-verifier); `SSL_CERT_FILE`
//! / `SSL_CERT_DIR` point it at others, as for OpenSSL-based tools. A machine with no roots at all
//! (a minimal container without ca-certificates) still gets clients — reqwest would refuse to
//! build any — whose https requests fail as unverifiable, and a warning says why.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

pub use reqwest;

/// Install ring as the process's rustls provider, unless one is already installed.
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one in between: equally good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Whether clients can check certificates against the system's roots; found out once, by
/// building one.
fn system_roots_usable() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(|| {
        #[allow(clippy::disallowed_methods)]
        let r = reqwest::Client::builder().build();
        if let Err(e) = &r {
            tracing::warn!(
                "no usable CA certificates on this machine ({e}); https:// requests will fail \
                 as unverifiable: install ca-certificates or set SSL_CERT_FILE"
            );
        }
        r.is_ok()
    })
}

/// `reqwest::Client::builder()`, after making sure TLS can be set up.
pub fn builder() -> reqwest::ClientBuilder {
    install_tls_provider();
    #[allow(clippy::disallowed_methods)]
    let b = reqwest::Client::builder();
    if system_roots_usable() {
        b
    } else {
        // No roots to trust: an empty set, so that plain http still works.
        b.tls_certs_only(std::iter::empty())
    }
}

/// A client with reqwest's defaults (`reqwest::Client::new()`, which panics only where TLS
/// cannot be initialised at all: then this says why).
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    builder().build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn builds_clients_that_can_speak_tls() {
        // Without a provider this would panic inside reqwest.
        let c = super::client();
        assert!(c.is_ok(), "{c:?}");
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }

    /// A machine without CA certificates (here: SSL_CERT_FILE naming an empty file, which is
    /// all the verifier then reads) still gets clients. Whether the roots are usable is found
    /// out once per process, and the variables are the process's: the test runs in a process of
    /// its own, this test binary run again for this test alone (`cargo test` runs every test
    /// of the binary in one process, on several threads).
    #[test]
    fn a_machine_without_roots_still_gets_clients() {
        const CHILD: &str = "DROVER_HTTPCLIENT_TEST_NO_ROOTS";
        const NAME: &str = "tests::a_machine_without_roots_still_gets_clients";
        if std::env::var_os(CHILD).is_some() {
            let c = super::client();
            assert!(c.is_ok(), "{c:?}");
            assert!(!super::system_roots_usable());
            return;
        }
        let d = std::env::temp_dir().join(format!("no-roots-{}", std::process::id()));
        std::fs::write(&d, "").unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env("SSL_CERT_FILE", &d)
            .env("SSL_CERT_DIR", &d)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&d);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("1 passed"),
            "the test ran in the child: {text}"
        );
    }
}
