//! End-to-end: the real binary's runtime, data directory and HTTP front door.

mod common;

use common::{Server, base_args, exchange, http_get, run_to_exit, scratch_dir};

#[test]
fn version_and_health_answer_like_etcd() {
    let dir = scratch_dir("version-health");
    let mut server = Server::start(&base_args(&dir.join("data")));
    assert_eq!(
        http_get(server.client_addr, "/version"),
        (
            200,
            r#"{"etcdserver":"3.5.0","etcdcluster":"3.5.0"}"#.to_owned()
        )
    );
    assert_eq!(
        http_get(server.client_addr, "/health"),
        (200, r#"{"health":"true","reason":""}"#.to_owned())
    );
    assert_eq!(http_get(server.client_addr, "/nope").0, 404);
    assert!(server.stop().success());
}

#[test]
fn keep_alive_serves_pipelined_requests() {
    let dir = scratch_dir("keep-alive");
    let mut server = Server::start(&base_args(&dir.join("data")));
    let raw = exchange(
        server.client_addr,
        b"GET /version HTTP/1.1\r\nHost: a\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(text.ends_with(r#"{"health":"true","reason":""}"#), "{text}");
    assert!(server.stop().success());
}

#[test]
fn http2_clients_get_a_goaway_until_grpc_lands() {
    let dir = scratch_dir("h2");
    let mut server = Server::start(&base_args(&dir.join("data")));
    let raw = exchange(server.client_addr, ringkv_net::sniff::HTTP2_PREFACE);
    // Server preface (empty SETTINGS), then GOAWAY (type 7).
    assert_eq!(&raw[..9], &[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    assert_eq!(raw[12], 7);
    assert!(String::from_utf8_lossy(&raw).contains("not built yet"));
    assert!(server.stop().success());
}

#[test]
fn data_dir_has_etcds_layout_and_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir("layout");
    let data = dir.join("data");
    let mut server = Server::start(&base_args(&data));
    for sub in ["", "member", "member/wal", "member/snap"] {
        let mode = std::fs::metadata(data.join(sub))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700, "{sub}");
    }
    assert!(server.stop().success());
}

#[test]
fn second_process_on_the_same_data_dir_exits_with_a_clear_error() {
    let dir = scratch_dir("lock");
    let data = dir.join("data");
    let mut first = Server::start(&base_args(&data));
    let (status, stderr) = run_to_exit(&base_args(&data));
    assert!(!status.success());
    assert!(
        stderr.contains("in use by another ringkv process"),
        "{stderr}"
    );
    // The first server is unaffected.
    assert_eq!(http_get(first.client_addr, "/health").0, 200);
    assert!(first.stop().success());
}

#[test]
fn a_port_in_use_is_refused_not_shared() {
    let dir = scratch_dir("port");
    let mut first = Server::start(&base_args(&dir.join("a")));
    let mut args = base_args(&dir.join("b"));
    args[3] = format!("http://{}", first.client_addr);
    let (status, stderr) = run_to_exit(&args);
    assert!(!status.success());
    assert!(
        stderr.contains("address already in use") || stderr.contains("Address already in use"),
        "{stderr}"
    );
    assert!(first.stop().success());
}

#[test]
fn sigint_and_sigterm_stop_cleanly_and_release_the_data_dir() {
    let dir = scratch_dir("signals");
    let data = dir.join("data");
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let mut server = Server::start(&base_args(&data));
        let status = server.stop_with(signal);
        assert!(
            status.success(),
            "signal {signal}: {status:?}\n{}",
            server.log.join("\n")
        );
        assert!(
            server
                .log
                .iter()
                .any(|l| l.contains("stopped ringkv server"))
        );
    }
}

#[test]
fn one_core_and_all_cores_both_serve() {
    let dir = scratch_dir("cores");
    let mut args = base_args(&dir.join("data"));
    args.extend(["--cores".into(), "1".into()]);
    let mut server = Server::start(&args);
    assert_eq!(http_get(server.client_addr, "/health").0, 200);
    assert!(server.stop().success());
}
