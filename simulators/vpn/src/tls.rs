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
    let (cert_der, key_der) = fresh()?;
    identity(cert_der, key_der)
}

fn fresh() -> Result<(Vec<u8>, Vec<u8>), String> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(|e| format!("certificate: {e}"))?;
    Ok((
        certified.cert.der().to_vec(),
        certified.signing_key.serialize_der(),
    ))
}

/// The certificate kept in `dir` (generated there at the first start-up), so that devices enrolled
/// against a server with a data directory keep their pin across restarts.
pub fn load_or_generate(dir: &std::path::Path) -> Result<TlsIdentity, String> {
    let cert_path = dir.join("server-cert.der");
    let key_path = dir.join("server-key.der");
    if let (Ok(cert), Ok(key)) = (std::fs::read(&cert_path), std::fs::read(&key_path)) {
        return identity(cert, key);
    }
    let (cert, key) = fresh()?;
    write_private(&key_path, &key).map_err(|e| format!("server key: {e}"))?;
    std::fs::write(&cert_path, &cert).map_err(|e| format!("server certificate: {e}"))?;
    identity(cert, key)
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

fn identity(cert_der: Vec<u8>, key_der: Vec<u8>) -> Result<TlsIdentity, String> {
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
