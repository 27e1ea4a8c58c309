//! Text → typed value for flag values, with the error reasons etcd (Go) gives.

use std::time::Duration;

use url::Url;

use super::flags::Kind;

/// Go's generic reason for a number, bool or duration it cannot read.
pub const PARSE_ERROR: &str = "parse error";

/// Go's `strconv.ParseBool`.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(PARSE_ERROR.to_string()),
    }
}

pub fn parse_uint(text: &str) -> Result<u64, String> {
    text.parse::<u64>().map_err(|_| PARSE_ERROR.to_string())
}

pub fn parse_int(text: &str) -> Result<i64, String> {
    text.parse::<i64>().map_err(|_| PARSE_ERROR.to_string())
}

/// Go's `time.ParseDuration`: `0`, or a sequence of decimal numbers each with a unit
/// (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`). Negative durations are refused; an empty text
/// is zero (etcd's unset default).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() || text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| PARSE_ERROR.to_string())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(PARSE_ERROR.to_string()),
        };
        rest = &rest[unit_len..];
        total += number * nanos_per_unit;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(PARSE_ERROR.to_string());
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Checks a text against a flag kind the way Go's flag `Set` would, without keeping the value.
pub fn check_kind(kind: Kind, text: &str) -> Result<(), String> {
    match kind {
        Kind::Str | Kind::List => Ok(()),
        Kind::Bool => parse_bool(text).map(drop),
        Kind::Uint => parse_uint(text).map(drop),
        Kind::Int => parse_int(text).map(drop),
        Kind::Duration => parse_duration(text).map(drop),
        Kind::Urls => parse_urls(text).map(drop),
        Kind::Choice(words) => {
            if words.contains(&text) {
                Ok(())
            } else {
                Err("invalid value".to_string())
            }
        }
    }
}

/// Comma-separated list; surrounding spaces trimmed, empty text is an empty list.
pub fn parse_list(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split(',').map(|s| s.trim().to_string()).collect()
}

/// etcd's `types.NewURLs`: comma-separated URLs, scheme http/https/unix/unixs, http(s) with a
/// `host:port`, no path.
pub fn parse_urls(text: &str) -> Result<Vec<Url>, String> {
    text.split(',').map(|one| parse_url(one.trim())).collect()
}

/// One URL with etcd's rules (see [`parse_urls`]).
pub fn parse_url(text: &str) -> Result<Url, String> {
    let scheme_error = || format!("URL scheme must be http, https, unix, or unixs: {text}");
    let (scheme, after_scheme) = text.split_once("://").ok_or_else(scheme_error)?;
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https" | "unix" | "unixs") {
        return Err(scheme_error());
    }
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let (authority, path) = after_scheme.split_at(authority_end);
    if !path.is_empty() && path != "/" {
        return Err(format!("URL must not contain a path: {text}"));
    }
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if (scheme == "http" || scheme == "https") && !has_port(host_port) {
        return Err(format!(
            "URL address does not have the form \"host:port\": {text}"
        ));
    }
    Url::parse(text).map_err(|e| format!("parse {text:?}: {e}"))
}

fn has_port(host_port: &str) -> bool {
    match host_port.strip_prefix('[') {
        Some(v6) => v6
            .split_once(']')
            .is_some_and(|(_, rest)| rest.starts_with(':')),
        None => host_port.contains(':'),
    }
}

/// A URL as etcd prints it: `scheme://host[:port]` without the trailing slash the `url` crate adds.
pub fn url_text(url: &Url) -> String {
    let s = url.as_str();
    s.strip_suffix('/').unwrap_or(s).to_string()
}

/// Comma-joined URLs as etcd prints them.
pub fn urls_text(urls: &[Url]) -> String {
    urls.iter().map(url_text).collect::<Vec<_>>().join(",")
}

/// etcd's `types.NewURLsMap`: `name=url,name=url`, one entry per pair, order kept.
pub fn parse_initial_cluster(text: &str) -> Result<Vec<(String, Url)>, String> {
    let mut members = Vec::new();
    for pair in text.split(',') {
        let (name, url) = pair.split_once('=').unwrap_or((pair, ""));
        members.push((name.to_string(), parse_url(url.trim())?));
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn bools_like_go() {
        assert_eq!(parse_bool("True"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert_eq!(parse_bool("yes"), Err("parse error".into()));
    }

    #[test]
    fn urls_like_etcd() {
        assert!(parse_urls("http://127.0.0.1:2379,https://[::1]:2379").is_ok());
        assert!(parse_urls("unix://localhost:2379").is_ok());
        assert_eq!(
            parse_urls("foo"),
            Err("URL scheme must be http, https, unix, or unixs: foo".into())
        );
        assert_eq!(
            parse_urls("http://127.0.0.1:23379/path"),
            Err("URL must not contain a path: http://127.0.0.1:23379/path".into())
        );
        assert_eq!(
            parse_urls("http://127.0.0.1"),
            Err("URL address does not have the form \"host:port\": http://127.0.0.1".into())
        );
    }

    #[test]
    fn url_text_drops_trailing_slash() {
        let urls = parse_urls("http://10.0.0.1:2379,http://localhost:2379").unwrap_or_default();
        assert_eq!(
            urls_text(&urls),
            "http://10.0.0.1:2379,http://localhost:2379"
        );
    }

    #[test]
    fn initial_cluster_pairs() {
        let members = parse_initial_cluster("a=http://10.0.0.1:2380,b=http://10.0.0.2:2380");
        assert_eq!(members.map(|m| m.len()), Ok(2));
        assert_eq!(
            parse_initial_cluster("bad"),
            Err("URL scheme must be http, https, unix, or unixs: ".into())
        );
    }
}
