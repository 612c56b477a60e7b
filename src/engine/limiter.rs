//! Per-backend concurrency limit with a bounded queue: at most `max` runs at
//! once, at most `queue_size` requests waiting, each for at most
//! `queue_timeout`. Beyond that the request is answered 429 with
//! `Retry-After` instead of piling up.
//!
//! Limiters are kept across config reloads when their shape is unchanged, so
//! a reload never resets the count of running CLIs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;

/// The limit of one backend.
#[derive(Debug)]
pub struct Limiter {
    semaphore: Arc<Semaphore>,
    shape: Shape,
    waiting: AtomicUsize,
}

/// The settings a limiter is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Concurrent runs.
    pub max: usize,
    /// Requests allowed to wait.
    pub queue_size: usize,
    /// How long a request may wait.
    pub queue_timeout: Duration,
}

/// A running slot; dropping it frees the slot.
pub type Permit = OwnedSemaphorePermit;

impl Limiter {
    /// A limiter of this shape.
    pub fn new(shape: Shape) -> Limiter {
        Limiter {
            semaphore: Arc::new(Semaphore::new(shape.max)),
            shape,
            waiting: AtomicUsize::new(0),
        }
    }

    /// The settings this limiter was built from.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Runs currently holding a slot.
    pub fn running(&self) -> usize {
        self.shape.max - self.semaphore.available_permits()
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
        if let Ok(permit) = Arc::clone(&self.semaphore).try_acquire_owned() {
            return Ok(permit);
        }
        let busy = |detail: String, retry_after_secs| Error::Busy {
            backend: backend.to_owned(),
            detail,
            retry_after_secs,
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.shape.queue_size {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(busy(
                format!(
                    "{} running, {} queued",
                    self.shape.max, self.shape.queue_size
                ),
                1,
            ));
        }
        let acquired = tokio::time::timeout(
            self.shape.queue_timeout,
            Arc::clone(&self.semaphore).acquire_owned(),
        )
        .await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match acquired {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(Error::ShuttingDown),
            Err(_elapsed) => Err(busy(
                format!(
                    "waited {}s for one of {} slots",
                    self.shape.queue_timeout.as_secs(),
                    self.shape.max
                ),
                self.shape.queue_timeout.as_secs().clamp(1, 30),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(max: usize, queue_size: usize, ms: u64) -> Shape {
        Shape {
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
        assert_eq!(limiter.running(), 0);
    }

    #[tokio::test]
    async fn waiting_too_long_is_busy() {
        let limiter = Limiter::new(shape(1, 4, 50));
        let _held = limiter.acquire("b").await.unwrap();
        let err = limiter.acquire("b").await.unwrap_err();
        assert_eq!(err.status().as_u16(), 429);
        assert_eq!(limiter.waiting(), 0);
    }
}
