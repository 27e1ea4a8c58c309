//! The YAML config file (`--config-file` / `ETCD_CONFIG_FILE`).
//!
//! Keys are flag names; TLS settings sit under `client-transport-security` and
//! `peer-transport-security` as in etcd's `configYAML`. Values are typed as in etcd's Go
//! struct: numbers for counts and milliseconds, integers in nanoseconds for durations, booleans,
//! and strings (URL lists comma separated). Unknown keys are ignored, as etcd does.

use serde_yaml::Value;

use super::error::StartupError;
use super::flags::{self, Kind};
use super::values::check_kind;
use super::{RawSettings, Source};

/// Reads and applies the file at `path` on top of the defaults in `raw`.
pub fn load(raw: &mut RawSettings, path: &str) -> Result<(), StartupError> {
    let text = std::fs::read_to_string(path).map_err(|e| StartupError::ConfigFileRead {
        path: path.to_string(),
        reason: io_reason(&e),
    })?;
    apply_text(raw, &text)
}

/// Go's wording for the common I/O failures.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => e.to_string(),
    }
}

/// Applies YAML text to `raw`.
pub fn apply_text(raw: &mut RawSettings, text: &str) -> Result<(), StartupError> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| StartupError::ConfigFileSyntax {
        reason: e.to_string(),
    })?;
    let map = match doc {
        Value::Null => return Ok(()),
        Value::Mapping(map) => map,
        other => {
            return Err(StartupError::ConfigFileValue {
                key: String::new(),
                found: json_kind(&other).to_string(),
                expected: "embed.configYAML".to_string(),
            });
        }
    };
    for (key, value) in &map {
        let Some(key) = key.as_str() else { continue };
        match key {
            "client-transport-security" => apply_tls(raw, key, value, "")?,
            "peer-transport-security" => apply_tls(raw, key, value, "peer-")?,
            "config-file" => {}
            _ => apply_key(raw, key, key, value)?,
        }
    }
    Ok(())
}

/// etcd's `securityConfig` keys → flag names (with the `peer-` prefix for the peer section).
fn apply_tls(
    raw: &mut RawSettings,
    section: &str,
    value: &Value,
    prefix: &str,
) -> Result<(), StartupError> {
    let Value::Mapping(map) = value else {
        if value.is_null() {
            return Ok(());
        }
        return Err(StartupError::ConfigFileValue {
            key: section.to_string(),
            found: json_kind(value).to_string(),
            expected: "embed.securityConfig".to_string(),
        });
    };
    for (key, value) in map {
        let Some(key) = key.as_str() else { continue };
        let flag = match key {
            "cert-file" | "key-file" | "client-cert-file" | "client-key-file"
            | "trusted-ca-file" | "auto-tls" => format!("{prefix}{key}"),
            "client-cert-auth" if prefix.is_empty() => "client-cert-auth".to_string(),
            "client-cert-auth" => "peer-client-cert-auth".to_string(),
            "crl-file" if prefix.is_empty() => "client-crl-file".to_string(),
            "crl-file" => "peer-crl-file".to_string(),
            _ => continue,
        };
        apply_key(raw, &format!("{section}.{key}"), &flag, value)?;
    }
    Ok(())
}

fn apply_key(
    raw: &mut RawSettings,
    key: &str,
    flag: &str,
    value: &Value,
) -> Result<(), StartupError> {
    let Some(index) = flags::index_of(flag) else {
        return Ok(());
    };
    let spec = &flags::FLAGS[index];
    let mismatch = || StartupError::ConfigFileValue {
        key: key.to_string(),
        found: json_kind(value).to_string(),
        expected: go_type(spec.kind).to_string(),
    };
    let text = match (spec.kind, value) {
        (_, Value::Null) => return Ok(()),
        (Kind::Bool, Value::Bool(b)) => b.to_string(),
        (Kind::Uint | Kind::Int, Value::Number(n)) => n.to_string(),
        // Go's time.Duration is a nanosecond count in JSON.
        (Kind::Duration, Value::Number(n)) => match n.as_u64() {
            Some(nanos) => format!("{nanos}ns"),
            None => return Err(mismatch()),
        },
        (Kind::Str | Kind::Urls | Kind::Choice(_), Value::String(s)) => s.clone(),
        (Kind::List, Value::String(s)) => s.clone(),
        (Kind::List, Value::Sequence(items)) => {
            let mut parts = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(s) => parts.push(s.to_string()),
                    None => return Err(mismatch()),
                }
            }
            parts.join(",")
        }
        _ => return Err(mismatch()),
    };
    check_kind(spec.kind, &text).map_err(|reason| StartupError::ConfigFileInvalid {
        key: key.to_string(),
        value: text.clone(),
        reason,
    })?;
    raw.set(index, text, Source::ConfigFile);
    Ok(())
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Sequence(_) => "array",
        Value::Mapping(_) | Value::Tagged(_) => "object",
    }
}

fn go_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Bool => "bool",
        Kind::Uint => "uint64",
        Kind::Int => "int64",
        Kind::Duration => "time.Duration",
        Kind::List => "[]string",
        Kind::Str | Kind::Urls | Kind::Choice(_) => "string",
    }
}
