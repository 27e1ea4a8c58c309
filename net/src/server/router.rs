//! Method dispatch: one handler per gRPC method path. Handlers receive raw message bytes
//! and produce raw bytes; decoding (prost or otherwise) is the server's business, so this
//! crate knows no message type. A router belongs to one core (handlers need not be
//! `Send`) and is shared by that core's connections through an `Rc`.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;

use super::call::Call;
use crate::grpc::{Code, Metadata, Status};

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), Status>>>>;
pub(crate) type Handler = Rc<dyn Fn(Call) -> BoxFuture>;

/// `grpc.health.v1.Health/Check`.
pub const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

#[derive(Default, Clone)]
pub struct Router {
    routes: HashMap<String, Handler>,
    services: HashSet<String>,
}

/// What a lookup found: a handler, or the grpc-go status for a path without one.
pub(crate) enum Route {
    Found(Handler),
    Missing(Status),
}

impl Router {
    pub fn new() -> Self {
        Router::default()
    }

    /// Registers a handler of any call kind (unary, client-, server- or bidi-streaming)
    /// for `path` (`/package.Service/Method`). The handler reads `call.requests`, sends
    /// with `call.responses`, and its result becomes the call's status (unless it already
    /// called `finish`). Each call runs as its own task on the connection's core.
    pub fn add<F, Fut>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Fn(Call) -> Fut + 'static,
        Fut: Future<Output = Result<(), Status>> + 'static,
    {
        if let Some(service) = service_of(path) {
            self.services.insert(service.to_owned());
        }
        let handler: Handler = Rc::new(move |call| Box::pin(handler(call)));
        self.routes.insert(path.to_owned(), handler);
        self
    }

    /// Registers a unary method: one request message in, one response out.
    pub fn unary<F, Fut>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Fn(Metadata, Bytes) -> Fut + 'static,
        Fut: Future<Output = Result<Bytes, Status>> + 'static,
    {
        let handler = Rc::new(handler);
        self.add(path, move |call: Call| {
            let handler = handler.clone();
            async move {
                let Call {
                    metadata,
                    mut requests,
                    mut responses,
                    ..
                } = call;
                let request = match requests.next().await {
                    Some(Ok(request)) => request,
                    Some(Err(status)) => return Err(status),
                    // grpc-go's answer to a unary call without a request message.
                    None => {
                        return Err(Status::new(
                            Code::Internal,
                            "grpc: error while receiving the request: EOF",
                        ));
                    }
                };
                let response = handler(metadata, request).await?;
                // A closed stream means the client is gone: nobody to report to.
                let _ = responses.send(response).await;
                Ok(())
            }
        })
    }

    /// Registers `grpc.health.v1.Health/Check` answering SERVING for the server as a
    /// whole (empty service name) and for each of `services`; any other name gets
    /// NOT_FOUND "unknown service", as grpc-go's health server answers.
    pub fn health(&mut self, services: &[&str]) -> &mut Self {
        let known: Rc<HashSet<String>> =
            Rc::new(services.iter().map(|s| (*s).to_owned()).collect());
        self.unary(HEALTH_CHECK_PATH, move |_, request| {
            let known = known.clone();
            async move {
                let service = health::decode_request(&request).ok_or_else(|| {
                    Status::new(Code::Internal, "grpc: error unmarshalling request")
                })?;
                if service.is_empty() || known.contains(service) {
                    Ok(health::serving_response())
                } else {
                    Err(Status::new(Code::NotFound, "unknown service"))
                }
            }
        })
    }

    /// The handler for `path`, or grpc-go's UNIMPLEMENTED status.
    pub(crate) fn route(&self, path: &[u8]) -> Route {
        let Ok(path) = std::str::from_utf8(path) else {
            return Route::Missing(Status::new(
                Code::Unimplemented,
                "malformed method name: not UTF-8",
            ));
        };
        if let Some(handler) = self.routes.get(path) {
            return Route::Found(handler.clone());
        }
        let Some(rest) = path.strip_prefix('/') else {
            return Route::Missing(malformed(path));
        };
        let Some((service, method)) = rest.rsplit_once('/') else {
            return Route::Missing(malformed(path));
        };
        if self.services.contains(service) {
            Route::Missing(Status::new(
                Code::Unimplemented,
                format!("unknown method {method} for service {service}"),
            ))
        } else {
            Route::Missing(Status::new(
                Code::Unimplemented,
                format!("unknown service {service}"),
            ))
        }
    }
}

fn malformed(path: &str) -> Status {
    Status::new(
        Code::Unimplemented,
        format!("malformed method name: {path:?}"),
    )
}

fn service_of(path: &str) -> Option<&str> {
    path.strip_prefix('/')?.rsplit_once('/').map(|(s, _)| s)
}

/// The two tiny messages of `grpc.health.v1`, encoded by hand so this crate needs no
/// protobuf library: `HealthCheckRequest { string service = 1; }` and
/// `HealthCheckResponse { ServingStatus status = 1; }` with SERVING = 1.
pub mod health {
    use bytes::Bytes;

    /// `status: SERVING`: field 1, varint, value 1.
    pub fn serving_response() -> Bytes {
        Bytes::from_static(&[0x08, 0x01])
    }

    /// The `service` field of a request; unknown fields are skipped as protobuf demands.
    /// `None` when the bytes are not a valid message.
    pub fn decode_request(mut buf: &[u8]) -> Option<&str> {
        let mut service = "";
        while !buf.is_empty() {
            let key = varint(&mut buf)?;
            match key & 7 {
                0 => {
                    varint(&mut buf)?;
                }
                1 => buf = buf.get(8..)?,
                2 => {
                    let len = usize::try_from(varint(&mut buf)?).ok()?;
                    let value = buf.get(..len)?;
                    buf = buf.get(len..)?;
                    if key >> 3 == 1 {
                        service = std::str::from_utf8(value).ok()?;
                    }
                }
                5 => buf = buf.get(4..)?,
                _ => return None,
            }
        }
        Some(service)
    }

    fn varint(buf: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = buf.split_first()?;
            *buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn requests() {
            assert_eq!(decode_request(&[]), Some(""));
            assert_eq!(decode_request(b"\x0a\x03abc"), Some("abc"));
            // An unknown varint field before the service.
            assert_eq!(decode_request(b"\x10\x96\x01\x0a\x01x"), Some("x"));
            assert_eq!(decode_request(b"\x0a\x05ab"), None);
            assert_eq!(decode_request(b"\x0b"), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(router: &Router, path: &str) -> Status {
        match router.route(path.as_bytes()) {
            Route::Missing(s) => s,
            Route::Found(_) => panic!("{path} found"),
        }
    }

    #[test]
    fn unknown_paths_get_grpc_go_messages() {
        let mut r = Router::new();
        r.health(&[]);
        assert!(matches!(
            r.route(HEALTH_CHECK_PATH.as_bytes()),
            Route::Found(_)
        ));
        let s = missing(&r, "/grpc.health.v1.Health/Watch");
        assert_eq!(s.code, Code::Unimplemented);
        assert_eq!(
            s.message,
            "unknown method Watch for service grpc.health.v1.Health"
        );
        let s = missing(&r, "/etcdserverpb.KV/Range");
        assert_eq!(s.message, "unknown service etcdserverpb.KV");
        assert_eq!(missing(&r, "nope").code, Code::Unimplemented);
    }
}
