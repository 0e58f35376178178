//! The host id a certificate names: its one subjectAltName DNS name.
//!
//! # Design
//!
//! rustls verifies a client certificate's chain (`WebPkiClientVerifier`) but
//! exposes no way to list the names in it; it can only check a name we
//! already have (`rustls::client::verify_server_name`). So [`host_id`] reads
//! the subjectAltName extension with a small DER walker, then asks webpki to
//! confirm that the certificate is valid for the name found. The walker
//! only proposes; webpki decides, so a bug in the walker can make us refuse
//! a good certificate but never accept a name the certificate does not hold.
//!
//! The walker reads certificates that rustls has already chain-verified
//! against our CA (or our own, at load); it is still written for hostile
//! input: every length is checked against what remains, the indefinite form
//! and lengths over four bytes are refused, and it never indexes past a
//! slice.
//!
//! Path walked (RFC 5280 §4.1, §4.2.1.6):
//! `Certificate SEQUENCE { tbsCertificate SEQUENCE { ..., [3] { Extensions
//! SEQUENCE { Extension SEQUENCE { extnID OID, critical BOOLEAN?, extnValue
//! OCTET STRING { GeneralNames SEQUENCE { dNSName [2] IA5String, ... } } } } } } }`

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::ParsedCertificate;

use super::protocol::validate_id;

const TAG_BOOLEAN: u8 = 0x01;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
/// `[3] EXPLICIT` (constructed, context-specific 3): the extensions.
const TAG_EXTENSIONS: u8 = 0xA3;
/// `[2] IMPLICIT IA5String` (primitive, context-specific 2): a dNSName.
const TAG_DNS_NAME: u8 = 0x82;
/// id-ce-subjectAltName, 2.5.29.17, as DER content octets.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1D, 0x11];
/// Most length octets in the long form we accept (4 GiB is far beyond a certificate).
const LENGTH_OCTETS_MAX: usize = 4;

/// The host id of a chain-verified certificate: its only subjectAltName
/// DNS name, which must be a valid id ([`validate_id`]) and which webpki
/// confirms the certificate is valid for.
pub(crate) fn host_id(cert: &CertificateDer<'_>) -> Result<String, String> {
    let names = san_dns_names(cert.as_ref())?;
    let name = match names.as_slice() {
        [name] => name.clone(),
        [] => return Err("no subjectAltName DNS name".to_owned()),
        several => {
            return Err(format!(
                "{} subjectAltName DNS names, expected exactly one: {several:?}",
                several.len()
            ))
        }
    };
    validate_id(&name).map_err(|reason| format!("DNS name {name:?} is not a host id: {reason}"))?;
    let server_name = dns_server_name(&name)?;
    let parsed =
        ParsedCertificate::try_from(cert).map_err(|e| format!("webpki cannot parse it: {e}"))?;
    rustls::client::verify_server_name(&parsed, &server_name)
        .map_err(|e| format!("webpki does not confirm the name {name:?}: {e}"))?;
    Ok(name)
}

/// `id` as a TLS server name, refused when it is not a DNS name (an id such
/// as `10.0.0.1` would be read as an IP address, which no host certificate
/// carries).
pub(crate) fn dns_server_name(id: &str) -> Result<ServerName<'static>, String> {
    match ServerName::try_from(id.to_owned()) {
        Ok(name @ ServerName::DnsName(_)) => Ok(name),
        Ok(_) => Err("an IP address, not a DNS name".to_owned()),
        Err(e) => Err(format!("not a DNS name: {e}")),
    }
}

/// The dNSName entries of the certificate's subjectAltName extension, in
/// order; empty when it has none.
pub(crate) fn san_dns_names(cert_der: &[u8]) -> Result<Vec<String>, String> {
    let mut input = cert_der;
    let certificate = expect(&mut input, TAG_SEQUENCE, "Certificate")?;
    let mut certificate = certificate;
    let mut tbs = expect(&mut certificate, TAG_SEQUENCE, "tbsCertificate")?;
    let mut found: Option<Vec<String>> = None;
    while !tbs.is_empty() {
        let (tag, mut content) = read_tlv(&mut tbs)?;
        if tag != TAG_EXTENSIONS {
            continue;
        }
        let mut extensions = expect(&mut content, TAG_SEQUENCE, "Extensions")?;
        while !extensions.is_empty() {
            let mut extension = expect(&mut extensions, TAG_SEQUENCE, "Extension")?;
            let oid = expect(&mut extension, TAG_OID, "extnID")?;
            if peek_tag(extension) == Some(TAG_BOOLEAN) {
                expect(&mut extension, TAG_BOOLEAN, "critical")?;
            }
            let value = expect(&mut extension, TAG_OCTET_STRING, "extnValue")?;
            if oid != OID_SUBJECT_ALT_NAME {
                continue;
            }
            if found.is_some() {
                return Err("two subjectAltName extensions".to_owned());
            }
            found = Some(general_names_dns(value)?);
        }
    }
    Ok(found.unwrap_or_default())
}

/// The dNSName entries of a DER `GeneralNames`.
fn general_names_dns(mut value: &[u8]) -> Result<Vec<String>, String> {
    let mut general_names = expect(&mut value, TAG_SEQUENCE, "GeneralNames")?;
    let mut names = Vec::new();
    while !general_names.is_empty() {
        let (tag, content) = read_tlv(&mut general_names)?;
        if tag != TAG_DNS_NAME {
            continue;
        }
        if !content.is_ascii() {
            return Err("a dNSName that is not IA5 (ASCII)".to_owned());
        }
        let name =
            std::str::from_utf8(content).map_err(|_| "a dNSName that is not ASCII".to_owned())?;
        names.push(name.to_owned());
    }
    Ok(names)
}

fn peek_tag(input: &[u8]) -> Option<u8> {
    input.first().copied()
}

/// Reads one TLV of tag `tag`, naming `what` in the error.
fn expect<'a>(input: &mut &'a [u8], tag: u8, what: &str) -> Result<&'a [u8], String> {
    let (found, content) = read_tlv(input)?;
    if found != tag {
        return Err(format!("{what}: tag {found:#04x}, expected {tag:#04x}"));
    }
    Ok(content)
}

/// Reads one DER TLV (single-octet tag, definite length) from the front of
/// `input` and returns its tag and content.
fn read_tlv<'a>(input: &mut &'a [u8]) -> Result<(u8, &'a [u8]), String> {
    let (&tag, rest) = input.split_first().ok_or("truncated: no tag")?;
    if tag & 0x1F == 0x1F {
        return Err(format!("multi-octet tag {tag:#04x}"));
    }
    let (&first, mut rest) = rest.split_first().ok_or("truncated: no length")?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let octets = usize::from(first & 0x7F);
        if octets == 0 || octets > LENGTH_OCTETS_MAX {
            return Err(format!("length form {first:#04x} refused"));
        }
        if rest.len() < octets {
            return Err("truncated: length octets".to_owned());
        }
        let (length_octets, after) = rest.split_at(octets);
        rest = after;
        length_octets
            .iter()
            .fold(0_usize, |length, &octet| (length << 8) | usize::from(octet))
    };
    if length > rest.len() {
        return Err(format!(
            "length {length} exceeds the {} bytes left",
            rest.len()
        ));
    }
    let (content, after) = rest.split_at(length);
    *input = after;
    Ok((tag, content))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    /// `openssl req -x509 ... -addext subjectAltName=DNS:host-a.test` (EC P-256).
    const ONE_NAME_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBkDCCATWgAwIBAgIUFkNoTxxR2AVlF4wBCXpurSOlSIMwCgYIKoZIzj0EAwIw
ETEPMA0GA1UEAwwGaG9zdC1hMB4XDTI2MTEyMTA4MjMyMFoXDTM2MTExODA4MjMy
MFowETEPMA0GA1UEAwwGaG9zdC1hMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
INg/pyUw6mp5URwGuAWrfBFufq4Gj8yqlalCpILdo7pCrmnGnPOybm7C6WSHKHXZ
2DWJ780dGPlTA1zPNtx+aqNrMGkwHQYDVR0OBBYEFEa7uZiz99+/8DtDXEMdTJNt
0YRtMB8GA1UdIwQYMBaAFEa7uZiz99+/8DtDXEMdTJNt0YRtMA8GA1UdEwEB/wQF
MAMBAf8wFgYDVR0RBA8wDYILaG9zdC1hLnRlc3QwCgYIKoZIzj0EAwIDSQAwRgIh
ALkDPPGtDzrd6CHfvd6fejJNmA36RG1eT/2QXHtI6HjxAiEAo20c/blgVZwBZCc3
SWBhN9lm5sqo5MBvkNIXtRXUIp0=
-----END CERTIFICATE-----
";

    /// `subjectAltName=IP:10.0.0.1,DNS:host-a,email:x@y.z,DNS:host-b`.
    const TWO_NAMES_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBnTCCAUOgAwIBAgIUO86qzyYci3fNqe+vHMj85SVQm80wCgYIKoZIzj0EAwIw
EDEOMAwGA1UEAwwFbXVsdGkwHhcNMjYxMTIxMDgyMzIwWhcNMzYxMTE4MDgyMzIw
WjAQMQ4wDAYDVQQDDAVtdWx0aTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKaG
o1pZ/t6ZdIvefJUF56si3Ky09hxTAtkvXq1lQ78HNW0bLDi0zDPxpeqkXtONl/ck
MhYGVZEpSz/sjnhnUSCjezB5MB0GA1UdDgQWBBSUtzcHoDWmiavWiao5Qg1Rtrtr
ADAfBgNVHSMEGDAWgBSUtzcHoDWmiavWiao5Qg1RtrtrADAPBgNVHRMBAf8EBTAD
AQH/MCYGA1UdEQQfMB2HBAoAAAGCBmhvc3QtYYEFeEB5LnqCBmhvc3QtYjAKBggq
hkjOPQQDAgNIADBFAiEA7XFW6rjJGnpo2iA61zcbxAjhlfgvy0xq4g3k0lmyXswC
IGe6js1eaZ5i2BI1x5VPS5pZ/wmEhSBbqEizviHg1BEU
-----END CERTIFICATE-----
";

    /// No subjectAltName at all (only CN=host-a).
    const NO_NAME_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIUEFRIh53eZ39UpScDU+12aVP7ZEMwCgYIKoZIzj0EAwIw
ETEPMA0GA1UEAwwGaG9zdC1hMB4XDTI2MTEyMTA4MjMyMFoXDTM2MTExODA4MjMy
MFowETEPMA0GA1UEAwwGaG9zdC1hMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
4D8ePgvyD2GcS8hZUwYkJSy8Ft0gD+Hp3Xyr+tKzcoMHDMDaKy9KX1/33FuaTfsd
Puc/8IbTKTu5FxXWr+UNU6NTMFEwHQYDVR0OBBYEFIWhWGlAE2w6Z5yFSAqmnQ1C
sA8UMB8GA1UdIwQYMBaAFIWhWGlAE2w6Z5yFSAqmnQ1CsA8UMA8GA1UdEwEB/wQF
MAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgX6qBwJEvTzeVk4fTmcsa8V2mLxYeWpEH
RnkdpPgVyUMCIQCnqjBmP15m/fZkqk0VHtVbXlL2SFx+sc5yVXsrHRkwYw==
-----END CERTIFICATE-----
";

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("test PEM parses")
    }

    #[test]
    fn finds_the_dns_name() {
        let cert = der(ONE_NAME_PEM);
        assert_eq!(
            san_dns_names(cert.as_ref()),
            Ok(vec!["host-a.test".to_owned()])
        );
    }

    #[test]
    fn lists_only_dns_names_and_host_id_wants_exactly_one() {
        let two = der(TWO_NAMES_PEM);
        assert_eq!(
            san_dns_names(two.as_ref()),
            Ok(vec!["host-a".to_owned(), "host-b".to_owned()])
        );
        let err = host_id(&two).expect_err("two names are ambiguous");
        assert!(err.contains("exactly one"), "{err}");

        let none = der(NO_NAME_PEM);
        assert_eq!(san_dns_names(none.as_ref()), Ok(Vec::new()));
        let err = host_id(&none).expect_err("the CN does not count");
        assert!(err.contains("no subjectAltName"), "{err}");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let cert = der(ONE_NAME_PEM);
        let bytes = cert.as_ref();
        for len in 0..bytes.len() {
            assert!(
                san_dns_names(&bytes[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn every_single_byte_corruption_is_handled() {
        let cert = der(ONE_NAME_PEM);
        let mut bytes = cert.as_ref().to_vec();
        for index in 0..bytes.len() {
            let original = bytes[index];
            for flip in [0x01_u8, 0x80, 0xFF] {
                bytes[index] = original ^ flip;
                // Any answer is fine; it must not panic or read out of bounds.
                let _ = san_dns_names(&bytes);
            }
            bytes[index] = original;
        }
    }

    #[test]
    fn reads_long_form_lengths_and_refuses_bad_forms() {
        let mut long = &[0x04_u8, 0x81, 0x02, 0xAA, 0xBB][..];
        assert_eq!(read_tlv(&mut long), Ok((0x04, &[0xAA_u8, 0xBB][..])));
        assert!(long.is_empty());
        assert!(
            read_tlv(&mut &[0x04_u8, 0x80, 0x00][..]).is_err(),
            "indefinite length"
        );
        assert!(
            read_tlv(&mut &[0x04_u8, 0x85, 1, 1, 1, 1, 1][..]).is_err(),
            "5 length octets"
        );
        assert!(
            read_tlv(&mut &[0x1F_u8, 0x01, 0x00][..]).is_err(),
            "multi-octet tag"
        );
        assert!(
            read_tlv(&mut &[0x04_u8, 0x03, 0x00][..]).is_err(),
            "content past the end"
        );
    }

    #[test]
    fn a_name_the_certificate_does_not_hold_is_refused() {
        // The walker's candidate is host-a.test, so host_id accepts it; a
        // different name must fail webpki's confirmation.
        let cert = der(ONE_NAME_PEM);
        assert_eq!(host_id(&cert), Ok("host-a.test".to_owned()));
        let parsed = ParsedCertificate::try_from(&cert).expect("webpki parses it");
        let other = dns_server_name("host-b.test").expect("valid name");
        assert!(rustls::client::verify_server_name(&parsed, &other).is_err());
    }

    #[test]
    fn ip_addresses_are_not_dns_names() {
        assert!(dns_server_name("10.0.0.1").is_err());
        assert!(dns_server_name("host-a").is_ok());
    }
}
