//! Test certificates made on the spot with rcgen: a CA, a server certificate for 127.0.0.1 and a
//! client (function) certificate it issued. Shared by the test crates that prove mutual TLS.

use overblick_simulators::ServerTls;

pub struct Pki {
    pub ca_pem: String,
    pub server: ServerTls,
    /// The client certificate followed by its private key (PEM).
    pub client_identity: Vec<u8>,
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all issued by the CA.
pub fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Överblick test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    server_params
        .distinguished_name
        .push(DnType::CommonName, "tjänsteplattformen (simulated)");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &ca).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params
        .distinguished_name
        .push(DnType::CommonName, "Överblick funktionscertifikat (test)");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &ca).unwrap();

    Pki {
        ca_pem: ca.pem(),
        server: ServerTls {
            certificate_chain_pem: server_cert.pem().into_bytes(),
            private_key_pem: server_key.serialize_pem().into_bytes(),
            client_ca_pem: ca.pem().into_bytes(),
        },
        client_identity: format!("{}\n{}", client_cert.pem(), client_key.serialize_pem())
            .into_bytes(),
    }
}
