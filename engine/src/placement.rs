//! Where a decision runs. Most admissions cost a few tens of microseconds of policy time, and
//! handing one to the policy pool and back costs about as much again: a wake-up of a pool
//! thread, another of the server's thread with the answer, and one more for each policy run
//! concurrently. So a set whose policies have been cheap is decided on the thread that read
//! the request, one policy after another. A set that may not be is decided on the pool, its
//! policies concurrently, so however long they take the server's threads keep answering
//! other requests and health checks: one with a policy that has been slow, one that may wait
//! on a registry, or one whose deadlines add up to more than a server thread may be held.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The most policy time a request may be expected to take and still be decided on the
/// server's own thread.
pub const INLINE_BUDGET: Duration = Duration::from_millis(1);

/// The longest a request decided on the server's own thread could hold it, were every one of
/// its policies to run into its deadline (the default deadline is 100 ms).
pub const INLINE_WORST_CASE: Duration = Duration::from_secs(1);

/// What one policy's evaluation costs, as it has been lately: unknown until it has run once
/// (so a policy's first evaluations go to the pool), then rising at once to a slower
/// evaluation and falling back an eighth of the way per faster one. An evaluation that ran
/// into its deadline moves its set to the pool for dozens of requests at least.
#[derive(Debug)]
pub struct Cost {
    nanos: AtomicU64,
}

/// Not yet observed.
const UNKNOWN: u64 = u64::MAX;

impl Default for Cost {
    fn default() -> Self {
        Cost {
            nanos: AtomicU64::new(UNKNOWN),
        }
    }
}

impl Cost {
    pub fn observe(&self, took: Duration) {
        let sample = u64::try_from(took.as_nanos()).unwrap_or(UNKNOWN - 1);
        // Lost updates between threads are harmless: the estimate is a hint, not a count.
        let old = self.nanos.load(Ordering::Relaxed);
        let new = if old == UNKNOWN || sample >= old {
            sample
        } else {
            old - (old - sample) / 8
        };
        self.nanos.store(new, Ordering::Relaxed);
    }

    /// The estimate; `None` before the first evaluation.
    pub fn get(&self) -> Option<Duration> {
        match self.nanos.load(Ordering::Relaxed) {
            UNKNOWN => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }
}

/// How the policies of one request run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// One after another, on the thread that read the request: the set has been cheap.
    Sequential,
    /// Concurrently, on the policy pool (the caller is already on it).
    Concurrent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_evaluation_counts_at_once_and_fades_slowly() {
        let cost = Cost::default();
        assert_eq!(cost.get(), None, "unknown before it runs");
        cost.observe(Duration::from_micros(20));
        assert_eq!(cost.get(), Some(Duration::from_micros(20)));
        cost.observe(Duration::from_millis(100));
        assert_eq!(cost.get(), Some(Duration::from_millis(100)));
        // Thirty fast evaluations later it is still above the inline budget...
        for _ in 0..30 {
            cost.observe(Duration::from_micros(20));
        }
        assert!(cost.get().unwrap() > INLINE_BUDGET, "{:?}", cost.get());
        // ...and a few dozen more bring it back under.
        for _ in 0..30 {
            cost.observe(Duration::from_micros(20));
        }
        assert!(cost.get().unwrap() < INLINE_BUDGET, "{:?}", cost.get());
    }
}
