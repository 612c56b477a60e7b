//! Per-backend concurrency limit with a bounded queue: at most `max` runs at
//! once, at most `queue_size` requests waiting, each for at most
//! `queue_timeout`. Beyond that the request is answered 429 with
//! `Retry-After` instead of piling up.
//!
//! Limiters are live state, kept by [`Limiters`] by backend name across
//! config reloads (new limits reshape them once the config is live), so a
//! reload never resets the count of running CLIs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::backend::{Backend, Limits};
use crate::error::Error;

/// The limit of one backend.
#[derive(Debug)]
pub struct Limiter {
    semaphore: Arc<Semaphore>,
    shape: Mutex<Limits>,
    waiting: AtomicUsize,
    running: Arc<AtomicUsize>,
}

/// A running slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    _slot: OwnedSemaphorePermit,
    running: Arc<AtomicUsize>,
}

impl Permit {
    fn new(slot: OwnedSemaphorePermit, running: &Arc<AtomicUsize>) -> Permit {
        running.fetch_add(1, Ordering::AcqRel);
        Permit {
            _slot: slot,
            running: Arc::clone(running),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts a waiting request for as long as it exists, so a request that is
/// dropped while queued (client gone) frees its place in the queue.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Limiter {
    /// A limiter of this shape.
    pub fn new(shape: Limits) -> Limiter {
        Limiter {
            semaphore: Arc::new(Semaphore::new(shape.max)),
            shape: Mutex::new(shape),
            waiting: AtomicUsize::new(0),
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The settings in force.
    pub fn shape(&self) -> Limits {
        *self
            .shape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies new settings (after a reload) without forgetting the runs in
    /// progress: a lower limit takes effect as they finish.
    pub fn reshape(&self, new: Limits) {
        let old = {
            let mut shape = self
                .shape
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::replace(&mut *shape, new)
        };
        if new.max > old.max {
            self.semaphore.add_permits(new.max - old.max);
        } else if new.max < old.max {
            let surplus = u32::try_from(old.max - new.max).unwrap_or(u32::MAX);
            let semaphore = Arc::clone(&self.semaphore);
            let retire = async move {
                if let Ok(permits) = semaphore.acquire_many_owned(surplus).await {
                    permits.forget();
                }
            };
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(retire);
                }
                // Without a runtime nothing can be running, so every slot
                // is free and the surplus is retired at once.
                Err(_) => {
                    if let Ok(permits) = self.semaphore.try_acquire_many(surplus) {
                        permits.forget();
                    }
                }
            }
        }
    }

    /// Runs currently holding a slot (more than the limit for a while after
    /// a reload lowered it).
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Requests currently waiting.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Takes a slot, waiting in the bounded queue if needed.
    ///
    /// # Errors
    /// [`Error::Busy`] when the queue is full or the wait timed out.
    pub async fn acquire(&self, backend: &str) -> Result<Permit, Error> {
        if let Ok(slot) = Arc::clone(&self.semaphore).try_acquire_owned() {
            return Ok(Permit::new(slot, &self.running));
        }
        let shape = self.shape();
        let busy = |detail: String, retry_after_secs| Error::Busy {
            backend: backend.to_owned(),
            detail,
            retry_after_secs,
        };
        let queued = Waiting(&self.waiting);
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= shape.queue_size {
            drop(queued);
            return Err(busy(
                format!("{} running, {} queued", shape.max, shape.queue_size),
                1,
            ));
        }
        let acquired = tokio::time::timeout(
            shape.queue_timeout,
            Arc::clone(&self.semaphore).acquire_owned(),
        )
        .await;
        drop(queued);
        match acquired {
            Ok(Ok(slot)) => Ok(Permit::new(slot, &self.running)),
            Ok(Err(_closed)) => Err(Error::ShuttingDown),
            Err(_elapsed) => Err(busy(
                format!(
                    "waited {}s for one of {} slots",
                    shape.queue_timeout.as_secs(),
                    shape.max
                ),
                shape.queue_timeout.as_secs().clamp(1, 30),
            )),
        }
    }
}

/// The limiters of every backend, by name.
#[derive(Debug, Default)]
pub struct Limiters {
    by_backend: Mutex<HashMap<String, Arc<Limiter>>>,
}

impl Limiters {
    /// The limiter of `backend`, made with its limits the first time.
    fn of(&self, backend: &Backend) -> Arc<Limiter> {
        let mut map = self
            .by_backend
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            map.entry(backend.name.clone())
                .or_insert_with(|| Arc::new(Limiter::new(backend.limits))),
        )
    }

    /// Takes a slot of `backend`, waiting in its bounded queue if needed.
    ///
    /// # Errors
    /// [`Error::Busy`] when the queue is full or the wait timed out.
    pub async fn acquire(&self, backend: &Backend) -> Result<Permit, Error> {
        self.of(backend).acquire(&backend.name).await
    }

    /// Puts a new config's limits in force (called once it is live).
    pub fn apply<'a>(&self, backends: impl IntoIterator<Item = &'a Arc<Backend>>) {
        for backend in backends {
            let limiter = self.of(backend);
            if limiter.shape() != backend.limits {
                limiter.reshape(backend.limits);
            }
        }
    }

    /// Runs holding a slot and requests waiting, for `backend`.
    pub fn load(&self, backend: &str) -> (usize, usize) {
        let map = self
            .by_backend
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(backend)
            .map_or((0, 0), |limiter| (limiter.running(), limiter.waiting()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn shape(max: usize, queue_size: usize, ms: u64) -> Limits {
        Limits {
            max,
            queue_size,
            queue_timeout: Duration::from_millis(ms),
        }
    }

    #[tokio::test]
    async fn queues_then_refuses() {
        let limiter = Arc::new(Limiter::new(shape(1, 1, 5_000)));
        let first = limiter.acquire("b").await.unwrap();
        let queued = {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move { limiter.acquire("b").await.map(drop) })
        };
        while limiter.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        let refused = limiter.acquire("b").await.unwrap_err();
        assert!(matches!(refused, Error::Busy { .. }), "{refused:?}");
        assert_eq!(refused.retry_after(), Some(1));
        drop(first);
        queued.await.unwrap().unwrap();
        assert_eq!(limiter.waiting(), 0);
    }

    #[tokio::test]
    async fn waiting_too_long_is_busy() {
        let limiter = Limiter::new(shape(1, 4, 50));
        let _held = limiter.acquire("b").await.unwrap();
        let err = limiter.acquire("b").await.unwrap_err();
        assert_eq!(err.status().as_u16(), 429);
        assert_eq!(limiter.waiting(), 0);
    }

    #[tokio::test]
    async fn a_request_dropped_while_queued_frees_its_place() {
        let limiter = Arc::new(Limiter::new(shape(1, 1, 100)));
        let _held = limiter.acquire("b").await.unwrap();
        let queued = {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move { limiter.acquire("b").await.map(drop) })
        };
        while limiter.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        queued.abort();
        let _ = queued.await;
        assert_eq!(limiter.waiting(), 0);
        let Err(Error::Busy { detail, .. }) = limiter.acquire("b").await else {
            panic!("the slot is held");
        };
        assert!(
            detail.starts_with("waited"),
            "it was queued, not refused: {detail}"
        );
    }

    #[tokio::test]
    async fn reshaping_keeps_counting_the_running() {
        let limiter = Limiter::new(shape(2, 0, 10));
        let a = limiter.acquire("b").await.unwrap();
        let _b = limiter.acquire("b").await.unwrap();
        limiter.reshape(shape(1, 0, 10));
        assert_eq!(limiter.running(), 2, "a lower limit does not hide runs");
        drop(a);
        assert_eq!(limiter.running(), 1);
        tokio::task::yield_now().await;
        assert!(
            limiter.acquire("b").await.is_err(),
            "one still runs, the limit is 1"
        );
        limiter.reshape(shape(3, 0, 10));
        let _c = limiter.acquire("b").await.unwrap();
    }
}
