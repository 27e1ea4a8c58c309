//! TLS on the client port, driven by the Debian `etcdctl` on ringkv and the real etcd alike:
//! `https://` client URLs with `--cert-file`/`--key-file` serve gRPC and HTTP/1.1 over TLS;
//! with `--trusted-ca-file` (with or without `--client-cert-auth`) a client needs a
//! certificate that CA signed.
//! The certificates are made at run time (rcgen): a CA, a server certificate for 127.0.0.1,
//! a client certificate from that CA and one from a stranger CA.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::etcd::run_etcdctl;
use common::{Target, TestServer, scratch_dir};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    stranger_cert: PathBuf,
    stranger_key: PathBuf,
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).expect("write a PEM file");
    path
}

/// A CA's certificate PEM and an issuer that signs with it.
fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("self-signed CA");
    (cert.pem(), Issuer::new(params, key))
}

/// A leaf certificate and key PEM signed by `issuer`.
fn leaf(issuer: &Issuer<'static, KeyPair>, name: &str, ip: bool) -> (String, String) {
    let key = KeyPair::generate().expect("leaf key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, name);
    if ip {
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
    let cert = params.signed_by(&key, issuer).expect("signed leaf");
    (cert.pem(), key.serialize_pem())
}

fn pki(dir: &Path) -> Pki {
    std::fs::create_dir_all(dir).expect("mkdir");
    let (ca_pem, issuer) = ca("ringkv test CA");
    let (_, stranger) = ca("stranger CA");
    let (server_cert, server_key) = leaf(&issuer, "server", true);
    let (client_cert, client_key) = leaf(&issuer, "client", false);
    let (stranger_cert, stranger_key) = leaf(&stranger, "stranger", false);
    Pki {
        ca: write(dir, "ca.pem", &ca_pem),
        server_cert: write(dir, "server.pem", &server_cert),
        server_key: write(dir, "server-key.pem", &server_key),
        client_cert: write(dir, "client.pem", &client_cert),
        client_key: write(dir, "client-key.pem", &client_key),
        stranger_cert: write(dir, "stranger.pem", &stranger_cert),
        stranger_key: write(dir, "stranger-key.pem", &stranger_key),
    }
}

/// Runs `etcdctl` with `tls` (e.g. `--cacert ...`); returns (exit code, stdout, stderr).
fn etcdctl(server: &TestServer, tls: &[String], args: &[&str]) -> (i32, String, String) {
    etcdctl_timeouts(server, "10s", tls, args)
}

/// A run that must fail: short timeouts only make it fail sooner.
fn refused(server: &TestServer, tls: &[String], args: &[&str]) -> bool {
    etcdctl_timeouts(server, "1s", tls, args).0 != 0
}

/// `timeout` bounds both the dial and the command.
fn etcdctl_timeouts(
    server: &TestServer,
    timeout: &str,
    tls: &[String],
    args: &[&str],
) -> (i32, String, String) {
    let timeouts = [
        format!("--dial-timeout={timeout}"),
        format!("--command-timeout={timeout}"),
    ];
    let all: Vec<&str> = timeouts
        .iter()
        .chain(tls)
        .map(String::as_str)
        .chain(args.iter().copied())
        .collect();
    let out = run_etcdctl(&server.endpoint(), &all, "", RUN_TIMEOUT);
    (out.code, out.stdout, out.stderr)
}

fn flag(name: &str, path: &Path) -> String {
    format!("--{name}={}", path.display())
}

/// A server of `target` on an `https://` client URL with the test PKI's server certificate
/// and `client_auth` flags (given the PKI).
fn start_tls(
    target: Target,
    name: &str,
    client_auth: impl Fn(&Pki) -> Vec<String>,
) -> (Pki, TestServer) {
    let dir = scratch_dir(name);
    let pki = pki(&dir.join("pki"));
    let mut args = vec![
        flag("cert-file", &pki.server_cert),
        flag("key-file", &pki.server_key),
    ];
    args.extend(client_auth(&pki));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = target.start_scheme(&dir.join("data"), "https", &args);
    (pki, server)
}

fn https_serves_grpc_over_tls(target: Target) {
    let (pki, server) = start_tls(target, "tls-server", |_| Vec::new());
    let trusted = [flag("cacert", &pki.ca)];
    let (code, _, err) = etcdctl(&server, &trusted, &["put", "k", "over tls"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = etcdctl(&server, &trusted, &["get", "k", "--print-value-only"]);
    assert_eq!((code, out.as_str()), (0, "over tls\n"), "{err}");
    let (code, out, err) = etcdctl(&server, &trusted, &["endpoint", "health"]);
    assert_eq!(code, 0, "{out}{err}");
    // A client that does not trust the server's CA is refused at the handshake.
    assert!(refused(&server, &[], &["get", "k"]));
}

fn client_cert_auth_needs_a_certificate_from_the_trusted_ca(target: Target) {
    let (pki, server) = start_tls(target, "tls-client-auth", |pki| {
        vec![
            "--client-cert-auth".to_owned(),
            flag("trusted-ca-file", &pki.ca),
        ]
    });
    let with = |cert: &Path, key: &Path| {
        vec![
            flag("cacert", &pki.ca),
            flag("cert", cert),
            flag("key", key),
        ]
    };
    let (code, _, err) = etcdctl(
        &server,
        &with(&pki.client_cert, &pki.client_key),
        &["put", "k", "v"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        refused(&server, &[flag("cacert", &pki.ca)], &["get", "k"]),
        "a client without a certificate must be refused"
    );
    assert!(
        refused(
            &server,
            &with(&pki.stranger_cert, &pki.stranger_key),
            &["get", "k"]
        ),
        "a certificate from another CA must be refused"
    );
}

/// etcd asks clients for certificates whenever `--trusted-ca-file` is set, even without
/// `--client-cert-auth`.
fn a_trusted_ca_alone_also_requires_client_certificates(target: Target) {
    let (pki, server) = start_tls(target, "tls-trusted-ca", |pki| {
        vec![flag("trusted-ca-file", &pki.ca)]
    });
    assert!(refused(&server, &[flag("cacert", &pki.ca)], &["get", "k"]));
    let client = [
        flag("cacert", &pki.ca),
        flag("cert", &pki.client_cert),
        flag("key", &pki.client_key),
    ];
    let (code, _, err) = etcdctl(&server, &client, &["get", "k"]);
    assert_eq!(code, 0, "{err}");
}

/// `--auto-tls` with an https URL and no certificate: a self-signed one is made under
/// `<data-dir>/fixtures/client`, kept across a restart, and clients that skip verification
/// are served.
fn auto_tls_serves_a_self_signed_certificate(target: Target) {
    let dir = scratch_dir("tls-auto");
    let data = dir.join("data");
    let mut server = target.start_scheme(&data, "https", &["--auto-tls"]);
    let skip = [
        "--insecure-transport=false".to_owned(),
        "--insecure-skip-tls-verify".to_owned(),
    ];
    let (code, _, err) = etcdctl(&server, &skip, &["put", "k", "auto"]);
    assert_eq!(code, 0, "{err}");
    let cert = data.join("fixtures/client/cert.pem");
    let made = std::fs::read(&cert).expect("the generated certificate");
    assert!(data.join("fixtures/client/key.pem").exists());
    server.restart();
    assert_eq!(
        std::fs::read(&cert).expect("cert"),
        made,
        "reused after a restart"
    );
    let (code, out, err) = etcdctl(&server, &skip, &["get", "k", "--print-value-only"]);
    assert_eq!((code, out.as_str()), (0, "auto\n"), "{err}");
    // Verifying clients do not know this certificate.
    assert!(refused(&server, &[], &["get", "k"]));
}

for_both_targets!(
    auto_tls_serves_a_self_signed_certificate,
    https_serves_grpc_over_tls,
    client_cert_auth_needs_a_certificate_from_the_trusted_ca,
    a_trusted_ca_alone_also_requires_client_certificates,
);
