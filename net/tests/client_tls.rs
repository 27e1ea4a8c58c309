//! Our client over TLS (futures-rustls, ALPN h2) against our server over TLS.

mod common;

use bytes::Bytes;
use common::{TestServer, TokioIo, count_messages, stream_request};
use ringkv_net::client::{ClientConfig, handshake};
use ringkv_net::grpc::Metadata;
use ringkv_net::server::ServerConfig;
use ringkv_net::tls::{TlsConnector, TlsFiles, client_config, server_config};

#[test]
fn unary_and_streaming_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let files = TlsFiles {
        cert: cert.clone(),
        key,
        client_ca: None,
    };
    let server = TestServer::with_tls(
        ServerConfig::default(),
        Some(server_config(&files).unwrap()),
    );
    let connector = TlsConnector::from(client_config(&cert, None).unwrap());

    common::run_local(async {
        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, TokioIo(tcp)).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (send, connection) = handshake(tls, ClientConfig::https("localhost"));
        let driver = tokio::task::spawn_local(connection);
        let big = Bytes::from(vec![9u8; 2 << 20]);
        let reply = send
            .unary("/test.Echo/Unary", big.clone(), &Metadata::new(), None)
            .await
            .unwrap();
        assert!(reply == big);
        let mut responses = send
            .server_streaming(
                "/test.Echo/ServerStream",
                stream_request(10, 1000),
                &Metadata::new(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(count_messages(&mut responses, 1000).await, 10);
        drop(responses);
        drop(send);
        driver.await.unwrap().unwrap();
    });
    server.stop();
}

/// With client-certificate verification on, a handler sees the verified certificate's
/// subject CN (etcd's user name under `--client-cert-auth`); without TLS it sees none.
#[test]
fn handlers_see_the_client_certificates_common_name() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = write("ca.pem", ca_params.self_signed(&ca_key).unwrap().pem());
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>, cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["localhost".to_owned()], "server");
    let (client_cert, client_key) = leaf(Vec::new(), "alice");
    let files = TlsFiles {
        cert: write("server.pem", server_cert),
        key: write("server-key.pem", server_key),
        client_ca: Some(ca.clone()),
    };
    let client_cert = write("client.pem", client_cert);
    let client_key = write("client-key.pem", client_key);
    let server = TestServer::with_tls(
        ServerConfig::default(),
        Some(server_config(&files).unwrap()),
    );
    let connector =
        TlsConnector::from(client_config(&ca, Some((&client_cert, &client_key))).unwrap());
    let plain = TestServer::start();

    common::run_local(async {
        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, TokioIo(tcp)).await.unwrap();
        let (send, connection) = handshake(tls, ClientConfig::https("localhost"));
        let driver = tokio::task::spawn_local(connection);
        let reply = send
            .unary("/test.Echo/Peer", Bytes::new(), &Metadata::new(), None)
            .await
            .unwrap();
        assert_eq!(&reply[..], b"alice");
        drop(send);
        driver.await.unwrap().unwrap();

        let (send, driver) =
            common::connect_client(plain.addr, ClientConfig::new("localhost")).await;
        let reply = send
            .unary("/test.Echo/Peer", Bytes::new(), &Metadata::new(), None)
            .await
            .unwrap();
        assert!(reply.is_empty());
        drop(send);
        driver.await.unwrap().unwrap();
    });
    server.stop();
    plain.stop();
}
