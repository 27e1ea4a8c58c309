//! Structured logs as JSON lines in the shape of etcd's zap logger
//! (`{"level":"info","ts":"…","caller":"file:line","msg":"…",<fields>}`), so log pipelines
//! built for etcd parse ringkv's output unchanged.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

/// Where log lines go, as etcd's `--log-outputs` names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutput {
    Stderr,
    Stdout,
    File(std::path::PathBuf),
}

impl LogOutput {
    /// Parses one `--log-outputs` entry: `default` and `stderr` are stderr, `stdout` is
    /// stdout, anything else is a file path (appended to, created if missing).
    pub fn parse(s: &str) -> LogOutput {
        match s {
            "default" | "stderr" => LogOutput::Stderr,
            "stdout" => LogOutput::Stdout,
            path => LogOutput::File(path.into()),
        }
    }
}

/// Installs the global JSON-lines logger. Lines below `level` are dropped before any
/// formatting work.
pub fn init(level: Level, outputs: &[LogOutput]) -> io::Result<()> {
    let mut sinks: Vec<Box<dyn Write + Send>> = Vec::new();
    for output in outputs {
        sinks.push(match output {
            LogOutput::Stderr => Box::new(io::stderr()),
            LogOutput::Stdout => Box::new(io::stdout()),
            LogOutput::File(path) => {
                Box::new(OpenOptions::new().create(true).append(true).open(path)?)
            }
        });
    }
    let layer = ZapJsonLayer {
        sinks: Mutex::new(sinks),
    }
    .with_filter(tracing_subscriber::filter::LevelFilter::from_level(level));
    let subscriber = Registry::default().with(layer);
    tracing::subscriber::set_global_default(subscriber).map_err(io::Error::other)
}

struct ZapJsonLayer {
    sinks: Mutex<Vec<Box<dyn Write + Send>>>,
}

impl<S: Subscriber> Layer<S> for ZapJsonLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = format_line(event, SystemTime::now());
        // A poisoned lock only means another thread panicked mid-write; keep logging.
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        for sink in sinks.iter_mut() {
            // Logging must never take the server down; a failed write is dropped.
            let _ = sink.write_all(line.as_bytes());
        }
    }
}

fn format_line(event: &Event<'_>, now: SystemTime) -> String {
    let meta = event.metadata();
    let mut fields = FieldCollector::default();
    event.record(&mut fields);
    let mut obj = Map::new();
    obj.insert("level".into(), Value::from(zap_level(*meta.level())));
    obj.insert(
        "ts".into(),
        Value::from(humantime::format_rfc3339_millis(now).to_string()),
    );
    if let (Some(file), Some(line)) = (meta.file(), meta.line()) {
        obj.insert(
            "caller".into(),
            Value::from(format!("{}:{line}", short_caller(file))),
        );
    }
    obj.insert(
        "msg".into(),
        Value::from(fields.message.unwrap_or_default()),
    );
    obj.extend(fields.fields);
    let mut line = Value::Object(obj).to_string();
    line.push('\n');
    line
}

fn zap_level(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG | Level::TRACE => "debug",
    }
}

/// zap prints the caller as `package/file.go:line`; the last two path parts do the same.
fn short_caller(file: &str) -> &str {
    let mut cut = file.len();
    for _ in 0..2 {
        match file[..cut].rfind('/') {
            Some(i) => cut = i,
            None => return file,
        }
    }
    &file[cut + 1..]
}

#[derive(Default)]
struct FieldCollector {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl FieldCollector {
    fn insert(&mut self, field: &Field, value: Value) {
        self.fields.insert(field.name().replace('_', "-"), value);
    }
}

impl Visit for FieldCollector {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.insert(field, Value::from(text));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.insert(field, Value::from(value));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field, Value::from(value.to_string()));
    }
}

/// Prints one fatal line in zap's shape to stderr, for errors that stop start-up before
/// (or instead of) the logger being installed.
pub fn fatal(msg: &str, error: &str) {
    let mut obj = Map::new();
    obj.insert("level".into(), Value::from("fatal"));
    obj.insert(
        "ts".into(),
        Value::from(humantime::format_rfc3339_millis(SystemTime::now()).to_string()),
    );
    obj.insert("msg".into(), Value::from(msg));
    obj.insert("error".into(), Value::from(error));
    eprintln!("{}", Value::Object(obj));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn caller_keeps_two_path_parts() {
        assert_eq!(short_caller("src/runtime/mod.rs"), "runtime/mod.rs");
        assert_eq!(short_caller("main.rs"), "main.rs");
        assert_eq!(short_caller("src/main.rs"), "src/main.rs");
    }

    #[test]
    fn outputs_parse_like_etcd() {
        assert_eq!(LogOutput::parse("default"), LogOutput::Stderr);
        assert_eq!(LogOutput::parse("stdout"), LogOutput::Stdout);
        assert_eq!(
            LogOutput::parse("/tmp/x.log"),
            LogOutput::File("/tmp/x.log".into())
        );
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_have_zaps_shape() {
        let capture = Capture::default();
        let layer = ZapJsonLayer {
            sinks: Mutex::new(vec![Box::new(capture.clone())]),
        };
        let subscriber = Registry::default().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(data_dir = "x.etcd", cores = 2u64, "starting");
        });
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["level"], "info");
        assert_eq!(line["msg"], "starting");
        assert_eq!(line["data-dir"], "x.etcd");
        assert_eq!(line["cores"], 2);
        assert!(line["ts"].as_str().unwrap().ends_with('Z'));
        assert!(
            line["caller"]
                .as_str()
                .unwrap()
                .starts_with("src/logging.rs:")
        );
        // Key order follows zap: level, ts, caller, msg, then fields.
        assert!(text.starts_with(r#"{"level":"info","ts":"#));
    }
}
