//! Time, behind a trait so tests can see every wait the loop asks for.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

/// Wall-clock time and sleeping.
#[async_trait]
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Waits.
    async fn sleep(&self, d: Duration);
}

/// The real clock: system time and tokio's timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// Milliseconds since the Unix epoch, by the system clock.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A clock that records the sleeps asked of it and sleeps for a scaled-down
/// fraction of each (so tests see Retry-After honoured without waiting for it).
#[derive(Debug)]
pub struct RecordingClock {
    // A std mutex: held only to push or copy, never across an await.
    slept: Mutex<Vec<Duration>>,
    /// Real sleep = requested / divisor.
    divisor: u32,
}

impl RecordingClock {
    /// A recording clock that really sleeps `requested / divisor`.
    pub fn new(divisor: u32) -> Self {
        RecordingClock { slept: Mutex::new(Vec::new()), divisor: divisor.max(1) }
    }

    /// Every sleep asked for so far.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.slept.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Clock for RecordingClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
    async fn sleep(&self, d: Duration) {
        if let Ok(mut v) = self.slept.lock() {
            v.push(d);
        }
        tokio::time::sleep(d / self.divisor).await;
    }
}
