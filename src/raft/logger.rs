//! raft-rs logs through slog; this drain forwards its records to `tracing` so raft's
//! elections and warnings land in the server's one log stream.

use std::fmt::Write as _;

use slog::{Drain, KV, Level, OwnedKVList, Record};

struct TracingDrain;

/// Collects a record's key-values as `k=v` pairs.
struct Pairs(String);

impl slog::Serializer for Pairs {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments) -> slog::Result {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        // Writing to a String cannot fail.
        let _ = write!(self.0, "{key}={val}");
        Ok(())
    }
}

impl Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), slog::Never> {
        let mut pairs = Pairs(String::new());
        // Serialization into a String cannot fail; a failure would only lose context.
        let _ = record.kv().serialize(record, &mut pairs);
        let _ = values.serialize(record, &mut pairs);
        let msg = record.msg();
        let kv = pairs.0;
        match record.level() {
            Level::Critical | Level::Error => tracing::error!(target: "raft", %kv, "{msg}"),
            Level::Warning => tracing::warn!(target: "raft", %kv, "{msg}"),
            Level::Info => tracing::info!(target: "raft", %kv, "{msg}"),
            Level::Debug => tracing::debug!(target: "raft", %kv, "{msg}"),
            Level::Trace => tracing::trace!(target: "raft", %kv, "{msg}"),
        }
        Ok(())
    }
}

/// The logger handed to `RawNode::new`, tagged with the member ID.
pub(crate) fn raft_logger(id: u64) -> slog::Logger {
    slog::Logger::root(
        TracingDrain.fuse(),
        slog::o!("raft_id" => format!("{id:x}")),
    )
}
