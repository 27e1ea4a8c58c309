//! End-to-end tests of ringkv's command line: run the built binary with a cleared environment
//! and compare with what real etcd 3.4.23 (Debian `etcd-server`) did in the same case.
//!
//! Recorded from real etcd (stdout / stderr / exit code); `<ts>` is a timestamp. etcd 3.4
//! prints these in its capnslog format even with `--logger zap`, except where noted:
//!
//! - `etcd --help`: usage head on stderr, the flag list on stdout, exit 0.
//!   (ringkv prints everything on stdout.)
//! - `etcd --version`: stdout `etcd Version: 3.4.23` / `Git SHA: …` / `Go Version: go1.19.8` /
//!   `Go OS/Arch: linux/amd64`, exit 0.
//! - `ETCD_NAME=a etcd --name b`: stderr
//!   `<ts> C | pkg/flags: conflicting environment variable "ETCD_NAME" is shadowed by
//!   corresponding command-line flag (either unset environment variable or disable flag)`,
//!   exit 1 (same with `ETCD_NAME=` empty, and same format with `--logger zap`).
//! - `etcd --name x --initial-cluster y=http://127.0.0.1:2380`: start-up info lines, then
//!   `<ts> C | etcdmain: couldn't find local name "x" in the initial cluster configuration`,
//!   exit 1. With `--logger zap` the last line is JSON:
//!   `{"level":"fatal","ts":"…","caller":"etcdmain/etcd.go:271","msg":"discovery failed",
//!   "error":"couldn't find local name \"x\" in the initial cluster configuration",…}`.
//! - `etcd --heartbeat-interval 300 --election-timeout 1000`: `<ts> E | etcdmain: error
//!   verifying flags, --election-timeout[1000ms] should be at least as 5 times as
//!   --heartbeat-interval[300ms]. See 'etcd --help'.`, exit 1.
//! - `etcd --auto-compaction-mode=bogus`: `<ts> E | etcdmain: error verifying flags, unknown
//!   auto-compaction-mode "bogus". See 'etcd --help'.`, exit 1.
//! - `etcd --auto-compaction-retention=abc`: `<ts> C | etcdmain: error parsing
//!   CompactionRetention: time: invalid duration "abc"`, exit 1.
//! - `etcd --listen-client-urls https://127.0.0.1:23791 --advertise-client-urls …` without
//!   `--cert-file`/`--key-file`: `{"level":"fatal",…,"msg":"discovery failed","error":"TLS
//!   key/cert (--cert-file, --key-file) must be provided for client url
//!   https://127.0.0.1:23791 with HTTPS scheme"}`, exit 1.
//! - `etcd --bogus-flag 1`: stderr `flag provided but not defined: -bogus-flag` then the usage
//!   head, exit 2.
//! - `etcd --config-file <missing>`: `… E | etcdmain: error verifying flags, open <path>: no such
//!   file or directory. See 'etcd --help'.`, exit 1; with a config file, `--name` and `ETCD_NAME`
//!   are ignored (no conflict error).
//! - `ETCD_BOGUS=1 etcd …`: `<ts> W | pkg/flags: unrecognized environment variable ETCD_BOGUS=1`.
//!
//! ringkv's own: a flag whose feature is not built is refused with exit 1 and
//! `ringkv: --<flag> is not supported yet (<feature>)`; unbuilt subcommands exit 2.

mod common;

use std::process::{Command, Output};

use common::{Server, base_args, scratch_dir};

fn ringkv(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringkv"));
    cmd.env_clear().args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run ringkv: {e}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fatal start-up errors are one zap-shaped JSON line, as etcd's zap logger prints them;
/// returns its `error` field after checking the line's shape.
fn fatal_error(out: &Output) -> String {
    let stderr = text(&out.stderr);
    let line: serde_json::Value = serde_json::from_str(stderr.trim_end())
        .unwrap_or_else(|e| panic!("not one JSON line ({e}): {stderr:?}"));
    assert_eq!(line["level"], "fatal", "{stderr}");
    line["error"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn help_lists_etcd_flags() {
    let out = ringkv(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    for flag in [
        "--name 'default'",
        "--data-dir '${name}.etcd'",
        "--initial-cluster 'default=http://localhost:2380'",
        "--election-timeout '1000'",
        "--auto-compaction-mode 'periodic'",
        "--experimental-initial-corrupt-check 'false'",
        "--cores",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn version_layout() {
    let out = ringkv(&["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(
        lines[0],
        concat!("ringkv Version: ", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(lines[1], "etcd API Version: 3.5");
    assert!(lines[2].starts_with("Rust Version: "));
    assert!(lines[3].starts_with("OS/Arch: "));
}

#[test]
fn env_and_flag_conflict() {
    let out = ringkv(&["--name", "b"], &[("ETCD_NAME", "a")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        fatal_error(&out),
        "conflicting environment variable \"ETCD_NAME\" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)"
    );
}

#[test]
fn name_not_in_initial_cluster() {
    let out = ringkv(
        &[
            "--name",
            "x",
            "--initial-cluster",
            "y=http://127.0.0.1:2380",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        fatal_error(&out),
        "couldn't find local name \"x\" in the initial cluster configuration"
    );
}

#[test]
fn election_timeout_too_short() {
    let out = ringkv(
        &["--heartbeat-interval", "300", "--election-timeout", "1000"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error verifying flags, --election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]. See 'etcd --help'.\n"
    );
}

#[test]
fn auto_compaction_flags_are_checked_as_etcd() {
    let out = ringkv(&["--auto-compaction-mode=bogus"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error verifying flags, unknown auto-compaction-mode \"bogus\". See 'etcd --help'.\n"
    );
    let out = ringkv(&["--auto-compaction-retention=abc"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        fatal_error(&out),
        "error parsing CompactionRetention: time: invalid duration \"abc\""
    );
}

#[test]
fn https_client_urls_need_a_certificate() {
    let url = "https://127.0.0.1:23791";
    let out = ringkv(
        &["--listen-client-urls", url, "--advertise-client-urls", url],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        fatal_error(&out),
        "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:23791 with HTTPS scheme"
    );
}

#[test]
fn undefined_flag() {
    let out = ringkv(&["--bogus-flag", "1"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("flag provided but not defined: -bogus-flag\nUsage:"));
}

#[test]
fn not_supported_yet_flag() {
    let out = ringkv(&["--auth-token", "jwt"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        fatal_error(&out),
        "ringkv: --auth-token is not supported yet (auth)"
    );
}

#[test]
fn config_file_wins_over_flags_and_env() {
    let dir = scratch_dir("config-file");
    let path = dir.join("ringkv.yml");
    let yaml = format!(
        "name: cf\ninitial-cluster: cf=http://localhost:2380\ndata-dir: {}\n\
         listen-client-urls: http://127.0.0.1:0\nadvertise-client-urls: http://127.0.0.1:2379\n",
        dir.join("data").display()
    );
    assert!(std::fs::write(&path, yaml).is_ok());
    let path_text = path.display().to_string();
    let args: Vec<String> = ["--config-file", &path_text, "--name", "flag"]
        .map(String::from)
        .into();
    let mut server = Server::start_with_env(&args, &[("ETCD_NAME", "env")]);
    let started = server
        .log
        .iter()
        .find(|l| l.contains("starting a ringkv server"))
        .cloned();
    assert!(
        started.is_some_and(|l| l.contains(r#""name":"cf""#)),
        "{:?}",
        server.log
    );
    assert!(server.stop().success());

    let out = ringkv(&["--config-file", "/nonexistent/ringkv.yml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error verifying flags, open /nonexistent/ringkv.yml: no such file or directory. See 'etcd --help'.\n"
    );
}

#[test]
fn unrecognized_env_is_warned() {
    let dir = scratch_dir("unrecognized-env");
    let mut server = Server::start_with_env(&base_args(&dir.join("data")), &[("ETCD_BOGUS", "1")]);
    assert!(
        server.log.iter().any(|l| l.contains(r#""level":"warn""#)
            && l.contains("unrecognized environment variable ETCD_BOGUS=1")),
        "{:?}",
        server.log
    );
    assert!(server.stop().success());
}

#[test]
fn unbuilt_subcommand_exits_2() {
    let out = ringkv(&["gateway", "start", "--endpoints", "127.0.0.1:2379"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "ringkv: gateway start is not built yet\n"
    );
    let out = ringkv(&["grpc-proxy", "start"], &[]);
    assert_eq!(out.status.code(), Some(2));
}
