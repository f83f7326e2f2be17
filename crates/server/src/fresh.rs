//! One look at what other processes committed, shared by the requests waiting for it (issue 12,
//! performance). Every request must see what was committed before it arrived — by the CLI, a
//! seed, another server ([`crabapple_store::Store::see_other_writers`]). A look that *began*
//! after a request arrived shows it all of that, so a request that finds a look already under
//! way waits for the next one and shares it: under load one look serves the whole queue instead
//! of each request taking its own, one after another.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// The looks taken so far: `started` counts those begun, `finished` is the number of the last
/// one completed (looks run one at a time, in order).
#[derive(Default)]
pub struct Looks {
    one_at_a_time: tokio::sync::Mutex<()>,
    started: AtomicU64,
    finished: AtomicU64,
}

impl Looks {
    /// Returns once a look that began after this call has completed: `look` itself, or another
    /// caller's (then `look` is not run). A look whose future is dropped midway counts for
    /// nobody; the next waiter takes its own.
    pub async fn see<F, Fut>(&self, look: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        // Looks numbered above `arrived` begin after this line.
        let arrived = self.started.load(Ordering::SeqCst);
        let _turn = self.one_at_a_time.lock().await;
        if self.finished.load(Ordering::SeqCst) > arrived {
            return;
        }
        let n = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        look().await;
        self.finished.store(n, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    /// Requests that arrive while a look is under way share the next one; a request arriving
    /// after a look completed takes a new one.
    #[tokio::test]
    async fn waiting_requests_share_the_look_that_began_after_they_arrived() {
        let looks = Arc::new(Looks::default());
        let taken = Arc::new(AtomicUsize::new(0));
        let (open_tx, open_rx) = tokio::sync::oneshot::channel::<()>();
        // The first look is held open until the others are queued behind it.
        let first = {
            let (looks, taken) = (looks.clone(), taken.clone());
            tokio::spawn(async move {
                looks
                    .see(|| async move {
                        taken.fetch_add(1, Ordering::SeqCst);
                        let _ = open_rx.await;
                    })
                    .await
            })
        };
        while looks.started.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let (looks, taken) = (looks.clone(), taken.clone());
                tokio::spawn(async move {
                    looks
                        .see(|| async move {
                            taken.fetch_add(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        open_tx.send(()).unwrap();
        first.await.unwrap();
        for w in waiters {
            w.await.unwrap();
        }
        // The first look began before the eight arrived: they needed one more, and shared it.
        assert_eq!(taken.load(Ordering::SeqCst), 2);
        let t = taken.clone();
        looks
            .see(|| async move {
                t.fetch_add(1, Ordering::SeqCst);
            })
            .await;
        assert_eq!(taken.load(Ordering::SeqCst), 3);
    }
}
