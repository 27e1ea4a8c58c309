//! etcd's `monitorLeader` (`v3rpc/interceptor.go`): a stream opened with `hasleader: true`
//! (clientv3's `WithRequireLeader`) is cancelled with `etcdserver: no leader` once this
//! member has known no leader for three election timeouts in a row. etcd waits that long
//! because reconnecting a stream costs far more than refusing one new request.

use std::time::Duration;

use event_listener::Event;

/// etcd's `maxNoLeaderCnt`: checks in a row without a leader before streams are cancelled.
pub const MAX_NO_LEADER_CHECKS: u32 = 3;

/// Tells every `hasleader` stream, on every core, that the leader is gone.
#[derive(Default)]
pub struct LeaderLoss {
    event: Event,
}

impl LeaderLoss {
    /// Resolves the next time the monitor gives up on the leader.
    pub async fn wait(&self) {
        self.event.listen().await;
    }

    /// Checks `leader()` every `interval` (an election timeout) for as long as it runs;
    /// each check that completes [`MAX_NO_LEADER_CHECKS`] in a row without a leader wakes
    /// every waiting stream.
    pub async fn monitor(&self, interval: Duration, leader: impl Fn() -> u64) {
        let mut without_leader = 0;
        loop {
            glommio::timer::sleep(interval).await;
            if leader() == 0 {
                without_leader += 1;
            } else {
                without_leader = 0;
            }
            if without_leader >= MAX_NO_LEADER_CHECKS {
                self.event.notify(usize::MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use futures_lite::future;
    use glommio::LocalExecutorBuilder;

    use super::*;

    /// Whether a stream waiting on `loss` is woken within `limit`.
    async fn fires_within(loss: &LeaderLoss, limit: Duration) -> bool {
        future::or(
            async {
                loss.wait().await;
                true
            },
            async {
                glommio::timer::sleep(limit).await;
                false
            },
        )
        .await
    }

    #[test]
    fn streams_hear_of_a_lost_leader_after_three_checks_and_not_before() {
        LocalExecutorBuilder::default()
            .spawn(|| async {
                let loss = Rc::new(LeaderLoss::default());
                let leader = Rc::new(Cell::new(7_u64));
                let interval = Duration::from_millis(5);
                let monitor = glommio::spawn_local({
                    let (loss, leader) = (loss.clone(), leader.clone());
                    async move { loss.monitor(interval, || leader.get()).await }
                })
                .detach();

                // With a leader nothing fires, however many checks pass.
                assert!(!fires_within(&loss, interval * 20).await);

                // One check without a leader, then the leader is back: still nothing.
                leader.set(0);
                glommio::timer::sleep(interval).await;
                leader.set(7);
                assert!(!fires_within(&loss, interval * 10).await);

                // Gone for good: the waiting stream hears it (bounded wait).
                leader.set(0);
                assert!(fires_within(&loss, Duration::from_secs(10)).await);
                monitor.cancel();
            })
            .expect("executor")
            .join()
            .expect("join");
    }
}
