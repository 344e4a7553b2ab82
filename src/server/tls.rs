//! HTTPS for `ossup serve`: a certificate and key read from PEM files, or a fresh local
//! certificate authority and a certificate it signs for the names the server answers to
//! (`--tls-self-signed`), so clients can be tested the way they reach real OSS
//! (`https://bucket.oss-<region>.aliyuncs.com`) by trusting one CA file.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::errors::ServerError;
use crate::durable;

/// Where the CA certificate of `--tls-self-signed` is written, inside the data directory.
pub const SELF_SIGNED_CA_FILE: &str = "tls/ca.pem";

/// Where the server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// A certificate chain and its private key, both PEM.
    Files { cert: PathBuf, key: PathBuf },
    /// A CA made at start-up (its certificate written to [`SELF_SIGNED_CA_FILE`]) and a
    /// certificate it signs for 127.0.0.1, ::1, localhost and each domain with its
    /// subdomains (`oss-test.local`, `*.oss-test.local`).
    SelfSigned { domains: Vec<String> },
}

/// A ready TLS acceptor, and the CA file clients should trust when the server made one.
#[derive(Clone)]
pub struct TlsSetup {
    pub acceptor: TlsAcceptor,
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

/// Builds the acceptor for `source`; a self-signed CA is written under `data_dir`.
pub fn prepare(source: &TlsSource, data_dir: &Path) -> Result<TlsSetup, ServerError> {
    match source {
        TlsSource::Files { cert, key } => {
            let chain = read_certificates(cert)?;
            let key = read_private_key(key)?;
            Ok(TlsSetup {
                acceptor: acceptor(chain, key)?,
                ca_file: None,
            })
        }
        TlsSource::SelfSigned { domains } => {
            let made = self_signed(domains)?;
            let ca_file = data_dir.join(SELF_SIGNED_CA_FILE);
            write_ca_file(&ca_file, made.ca_pem.as_bytes())?;
            Ok(TlsSetup {
                acceptor: acceptor(vec![made.leaf], made.leaf_key)?,
                ca_file: Some(ca_file),
            })
        }
    }
}

fn tls_error(message: String) -> ServerError {
    ServerError::Tls(message)
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let bytes = read(path, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            tls_error(format!(
                "the certificate file {} is not valid PEM: {e}",
                path.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(tls_error(format!(
            "the certificate file {} holds no certificate (a block starting -----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(chain)
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServerError> {
    let bytes = read(path, "key")?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        tls_error(format!(
            "the key file {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
            path.display()
        ))
    })
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|e| {
        tls_error(format!(
            "could not read the TLS {what} file {}: {e}",
            path.display()
        ))
    })
}

fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<TlsAcceptor, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("TLS cannot be set up: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => tls_error(
                "the TLS key does not belong to the certificate (their public keys differ)".into(),
            ),
            other => tls_error(format!(
                "the TLS certificate or key cannot be used: {other}"
            )),
        })?;
    // The server speaks HTTP/1.1 only; saying so keeps clients from offering h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A CA's certificate and a leaf it signed, with the leaf's key.
struct SelfSigned {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    leaf_key: PrivateKeyDer<'static>,
}

/// The names a self-signed certificate covers: this machine's, and each domain with
/// every bucket under it.
pub fn self_signed_names(domains: &[String]) -> Vec<String> {
    let mut names: Vec<String> = ["127.0.0.1", "::1", "localhost"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for domain in domains {
        if domain.parse::<IpAddr>().is_err() {
            names.push(format!("*.{domain}"));
        }
        names.push(domain.clone());
    }
    names.dedup();
    names
}

fn self_signed(domains: &[String]) -> Result<SelfSigned, ServerError> {
    let failed = |e: rcgen::Error| tls_error(format!("could not make a certificate: {e}"));
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ossup serve local CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(failed)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(failed)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut leaf_params = CertificateParams::new(self_signed_names(domains)).map_err(|e| {
        tls_error(format!(
            "a certificate cannot name {}: {e}",
            domains.join(", ")
        ))
    })?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "ossup serve");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().map_err(failed)?;
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(failed)?;
    let leaf_key = PrivateKeyDer::try_from(leaf_key.serialize_der())
        .map_err(|e| tls_error(format!("could not encode the certificate's key: {e}")))?;
    Ok(SelfSigned {
        ca_pem: ca_cert.pem(),
        leaf: leaf.der().clone(),
        leaf_key,
    })
}

fn write_ca_file(path: &Path, pem: &[u8]) -> Result<(), ServerError> {
    let io_error = |source| ServerError::Io {
        action: "could not write the CA certificate",
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error)?;
    }
    durable::write_file(path, pem, Some(0o644)).map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_names_cover_this_machine_and_every_bucket_of_each_domain() {
        let names = self_signed_names(&["oss-test.local".into()]);
        for name in [
            "127.0.0.1",
            "::1",
            "localhost",
            "oss-test.local",
            "*.oss-test.local",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
    }

    #[test]
    fn bad_files_and_a_key_of_another_certificate_are_one_clear_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let first = self_signed(&[]).unwrap();
        let second = self_signed(&[]).unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let other_key = dir.path().join("other-key.pem");
        std::fs::write(&cert, pem_of("CERTIFICATE", first.leaf.as_ref())).unwrap();
        std::fs::write(&key, pem_of("PRIVATE KEY", first.leaf_key.secret_der())).unwrap();
        std::fs::write(
            &other_key,
            pem_of("PRIVATE KEY", second.leaf_key.secret_der()),
        )
        .unwrap();

        let files = |cert: &Path, key: &Path| TlsSource::Files {
            cert: cert.to_owned(),
            key: key.to_owned(),
        };
        prepare(&files(&cert, &key), dir.path()).expect("a matching pair is accepted");
        let message = prepare(&files(&cert, &other_key), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("does not belong to the certificate"),
            "{message}"
        );
        let message = prepare(&files(&dir.path().join("none.pem"), &key), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("could not read the TLS certificate file"),
            "{message}"
        );
        let message = prepare(&files(&key, &key), dir.path())
            .unwrap_err()
            .to_string();
        assert!(message.contains("holds no certificate"), "{message}");
        let message = prepare(&files(&cert, &cert), dir.path())
            .unwrap_err()
            .to_string();
        assert!(message.contains("holds no PEM private key"), "{message}");
    }

    fn pem_of(label: &str, der: &[u8]) -> String {
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }
}
