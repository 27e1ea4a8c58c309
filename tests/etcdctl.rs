//! End-to-end: the Debian `etcdctl` (v3 API, 3.4.23) against a freshly started server.
//!
//! Every test is written once against [`Target`] and instantiated for real etcd
//! (`etcd::<name>`, the reference, runs in CI) and for ringkv (`ringkv::<name>`). Assertions
//! are about behaviour both must share: IDs, raft terms, DB sizes, versions and timings are
//! checked for shape only; revisions are exact (a fresh store is at revision 1).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::etcd::{ETCDCTL_BIN, EtcdctlOutput, run_etcdctl};
use common::{Target, TestServer, scratch_dir};
use serde_json::{Value, json};

for_both_targets! {
    put_and_get_in_simple_and_json_output,
    get_prefix_from_key_range_and_limit,
    get_at_a_revision_and_sorted,
    del_single_prefix_and_prev_kv,
    txn_reads_its_ops_from_stdin,
    compaction_and_reading_a_compacted_revision,
    endpoint_status_health_and_hashkv,
    alarm_list_and_disarm_around_nospace,
    defrag_keeps_the_data,
    snapshot_save_writes_a_file,
    member_list_shows_the_single_member,
    lease_grant_attach_keepalive_revoke_and_expiry,
    leases_and_their_keys_survive_a_restart,
    watch_history_live_events_and_lease_expiry,
    watch_from_a_compacted_revision_is_canceled,
    interactive_watch_and_progress,
    watch_sees_each_txn_whole_while_writes_go_on,
    long_keys_put_get_range_and_delete,
}

/// `etcdctl` against one server; every run is bounded by `RUN_TIMEOUT`.
struct Etcdctl {
    endpoint: String,
}

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

impl Etcdctl {
    fn new(server: &TestServer) -> Etcdctl {
        Etcdctl {
            endpoint: server.endpoint(),
        }
    }

    fn run(&self, args: &[&str], stdin: &str) -> EtcdctlOutput {
        let args: Vec<&str> = ["--dial-timeout=10s", "--command-timeout=30s"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        run_etcdctl(&self.endpoint, &args, stdin, RUN_TIMEOUT)
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_with_stdin(args, "")
    }

    fn ok_with_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert_eq!(
            out.code, 0,
            "etcdctl {args:?} failed\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Runs a command that must fail; returns etcdctl's `Error: …` line.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args, "");
        assert_eq!(
            out.code, 1,
            "etcdctl {args:?} should fail\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        out.stderr
            .lines()
            .find(|l| l.starts_with("Error: "))
            .unwrap_or_else(|| panic!("no `Error:` line in {:?}", out.stderr))
            .to_owned()
    }

    /// `-w json` output with cluster_id, member_id and raft_term removed everywhere.
    fn json(&self, args: &[&str]) -> Value {
        self.json_with_stdin(args, "")
    }

    fn json_with_stdin(&self, args: &[&str], stdin: &str) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["-w", "json"]).collect();
        let stdout = self.ok_with_stdin(&args, stdin);
        let mut value: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("etcdctl {args:?}: {e}: {stdout:?}"));
        strip_ids(&mut value);
        value
    }

    fn put(&self, key: &str, value: &str) {
        assert_eq!(self.ok(&["put", key, value]), "OK\n");
    }

    /// Starts `etcdctl watch <args> -w json`, which prints one JSON line per response.
    fn watch(&self, args: &[&str]) -> Watch {
        let mut child = Command::new(ETCDCTL_BIN)
            .env_clear()
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .arg("--dial-timeout=10s")
            .arg("watch")
            .args(args)
            .args(["-w", "json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn /usr/bin/etcdctl (Debian package etcd-client)");
        let lines = common::forward_lines(child.stdout.take().expect("stdout is piped"));
        let stdin = child.stdin.take().expect("stdin is piped");
        Watch {
            child,
            stdin,
            lines,
        }
    }
}

/// A running `etcdctl watch`; stopped by its PID when dropped.
struct Watch {
    child: Child,
    /// Commands for `watch -i` (interactive), one per line.
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Watch {
    fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to etcdctl watch -i");
    }

    /// The next line etcdctl printed; waits at most `RUN_TIMEOUT`.
    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(RUN_TIMEOUT)
            .unwrap_or_else(|e| panic!("no watch output within {RUN_TIMEOUT:?}: {e}"))
    }

    /// The next watch response, IDs stripped.
    fn next(&self) -> Value {
        let line = self.next_line();
        let mut value: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        strip_ids(&mut value);
        value
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = common::wait_bounded(&mut self.child, RUN_TIMEOUT);
    }
}

fn strip_ids(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for id in ["cluster_id", "member_id", "raft_term"] {
                map.remove(id);
            }
            map.values_mut().for_each(strip_ids);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_ids),
        _ => {}
    }
}

/// Standard base64 with padding, as etcdctl's JSON prints bytes.
fn b64(bytes: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A KeyValue as etcdctl's JSON prints it.
fn kv(key: &str, value: &str, create: i64, modified: i64, version: i64) -> Value {
    json!({
        "key": b64(key),
        "create_revision": create,
        "mod_revision": modified,
        "version": version,
        "value": b64(value),
    })
}

/// Rows of an etcdctl `-w table`, as (header cell → cell) maps; wrapped cells are joined.
fn table(text: &str) -> Vec<Vec<(String, String)>> {
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect();
    let (header, body) = rows.split_first().expect("a table header");
    let mut records: Vec<Vec<String>> = Vec::new();
    for row in body {
        // A row whose first cell is empty continues the previous row (tablewriter wraps).
        match records.last_mut() {
            Some(last) if row[0].is_empty() => {
                for (cell, more) in last.iter_mut().zip(row) {
                    if !more.is_empty() {
                        cell.push(' ');
                        cell.push_str(more);
                    }
                }
            }
            _ => records.push(row.clone()),
        }
    }
    records
        .into_iter()
        .map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

fn cell<'a>(row: &'a [(String, String)], column: &str) -> &'a str {
    row.iter()
        .find(|(h, _)| h == column)
        .map(|(_, c)| c.as_str())
        .unwrap_or_else(|| panic!("no column {column} in {row:?}"))
}

fn start(target: Target, test: &str) -> (TestServer, Etcdctl) {
    start_with(target, test, &[])
}

fn start_with(target: Target, test: &str, extra_args: &[&str]) -> (TestServer, Etcdctl) {
    let dir = scratch_dir(&format!("etcdctl-{test}-{target:?}"));
    let server = target.start_with(&dir.join("data"), extra_args);
    let ctl = Etcdctl::new(&server);
    (server, ctl)
}

const COMPACTED: &str = "Error: etcdserver: mvcc: required revision has been compacted";
const FUTURE: &str = "Error: etcdserver: mvcc: required revision is a future revision";

fn put_and_get_in_simple_and_json_output(target: Target) {
    let (_server, ctl) = start(target, "put-get");
    ctl.put("foo", "bar");
    assert_eq!(ctl.ok(&["get", "foo"]), "foo\nbar\n");
    assert_eq!(ctl.ok(&["get", "missing"]), "");
    assert_eq!(
        ctl.json(&["get", "foo"]),
        json!({"header": {"revision": 2}, "kvs": [kv("foo", "bar", 2, 2, 1)], "count": 1})
    );
    // An identical value still bumps revision and version.
    ctl.put("foo", "bar");
    ctl.put("foo", "baz qux");
    assert_eq!(ctl.ok(&["get", "foo", "--print-value-only"]), "baz qux\n");
    assert_eq!(
        ctl.json(&["get", "foo"]),
        json!({"header": {"revision": 4}, "kvs": [kv("foo", "baz qux", 2, 4, 3)], "count": 1})
    );
    assert_eq!(
        ctl.json(&["get", "missing"]),
        json!({"header": {"revision": 4}})
    );
    // The value may come from stdin.
    assert_eq!(ctl.ok_with_stdin(&["put", "fromstdin"], "piped"), "OK\n");
    assert_eq!(ctl.ok(&["get", "fromstdin"]), "fromstdin\npiped\n");
    // --prev-kv prints the replaced pair after OK.
    assert_eq!(
        ctl.ok(&["put", "foo", "new", "--prev-kv"]),
        "OK\nfoo\nbaz qux\n"
    );
    assert_eq!(
        ctl.fails(&["get", ""]),
        "Error: etcdserver: key is not provided"
    );
}

fn get_prefix_from_key_range_and_limit(target: Target) {
    let (_server, ctl) = start(target, "prefix");
    for (key, value) in [
        ("a", "1"),
        ("ab", "2"),
        ("abc", "3"),
        ("b", "4"),
        ("c", "5"),
    ] {
        ctl.put(key, value);
    }
    assert_eq!(ctl.ok(&["get", "a", "--prefix"]), "a\n1\nab\n2\nabc\n3\n");
    assert_eq!(
        ctl.ok(&["get", "a", "--prefix", "--keys-only"]),
        "a\n\nab\n\nabc\n\n"
    );
    assert_eq!(
        ctl.ok(&["get", "ab", "--from-key"]),
        "ab\n2\nabc\n3\nb\n4\nc\n5\n"
    );
    assert_eq!(ctl.ok(&["get", "ab", "c"]), "ab\n2\nabc\n3\nb\n4\n");
    assert_eq!(
        ctl.ok(&["get", "a", "--prefix", "--limit", "2"]),
        "a\n1\nab\n2\n"
    );
    // count is the whole range, before the limit; more says the limit cut it.
    assert_eq!(
        ctl.json(&["get", "a", "--prefix", "--limit", "2"]),
        json!({
            "header": {"revision": 6},
            "kvs": [kv("a", "1", 2, 2, 1), kv("ab", "2", 3, 3, 1)],
            "more": true,
            "count": 3,
        })
    );
    assert_eq!(
        ctl.json(&["get", "b", "--from-key", "--limit", "5"]),
        json!({
            "header": {"revision": 6},
            "kvs": [kv("b", "4", 5, 5, 1), kv("c", "5", 6, 6, 1)],
            "count": 2,
        })
    );
    // The empty key with --from-key is the whole keyspace.
    assert_eq!(
        ctl.ok(&["get", "", "--from-key", "--keys-only"]),
        "a\n\nab\n\nabc\n\nb\n\nc\n\n"
    );
    assert_eq!(ctl.ok(&["get", "zzz", "--prefix"]), "");
}

fn get_at_a_revision_and_sorted(target: Target) {
    let (_server, ctl) = start(target, "rev-sort");
    ctl.put("k1", "v1"); // 2
    ctl.put("k2", "v2"); // 3
    ctl.put("k1", "v1b"); // 4
    ctl.put("k3", "v0"); // 5
    assert_eq!(ctl.ok(&["del", "k2"]), "1\n"); // 6
    assert_eq!(ctl.ok(&["get", "k1", "--rev", "2"]), "k1\nv1\n");
    assert_eq!(ctl.ok(&["get", "k1", "--rev", "4"]), "k1\nv1b\n");
    assert_eq!(ctl.ok(&["get", "k2", "--rev", "5"]), "k2\nv2\n");
    assert_eq!(ctl.ok(&["get", "k2", "--rev", "6"]), "");
    assert_eq!(ctl.ok(&["get", "k1", "--rev", "1"]), "");
    // The header carries the current revision, not the one read at.
    assert_eq!(
        ctl.json(&["get", "k", "--prefix", "--rev", "3"]),
        json!({
            "header": {"revision": 6},
            "kvs": [kv("k1", "v1", 2, 2, 1), kv("k2", "v2", 3, 3, 1)],
            "count": 2,
        })
    );
    assert_eq!(ctl.fails(&["get", "k1", "--rev", "7"]), FUTURE);

    let sorted = |by: &str, order: &str| {
        ctl.ok(&[
            "get",
            "k",
            "--prefix",
            "--keys-only",
            "--sort-by",
            by,
            "--order",
            order,
        ])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
    };
    assert_eq!(sorted("KEY", "ASCEND"), "k1 k3");
    assert_eq!(sorted("KEY", "DESCEND"), "k3 k1");
    assert_eq!(sorted("VALUE", "ASCEND"), "k3 k1");
    assert_eq!(sorted("VERSION", "DESCEND"), "k1 k3");
    assert_eq!(sorted("CREATE", "DESCEND"), "k3 k1");
    assert_eq!(sorted("MODIFY", "ASCEND"), "k1 k3");
    assert_eq!(sorted("MODIFY", "DESCEND"), "k3 k1");
    // A sort target without an order sorts ascending.
    assert_eq!(
        ctl.ok(&[
            "get",
            "k",
            "--prefix",
            "--sort-by",
            "VALUE",
            "--print-value-only"
        ]),
        "v0\nv1b\n"
    );
    assert_eq!(
        ctl.json(&[
            "get",
            "k",
            "--prefix",
            "--sort-by",
            "VERSION",
            "--order",
            "DESCEND",
            "--limit",
            "1"
        ]),
        json!({
            "header": {"revision": 6},
            "kvs": [kv("k1", "v1b", 2, 4, 2)],
            "more": true,
            "count": 2,
        })
    );
}

fn del_single_prefix_and_prev_kv(target: Target) {
    let (_server, ctl) = start(target, "del");
    for (key, value) in [("x/1", "a"), ("x/2", "b"), ("x/3", "c"), ("y", "z")] {
        ctl.put(key, value);
    }
    assert_eq!(ctl.ok(&["del", "x/1"]), "1\n"); // 6
    assert_eq!(ctl.ok(&["del", "x/1"]), "0\n");
    // Deleting nothing does not bump the revision.
    assert_eq!(ctl.json(&["get", "y"])["header"], json!({"revision": 6}));
    assert_eq!(
        ctl.ok(&["del", "x/", "--prefix", "--prev-kv"]),
        "2\nx/2\nb\nx/3\nc\n"
    );
    assert_eq!(ctl.ok(&["get", "", "--from-key"]), "y\nz\n");
    assert_eq!(
        ctl.json(&["del", "y", "--prev-kv"]),
        json!({"header": {"revision": 8}, "deleted": 1, "prev_kvs": [kv("y", "z", 5, 5, 1)]})
    );
    assert_eq!(ctl.json(&["del", "y"]), json!({"header": {"revision": 8}}));
    // A re-created key starts again at version 1.
    ctl.put("y", "again");
    assert_eq!(
        ctl.json(&["get", "y"])["kvs"],
        json!([kv("y", "again", 9, 9, 1)])
    );
    ctl.put("r1", "1");
    ctl.put("r2", "2");
    ctl.put("r3", "3");
    assert_eq!(ctl.ok(&["del", "r1", "r3"]), "2\n");
    assert_eq!(ctl.ok(&["get", "r", "--prefix"]), "r3\n3\n");
    assert_eq!(ctl.ok(&["del", "", "--from-key"]), "2\n");
    assert_eq!(ctl.ok(&["get", "", "--from-key"]), "");
}

/// The prompts etcdctl 3.4 prints on stdout in interactive mode.
const TXN_PROMPTS: &str =
    "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n";

fn txn_reads_its_ops_from_stdin(target: Target) {
    let (_server, ctl) = start(target, "txn");
    ctl.put("a", "1"); // 2
    let success = ctl.ok_with_stdin(
        &["txn", "-i"],
        "value(\"a\") = \"1\"\n\nput a 2\nget a\n\nput a fail\n\n",
    );
    assert_eq!(success, format!("{TXN_PROMPTS}SUCCESS\n\nOK\n\na\n2\n"));
    let failure = ctl.ok_with_stdin(
        &["txn", "-i"],
        "mod(\"a\") < \"3\"\nversion(\"a\") = \"2\"\n\nput a wrong\n\nput b 1\nget a\n\n",
    );
    assert_eq!(failure, format!("{TXN_PROMPTS}FAILURE\n\nOK\n\na\n2\n"));
    // Without -i the same input works, without prompts. Compares on a missing key: its
    // version, create and mod revisions are 0.
    let missing = ctl.ok_with_stdin(
        &["txn"],
        "create(\"nope\") = \"0\"\nversion(\"nope\") = \"0\"\n\ndel b\nput c 3\n\n\n",
    );
    assert_eq!(missing, "SUCCESS\n\n1\n\nOK\n");
    // No compares: the (empty) success branch runs and the revision stays.
    assert_eq!(
        ctl.json_with_stdin(&["txn"], "\n\n\n"),
        json!({"header": {"revision": 5}, "succeeded": true})
    );
    // A read-only txn does not bump the revision either.
    assert_eq!(
        ctl.json_with_stdin(&["txn"], "value(\"a\") = \"2\"\n\nget a\n\n\n"),
        json!({
            "header": {"revision": 5},
            "succeeded": true,
            "responses": [{"Response": {"ResponseRange": {
                "header": {"revision": 5},
                "kvs": [kv("a", "2", 2, 3, 2)],
                "count": 1,
            }}}],
        })
    );
    // A value compare on a missing key is false.
    let out = ctl.ok_with_stdin(&["txn"], "value(\"nope\") != \"x\"\n\n\nget nope\n\n");
    assert_eq!(out, "FAILURE\n\n");
    // Two puts to one key in a branch is refused.
    let out = ctl.run(&["txn"], "\nput d 1\nput d 2\n\n\n");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("Error: etcdserver: duplicate key given in txn request"),
        "{}",
        out.stderr
    );
}

fn compaction_and_reading_a_compacted_revision(target: Target) {
    let (_server, ctl) = start(target, "compact");
    for value in ["v1", "v2", "v3", "v4", "v5"] {
        ctl.put("k", value); // revisions 2..=6
    }
    let hashkv = |ctl: &Etcdctl| ctl.json(&["endpoint", "hashkv"])[0]["HashKV"].clone();
    assert_eq!(hashkv(&ctl)["compact_revision"], json!(-1));
    assert_eq!(ctl.ok(&["compact", "4"]), "compacted revision 4\n");
    assert_eq!(ctl.fails(&["get", "k", "--rev", "3"]), COMPACTED);
    // Reading at the compact revision itself is allowed.
    assert_eq!(ctl.ok(&["get", "k", "--rev", "4"]), "k\nv3\n");
    assert_eq!(ctl.ok(&["get", "k", "--rev", "6"]), "k\nv5\n");
    assert_eq!(ctl.fails(&["compact", "4"]), COMPACTED);
    assert_eq!(ctl.fails(&["compact", "3"]), COMPACTED);
    assert_eq!(ctl.fails(&["compact", "7"]), FUTURE);
    assert_eq!(hashkv(&ctl)["compact_revision"], json!(4));
    // Compaction is not a KV mutation: the revision stays.
    assert_eq!(ctl.json(&["get", "k"])["header"], json!({"revision": 6}));
    // Compacting at the current revision is allowed; --physical waits for the deletion.
    assert_eq!(
        ctl.ok(&["compact", "6", "--physical"]),
        "compacted revision 6\n"
    );
    assert_eq!(ctl.fails(&["get", "k", "--rev", "5"]), COMPACTED);
    assert_eq!(
        ctl.json(&["get", "k", "--rev", "6"])["kvs"],
        json!([kv("k", "v5", 2, 6, 5)])
    );
    assert_eq!(hashkv(&ctl)["compact_revision"], json!(6));
}

fn assert_hex_id(id: &str) {
    assert!(
        !id.is_empty() && id.len() <= 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "member ID {id:?}"
    );
}

fn assert_version(version: &str) {
    let parts: Vec<&str> = version.split('.').collect();
    assert!(
        parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "version {version:?}"
    );
}

fn endpoint_status_health_and_hashkv(target: Target) {
    let (server, ctl) = start(target, "endpoint");
    let endpoint = server.endpoint();
    ctl.put("a", "1");
    ctl.put("b", "2");

    let rows = table(&ctl.ok(&["endpoint", "status", "-w", "table"]));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    let headers: Vec<&str> = row.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        headers,
        [
            "ENDPOINT",
            "ID",
            "VERSION",
            "DB SIZE",
            "IS LEADER",
            "IS LEARNER",
            "RAFT TERM",
            "RAFT INDEX",
            "RAFT APPLIED INDEX",
            "ERRORS"
        ]
    );
    assert_eq!(cell(row, "ENDPOINT"), endpoint);
    assert_hex_id(cell(row, "ID"));
    assert_version(cell(row, "VERSION"));
    assert!(cell(row, "DB SIZE").ends_with('B'), "{row:?}");
    assert_eq!(cell(row, "IS LEADER"), "true");
    assert_eq!(cell(row, "IS LEARNER"), "false");
    for number in ["RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX"] {
        let n: u64 = cell(row, number).parse().expect(number);
        assert!(n >= 1, "{number}: {row:?}");
    }
    assert_eq!(cell(row, "ERRORS"), "");

    let stdout = ctl.ok(&["endpoint", "status", "-w", "json"]);
    let status: Value = serde_json::from_str(&stdout).expect("status json");
    assert_eq!(status.as_array().map(Vec::len), Some(1), "{status}");
    assert_eq!(status[0]["Endpoint"], json!(endpoint));
    let s = &status[0]["Status"];
    assert_eq!(s["header"]["revision"], json!(3), "{s}");
    assert_eq!(s["leader"], s["header"]["member_id"], "{s}");
    assert_version(s["version"].as_str().expect("version"));
    let db_size = s["dbSize"].as_i64().expect("dbSize");
    let in_use = s["dbSizeInUse"].as_i64().expect("dbSizeInUse");
    assert!(0 < in_use && in_use <= db_size, "{s}");
    let raft_index = s["raftIndex"].as_u64().expect("raftIndex");
    let applied = s["raftAppliedIndex"].as_u64().expect("raftAppliedIndex");
    assert!(applied >= 1 && raft_index >= 1, "{s}");
    assert!(s["raftTerm"].as_u64().is_some_and(|t| t >= 1), "{s}");
    // No alarms and not a learner: both fields omitted.
    assert!(
        s.get("errors").is_none() && s.get("isLearner").is_none(),
        "{s}"
    );

    // etcdctl 3.4 prints the simple health line on stderr.
    let simple = ctl.run(&["endpoint", "health"], "");
    assert_eq!((simple.code, simple.stdout.as_str()), (0, ""));
    assert!(
        simple.stderr.starts_with(&format!(
            "{endpoint} is healthy: successfully committed proposal: took = "
        )),
        "{}",
        simple.stderr
    );
    let rows = table(&ctl.ok(&["endpoint", "health", "-w", "table"]));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(cell(&rows[0], "ENDPOINT"), endpoint);
    assert_eq!(cell(&rows[0], "HEALTH"), "true");
    assert_eq!(cell(&rows[0], "ERROR"), "");
    let health: Value =
        serde_json::from_str(&ctl.ok(&["endpoint", "health", "-w", "json"])).expect("json");
    assert_eq!(health[0]["endpoint"], json!(endpoint));
    assert_eq!(health[0]["health"], json!(true));

    let hash_of = |ctl: &Etcdctl| -> (String, Value) {
        let rows = table(&ctl.ok(&["endpoint", "hashkv", "-w", "table"]));
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(cell(&rows[0], "ENDPOINT"), endpoint);
        let json = ctl.json(&["endpoint", "hashkv"]);
        assert_eq!(json[0]["Endpoint"], json!(endpoint));
        (cell(&rows[0], "HASH").to_owned(), json[0]["HashKV"].clone())
    };
    let (first_table, first) = hash_of(&ctl);
    assert!(first_table.parse::<u32>().is_ok(), "{first_table}");
    assert_eq!(first["hash"].to_string(), first_table);
    assert_eq!(first["header"], json!({"revision": 3}));
    assert_eq!(first["compact_revision"], json!(-1));
    // Nothing changed: the same hash. A write changes it.
    assert_eq!(hash_of(&ctl), (first_table.clone(), first.clone()));
    ctl.put("c", "3");
    let (_, after) = hash_of(&ctl);
    assert_ne!(after["hash"], first["hash"]);
    assert_eq!(after["header"], json!({"revision": 4}));
}

fn alarm_list_and_disarm_around_nospace(target: Target) {
    // A quota far below one oversized put: the put itself raises NOSPACE, whatever the
    // server's own database size is.
    let (_server, ctl) = start_with(target, "alarm", &["--quota-backend-bytes", "200000"]);
    ctl.put("a", "1");
    assert_eq!(ctl.ok(&["alarm", "list"]), "");
    assert_eq!(ctl.ok(&["alarm", "disarm"]), "");

    let big = "x".repeat(300_000);
    let out = ctl.run(&["put", "big"], &big);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("Error: etcdserver: mvcc: database space exceeded"),
        "{}",
        out.stderr
    );
    let alarms = ctl.ok(&["alarm", "list"]);
    let id = alarms
        .strip_prefix("memberID:")
        .and_then(|rest| rest.strip_suffix(" alarm:NOSPACE \n"))
        .unwrap_or_else(|| panic!("{alarms:?}"));
    assert!(id.parse::<u64>().is_ok(), "{alarms:?}");
    // Puts are blocked, even small ones; reads and deletes still work.
    assert_eq!(
        ctl.fails(&["put", "small", "1"]),
        "Error: etcdserver: mvcc: database space exceeded"
    );
    assert_eq!(ctl.ok(&["get", "a"]), "a\n1\n");
    let status: Value =
        serde_json::from_str(&ctl.ok(&["endpoint", "status", "-w", "json"])).expect("json");
    assert_eq!(
        status[0]["Status"]["errors"],
        json!([format!("memberID:{id} alarm:NOSPACE ")])
    );
    assert_eq!(ctl.ok(&["del", "a"]), "1\n");
    // Disarm prints the alarms it cleared; small puts work again.
    assert_eq!(ctl.ok(&["alarm", "disarm"]), alarms);
    assert_eq!(ctl.ok(&["alarm", "list"]), "");
    ctl.put("small", "1");
    assert_eq!(ctl.ok(&["get", "small"]), "small\n1\n");
}

fn defrag_keeps_the_data(target: Target) {
    let (server, ctl) = start(target, "defrag");
    for i in 0..20 {
        ctl.put(&format!("k{i:02}"), &"v".repeat(1000));
    }
    assert_eq!(ctl.ok(&["del", "k1", "--prefix"]), "10\n");
    assert_eq!(ctl.ok(&["compact", "22"]), "compacted revision 22\n");
    assert_eq!(
        ctl.ok(&["defrag"]),
        format!(
            "Finished defragmenting etcd member[{}]\n",
            server.endpoint()
        )
    );
    let after = ctl.json(&["get", "k", "--prefix", "--keys-only"]);
    assert_eq!(after["count"], json!(10));
    assert_eq!(after["header"], json!({"revision": 22}));
    assert_eq!(
        ctl.ok(&["get", "k05", "--print-value-only"]),
        format!("{}\n", "v".repeat(1000))
    );
    ctl.put("after", "defrag");
    assert_eq!(
        ctl.json(&["get", "after"])["header"],
        json!({"revision": 23})
    );
}

fn snapshot_save_writes_a_file(target: Target) {
    let (server, ctl) = start(target, "snapshot");
    for i in 0..10 {
        ctl.put(&format!("k{i}"), "value");
    }
    let path = server.data_dir.with_file_name("backup.db");
    let path_str = path.to_str().expect("utf-8 path");
    let stdout = ctl.ok(&["snapshot", "save", path_str]);
    assert_eq!(stdout, format!("Snapshot saved at {path_str}\n"));
    let len = std::fs::metadata(&path).expect("snapshot file").len();
    assert!(len > 0, "empty snapshot");
    assert!(!Path::new(&format!("{path_str}.part")).exists());
    // The server goes on serving.
    assert_eq!(ctl.ok(&["get", "k3"]), "k3\nvalue\n");
}

/// `ringkv snapshot restore` (etcd's is `etcdctl snapshot restore`, which reads bbolt):
/// a data dir made from a saved snapshot serves the same keys at the same revisions.
#[test]
fn ringkv_snapshot_restore_serves_the_saved_keys_at_their_revisions() {
    let (server, ctl) = start(Target::Ringkv, "restore");
    for i in 0..10 {
        ctl.put(&format!("k{i}"), &format!("v{i}"));
    }
    ctl.ok(&["del", "k0"]);
    let saved: Value =
        serde_json::from_str(&ctl.ok(&["get", "k", "--prefix", "-w", "json"])).expect("json");
    let backup = server.data_dir.with_file_name("backup.db");
    let backup_str = backup.to_str().expect("utf-8 path");
    ctl.ok(&["snapshot", "save", backup_str]);
    let restored = server.data_dir.with_file_name("restored");
    drop(server);

    let restore = |extra: &[&str]| {
        let mut command = Command::new(common::ringkv_bin());
        command
            .args(["snapshot", "restore", backup_str, "--data-dir"])
            .arg(&restored)
            .args(extra);
        command.output().expect("run ringkv snapshot restore")
    };
    let made = restore(&[]);
    assert!(made.status.success(), "{made:?}");
    assert!(
        String::from_utf8_lossy(&made.stdout).starts_with("restored snapshot "),
        "{made:?}"
    );
    // As etcdctl: never over an existing data dir.
    let again = restore(&[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists"),
        "{again:?}"
    );

    let server = Target::Ringkv.start(&restored);
    let ctl = Etcdctl::new(&server);
    let served: Value =
        serde_json::from_str(&ctl.ok(&["get", "k", "--prefix", "-w", "json"])).expect("json");
    assert_eq!(served["kvs"], saved["kvs"]);
    assert_eq!(served["header"]["revision"], saved["header"]["revision"]);
    // Writes go on from the saved revision.
    ctl.put("k10", "v10");
    let after: Value = serde_json::from_str(&ctl.ok(&["get", "k10", "-w", "json"])).expect("json");
    assert_eq!(
        after["kvs"][0]["mod_revision"].as_i64(),
        saved["header"]["revision"].as_i64().map(|r| r + 1)
    );

    // A damaged snapshot fails the SHA-256 check, with etcd's message.
    let mut bytes = std::fs::read(&backup).expect("read backup");
    bytes[4096] ^= 0xff;
    std::fs::write(&backup, &bytes).expect("write backup");
    let damaged = Command::new(common::ringkv_bin())
        .args(["snapshot", "restore", backup_str, "--data-dir"])
        .arg(restored.with_file_name("damaged"))
        .output()
        .expect("run ringkv snapshot restore");
    assert_eq!(damaged.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&damaged.stderr).contains("expected sha256"),
        "{damaged:?}"
    );
}

fn member_list_shows_the_single_member(target: Target) {
    let (_server, ctl) = start(target, "members");
    let simple = ctl.ok(&["member", "list"]);
    let fields: Vec<&str> = simple.trim_end().split(", ").collect();
    assert_eq!(fields.len(), 6, "{simple:?}");
    assert_hex_id(fields[0]);
    assert_eq!(fields[1], "started");
    assert_eq!(fields[2], "default");
    assert!(fields[3].starts_with("http://"), "{simple:?}");
    assert!(fields[4].starts_with("http://"), "{simple:?}");
    assert_eq!(fields[5], "false");

    let rows = table(&ctl.ok(&["member", "list", "-w", "table"]));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(cell(&rows[0], "ID"), fields[0]);
    assert_eq!(cell(&rows[0], "STATUS"), "started");
    assert_eq!(cell(&rows[0], "NAME"), "default");
    assert_eq!(cell(&rows[0], "PEER ADDRS"), fields[3]);
    assert_eq!(cell(&rows[0], "CLIENT ADDRS"), fields[4]);
    assert_eq!(cell(&rows[0], "IS LEARNER"), "false");

    let stdout = ctl.ok(&["member", "list", "-w", "json"]);
    let list: Value = serde_json::from_str(&stdout).expect("member list json");
    let members = list["members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "{list}");
    let member = &members[0];
    assert_eq!(member["ID"], list["header"]["member_id"], "{list}");
    assert_eq!(
        format!("{:x}", member["ID"].as_u64().expect("numeric ID")),
        fields[0]
    );
    assert_eq!(member["name"], json!("default"));
    assert_eq!(member["peerURLs"], json!([fields[3]]));
    assert_eq!(member["clientURLs"], json!([fields[4]]));
    assert!(member.get("isLearner").is_none(), "{list}");
}

fn lease_grant_attach_keepalive_revoke_and_expiry(target: Target) {
    let (_server, ctl) = start(target, "lease");
    let granted = |ttl: &str| {
        let out = ctl.ok(&["lease", "grant", ttl]);
        let id = out
            .strip_prefix("lease ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("{out:?}"))
            .to_owned();
        (id, out)
    };
    // Below the minimum TTL (1.5 election timeouts, rounded up) the TTL is raised.
    let (_, short) = granted("1");
    assert!(short.ends_with(" granted with TTL(2s)\n"), "{short:?}");
    let (id, long) = granted("100");
    assert_eq!(long, format!("lease {id} granted with TTL(100s)\n"));
    ctl.ok(&["put", "--lease", &id, "k1", "v1"]);
    ctl.ok(&["put", "--lease", &id, "k2", "v2"]);
    let ttl = ctl.ok(&["lease", "timetolive", "--keys", &id]);
    assert!(
        ttl.starts_with(&format!("lease {id} granted with TTL(100s), remaining(")),
        "{ttl:?}"
    );
    // etcd lists attached keys from a Go map, so their order is not fixed.
    assert!(
        ttl.ends_with("s), attached keys([k1 k2])\n")
            || ttl.ends_with("s), attached keys([k2 k1])\n"),
        "{ttl:?}"
    );
    assert_eq!(
        ctl.ok(&["lease", "keep-alive", "--once", &id]),
        format!("lease {id} keepalived with TTL(100)\n")
    );
    assert!(ctl.ok(&["lease", "list"]).contains(&format!("{id}\n")));
    assert_eq!(
        ctl.ok(&["lease", "revoke", &id]),
        format!("lease {id} revoked\n")
    );
    assert_eq!(ctl.ok(&["get", "k", "--prefix"]), "");
    assert_eq!(
        ctl.ok(&["lease", "timetolive", &id]),
        format!("lease {id} already expired\n")
    );
    assert_eq!(
        ctl.fails(&["lease", "revoke", &id]),
        "Error: failed to revoke lease (etcdserver: requested lease not found)"
    );
    assert_eq!(
        ctl.fails(&["put", "--lease", &id, "k3", "v"]),
        "Error: etcdserver: requested lease not found"
    );

    // A lease nobody keeps alive expires and takes its keys with it: wait for it, bounded.
    let (id, _) = granted("2");
    ctl.ok(&["put", "--lease", &id, "short", "lived"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ctl.ok(&["get", "short"]).is_empty() {
        assert!(Instant::now() < deadline, "lease {id} never expired");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        ctl.ok(&["lease", "timetolive", &id]),
        format!("lease {id} already expired\n")
    );
}

fn leases_and_their_keys_survive_a_restart(target: Target) {
    let (mut server, ctl) = start(target, "lease-restart");
    let out = ctl.ok(&["lease", "grant", "300"]);
    let id = out
        .split(' ')
        .nth(1)
        .unwrap_or_else(|| panic!("{out:?}"))
        .to_owned();
    ctl.ok(&["put", "--lease", &id, "kept", "v"]);
    server.restart();
    let ctl = Etcdctl::new(&server);
    let ttl = ctl.ok(&["lease", "timetolive", "--keys", &id]);
    assert!(
        ttl.starts_with(&format!("lease {id} granted with TTL(300s), remaining(")),
        "{ttl:?}"
    );
    assert!(ttl.ends_with("s), attached keys([kept])\n"), "{ttl:?}");
    assert_eq!(
        ctl.ok(&["lease", "revoke", &id]),
        format!("lease {id} revoked\n")
    );
    assert_eq!(ctl.ok(&["get", "kept"]), "");
}

/// A watch response as `etcdctl watch -w json` prints it.
fn watch_response(revision: i64, events: Value) -> Value {
    json!({
        "Header": {"revision": revision},
        "Events": events,
        "CompactRevision": 0,
        "Canceled": false,
        "Created": false,
    })
}

/// A deleted key as a DELETE event carries it: only the key and the deleting revision.
fn tombstone(key: &str, revision: i64) -> Value {
    json!({"key": b64(key), "mod_revision": revision})
}

fn watch_history_live_events_and_lease_expiry(target: Target) {
    let (_server, ctl) = start(target, "watch");
    ctl.put("foo1", "a"); // 2
    ctl.put("foo2", "b"); // 3
    ctl.put("foo1", "c"); // 4
    assert_eq!(ctl.ok(&["del", "foo2"]), "1\n"); // 5
    ctl.put("bar", "x"); // 6

    // History since revision 2 arrives as one response at the current revision.
    let watch = ctl.watch(&["foo", "--prefix", "--rev=2", "--prev-kv"]);
    assert_eq!(
        watch.next(),
        watch_response(
            6,
            json!([
                {"kv": kv("foo1", "a", 2, 2, 1)},
                {"kv": kv("foo2", "b", 3, 3, 1)},
                {"kv": kv("foo1", "c", 2, 4, 2), "prev_kv": kv("foo1", "a", 2, 2, 1)},
                {"type": 1, "kv": tombstone("foo2", 5), "prev_kv": kv("foo2", "b", 3, 3, 1)},
            ])
        )
    );

    // Then live events, and nothing for keys outside the prefix.
    ctl.put("foo3", "z"); // 7
    assert_eq!(
        watch.next(),
        watch_response(7, json!([{"kv": kv("foo3", "z", 7, 7, 1)}]))
    );
    ctl.put("bar", "y"); // 8
    ctl.put("foo1", "d"); // 9
    assert_eq!(
        watch.next(),
        watch_response(
            9,
            json!([{"kv": kv("foo1", "d", 2, 9, 3), "prev_kv": kv("foo1", "c", 2, 4, 2)}])
        )
    );

    // A lease that expires deletes its key, and the watcher sees the deletion.
    let granted = ctl.ok(&["lease", "grant", "2"]);
    let id = granted
        .split(' ')
        .nth(1)
        .unwrap_or_else(|| panic!("{granted:?}"))
        .to_owned();
    let lease = i64::from_str_radix(&id, 16).unwrap_or_else(|e| panic!("{id}: {e}"));
    ctl.ok(&["put", "--lease", &id, "foo-leased", "v"]); // 10
    let mut leased = kv("foo-leased", "v", 10, 10, 1);
    leased["lease"] = json!(lease);
    assert_eq!(
        watch.next(),
        watch_response(10, json!([{"kv": leased.clone()}]))
    );
    assert_eq!(
        watch.next(),
        watch_response(
            11,
            json!([{"type": 1, "kv": tombstone("foo-leased", 11), "prev_kv": leased}])
        )
    );
}

fn watch_from_a_compacted_revision_is_canceled(target: Target) {
    let (_server, ctl) = start(target, "watch-compacted");
    for value in ["v1", "v2", "v3"] {
        ctl.put("k", value); // revisions 2..=4
    }
    assert_eq!(ctl.ok(&["compact", "4"]), "compacted revision 4\n");
    let out = ctl.run(&["watch", "k", "--rev=2"], "");
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "watch was canceled (etcdserver: mvcc: required revision has been compacted)\n\
         Error: watch is canceled by the server\n"
    );
    // From the compact revision on, the history is there.
    let watch = ctl.watch(&["k", "--rev=4"]);
    assert_eq!(
        watch.next(),
        watch_response(4, json!([{"kv": kv("k", "v3", 2, 4, 3)}]))
    );
}

fn interactive_watch_and_progress(target: Target) {
    let (_server, ctl) = start(target, "watch-interactive");
    ctl.put("foo", "a"); // 2
    let mut watch = ctl.watch(&["-i"]);
    watch.command("watch foo --rev=1");
    assert_eq!(
        watch.next(),
        watch_response(2, json!([{"kv": kv("foo", "a", 2, 2, 1)}]))
    );
    // A progress request: etcdctl prints the revision, then the empty response.
    watch.command("progress");
    assert_eq!(watch.next_line(), "progress notify: 2");
    assert_eq!(watch.next(), watch_response(2, json!([])));
    ctl.put("foo", "b"); // 3
    assert_eq!(
        watch.next(),
        watch_response(3, json!([{"kv": kv("foo", "b", 2, 3, 2)}]))
    );
}

fn watch_sees_each_txn_whole_while_writes_go_on(target: Target) {
    let (_server, ctl) = start(target, "watch-txn");
    ctl.put("t/0", "old"); // 2
    ctl.put("t/ready", "1"); // 3
    // The watch is live once it has reported revision 3 from history.
    let watch = ctl.watch(&["t/", "--prefix", "--rev=3"]);
    assert_eq!(
        watch.next(),
        watch_response(3, json!([{"kv": kv("t/ready", "1", 3, 3, 1)}]))
    );
    // Txns, puts and deletes interleaved: each txn arrives as one response.
    for round in 0..5 {
        let base = 4 + 3 * round;
        let txn = format!("\nput t/a {round}\nput t/b {round}\ndel t/0\n\n\n");
        ctl.ok_with_stdin(&["txn"], &txn);
        ctl.put("t/c", &round.to_string());
        assert_eq!(ctl.ok(&["del", "t/c"]), "1\n");
        let mut events = vec![
            json!({"kv": kv("t/a", &round.to_string(), 4, base, round + 1)}),
            json!({"kv": kv("t/b", &round.to_string(), 4, base, round + 1)}),
        ];
        if round == 0 {
            events.push(json!({"type": 1, "kv": tombstone("t/0", base)}));
        }
        assert_eq!(watch.next(), watch_response(base, json!(events)));
        let created = base + 1;
        assert_eq!(
            watch.next(),
            watch_response(
                created,
                json!([{"kv": kv("t/c", &round.to_string(), created, created, 1)}])
            )
        );
        assert_eq!(
            watch.next(),
            watch_response(
                base + 2,
                json!([{"type": 1, "kv": tombstone("t/c", base + 2)}])
            )
        );
    }
}

/// Asserts `got == want` without printing hundreds of KiB when they differ.
fn assert_same_text(got: &str, want: &str, what: &str) {
    if got != want {
        let at = got
            .bytes()
            .zip(want.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        let near = |s: &str| {
            s.get(at.saturating_sub(40)..(at + 40).min(s.len()))
                .unwrap_or("")
                .to_owned()
        };
        panic!(
            "{what}: {} bytes, want {}; first difference at byte {at}: {:?} vs {:?}",
            got.len(),
            want.len(),
            near(got),
            near(want)
        );
    }
}

/// Keys far longer than a store page (etcd's only limit is `--max-request-bytes`): a 4 KiB
/// key through etcdctl's arguments, a 200 KiB one through `txn` on stdin (Linux caps one
/// argument at 128 KiB), read back singly and by prefix, one deleted; a key that makes the
/// request larger than `--max-request-bytes` gets etcd's error.
fn long_keys_put_get_range_and_delete(target: Target) {
    let (_server, ctl) = start_with(target, "long-keys", &["--max-request-bytes=307200"]);
    let four = format!("long/{}", "a".repeat(4096));
    let two_hundred = format!("long/{}", "b".repeat(200 << 10));
    ctl.put(&four, "four");
    assert_eq!(
        ctl.ok_with_stdin(&["txn"], &format!("\nput {two_hundred} two-hundred\n\n\n")),
        "SUCCESS\n\nOK\n"
    );
    assert_same_text(
        &ctl.ok(&["get", &four]),
        &format!("{four}\nfour\n"),
        "get 4 KiB",
    );
    assert_same_text(
        &ctl.ok(&["get", "--prefix", "long/b"]),
        &format!("{two_hundred}\ntwo-hundred\n"),
        "get 200 KiB",
    );
    assert_same_text(
        &ctl.ok(&["get", "--prefix", "long/"]),
        &format!("{four}\nfour\n{two_hundred}\ntwo-hundred\n"),
        "range",
    );
    assert_eq!(
        ctl.json(&["get", "--prefix", "long/", "--limit=1"]),
        json!({
            "header": {"revision": 3},
            "kvs": [kv(&four, "four", 2, 2, 1)],
            "count": 2,
            "more": true,
        })
    );
    // A new version of the long key, then its deletion by exact key.
    assert_eq!(
        ctl.ok_with_stdin(&["txn"], &format!("\nput {two_hundred} again\n\n\n")),
        "SUCCESS\n\nOK\n"
    );
    assert_eq!(
        ctl.ok_with_stdin(&["txn"], &format!("\ndel {two_hundred}\n\n\n")),
        "SUCCESS\n\n1\n"
    );
    assert_same_text(
        &ctl.ok(&["get", "--prefix", "long/"]),
        &format!("{four}\nfour\n"),
        "range after delete",
    );
    // Its history is still there until compacted.
    assert_same_text(
        &ctl.ok(&["get", "--prefix", "long/b", "--rev=4"]),
        &format!("{two_hundred}\nagain\n"),
        "get at revision 4",
    );
    // 400 KiB of key: under the gRPC limit (max-request-bytes + 512 KiB), over the request limit.
    let too_long = format!("long/{}", "c".repeat(400 << 10));
    let out = ctl.run(&["txn"], &format!("\nput {too_long} v\n\n\n"));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("Error: etcdserver: request is too large"),
        "{}",
        out.stderr
    );
    assert_eq!(
        ctl.json(&["get", "--prefix", "long/"]),
        json!({"header": {"revision": 5}, "kvs": [kv(&four, "four", 2, 2, 1)], "count": 1})
    );
}
