//! A fixed-capacity rolling window over event timestamps.

/// `len` copies of `value`, with every page of the buffer written once, so that it is resident
/// from the start. A zeroed allocation is mapped lazily, page by page, as a ring first reaches
/// it: a page fault on the hot path each time, and resident memory that creeps up for as long
/// as the longest window takes to wrap (about half an hour for the 60 s window).
pub(crate) fn resident_slice<T: Copy>(len: usize, value: T) -> Box<[T]> {
    let mut slice = vec![value; len].into_boxed_slice();
    let per_page = (4096 / std::mem::size_of::<T>().max(1)).max(1);
    for index in (0..len).step_by(per_page) {
        // Through `black_box`, so that the write is not dropped as a store of what is there.
        *std::hint::black_box(&mut slice[index]) = value;
    }
    slice
}

/// Values stamped with event times (ms); keeps those within the last `span_ms` and their sum.
///
/// The buffer is allocated once. Should more events fall within the span than it holds, the
/// oldest are dropped early and counted in [`TimeWindow::overflowed`], so the window never
/// allocates and never blocks.
#[derive(Debug, Clone)]
pub struct TimeWindow {
    span_ms: u64,
    times: Box<[u64]>,
    values: Box<[f64]>,
    head: usize,
    len: usize,
    sum: f64,
    overflowed: u64,
}

impl TimeWindow {
    /// A window of `span_ms` holding at most `capacity` events (at least 1).
    pub fn new(span_ms: u64, capacity: usize) -> TimeWindow {
        let capacity = capacity.max(1);
        TimeWindow {
            span_ms,
            times: resident_slice(capacity, 0),
            values: resident_slice(capacity, 0.0),
            head: 0,
            len: 0,
            sum: 0.0,
            overflowed: 0,
        }
    }

    /// Adds a value at `now_ms` (times must not go backwards) and drops what left the span.
    pub fn push(&mut self, now_ms: u64, value: f64) {
        self.expire(now_ms);
        if self.len == self.times.len() {
            self.pop_oldest();
            self.overflowed += 1;
        }
        let slot = (self.head + self.len) % self.times.len();
        self.times[slot] = now_ms;
        self.values[slot] = value;
        self.len += 1;
        self.sum += value;
    }

    /// Drops the values older than the span at `now_ms`.
    pub fn expire(&mut self, now_ms: u64) {
        let Some(cutoff) = now_ms.checked_sub(self.span_ms) else {
            return;
        };
        while self.len > 0 && self.times[self.head] <= cutoff {
            self.pop_oldest();
        }
        if self.len == 0 {
            // Re-anchor the sum so rounding errors do not accumulate across quiet periods.
            self.sum = 0.0;
        }
    }

    fn pop_oldest(&mut self) {
        self.sum -= self.values[self.head];
        self.head = (self.head + 1) % self.times.len();
        self.len -= 1;
    }

    /// Reads the oldest value and the slot the next push writes, the memory the next `push`
    /// and `expire` touch first, changing nothing; returns something of both so that the
    /// reads are not optimized away. For an idle hot thread keeping its data in the caches.
    pub fn touch(&self) -> u64 {
        let next = (self.head + self.len) % self.times.len();
        self.times[self.head]
            ^ self.times[next]
            ^ self.values[self.head].to_bits()
            ^ self.values[next].to_bits()
    }

    /// Sum of the values in the window (after the last `push` or `expire`).
    pub const fn sum(&self) -> f64 {
        self.sum
    }

    /// Number of values in the window.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when the window holds nothing.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Events dropped early because the buffer was full.
    pub const fn overflowed(&self) -> u64 {
        self.overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_span_and_its_sum() {
        let mut window = TimeWindow::new(1000, 16);
        window.push(1_000, 1.0);
        window.push(1_500, 2.0);
        window.push(2_000, 4.0);
        // At 2000 the event at 1000 is exactly one span old: out.
        assert_eq!((window.len(), window.sum()), (2, 6.0));
        window.expire(2_499);
        assert_eq!((window.len(), window.sum()), (2, 6.0));
        window.expire(2_500);
        assert_eq!((window.len(), window.sum()), (1, 4.0));
        window.expire(10_000);
        assert_eq!((window.len(), window.sum()), (0, 0.0));
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_and_counts() {
        let mut window = TimeWindow::new(1000, 2);
        window.push(10, 1.0);
        window.push(11, 2.0);
        window.push(12, 3.0);
        assert_eq!(
            (window.len(), window.sum(), window.overflowed()),
            (2, 5.0, 1)
        );
    }

    #[test]
    fn early_times_are_not_expired_below_the_span() {
        let mut window = TimeWindow::new(1000, 4);
        window.push(0, 1.0);
        window.push(500, 1.0);
        assert_eq!(window.len(), 2);
    }
}
