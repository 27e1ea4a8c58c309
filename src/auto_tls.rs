//! `--auto-tls`: as etcd, serve `https://` client URLs with a self-signed certificate kept in
//! `<data-dir>/fixtures/client/{cert.pem,key.pem}` (made once, reused after), valid for the
//! listen URLs' hosts for a year. Clients then skip verification (`etcdctl
//! --insecure-transport=false --insecure-skip-tls-verify`).

use std::io;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType,
};
use ringkv_net::tls::TlsFiles;

/// etcd's `--self-signed-cert-validity` default: one year.
const VALIDITY_DAYS: i64 = 365;

/// The certificate and key in `dir`, made for `hosts` (IPs or names) if not there yet.
pub fn self_signed(dir: &Path, hosts: &[String]) -> io::Result<TlsFiles> {
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        client_ca: None,
    };
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    let invalid = |e: rcgen::Error| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(invalid)?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, "etcd");
    for host in hosts {
        params.subject_alt_names.push(match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.clone().try_into().map_err(invalid)?),
        });
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = std::time::SystemTime::now();
    params.not_before = now.into();
    params.not_after = (now + std::time::Duration::from_secs(VALIDITY_DAYS as u64 * 86_400)).into();
    let key = KeyPair::generate().map_err(invalid)?;
    let cert = params.self_signed(&key).map_err(invalid)?;
    std::fs::create_dir_all(dir)?;
    write(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
    write(&files.cert, cert.pem().as_bytes(), 0o644)?;
    tracing::info!(cert = %files.cert.display(), ?hosts, "generated a self-signed client certificate (--auto-tls)");
    Ok(files)
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
