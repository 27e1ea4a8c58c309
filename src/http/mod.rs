//! The HTTP/1.1 front door on the client port: `/version` and `/health` now; the JSON
//! gateway (`/v3/…`), v2 keys and `/metrics` are later issues. Answers match etcd's bodies,
//! status codes and headers (CORS included, as etcd's default `--cors '*'` emits them).

use std::time::{Duration, SystemTime};

use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};
use ringkv_net::http1::{self, BodyKind, ChunkedDecoder, Head, Http1Error, Response};

use std::rc::Rc;

use ringkv_proto::etcdserverpb::AlarmType;

use crate::runtime::Shutdown;
use crate::service::Context;
use crate::version::{ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION};

/// A keep-alive connection idle for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Bodies above this are refused; no HTTP endpoint built so far takes a body at all, and
/// etcd's largest (a gateway request) is bounded by --max-request-bytes plus gRPC framing.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    mut buf: Vec<u8>,
    shutdown: Shutdown,
    ctx: Rc<Context>,
) {
    use crate::runtime::connection::{ReadOutcome, read_more};
    loop {
        let (head, head_len) = match http1::parse_head(&buf) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => match read_more(&mut stream, &mut buf, IDLE_TIMEOUT, &shutdown).await {
                ReadOutcome::Data => continue,
                ReadOutcome::Closed => return,
            },
            Err(e) => {
                let _ = write(&mut stream, &protocol_error(&e), false).await;
                return;
            }
        };
        // No route reads a body yet (the JSON gateway will); it is read to keep the
        // connection in step.
        let _body = match read_body(&mut stream, &mut buf, head_len, &head, &shutdown).await {
            Ok(body) => body,
            Err(Some(refusal)) => {
                let _ = write(&mut stream, &refusal, false).await;
                return;
            }
            Err(None) => return,
        };
        let unhealthy = if head.path() == "/health" {
            unhealthy_reason(&ctx, serializable(&head)).await
        } else {
            None
        };
        let response = route(&head, unhealthy);
        let keep_alive = head.keep_alive() && !shutdown.is_triggered();
        if write(&mut stream, &response, keep_alive).await.is_err() || !keep_alive {
            let _ = stream.close().await;
            return;
        }
    }
}

async fn write<S: AsyncWrite + Unpin>(
    stream: &mut S,
    response: &Response,
    keep_alive: bool,
) -> std::io::Result<()> {
    stream.write_all(&response.encode(keep_alive)).await?;
    stream.flush().await
}

/// Reads the body that follows the head (the first `head_len` bytes of `buf`), fixed-length
/// or chunked, and drops both from `buf`. `Err(Some(response))`: refuse with it and close;
/// `Err(None)`: the client went away.
async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    head_len: usize,
    head: &Head,
    shutdown: &Shutdown,
) -> Result<Vec<u8>, Option<Response>> {
    use crate::runtime::connection::{ReadOutcome, read_more};
    match head.body_kind().map_err(|e| Some(protocol_error(&e)))? {
        BodyKind::Length(n) if n > MAX_BODY_BYTES => {
            Err(Some(protocol_error(&Http1Error::BodyTooLarge)))
        }
        BodyKind::Length(n) => {
            while buf.len() < head_len + n {
                if let ReadOutcome::Closed = read_more(stream, buf, IDLE_TIMEOUT, shutdown).await {
                    return Err(None);
                }
            }
            let body = buf[head_len..head_len + n].to_vec();
            buf.drain(..head_len + n);
            Ok(body)
        }
        BodyKind::Chunked => {
            buf.drain(..head_len);
            let mut decoder = ChunkedDecoder::new(MAX_BODY_BYTES);
            let mut body = Vec::new();
            loop {
                let got = decoder
                    .decode(buf, &mut body)
                    .map_err(|e| Some(protocol_error(&e)))?;
                buf.drain(..got.consumed);
                if got.done {
                    return Ok(body);
                }
                if let ReadOutcome::Closed = read_more(stream, buf, IDLE_TIMEOUT, shutdown).await {
                    return Err(None);
                }
            }
        }
    }
}

/// Go's `net/http` answers to a request it cannot frame.
fn protocol_error(e: &Http1Error) -> Response {
    match e {
        Http1Error::HeadTooLarge => {
            Response::plain_error(431, "431 Request Header Fields Too Large")
        }
        Http1Error::BodyTooLarge => Response::plain_error(413, "http: request body too large"),
        Http1Error::UnsupportedTransferEncoding => {
            Response::plain_error(501, "Unsupported transfer encoding")
        }
        _ => Response::plain_error(400, "400 Bad Request"),
    }
}

/// `?serializable=true`: the health check skips the linearizable read.
fn serializable(head: &Head) -> bool {
    head.target
        .split_once('?')
        .is_some_and(|(_, query)| query.split('&').any(|pair| pair == "serializable=true"))
}

/// Why `/health` is false, as etcd 3.5 checks: a raised alarm, then no raft leader, then a
/// failed read (linearizable unless `serializable`; etcd's "QGET").
pub async fn unhealthy_reason(ctx: &Context, serializable: bool) -> Option<String> {
    match crate::service::maintenance::raised_alarms(ctx) {
        Ok(alarms) => {
            if let Some(a) = alarms.first() {
                let kind = AlarmType::try_from(a.alarm)
                    .map_or_else(|_| a.alarm.to_string(), |t| t.as_str_name().to_owned());
                return Some(format!("ALARM {kind}"));
            }
        }
        Err(e) => return Some(format!("ALARM ERROR: {e}")),
    }
    if ctx.node.status().leader == 0 {
        return Some("RAFT NO LEADER".to_owned());
    }
    if !serializable && let Err(e) = ctx.node.linearize().await {
        return Some(format!("QGET ERROR:{e}"));
    }
    None
}

/// Maps a request to etcd's answer; `unhealthy` is what `/health` reports (see
/// [`unhealthy_reason`]).
pub fn route(head: &Head, unhealthy: Option<String>) -> Response {
    let mut response = match head.path() {
        "/version" => only_get(head).unwrap_or_else(|| {
            Response::new(
                200,
                "application/json",
                format!(r#"{{"etcdserver":"{ETCD_SERVER_VERSION}","etcdcluster":"{ETCD_CLUSTER_VERSION}"}}"#),
            )
        }),
        // etcd 3.5's bodies; Go sniffs its content type as text/plain, and so do we.
        "/health" => only_get(head).unwrap_or_else(|| match unhealthy {
            None => Response::new(
                200,
                "text/plain; charset=utf-8",
                r#"{"health":"true","reason":""}"#,
            ),
            Some(reason) => Response::new(
                503,
                "text/plain; charset=utf-8",
                format!(r#"{{"health":"false","reason":"{reason}"}}"#),
            ),
        }),
        _ => Response::plain_error(404, "404 page not found"),
    };
    add_common_headers(&mut response);
    response
}

/// etcd's `allowMethod(w, r, "GET")`: anything else is 405 with `Allow: GET`.
fn only_get(head: &Head) -> Option<Response> {
    (head.method != "GET").then(|| {
        let mut r = Response::plain_error(405, "Method Not Allowed");
        r.headers.push(("Allow", "GET".into()));
        r
    })
}

fn add_common_headers(response: &mut Response) {
    response.headers.extend([
        (
            "Access-Control-Allow-Headers",
            "accept, content-type, authorization".into(),
        ),
        (
            "Access-Control-Allow-Methods",
            "POST, GET, OPTIONS, PUT, DELETE".into(),
        ),
        ("Access-Control-Allow-Origin", "*".into()),
        ("Date", httpdate::fmt_http_date(SystemTime::now())),
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(method: &str, path: &str) -> Response {
        let raw = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let (head, _) = http1::parse_head(raw.as_bytes()).unwrap().unwrap();
        route(&head, None)
    }

    #[test]
    fn only_serializable_true_skips_the_linearizable_read() {
        let head = |target: &str| {
            let raw = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
            http1::parse_head(raw.as_bytes()).unwrap().unwrap().0
        };
        assert!(serializable(&head("/health?serializable=true")));
        assert!(serializable(&head("/health?x=1&serializable=true")));
        assert!(!serializable(&head("/health")));
        assert!(!serializable(&head("/health?serializable=false")));
    }

    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn version_answers_like_etcd() {
        let r = get("GET", "/version");
        assert_eq!(r.status, 200);
        assert_eq!(
            &r.body[..],
            br#"{"etcdserver":"3.5.0","etcdcluster":"3.5.0"}"#
        );
        assert_eq!(header(&r, "Content-Type"), Some("application/json"));
        assert_eq!(header(&r, "Access-Control-Allow-Origin"), Some("*"));
    }

    #[test]
    fn health_answers_like_etcd_3_5() {
        let r = get("GET", "/health?serializable=true");
        assert_eq!(r.status, 200);
        assert_eq!(&r.body[..], br#"{"health":"true","reason":""}"#);
        let raw = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        let (head, _) = http1::parse_head(raw.as_bytes()).unwrap().unwrap();
        let r = route(&head, Some("ALARM NOSPACE".into()));
        assert_eq!(r.status, 503);
        assert_eq!(
            &r.body[..],
            br#"{"health":"false","reason":"ALARM NOSPACE"}"#
        );
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        for path in ["/health", "/version"] {
            let r = get("POST", path);
            assert_eq!(r.status, 405);
            assert_eq!(header(&r, "Allow"), Some("GET"));
            assert_eq!(&r.body[..], b"Method Not Allowed\n");
        }
    }

    #[test]
    fn unknown_path_is_go_404() {
        let r = get("GET", "/nope");
        assert_eq!(r.status, 404);
        assert_eq!(&r.body[..], b"404 page not found\n");
    }
}
