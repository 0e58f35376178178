//! This host's TLS identity and the rustls configurations built from it.
//!
//! # Design
//!
//! One private CA signs every host's certificate; a host's id is its
//! certificate's only subjectAltName DNS name. The same certificate serves
//! as server certificate (when a peer connects to us) and as client
//! certificate (when we connect to a peer), so it carries both
//! `serverAuth` and `clientAuth` (`scripts/gen-certs.sh` makes such
//! certificates).
//!
//! [`TlsIdentity::load`] checks up front what would otherwise fail at the
//! first connection: the PEM files parse, the certificate chains to the CA,
//! and it names exactly one host id. Both configurations use the ring
//! provider, the safe default protocol versions (TLS 1.3 and 1.2), the ALPN
//! id [`ALPN_PROTOCOL`], and no session resumption, so that every
//! connection runs a full handshake and verifies the peer's certificate
//! anew.
//!
//! Call order: `load` once at start-up, then `server_config` for
//! [`serve`](super::serve) and `client_config` for
//! [`PeerClient::new`](super::PeerClient::new).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::{NoServerSessionStorage, ParsedCertificate, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::cert_names;
use super::error::PeerError;
use super::protocol::ALPN_PROTOCOL;

/// Most certificates we read from one PEM file (a CA bundle or a chain).
const PEM_CERTIFICATES_MAX: usize = 16;

/// The CA roots this host trusts, its certificate chain and private key.
pub struct TlsIdentity {
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    host_id: String,
    provider: Arc<CryptoProvider>,
}

impl TlsIdentity {
    /// Reads the CA certificate(s) from `ca`, this host's certificate chain
    /// (end-entity first) from `cert` and its private key from `key`, all
    /// PEM, and checks that the certificate is valid under the CA and names
    /// exactly one host id.
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<Self, PeerError> {
        let mut roots = RootCertStore::empty();
        for root in read_certificates(ca)? {
            roots.add(root).map_err(|e| PeerError::Pem {
                path: ca.to_path_buf(),
                reason: format!("not a usable CA certificate: {e}"),
            })?;
        }
        let chain = read_certificates(cert)?;
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| PeerError::Pem {
            path: key.to_path_buf(),
            reason: format!("no usable private key: {e}"),
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let host_id = check_identity(cert, &chain, &roots, &provider)?;
        Ok(Self {
            roots: Arc::new(roots),
            chain,
            key: key_der,
            host_id,
            provider,
        })
    }

    /// This host's id: the subjectAltName DNS name of its certificate.
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// The server side: our certificate, and a client certificate signed by
    /// the CA is required.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, PeerError> {
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::clone(&self.roots),
            Arc::clone(&self.provider),
        )
        .build()
        .map_err(|source| PeerError::ClientVerifier { source })?;
        let config_error = |source| PeerError::Config {
            what: "the server",
            source,
        };
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(config_error)?;
        config.alpn_protocols = vec![ALPN_PROTOCOL.to_vec()];
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(Arc::new(config))
    }

    /// The client side: the peer's certificate must be signed by the CA and
    /// valid for the peer's id; we present our certificate.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, PeerError> {
        let config_error = |source| PeerError::Config {
            what: "the client",
            source,
        };
        let mut config = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .with_root_certificates(Arc::clone(&self.roots))
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(config_error)?;
        config.alpn_protocols = vec![ALPN_PROTOCOL.to_vec()];
        config.resumption = Resumption::disabled();
        Ok(Arc::new(config))
    }
}

/// Written by hand so that the private key never reaches a log.
impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("host_id", &self.host_id)
            .field("roots", &self.roots.len())
            .field("chain", &self.chain.len())
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// All certificates in a PEM file: at least one, at most
/// [`PEM_CERTIFICATES_MAX`].
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PeerError> {
    let pem_error = |reason: String| PeerError::Pem {
        path: path.to_path_buf(),
        reason,
    };
    let mut certificates = Vec::new();
    for item in CertificateDer::pem_file_iter(path).map_err(|e| pem_error(e.to_string()))? {
        if certificates.len() == PEM_CERTIFICATES_MAX {
            return Err(pem_error(format!(
                "more than {PEM_CERTIFICATES_MAX} certificates"
            )));
        }
        certificates.push(item.map_err(|e| pem_error(e.to_string()))?);
    }
    if certificates.is_empty() {
        return Err(pem_error("no CERTIFICATE section".to_owned()));
    }
    Ok(certificates)
}

/// Checks that `chain` is valid under `roots` now and returns the host id
/// its end-entity certificate names.
fn check_identity(
    path: &Path,
    chain: &[CertificateDer<'static>],
    roots: &RootCertStore,
    provider: &CryptoProvider,
) -> Result<String, PeerError> {
    let identity_error = |reason: String| PeerError::Identity {
        path: PathBuf::from(path),
        reason,
    };
    let (end_entity, intermediates) = chain
        .split_first()
        .expect("read_certificates returns at least one");
    let parsed =
        ParsedCertificate::try_from(end_entity).map_err(|e| identity_error(e.to_string()))?;
    rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        roots,
        intermediates,
        UnixTime::now(),
        provider.signature_verification_algorithms.all,
    )
    .map_err(|e| identity_error(format!("not valid under the CA: {e}")))?;
    cert_names::host_id(end_entity).map_err(identity_error)
}
