//! TLS for the HTTP port (rustls): the Trino clients send Basic credentials
//! only over HTTPS, as Trino itself requires for password authentication.
//! The accept loop is [`crate::listener`].

use std::sync::Arc;

use contango_common::error::{ContangoError, Result};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// The TLS acceptor for `(cert, key)` PEM paths; `None` when both are empty.
pub fn acceptor((cert, key): &(String, String)) -> Result<Option<TlsAcceptor>> {
    match (cert.is_empty(), key.is_empty()) {
        (true, true) => return Ok(None),
        (false, false) => {}
        _ => {
            return Err(ContangoError::invalid(
                "server.tls_cert and server.tls_key must be set together",
            ));
        }
    }
    let bad = |what: &str, path: &str, e: &dyn std::fmt::Display| {
        ContangoError::invalid(format!("cannot read TLS {what} {path}: {e}"))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("certificate", cert, &e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", cert, &e))?;
    if certs.is_empty() {
        return Err(bad("certificate", cert, &"no certificate in file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("key", key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ContangoError::invalid(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| ContangoError::invalid(format!("TLS certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}
