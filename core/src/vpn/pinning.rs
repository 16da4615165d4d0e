//! Certificate pinning: the client trusts exactly the server certificate whose SHA-256 the binding
//! QR code carried, or the backup certificate the server announced at enrolment over that pinned
//! channel (so the institution can rotate its certificate without re-enrolling every device), and
//! nothing else (no CA, no host name check: the pin is the identity).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// SHA-256 of a certificate's DER bytes (the fingerprint QR-2 carries).
pub fn cert_fingerprint(der: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A [`ServerCertVerifier`] that accepts only the pinned certificate.
#[derive(Debug)]
pub struct PinnedVerifier {
    pin: [u8; 32],
    backup: Option<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
    mismatch_seen: AtomicBool,
}

impl PinnedVerifier {
    /// A verifier for the certificate whose SHA-256 is `pin`.
    pub fn new(pin: [u8; 32]) -> Arc<Self> {
        Self::with_backup(pin, None)
    }

    /// A verifier for the certificate `pin`, or the backup certificate `backup`.
    pub fn with_backup(pin: [u8; 32], backup: Option<[u8; 32]>) -> Arc<Self> {
        Arc::new(Self {
            pin,
            backup,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
            mismatch_seen: AtomicBool::new(false),
        })
    }

    /// True (once) if a server presented another certificate since the last call.
    pub fn take_mismatch(&self) -> bool {
        self.mismatch_seen.swap(false, Ordering::SeqCst)
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The certificate is public: a plain comparison leaks nothing.
        let seen = cert_fingerprint(end_entity);
        if seen == self.pin || Some(seen) == self.backup {
            Ok(ServerCertVerified::assertion())
        } else {
            self.mismatch_seen.store(true, Ordering::SeqCst);
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A rustls client configuration (ring provider, HTTP/1.1) trusting only `verifier`'s certificate.
pub fn client_config(verifier: Arc<PinnedVerifier>) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The ring crypto provider, for servers built in the simulators.
pub fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
