//! TLS settings shared by everything that dials or serves: the client configuration (the public
//! web roots, plus certificates the user trusts, or no verification at all), the server
//! configuration from PEM files, and what a refused certificate means in words.
//!
//! The relay's dialer (`--relay-ca`), the HTTP(S) client of forwarding, replay and send (`--ca`,
//! `--insecure`, see [`crate::http_client`]) and the HTTPS listeners (`relay --tls-cert`,
//! `listen --tls-cert`) all build their rustls configurations here.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration: the public web roots, plus the certificates in the PEM file `ca`
/// (named `flag` in errors: `--ca`, `--relay-ca`), which are also pinned ([`Pinned`]); or, when
/// `insecure`, one that accepts any certificate (the handshake's signatures are still checked).
pub fn client_config(ca: Option<&Path>, insecure: bool, flag: &str) -> anyhow::Result<rustls::ClientConfig> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("no usable TLS versions")?;
    if insecure {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let Some(ca) = ca else {
        return Ok(builder.with_root_certificates(roots).with_no_client_auth());
    };
    let pinned = CertificateDer::pem_file_iter(ca)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read certificates from {flag} {}", ca.display()))?;
    anyhow::ensure!(
        !pinned.is_empty(),
        "no certificate in {flag} {}: it needs PEM (-----BEGIN CERTIFICATE-----)",
        ca.display()
    );
    let verifier = Pinned::new(roots, pinned, provider)
        .with_context(|| format!("cannot check certificates with {flag}"))?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// A server configuration from PEM files: the certificate chain in `cert`, its key in `key`.
/// A key that is not the certificate's is refused here, at start, not at the first handshake.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<rustls::ServerConfig> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read certificates from {}", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "no certificate in {}: it needs PEM (-----BEGIN CERTIFICATE-----)",
        cert.display()
    );
    let key_der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("no usable TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|err| match err {
            rustls::Error::InconsistentKeys(_) => anyhow::anyhow!(
                "the key in {} is not the key of the certificate in {}: give the pair made together",
                key.display(),
                cert.display()
            ),
            other => anyhow::anyhow!(
                "the certificate {} and key {} do not make a TLS configuration: {other}",
                cert.display(),
                key.display()
            ),
        })
}

/// Why a certificate was refused, sorted by what the user can do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No trusted root issued it: the cause (`self-signed`, `issued by a CA this machine does not
    /// trust`).
    Untrusted(&'static str),
    /// It does not name the host dialed; what it names instead (made safe to print), if said.
    WrongName(String),
    /// Past its end date.
    Expired,
    /// Before its start date.
    NotValidYet,
    /// Anything else, as rustls names it (made safe to print).
    Other(String),
}

impl Refusal {
    /// Sorts rustls' reason.
    pub fn of(err: &CertificateError) -> Self {
        use CertificateError as E;
        match err {
            E::UnknownIssuer => Refusal::Untrusted("issued by a CA this machine does not trust"),
            E::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                Refusal::Untrusted("self-signed")
            }
            E::NotValidForNameContext { presented, .. } if !presented.is_empty() => {
                let names: Vec<&str> = presented.iter().map(|name| plain_name(name)).collect();
                // The peer's text: shown as a terminal may show it.
                Refusal::WrongName(crate::sanitize::line(&names.join(", ")).into_owned())
            }
            E::NotValidForName | E::NotValidForNameContext { .. } => Refusal::WrongName(String::new()),
            E::Expired | E::ExpiredContext { .. } => Refusal::Expired,
            E::NotValidYet | E::NotValidYetContext { .. } => Refusal::NotValidYet,
            other => Refusal::Other(crate::sanitize::line(&format!("{other:?}")).into_owned()),
        }
    }
}

/// A name as webpki lists those a certificate holds (`DnsName("localhost")`,
/// `IpAddress(127.0.0.1)`), as a person writes it: `localhost`, `127.0.0.1`.
fn plain_name(listed: &str) -> &str {
    for (open, close) in [("DnsName(\"", "\")"), ("IpAddress(", ")")] {
        if let Some(name) = listed
            .strip_prefix(open)
            .and_then(|rest| rest.strip_suffix(close))
        {
            return name;
        }
    }
    listed
}

/// Trusts the given certificates as roots, and accepts a server whose own certificate is
/// exactly one of them. A self-signed certificate made the usual way (`openssl req -x509`) is
/// marked as a CA, and webpki refuses a CA certificate as the server's own
/// (`CaUsedAsEndEntity`), though the user gave that very certificate to trust. Byte for byte the
/// same certificate is the key the user pinned: its name is still checked (a certificate for
/// another host is still refused), its dates and CA flag are not.
#[derive(Debug)]
pub(crate) struct Pinned {
    pub(crate) pinned: Vec<CertificateDer<'static>>,
    pub(crate) webpki: Arc<rustls::client::WebPkiServerVerifier>,
}

impl Pinned {
    /// Trusts `roots` and `pinned`, and pins `pinned`.
    pub(crate) fn new(
        mut roots: rustls::RootCertStore,
        pinned: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, rustls::client::VerifierBuilderError> {
        // One that cannot be a root (an end-entity certificate of an unusual shape) may still
        // be pinned.
        roots.add_parsable_certificates(pinned.iter().cloned());
        let webpki =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
        Ok(Self { pinned, webpki })
    }
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|pinned| pinned.as_ref() == end_entity.as_ref())
        {
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `--insecure`: any certificate, for any name, at any date. The handshake's signatures are
/// still checked (the peer holds the key of the certificate it sent), so the connection is
/// encrypted, just not to anyone in particular.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_a_certificate_holds_are_written_plainly() {
        let refused = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("localhost").expect("name"),
            presented: vec![
                "DnsName(\"example.com\")".into(),
                "IpAddress(127.0.0.1)".into(),
                "DnsName(\"evil\u{1b}[2J\")".into(),
                "DirectoryName".into(),
            ],
        };
        assert_eq!(
            Refusal::of(&refused),
            Refusal::WrongName("example.com, 127.0.0.1, evil\\x1b[2J, DirectoryName".into())
        );
    }
}
