//! Graceful shutdown: SIGINT/SIGTERM (or a fatal error on any core) wake every core, which
//! stops accepting, lets in-flight requests finish, and returns.

use std::cell::Cell;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;

use event_listener::Event;

/// The process-wide side: one socket pair per core. Signal handlers (installed by
/// `signal-hook`, async-signal-safe) and `trigger_all` write a byte to every core's pair.
#[derive(Clone)]
pub struct ShutdownHandle {
    writers: Arc<Vec<UnixStream>>,
}

impl ShutdownHandle {
    /// Creates one wake-up pipe per core and routes SIGINT and SIGTERM to all of them.
    /// Returns the handle and each core's reading end.
    pub fn install(cores: usize) -> io::Result<(ShutdownHandle, Vec<OwnedFd>)> {
        let mut writers = Vec::with_capacity(cores);
        let mut readers = Vec::with_capacity(cores);
        for _ in 0..cores {
            let (reader, writer) = UnixStream::pair()?;
            reader.set_nonblocking(true)?;
            writer.set_nonblocking(true)?;
            for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::low_level::pipe::register(signal, writer.try_clone()?)?;
            }
            writers.push(writer);
            readers.push(reader.into());
        }
        Ok((
            ShutdownHandle {
                writers: Arc::new(writers),
            },
            readers,
        ))
    }

    /// Asks every core to shut down (used when one core fails).
    pub fn trigger_all(&self) {
        for mut writer in self.writers.iter() {
            // A full pipe already holds a wake-up byte; nothing more is needed.
            let _ = writer.write(&[1]);
        }
    }
}

/// One core's view: a flag and the tasks waiting on it.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Rc<ShutdownInner>,
}

#[derive(Default)]
struct ShutdownInner {
    triggered: Cell<bool>,
    event: Event,
}

impl Shutdown {
    pub fn trigger(&self) {
        if !self.inner.triggered.replace(true) {
            self.inner.event.notify(usize::MAX);
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.get()
    }

    /// Resolves once shutdown has been triggered (immediately if it already was).
    pub async fn wait(&self) {
        loop {
            if self.is_triggered() {
                return;
            }
            let listener = self.inner.event.listen();
            // Re-check after registering, so a trigger in between is not missed.
            if self.is_triggered() {
                return;
            }
            listener.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_wake_once_triggered() {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let shutdown = Shutdown::default();
                let waiter = glommio::spawn_local({
                    let s = shutdown.clone();
                    async move { s.wait().await }
                });
                glommio::executor().yield_task_queue_now().await;
                shutdown.trigger();
                waiter.await;
                // Waiting after the trigger returns at once.
                shutdown.wait().await;
                shutdown.is_triggered()
            })
            .unwrap();
        assert!(ex.join().unwrap());
    }
}
