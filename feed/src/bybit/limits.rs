//! Bybit's per-UID rate limits, one token bucket per endpoint, shared by the hot thread's trade
//! stream and the cold threads' REST calls without a lock.
//!
//! Each bucket is a GCRA ("generic cell rate algorithm"): the bucket is one atomic, the
//! theoretical arrival time of the next request. A request at `now` passes when that time is
//! at most one second of burst ahead of `now`, and moves it on by one interval (a second over
//! the rate). This is exactly a token bucket of `rate` tokens refilled continuously, and it
//! takes one compare-and-swap, so the hot thread asks it before every order without blocking.
//!
//! The venue's word wins over the local count: a 10006 answer, or a rate-limit header saying
//! nothing is left, holds the bucket closed until the window's reset time
//! ([`RateLimits::hold_until`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// An endpoint group with a limit of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `order/create` (REST and the trade stream).
    Create,
    /// `order/amend`.
    Amend,
    /// `order/cancel`.
    Cancel,
    /// `order/cancel-all`.
    CancelAll,
    /// `order/realtime`, `order/history`, `execution/list`, `position/list`,
    /// `account/wallet-balance`: the queries reconciliation makes.
    Query,
    /// `account/fee-rate`.
    FeeRate,
}

impl Endpoint {
    /// Every endpoint group, in bucket order.
    pub const ALL: [Endpoint; 6] = [
        Endpoint::Create,
        Endpoint::Amend,
        Endpoint::Cancel,
        Endpoint::CancelAll,
        Endpoint::Query,
        Endpoint::FeeRate,
    ];

    /// A stable label for metrics and logs.
    pub const fn label(self) -> &'static str {
        match self {
            Endpoint::Create => "create",
            Endpoint::Amend => "amend",
            Endpoint::Cancel => "cancel",
            Endpoint::CancelAll => "cancel_all",
            Endpoint::Query => "query",
            Endpoint::FeeRate => "fee_rate",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Requests per second allowed, per endpoint group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    /// Per [`Endpoint::ALL`].
    pub per_second: [u32; Endpoint::ALL.len()],
}

impl Rates {
    /// Bybit's published defaults for linear (UTA, per UID): create, amend, cancel and
    /// cancel-all 10/s each; the queries 50/s; fee-rate 5/s.
    pub const BYBIT_LINEAR: Rates = Rates {
        per_second: [10, 10, 10, 10, 50, 5],
    };

    /// The rate of `endpoint`.
    pub const fn of(&self, endpoint: Endpoint) -> u32 {
        self.per_second[endpoint.index()]
    }
}

const SECOND_NS: u64 = 1_000_000_000;

/// One bucket.
#[derive(Debug)]
struct Bucket {
    /// Nanoseconds between two requests at the steady rate (0: unlimited).
    interval_ns: u64,
    /// How far ahead of now the arrival time may run: the burst (one second's worth) less
    /// one interval.
    tolerance_ns: u64,
    /// The theoretical arrival time of the next request, ns on the caller's clock.
    next_ns: AtomicU64,
}

/// The buckets of every endpoint group.
#[derive(Debug)]
pub struct RateLimits {
    rates: Rates,
    buckets: [Bucket; Endpoint::ALL.len()],
}

impl RateLimits {
    /// Buckets for `rates`, all full.
    pub fn new(rates: Rates) -> RateLimits {
        RateLimits {
            rates,
            buckets: Endpoint::ALL.map(|endpoint| {
                let rate = u64::from(rates.of(endpoint));
                let interval_ns = SECOND_NS.checked_div(rate).unwrap_or(0);
                Bucket {
                    interval_ns,
                    tolerance_ns: SECOND_NS.saturating_sub(interval_ns),
                    next_ns: AtomicU64::new(0),
                }
            }),
        }
    }

    /// The rates the buckets were made for.
    pub const fn rates(&self) -> Rates {
        self.rates
    }

    /// Takes a token of `endpoint` at `now_ns`: `Ok(())`, or `Err(wait)` with the ns until one
    /// is free (nothing is taken then).
    pub fn try_acquire(&self, endpoint: Endpoint, now_ns: u64) -> Result<(), u64> {
        let bucket = &self.buckets[endpoint.index()];
        if bucket.interval_ns == 0 {
            return Ok(());
        }
        let mut next = bucket.next_ns.load(Ordering::Acquire);
        loop {
            let earliest = next.saturating_sub(bucket.tolerance_ns);
            if now_ns < earliest {
                return Err(earliest - now_ns);
            }
            let moved = next.max(now_ns) + bucket.interval_ns;
            match bucket.next_ns.compare_exchange_weak(
                next,
                moved,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => next = current,
            }
        }
    }

    /// Closes `endpoint` until `until_ns` (the venue said the window is spent: a 10006, or a
    /// header with nothing remaining): nothing passes before then, and the bucket refills
    /// from there. Never opens a bucket held longer.
    pub fn hold_until(&self, endpoint: Endpoint, until_ns: u64) {
        let bucket = &self.buckets[endpoint.index()];
        // The first request may pass at `until_ns`: its arrival time less the tolerance.
        let next = until_ns.saturating_add(bucket.tolerance_ns);
        bucket.next_ns.fetch_max(next, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_full_bucket_passes_its_burst_then_one_per_interval() {
        let limits = RateLimits::new(Rates::BYBIT_LINEAR);
        let start = 5 * SECOND_NS;
        for n in 0..10 {
            assert_eq!(limits.try_acquire(Endpoint::Create, start), Ok(()), "{n}");
        }
        // The eleventh waits one interval (100 ms) for the first token to come back.
        assert_eq!(limits.try_acquire(Endpoint::Create, start), Err(100 * MS));
        assert_eq!(
            limits.try_acquire(Endpoint::Create, start + 99 * MS),
            Err(MS)
        );
        assert_eq!(
            limits.try_acquire(Endpoint::Create, start + 100 * MS),
            Ok(())
        );
        assert_eq!(
            limits.try_acquire(Endpoint::Create, start + 100 * MS),
            Err(100 * MS)
        );
        // Other endpoints have their own buckets.
        assert_eq!(limits.try_acquire(Endpoint::Cancel, start), Ok(()));
        // After a quiet second the burst is back, and no more.
        let later = start + 2 * SECOND_NS;
        let passed = (0..20)
            .filter(|_| limits.try_acquire(Endpoint::Create, later).is_ok())
            .count();
        assert_eq!(passed, 10);
    }

    #[test]
    fn over_any_window_a_steady_caller_gets_exactly_the_rate() {
        let limits = RateLimits::new(Rates::BYBIT_LINEAR);
        // Fee-rate (5/s) asked every millisecond for 10 s: 5 at once, then one per 200 ms.
        let passed = (0..10_000)
            .filter(|ms| limits.try_acquire(Endpoint::FeeRate, ms * MS).is_ok())
            .count();
        assert_eq!(passed, 5 + 5 * 10 - 1);
    }

    #[test]
    fn the_venues_hold_closes_the_bucket_until_its_reset() {
        let limits = RateLimits::new(Rates::BYBIT_LINEAR);
        limits.hold_until(Endpoint::Create, 3 * SECOND_NS);
        assert_eq!(
            limits.try_acquire(Endpoint::Create, 2 * SECOND_NS),
            Err(SECOND_NS)
        );
        assert_eq!(limits.try_acquire(Endpoint::Create, 3 * SECOND_NS), Ok(()));
        // From the reset the bucket refills at the rate: one more token per interval.
        assert_eq!(
            limits.try_acquire(Endpoint::Create, 3 * SECOND_NS),
            Err(100 * MS)
        );
        // An earlier hold never opens it sooner.
        limits.hold_until(Endpoint::Create, SECOND_NS);
        assert_eq!(
            limits.try_acquire(Endpoint::Create, 3 * SECOND_NS + 50 * MS),
            Err(50 * MS)
        );
    }

    #[test]
    fn a_zero_rate_is_unlimited() {
        let limits = RateLimits::new(Rates {
            per_second: [0; Endpoint::ALL.len()],
        });
        for _ in 0..1000 {
            assert_eq!(limits.try_acquire(Endpoint::Create, 0), Ok(()));
        }
    }
}
