//! TLS settings shared by everything that dials or serves: the client configuration (the public
//! web roots, plus certificates the user trusts, or no verification at all), the server
//! configuration from PEM files, and what a refused certificate means in words.
//!
//! The relay's dialer (`--relay-ca`), the HTTP(S) client of forwarding, replay and send (`--ca`,
//! `--insecure`, see [`crate::http_client`]) and the HTTPS listeners (`relay --tls-cert`,
//! `listen --tls-cert`) all build their rustls configurations here.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
    let text = read_pem(ca, &format!("{flag} "), "certificates")?;
    let pinned = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
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
    let text = read_pem(cert, "--tls-cert ", "certificates")?;
    let chain = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read certificates from {}", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "no certificate in {}: it needs PEM (-----BEGIN CERTIFICATE-----)",
        cert.display()
    );
    let key_der = private_key(key)?;
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

/// The most a PEM file of certificates or a key is read: a chain is a few KiB, a CA bundle a few
/// hundred.
const PEM_LIMIT: u64 = 1 << 20;

/// The PEM file of `what` at `path` (named after `flag` in errors: `--ca `, `--tls-key `),
/// refusing what is not a regular file (`/dev/zero`, a pipe: they would be read forever) and what
/// is past [`PEM_LIMIT`].
fn read_pem(path: &Path, flag: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    let shown = path.display();
    let not_pem = |is: &str| anyhow::anyhow!("{flag}{shown} is {is}: give the PEM file itself");
    let metadata =
        std::fs::metadata(path).with_context(|| format!("cannot read {what} from {flag}{shown}"))?;
    if metadata.is_dir() {
        return Err(not_pem("a directory"));
    }
    if !metadata.is_file() {
        return Err(not_pem("not a regular file (a device or a pipe)"));
    }
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {what} from {flag}{shown}"))?;
    let mut text = Vec::new();
    file.take(PEM_LIMIT + 1)
        .read_to_end(&mut text)
        .with_context(|| format!("cannot read {what} from {flag}{shown}"))?;
    if text.len() as u64 > PEM_LIMIT {
        return Err(not_pem("larger than 1 MiB, more than any certificate or key"));
    }
    Ok(text)
}

/// The private key in the PEM file `path`; when there is none, what is there instead, and what
/// to do.
fn private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let shown = path.display();
    let text = read_pem(path, "--tls-key ", "a private key")?;
    let holds = |label: &str| text.windows(label.len()).any(|window| window == label.as_bytes());
    // PKCS#8 encrypted (`-----BEGIN ENCRYPTED PRIVATE KEY-----`), or OpenSSL's traditional
    // encryption of an RSA or EC key (a `Proc-Type: 4,ENCRYPTED` header).
    if holds("-----BEGIN ENCRYPTED PRIVATE KEY-----") || holds("Proc-Type: 4,ENCRYPTED") {
        anyhow::bail!(
            "the key in {shown} is encrypted: decrypt it, e.g. openssl pkey -in {shown} -out {shown}.plain, \
             and give that"
        );
    }
    match PrivateKeyDer::from_pem_slice(&text) {
        Ok(key) => Ok(key),
        Err(rustls_pki_types::pem::Error::NoItemsFound) if holds("-----BEGIN CERTIFICATE-----") => {
            anyhow::bail!(
                "{shown} holds a certificate, not a private key: give --tls-key the key made with the \
                 certificate"
            )
        }
        Err(rustls_pki_types::pem::Error::NoItemsFound) => anyhow::bail!(
            "no private key in {shown}: it needs PEM (-----BEGIN PRIVATE KEY-----, or RSA PRIVATE KEY, \
             or EC PRIVATE KEY)"
        ),
        Err(err) => Err(anyhow::anyhow!(
            "cannot read a private key from {shown}: {}",
            crate::sanitize::line(&err.to_string())
        )),
    }
}

/// The validity period of the DER certificate `cert`: its notBefore and notAfter, as times since
/// the Unix epoch.
fn validity(cert: &[u8]) -> der::Result<(Duration, Duration)> {
    use der::asn1::{AnyRef, GeneralizedTime, UtcTime};
    use der::{Decode as _, Reader, Tag, TagNumber};

    fn time<'a>(reader: &mut impl Reader<'a>) -> der::Result<Duration> {
        match reader.peek_tag()? {
            Tag::UtcTime => Ok(UtcTime::decode(reader)?.to_unix_duration()),
            _ => Ok(GeneralizedTime::decode(reader)?.to_unix_duration()),
        }
    }
    let version = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber::N0,
    };
    let mut reader = der::SliceReader::new(cert)?;
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    reader.sequence(|certificate| {
        // TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
        // validity, ... }
        let dates = certificate.sequence(|tbs| {
            if tbs.peek_tag()? == version {
                AnyRef::decode(tbs)?;
            }
            for _serial_signature_issuer in 0..3 {
                AnyRef::decode(tbs)?;
            }
            let dates = tbs.sequence(|validity| Ok((time(validity)?, time(validity)?)))?;
            tbs.read_slice(tbs.remaining_len())?;
            Ok(dates)
        })?;
        certificate.read_slice(certificate.remaining_len())?;
        Ok(dates)
    })
}

/// Refuses `cert` at `now` outside its validity period, as webpki refuses a certificate a CA
/// issued.
fn check_dates(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let (not_before, not_after) =
        validity(cert).map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let at = |since: Duration| UnixTime::since_unix_epoch(since);
    if now.as_secs() < not_before.as_secs() {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: at(not_before),
        }
        .into());
    }
    if now.as_secs() > not_after.as_secs() {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after: at(not_after),
        }
        .into());
    }
    Ok(())
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
/// same certificate is the key the user pinned: its dates and name are still checked (an expired
/// certificate, or one for another host, is still refused), its CA flag is not.
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
            check_dates(end_entity, now)?;
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

    /// A self-signed certificate for 127.0.0.1, marked as a CA (as `openssl req -x509` makes
    /// one), valid from `from` to `to` (years), and its key.
    fn self_signed(from: i32, to: i32) -> (rcgen::Certificate, rcgen::KeyPair) {
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(to, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        (params.self_signed(&key).expect("certificate"), key)
    }

    fn verify_pinned(cert: &CertificateDer<'static>) -> Result<(), rustls::Error> {
        let verifier =
            Pinned::new(rustls::RootCertStore::empty(), vec![cert.clone()], provider()).expect("verifier");
        let name = ServerName::try_from("127.0.0.1").expect("name");
        verifier
            .verify_server_cert(cert, &[], &name, &[], UnixTime::now())
            .map(drop)
    }

    /// Caught: the pinned path skipping the dates (as it did), and notBefore and notAfter read
    /// the wrong way round.
    #[test]
    fn a_pinned_certificate_out_of_its_dates_is_refused_as_a_ca_issued_one_is() {
        let (current, _key) = self_signed(2000, 4000);
        assert_eq!(verify_pinned(current.der()), Ok(()));
        let (expired, _key) = self_signed(2000, 2001);
        let refused = verify_pinned(expired.der()).expect_err("expired");
        let rustls::Error::InvalidCertificate(why) = &refused else {
            panic!("{refused:?}")
        };
        assert_eq!(Refusal::of(why), Refusal::Expired, "{refused:?}");
        let (future, _key) = self_signed(3000, 4000);
        let refused = verify_pinned(future.der()).expect_err("not valid yet");
        let rustls::Error::InvalidCertificate(why) = &refused else {
            panic!("{refused:?}")
        };
        assert_eq!(Refusal::of(why), Refusal::NotValidYet, "{refused:?}");
        // The dates as written, in GeneralizedTime past 2049 as in UTCTime before.
        let (dates, _key) = self_signed(2000, 2100);
        let (not_before, not_after) = validity(dates.der()).expect("dates");
        assert_eq!(not_before.as_secs(), 946_684_800);
        assert_eq!(not_after.as_secs(), 4_102_444_800);
        // Garbage is refused, not taken as valid.
        assert!(validity(b"\x30\x03\x02\x01\x01").is_err());
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    /// Caught: /dev/zero read until memory runs out; a file past the limit read whole.
    #[test]
    fn what_is_not_a_pem_file_is_refused_without_reading_it_forever() {
        for device in ["/dev/zero", "/dev/urandom"] {
            let err = client_config(Some(Path::new(device)), false, "--ca").expect_err(device);
            assert_eq!(
                err.to_string(),
                format!("--ca {device} is not a regular file (a device or a pipe): give the PEM file itself")
            );
        }
        let dir = tempfile::tempdir().expect("dir");
        let err = server_config(Path::new("/dev/zero"), Path::new("/dev/zero")).expect_err("device");
        assert!(
            err.to_string()
                .starts_with("--tls-cert /dev/zero is not a regular file"),
            "{err}"
        );
        let err = server_config(dir.path(), dir.path()).expect_err("directory");
        assert!(
            err.to_string()
                .ends_with("is a directory: give the PEM file itself"),
            "{err}"
        );
        let (cert, _key) = self_signed(2000, 4000);
        let big = write(&dir, "big.pem", &cert.pem().repeat(2000));
        let err = client_config(Some(&big), false, "--ca").expect_err("too big");
        assert!(
            err.to_string().ends_with(
                "is larger than 1 MiB, more than any certificate or key: give the PEM file itself"
            ),
            "{err}"
        );
        // Just under the limit is read.
        let bundle = write(
            &dir,
            "bundle.pem",
            &cert.pem().repeat((PEM_LIMIT as usize - 1) / cert.pem().len()),
        );
        assert!(client_config(Some(&bundle), false, "--ca").is_ok());
    }

    /// Caught: webpki's "no items found" for an encrypted key and for a certificate given as the
    /// key.
    #[test]
    fn a_key_that_cannot_be_used_says_why_and_what_to_do() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = self_signed(2000, 4000);
        let cert_path = write(&dir, "cert.pem", &cert.pem());
        assert!(server_config(&cert_path, &write(&dir, "k.pem", &key.serialize_pem())).is_ok());
        let says = |key: &Path| server_config(&cert_path, key).expect_err("refused").to_string();
        // `openssl pkcs8 -topk8` writes this (the base64 is not read: the label says it all).
        let encrypted = write(
            &dir,
            "k1enc.pem",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n",
        );
        let shown = encrypted.display();
        assert_eq!(
            says(&encrypted),
            format!(
                "the key in {shown} is encrypted: decrypt it, e.g. openssl pkey -in {shown} -out \
                 {shown}.plain, and give that"
            )
        );
        // OpenSSL's older encryption, in the headers of an RSA key.
        let traditional = write(
            &dir,
            "rsa.pem",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        );
        assert!(
            says(&traditional).contains("is encrypted: decrypt it"),
            "{}",
            says(&traditional)
        );
        assert_eq!(
            says(&cert_path),
            format!(
                "{} holds a certificate, not a private key: give --tls-key the key made with the certificate",
                cert_path.display()
            )
        );
        let empty = write(&dir, "empty.pem", "nothing here\n");
        assert!(says(&empty).starts_with("no private key in "), "{}", says(&empty));
    }
}
