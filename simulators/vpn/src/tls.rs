//! The simulator's TLS identity: a self-signed certificate generated at start-up (rcgen), whose
//! SHA-256 the administrator's QR-2 carries so that devices pin it.

use std::sync::Arc;

/// A freshly generated server certificate and its rustls server configuration.
pub struct TlsIdentity {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// SHA-256 of the certificate DER.
    pub fingerprint: [u8; 32],
    /// The rustls configuration (ring provider, HTTP/1.1).
    pub server_config: Arc<rustls::ServerConfig>,
}

/// Generates a self-signed certificate for `localhost` / `127.0.0.1`.
pub fn generate() -> Result<TlsIdentity, String> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(|e| format!("certificate: {e}"))?;
    let cert_der = certified.cert.der().to_vec();
    let key_der = certified.signing_key.serialize_der();
    let key = rustls::pki_types::PrivateKeyDer::try_from(key_der).map_err(|e| format!("key: {e}"))?;
    let provider = homevisit_core::vpn::pinning::ring_provider();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert_der.clone())],
            key,
        )
        .map_err(|e| format!("tls: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let fingerprint = homevisit_core::vpn::pinning::cert_fingerprint(&cert_der);
    Ok(TlsIdentity {
        cert_der,
        fingerprint,
        server_config: Arc::new(config),
    })
}
