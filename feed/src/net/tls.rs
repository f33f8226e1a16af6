//! The TLS client configuration every connection shares: the public web roots (webpki-roots),
//! plus any certificate the configuration adds (the loopback venue's, made at its start).
//! Verification is never turned off: a host is trusted through a root, or not at all.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The extra certificate file could not be read or parsed.
    #[error("{path}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A client configuration trusting the public web roots and the certificates in `extra_ca` (a
/// PEM file), with the `ring` provider.
pub fn client_config(extra_ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let error = |reason: String| TlsError::Certificate {
            path: path.to_path_buf(),
            reason,
        };
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|err| error(err.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| error(err.to_string()))?;
        if certificates.is_empty() {
            return Err(error("no certificate in the file".to_owned()));
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|err| error(err.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_certificate_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let error = client_config(Some(&missing)).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}: ", missing.display())),
            "{error}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = client_config(Some(&empty)).unwrap_err().to_string();
        assert_eq!(
            error,
            format!("{}: no certificate in the file", empty.display())
        );
        assert!(client_config(None).is_ok());
    }
}
