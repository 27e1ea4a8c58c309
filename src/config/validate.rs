//! From raw settings to a checked [`ServerConfig`]: etcd's start-up validations in etcd's
//! order, then ringkv's "not supported yet" check against the flag table.

use std::net::IpAddr;

use url::Url;

use super::error::StartupError;
use super::flags::{FLAGS, Support};
use super::values::{url_text, urls_text};
use super::{ClusterState, LogLevel, RawSettings, ServerConfig, Source, resolve_data_dir};

/// Types and checks `raw`. `from_command_line` is false in config-file mode, where etcd skips
/// the command-line-only checks.
pub fn build(raw: &RawSettings, from_command_line: bool) -> Result<ServerConfig, StartupError> {
    let (level, _) = raw.get("log-level");
    if LogLevel::parse(level).is_none() {
        return Err(StartupError::UnknownLogLevel {
            level: level.to_string(),
        });
    }
    let mut config = ServerConfig::from_raw(raw)?;
    config.data_dir = resolve_data_dir(raw, &config.name);

    // etcd drops the default initial cluster when discovery is used without an explicit one.
    let discovering = !config.discovery.is_empty() || !config.discovery_srv.is_empty();
    let cluster_given = raw.is_explicit("initial-cluster") || !discovering;
    if discovering && !raw.is_explicit("initial-cluster") {
        config.initial_cluster.clear();
    }

    verify_flags(raw, &config, from_command_line, cluster_given)?;
    if !discovering {
        verify_bootstrap(&config)?;
    }
    check_supported(raw, &config)?;
    // etcd parses the retention when the server starts, after every flag check.
    config.auto_compaction()?;
    if config.client_tls().is_none()
        && !config.auto_tls
        && let Some(url) = config
            .listen_client_urls
            .iter()
            .find(|u| u.scheme() == "https")
    {
        return Err(StartupError::ClientTlsMissing { url: url_text(url) });
    }
    if config.client_cert_auth && config.trusted_ca_file.is_none() {
        return Err(StartupError::ClientCaMissing);
    }
    Ok(config)
}

/// etcd's `Config.Validate` and etcdmain's flag checks ("error verifying flags, …").
fn verify_flags(
    raw: &RawSettings,
    config: &ServerConfig,
    from_command_line: bool,
    cluster_given: bool,
) -> Result<(), StartupError> {
    if config.logger != "zap" && config.logger != "capnslog" {
        return Err(StartupError::UnknownLogger {
            logger: config.logger.clone(),
        });
    }
    for urls in [
        &config.listen_peer_urls,
        &config.listen_client_urls,
        &config.listen_metrics_urls,
    ] {
        check_bind_urls(urls)?;
    }
    let bootstrap_flags = [
        !config.discovery.is_empty(),
        cluster_given && !config.initial_cluster.is_empty(),
        !config.discovery_srv.is_empty(),
    ];
    if bootstrap_flags.iter().filter(|set| **set).count() > 1 {
        return Err(StartupError::MultipleBootstrap);
    }
    let heartbeat_ms = millis(config.heartbeat_interval);
    let election_ms = millis(config.election_timeout);
    if 5 * heartbeat_ms > election_ms {
        return Err(StartupError::ElectionTooShort {
            election_ms,
            heartbeat_ms,
        });
    }
    if election_ms > 50_000 {
        return Err(StartupError::ElectionTooLong { election_ms });
    }
    let listen_client_explicit = *raw.get("listen-client-urls").1 == Source::CommandLine
        || matches!(raw.get("listen-client-urls").1, Source::Env(_));
    let advertise_explicit = raw.is_explicit("advertise-client-urls");
    if from_command_line && listen_client_explicit && !advertise_explicit {
        return Err(StartupError::AdvertiseClientRequired);
    }
    if !matches!(
        config.auto_compaction_mode.as_str(),
        "" | "periodic" | "revision"
    ) {
        return Err(StartupError::UnknownCompactionMode {
            mode: config.auto_compaction_mode.clone(),
        });
    }
    Ok(())
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Listen URLs must name an IP (or `localhost`), not a host name.
fn check_bind_urls(urls: &[Url]) -> Result<(), StartupError> {
    for url in urls {
        if url.scheme() == "unix" || url.scheme() == "unixs" {
            continue;
        }
        let host = url.host_str().unwrap_or("");
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host == "localhost" || host.parse::<IpAddr>().is_ok() {
            continue;
        }
        return Err(StartupError::BindNotIp { url: url_text(url) });
    }
    Ok(())
}

/// etcd's bootstrap checks: this member is in `--initial-cluster` with the peer URLs it
/// advertises. URLs are compared as written (etcd also resolves host names via DNS).
fn verify_bootstrap(config: &ServerConfig) -> Result<(), StartupError> {
    let mine: Vec<&(String, Url)> = config
        .initial_cluster
        .iter()
        .filter(|(name, _)| *name == config.name)
        .collect();
    if mine.is_empty() {
        return Err(StartupError::NameNotInCluster {
            name: config.name.clone(),
        });
    }
    let mut cluster_urls: Vec<String> = mine.iter().map(|(_, u)| url_text(u)).collect();
    let mut advertised: Vec<String> = config
        .initial_advertise_peer_urls
        .iter()
        .map(url_text)
        .collect();
    cluster_urls.sort();
    advertised.sort();
    if cluster_urls == advertised {
        return Ok(());
    }
    let cluster_entry = mine
        .iter()
        .map(|(name, url)| format!("{name}={}", url_text(url)))
        .collect::<Vec<_>>()
        .join(",");
    let detail = if cluster_urls.len() != advertised.len() {
        format!(
            "len({}) != len({})",
            go_quoted(&advertised),
            go_quoted(&cluster_urls)
        )
    } else {
        let (a, c) = advertised
            .iter()
            .zip(&cluster_urls)
            .find(|(a, c)| a != c)
            .map(|(a, c)| (a.clone(), c.clone()))
            .unwrap_or_default();
        format!("resolved urls: {a:?} != {c:?}")
    };
    Err(StartupError::AdvertisedPeerMismatch {
        cluster_entry,
        advertised: urls_text(&config.initial_advertise_peer_urls),
        detail,
    })
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn go_quoted(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

/// ringkv's own check: a flag whose feature is not built may only keep its default.
fn check_supported(raw: &RawSettings, config: &ServerConfig) -> Result<(), StartupError> {
    let refuse = |flag: &str, feature: &str| StartupError::NotSupportedYet {
        flag: flag.to_string(),
        feature: feature.to_string(),
    };
    for spec in FLAGS {
        let (value, source) = raw.get(spec.name);
        let non_default = *source != Source::Default && !same_value(spec.kind, value, spec.default);
        match spec.support {
            Support::Yes => {}
            Support::NotYet(feature) if non_default => return Err(refuse(spec.name, feature)),
            Support::NotYet(_) => {}
            Support::Only(allowed, feature) => {
                if !allowed.iter().any(|a| same_value(spec.kind, value, a)) {
                    return Err(refuse(spec.name, feature));
                }
            }
        }
    }
    // Client URLs may be https (`--cert-file`/`--key-file`); peer TLS comes with clustering.
    for (flag, urls, peer) in [
        ("listen-client-urls", &config.listen_client_urls, false),
        (
            "advertise-client-urls",
            &config.advertise_client_urls,
            false,
        ),
        ("listen-peer-urls", &config.listen_peer_urls, true),
        (
            "initial-advertise-peer-urls",
            &config.initial_advertise_peer_urls,
            true,
        ),
    ] {
        for url in urls {
            match url.scheme() {
                "https" if peer => return Err(refuse(flag, "peer TLS")),
                "unix" | "unixs" => return Err(refuse(flag, "unix sockets")),
                _ => {}
            }
        }
    }
    for (_, url) in &config.initial_cluster {
        match url.scheme() {
            "https" => return Err(refuse("initial-cluster", "peer TLS")),
            "unix" | "unixs" => return Err(refuse("initial-cluster", "unix sockets")),
            _ => {}
        }
    }
    let first = config.initial_cluster.first().map(|(name, _)| name);
    if config
        .initial_cluster
        .iter()
        .any(|(name, _)| Some(name) != first)
    {
        return Err(refuse("initial-cluster", "clustering"));
    }
    if config.initial_cluster_state == ClusterState::Existing {
        return Err(refuse("initial-cluster-state", "clustering"));
    }
    Ok(())
}

/// Equal as values of their kind (so `--enable-v2=0` equals the default `false`).
fn same_value(kind: super::flags::Kind, a: &str, b: &str) -> bool {
    use super::flags::Kind;
    use super::values::{parse_bool, parse_duration};
    match kind {
        Kind::Bool => parse_bool(a).ok() == parse_bool(b).ok(),
        Kind::Duration => parse_duration(a).ok() == parse_duration(b).ok(),
        _ => a == b,
    }
}
