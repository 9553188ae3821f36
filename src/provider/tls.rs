//! TLS for the API clients: the platform's trust store, loaded off the critical path.
//!
//! Reading and parsing the system's CA certificates takes ~6 ms, which would be a third of
//! a `-p "say hi"`. So the verifier starts loading them on a background thread when the
//! client is built, and a handshake waits for them only when it reaches the certificate
//! check — by then DNS, TCP and the first TLS round trip have hidden the cost, and a run
//! against a plain-http server (a local model, the mock) never pays it. Verification itself
//! is `rustls-platform-verifier`'s, unchanged.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::Verifier;

/// A client configuration for reqwest: ring, TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1 by ALPN.
pub fn client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(BackgroundVerifier::start(Arc::clone(&provider)));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[derive(Debug)]
struct BackgroundVerifier {
    provider: Arc<CryptoProvider>,
    inner: Arc<OnceLock<Result<Verifier, rustls::Error>>>,
}

impl BackgroundVerifier {
    fn start(provider: Arc<CryptoProvider>) -> BackgroundVerifier {
        let inner = Arc::new(OnceLock::new());
        let (cell, for_thread) = (Arc::clone(&inner), Arc::clone(&provider));
        let spawned = std::thread::Builder::new().name("cairn-tls-roots".into()).spawn(move || {
            let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || Verifier::new(for_thread)))
                .unwrap_or_else(|_| Err(rustls::Error::General("loading the system's CA certificates failed".into())));
            let _ = cell.set(loaded);
        });
        if spawned.is_err() {
            let _ = inner.set(Verifier::new(Arc::clone(&provider)));
        }
        BackgroundVerifier { provider, inner }
    }

    fn verifier(&self) -> Result<&Verifier, rustls::Error> {
        self.inner.wait().as_ref().map_err(Clone::clone)
    }
}

impl ServerCertVerifier for BackgroundVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls13_signature(message, cert, dss)
    }

    /// Asked when the ClientHello is built, before the roots are needed: the schemes are the
    /// crypto provider's, exactly what the platform verifier reports.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
