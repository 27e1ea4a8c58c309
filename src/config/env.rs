//! `ETCD_*` environment variables, applied the way etcd 3.4's `pkg/flags` does.
//!
//! A variable sets its flag only when the flag is not on the command line. A variable whose
//! flag *is* on the command line is fatal (even if empty), and any other unused `ETCD_*`
//! variable is a warning.

use super::error::StartupError;
use super::flags::{self, CORES, FlagSpec};
use super::values::check_kind;
use super::{RawSettings, Source};

/// ringkv's own variable for `--cores`.
pub const CORES_ENV: &str = "RINGKV_CORES";
/// Selects the config file; read before anything else.
pub const CONFIG_FILE_ENV: &str = "ETCD_CONFIG_FILE";

/// The variable that sets `spec` (`RINGKV_CORES` for `--cores`).
pub fn env_var(spec: &FlagSpec) -> String {
    if spec.name == CORES {
        CORES_ENV.to_string()
    } else {
        spec.env_var()
    }
}

/// Fills flags not given on the command line from `env`; returns warnings to log.
pub fn apply(raw: &mut RawSettings, env: &[(String, String)]) -> Result<Vec<String>, StartupError> {
    let mut used: Vec<String> = Vec::new();
    for (index, spec) in flags::FLAGS.iter().enumerate() {
        if spec.name == "config-file" || raw.is_set_on_command_line(index) {
            continue;
        }
        let var = env_var(spec);
        let Some((_, value)) = env.iter().find(|(k, _)| *k == var) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        check_kind(spec.kind, value).map_err(|reason| StartupError::EnvInvalid {
            var: var.clone(),
            value: value.clone(),
            reason,
        })?;
        raw.set(index, value.clone(), Source::Env(var.clone()));
        used.push(var);
    }

    let mut warnings = Vec::new();
    for (key, value) in env {
        if used.contains(key) {
            continue;
        }
        let shadowed = flags::FLAGS
            .iter()
            .enumerate()
            .any(|(i, spec)| raw.is_set_on_command_line(i) && env_var(spec) == *key);
        if shadowed {
            return Err(StartupError::EnvConflict { var: key.clone() });
        }
        if key.starts_with("ETCD_") && key != CONFIG_FILE_ENV {
            warnings.push(format!("unrecognized environment variable {key}={value}"));
        }
    }
    Ok(warnings)
}
