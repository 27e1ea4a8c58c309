//! The store's long jobs, physical compaction and defragmentation, on one thread of their
//! own. Each runs as short write transactions with a pause between them, so the raft core's
//! applier waits for one step at most and no client core ever blocks on them. etcd instead
//! blocks every request for a whole defragment.

use std::thread;
use std::time::{Duration, Instant};

use ringkv_store::DefragReport;
use ringkv_store::mvcc::{Mvcc, MvccError};

/// etcd's `--experimental-compaction-batch-limit` and `--experimental-compaction-sleep-interval`.
#[derive(Debug, Clone, Copy)]
pub struct CompactionPace {
    /// Most `rev` table entries one compaction step looks at.
    pub batch: usize,
    /// Pause between two compaction steps.
    pub pause: Duration,
}

impl Default for CompactionPace {
    fn default() -> CompactionPace {
        CompactionPace {
            batch: 1000,
            pause: Duration::from_millis(10),
        }
    }
}

/// Pause between two defragment steps: long enough for a waiting applier to take the writer
/// lock, short enough that a defragment of a large store takes seconds, not minutes.
const DEFRAG_PAUSE: Duration = Duration::from_millis(1);

type Reply<T> = flume::Sender<Result<T, MvccError>>;

enum Job {
    /// Carry physical compaction up to the latest applied compaction; answer if asked to.
    Compact(Option<Reply<()>>),
    Defragment(Reply<DefragReport>),
}

/// A handle on the jobs thread; the thread ends when the last handle is dropped.
#[derive(Clone)]
pub struct StoreJobs {
    jobs: flume::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] MvccError),
    /// The jobs thread is gone (the member is stopping).
    #[error("the store jobs thread has stopped")]
    Stopped,
}

impl StoreJobs {
    /// Starts the thread and has it finish any compaction a crash or a stop interrupted.
    pub fn start(mvcc: Mvcc, pace: CompactionPace) -> std::io::Result<StoreJobs> {
        let (jobs, queue) = flume::unbounded();
        thread::Builder::new()
            .name("ringkv-store-jobs".into())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    run(&mvcc, pace, job);
                }
            })?;
        let handle = StoreJobs { jobs };
        handle.compacted();
        Ok(handle)
    }

    /// A compaction was applied: delete what it made unreachable, in the background.
    pub fn compacted(&self) {
        // Only fails when the thread is gone, i.e. the member is stopping; the next start
        // resumes the compaction from its persisted cursor.
        let _ = self.jobs.send(Job::Compact(None));
    }

    /// Waits until every compaction applied so far is physically done (etcd's `physical`).
    pub async fn compacted_physically(&self) -> Result<(), JobError> {
        self.ask(|reply| Job::Compact(Some(reply))).await
    }

    /// Shrinks the store file online (see `ringkv_store::Db::defragment`).
    pub async fn defragment(&self) -> Result<DefragReport, JobError> {
        self.ask(Job::Defragment).await
    }

    async fn ask<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, JobError> {
        let (reply, answer) = flume::bounded(1);
        self.jobs.send(job(reply)).map_err(|_| JobError::Stopped)?;
        Ok(answer.recv_async().await.map_err(|_| JobError::Stopped)??)
    }
}

fn run(mvcc: &Mvcc, pace: CompactionPace, job: Job) {
    match job {
        Job::Compact(reply) => {
            let outcome = compact(mvcc, pace);
            if let Err(e) = &outcome {
                tracing::error!(error = %e, "physical compaction failed");
            }
            if let Some(reply) = reply {
                let _ = reply.send(outcome);
            }
        }
        Job::Defragment(reply) => {
            let started = Instant::now();
            tracing::info!(
                current_db_size_bytes = mvcc.db_size(),
                current_db_size_in_use_bytes = mvcc.db_size_in_use(),
                "defragmenting"
            );
            let outcome = mvcc.db().defragment(&mut || thread::sleep(DEFRAG_PAUSE));
            match &outcome {
                Ok(report) => tracing::info!(
                    current_db_size_bytes = report.size_after,
                    current_db_size_bytes_diff = report.freed(),
                    took = ?started.elapsed(),
                    "finished defragmenting"
                ),
                Err(e) => tracing::error!(error = %e, "defragment failed"),
            }
            let _ = reply.send(outcome.map_err(MvccError::from));
        }
    }
}

fn compact(mvcc: &Mvcc, pace: CompactionPace) -> Result<(), MvccError> {
    let started = Instant::now();
    let mut steps = 0u64;
    while !mvcc.compact_step(pace.batch)? {
        steps += 1;
        thread::sleep(pace.pause);
    }
    if steps > 0 {
        tracing::info!(
            compact_revision = mvcc.read().compact_revision(),
            took = ?started.elapsed(),
            "finished scheduled compaction"
        );
    }
    Ok(())
}
