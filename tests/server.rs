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

/// Bodies are framed as RFC 9112 says: a chunked body is read to its end so the next
/// request on the connection is read right; a transfer coding other than chunked is 501.
#[test]
fn chunked_request_bodies_keep_the_connection_in_step() {
    let dir = scratch_dir("chunked");
    let mut server = Server::start(&base_args(&dir.join("data")));
    let raw = exchange(
        server.client_addr,
        b"POST /version HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
          4\r\nGET \r\n1a;x=y\r\n/health HTTP/1.1\r\n\r\nzzzzzz\r\n0\r\nT: 1\r\n\r\n\
          GET /version HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    // POST /version is etcd's 405; the body's bytes never count as a request.
    assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
    assert_eq!(text.matches("HTTP/1.1 ").count(), 2, "{text}");
    assert!(text.ends_with(r#""etcdcluster":"3.5.0"}"#), "{text}");
    let raw = exchange(
        server.client_addr,
        b"POST /version HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    );
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 501 "));
    assert!(server.stop().success());
}

#[test]
fn grpc_health_check_answers_serving() {
    use std::io::{Read, Write};

    use bytes::{Bytes, BytesMut};
    use ringkv_net::codec::{FrameReader, FrameWriter};
    use ringkv_net::frame::{Frame, Settings, StreamId};
    use ringkv_net::hpack::{Decoder, Encoder, Header};

    let dir = scratch_dir("h2");
    let mut server = Server::start(&base_args(&dir.join("data")));
    let mut stream = std::net::TcpStream::connect(server.client_addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    // A hand-made gRPC call: preface, SETTINGS, HEADERS, one empty request message.
    let mut block = BytesMut::new();
    let fields = [
        Header::new(":method", "POST"),
        Header::new(":scheme", "http"),
        Header::new(":path", "/grpc.health.v1.Health/Check"),
        Header::new("content-type", "application/grpc"),
        Header::new("te", "trailers"),
    ];
    Encoder::new(4096).encode(&fields, &mut block);
    let mut writer = FrameWriter::new();
    writer.frame(&Frame::Settings(Settings::default()));
    writer.headers(StreamId::new(1), block.freeze(), false);
    writer.data(StreamId::new(1), Bytes::from_static(&[0, 0, 0, 0, 0]), true);
    let mut request = ringkv_net::sniff::HTTP2_PREFACE.to_vec();
    for chunk in writer.flush() {
        request.extend_from_slice(&chunk);
    }
    stream.write_all(&request).unwrap();

    let mut reader = FrameReader::new();
    let mut decoder = Decoder::new(4096, 64 * 1024);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let status = 'read: loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed before the trailers");
        buf.extend_from_slice(&chunk[..n]);
        while let Some(frame) = reader.decode(&mut buf).unwrap() {
            match frame {
                Frame::Data(d) => body.extend_from_slice(&d.payload),
                Frame::Headers(h) => {
                    let fields = decoder.decode(&h.header_block).unwrap();
                    if h.end_stream {
                        let status = fields
                            .iter()
                            .find(|f| f.name.as_ref() == b"grpc-status")
                            .map(|f| f.value.clone())
                            .unwrap();
                        break 'read status;
                    }
                }
                _ => {}
            }
        }
    };
    assert_eq!(status.as_ref(), b"0");
    // HealthCheckResponse { status: SERVING }.
    assert_eq!(body, [0, 0, 0, 0, 2, 0x08, 0x01]);
    drop(stream);
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
    let cores = args
        .iter()
        .position(|a| a == "--cores")
        .expect("base args set --cores");
    args[cores + 1] = "1".into();
    let mut server = Server::start(&args);
    assert_eq!(http_get(server.client_addr, "/health").0, 200);
    assert!(server.stop().success());
}

/// io_uring's registered memory counts against RLIMIT_MEMLOCK, which is 8 MiB for an
/// ordinary user on Debian: the server must start there with every core. Run as root (CI),
/// the test drops to `nobody` with that limit; run as a user, it uses the user's own.
#[test]
fn starts_as_an_ordinary_user_within_an_8_mib_memlock_limit() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    const NOBODY: u32 = 65534;
    const DEBIAN_DEFAULT_MEMLOCK: libc::rlim_t = 8 * 1024 * 1024;

    let dir = scratch_dir("memlock");
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    let mut command;
    if as_root {
        // The build tree may not be reachable by nobody: run a world-readable copy.
        let bin = dir.join("ringkv");
        std::fs::copy(common::ringkv_bin(), &bin).unwrap();
        for path in [&dir, &bin] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let data = dir.join("data");
        std::fs::create_dir(&data).unwrap();
        std::os::unix::fs::chown(&data, Some(NOBODY), Some(NOBODY)).unwrap();
        command = std::process::Command::new(&bin);
        command.uid(NOBODY).gid(NOBODY);
        let limit = libc::rlimit {
            rlim_cur: DEBIAN_DEFAULT_MEMLOCK,
            rlim_max: DEBIAN_DEFAULT_MEMLOCK,
        };
        // SAFETY: setrlimit is async-signal-safe and only touches the child's own limits.
        unsafe {
            command.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        command.args(base_args(&data.join("member-data")));
    } else {
        command = std::process::Command::new(common::ringkv_bin());
        command.args(base_args(&dir.join("data")));
    }
    command.env_clear();
    let mut server = Server::start_command(command);
    assert_eq!(http_get(server.client_addr, "/health").0, 200);
    assert!(server.stop().success());
}

#[test]
fn log_outputs_and_level_are_honoured() {
    let dir = scratch_dir("log-outputs");
    let log_file = dir.join("ringkv.log");
    let mut args = base_args(&dir.join("data"));
    args.extend([
        "--log-outputs".into(),
        format!("stderr,{}", log_file.display()),
        "--log-level".into(),
        "debug".into(),
    ]);
    let mut server = Server::start(&args);
    assert!(server.stop().success());
    let text = std::fs::read_to_string(&log_file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["msg"] == "ready to serve client requests")
    );
    assert!(lines.iter().any(|l| l["level"] == "debug"), "{text}");
    assert_eq!(
        text.lines().count(),
        server.log.len(),
        "file and stderr carry the same lines"
    );
}

#[test]
fn member_and_cluster_ids_match_etcds() {
    // etcd 3.4.23 with these peer flags (token etcd-cluster) logged local-member-id
    // b5179d13d0285315 and cluster-id 534a021c215e0774.
    let dir = scratch_dir("ids");
    let mut args = base_args(&dir.join("data"));
    for (flag, value) in [
        ("--listen-peer-urls", "http://127.0.0.1:24380"),
        ("--initial-advertise-peer-urls", "http://127.0.0.1:24380"),
        ("--initial-cluster", "default=http://127.0.0.1:24380"),
    ] {
        args.extend([flag.to_owned(), value.to_owned()]);
    }
    let mut server = Server::start(&args);
    let line = server
        .log
        .iter()
        .find(|l| l.contains("starting local member"))
        .cloned()
        .unwrap_or_default();
    assert!(
        line.contains(r#""local-member-id":"b5179d13d0285315""#),
        "{line}"
    );
    assert!(
        line.contains(r#""cluster-id":"534a021c215e0774""#),
        "{line}"
    );
    assert!(server.stop().success());
}

/// `ringkv debug store`, `debug db` and `debug wal` read a stopped member's data dir without
/// changing it.
#[test]
fn debug_store_and_wal_describe_a_stopped_member() {
    let dir = scratch_dir("debug-store");
    let data = dir.join("data");
    let mut server = Server::start(&base_args(&data));
    let endpoint = format!("http://{}", server.client_addr);
    common::block_on(async {
        let mut client = etcd_client::Client::connect([endpoint], None)
            .await
            .expect("connect");
        for key in ["a", "b", "c"] {
            client.put(key, "v", None).await.expect("put");
        }
        // A key longer than a page: its leaf and the root above it span several pages.
        client
            .put(vec![b'l'; 20_000], "v", None)
            .await
            .expect("put a long key");
    });
    // A clean stop checkpoints the store, so it holds every write.
    assert!(server.stop().success());

    let run = |args: &[&str]| {
        std::process::Command::new(common::ringkv_bin())
            .args(args)
            .output()
            .expect("run ringkv debug")
    };
    let data_str = data.to_str().expect("utf-8 path");
    let store = run(&["debug", "store", data_str]);
    let text = String::from_utf8_lossy(&store.stdout);
    assert!(store.status.success(), "{store:?}");
    assert!(text.contains("revision 5, compact revision 0"), "{text}");
    assert!(text.contains("check: ok"), "{text}");
    // The long key's leaf and the root above it span several pages.
    let multi_page = text
        .lines()
        .find(|l| l.trim_start().starts_with("tree:"))
        .and_then(|l| l.rsplit("; ").next())
        .and_then(|part| part.strip_suffix(" nodes over one page (long keys)"))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(multi_page.is_some_and(|n| n >= 1), "{text}");
    let wal = run(&["debug", "wal", data_str]);
    assert!(wal.status.success(), "{wal:?}");

    // `debug db` reads any store file; `--keys` lists the live keys at a revision, `--pages`
    // every page run.
    let db_file = data.join("member/snap/db");
    let db_str = db_file.to_str().expect("utf-8 path");
    let listed = run(&["debug", "db", db_str, "--keys", "--rev", "3", "--pages"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{listed:?}");
    assert!(text.contains("keys at revision 3:"), "{text}");
    assert!(
        text.contains("    a (create 2, mod 2, version 1, lease 0, value 1 bytes)"),
        "{text}"
    );
    assert!(text.contains("    b (create 3, mod 3"), "{text}");
    assert!(!text.contains("    c (create"), "{text}");
    assert!(text.contains("  2 keys"), "{text}");
    assert!(text.contains("meta") && text.contains("leaf, "), "{text}");
    let prefixed = run(&["debug", "db", db_str, "--keys", "--prefix", "c"]);
    let text = String::from_utf8_lossy(&prefixed.stdout);
    assert!(
        text.contains("    c (create 4") && text.contains("  1 keys"),
        "{text}"
    );

    // A data dir without a store is reported, not created.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let missing = run(&["debug", "store", empty.to_str().expect("utf-8 path")]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot read the store file"),
        "{missing:?}"
    );
    assert!(!empty.join("member").exists());
}
