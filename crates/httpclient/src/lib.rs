//! The one place Drover builds HTTP clients. reqwest is built with rustls but without a crypto
//! provider (its default, aws-lc, is a long C build on small machines), so every client needs the
//! process-wide provider installed first — ring here — or reqwest panics while building it.
//! `builder()` does that, so no caller has to remember.
//!
//! Certificates are checked against the system's roots (rustls-platform-verifier); `SSL_CERT_FILE`
//! / `SSL_CERT_DIR` point it at others, as for OpenSSL-based tools.

pub use reqwest;

/// Install ring as the process's rustls provider, unless one is already installed.
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one in between: equally good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// `reqwest::Client::builder()`, after making sure TLS can be set up.
pub fn builder() -> reqwest::ClientBuilder {
    install_tls_provider();
    #[allow(clippy::disallowed_methods)]
    reqwest::Client::builder()
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
}
