//! `--tls`: a self-signed certificate made at start (rcgen) and the rustls server configuration
//! that serves it (ring provider). The certificate is written out as PEM so that a client can
//! trust exactly it, with verification on.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// Names the certificate is valid for.
const SUBJECT_ALT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    /// rcgen failed.
    #[error("making the self-signed certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The PEM file could not be written.
    #[error("writing the certificate to {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Makes a certificate for localhost, 127.0.0.1 and ::1, writes it (PEM) to `cert_out` and returns
/// the server configuration that presents it.
pub(crate) fn self_signed(cert_out: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let names: Vec<String> = SUBJECT_ALT_NAMES.map(str::to_owned).to_vec();
    let certified = rcgen::generate_simple_self_signed(names)?;
    fs::write(cert_out, certified.cert.pem()).map_err(|source| TlsError::Write {
        path: cert_out.to_path_buf(),
        source,
    })?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)?;
    Ok(Arc::new(config))
}
