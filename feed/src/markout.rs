//! Markouts: how the market moved after each fill, `side x (mid - fill price) / fill price` in
//! basis points at 1 s, 5 s and 30 s.
//!
//! They are measured against the market, not at the venue, so any venue's fills are measured
//! alike: hand [`Markouts`] every fill as the venue reports it and every mid as the book moves.
//! Nothing allocates after construction: at most [`MAX_PENDING_MARKOUTS`] fills wait for their
//! horizons, and fills beyond that are left out.

use crate::fixed::Fixed;
use crate::order::{Fill, OrderId};
use crate::side::Side;

/// Fills whose markouts are pending at most; later ones are left out of the markouts.
pub const MAX_PENDING_MARKOUTS: usize = 1024;
/// Markout horizons, ns.
pub const MARKOUT_HORIZONS_NS: [u64; 3] = [1_000_000_000, 5_000_000_000, 30_000_000_000];

/// Average markout at one horizon.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Markout {
    /// Fills measured.
    pub count: u64,
    /// Sum of their markouts, basis points.
    pub sum_bps: f64,
}

impl Markout {
    /// The mean, basis points (0 with no fills).
    pub fn mean_bps(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_bps / self.count as f64
        }
    }
}

/// One fill measured at one horizon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// The order the fill belongs to.
    pub id: OrderId,
    /// Index of the horizon in [`MARKOUT_HORIZONS_NS`].
    pub horizon: usize,
    /// The markout, basis points.
    pub bps: f64,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    id: OrderId,
    ts_ns: u64,
    side: Side,
    price: Fixed,
    /// Horizons measured so far.
    done: usize,
}

/// The markouts of a run's fills, at each of [`MARKOUT_HORIZONS_NS`].
#[derive(Debug, Clone)]
pub struct Markouts {
    pending: Vec<Pending>,
    averages: [Markout; 3],
}

impl Default for Markouts {
    fn default() -> Self {
        Markouts::new()
    }
}

impl Markouts {
    /// No fills yet; room for [`MAX_PENDING_MARKOUTS`] pending ones.
    pub fn new() -> Markouts {
        Markouts {
            pending: Vec::with_capacity(MAX_PENDING_MARKOUTS),
            averages: [Markout::default(); 3],
        }
    }

    /// Average markouts at 1 s, 5 s and 30 s.
    pub const fn averages(&self) -> &[Markout; 3] {
        &self.averages
    }

    /// A fill, to be measured at each horizon after its time.
    pub fn on_fill(&mut self, fill: &Fill) {
        if self.pending.len() < MAX_PENDING_MARKOUTS {
            self.pending.push(Pending {
                id: fill.id,
                ts_ns: fill.ts_ns,
                side: fill.side,
                price: fill.price,
                done: 0,
            });
        }
    }

    /// The mid is `mid` at `now_ns`: measures every horizon that has come due, and hands each
    /// measurement to `measured`.
    pub fn on_mid(&mut self, now_ns: u64, mid: Fixed, mut measured: impl FnMut(Measured)) {
        let mut index = 0;
        while index < self.pending.len() {
            let pending = &mut self.pending[index];
            while pending.done < MARKOUT_HORIZONS_NS.len()
                && now_ns >= pending.ts_ns + MARKOUT_HORIZONS_NS[pending.done]
            {
                let price = pending.price.to_f64();
                let bps = pending.side.sign() as f64 * (mid.to_f64() - price) / price * 1e4;
                let markout = &mut self.averages[pending.done];
                markout.count += 1;
                markout.sum_bps += bps;
                measured(Measured {
                    id: pending.id,
                    horizon: pending.done,
                    bps,
                });
                pending.done += 1;
            }
            if pending.done == MARKOUT_HORIZONS_NS.len() {
                self.pending.swap_remove(index);
            } else {
                index += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn markouts_are_measured_at_each_horizon_against_the_mid() {
        let mut markouts = Markouts::new();
        // A buy of 0.1 at 100.0 at time 0.
        markouts.on_fill(&Fill {
            id: OrderId(1),
            side: Side::Buy,
            price: fx("100.0"),
            qty: fx("0.1"),
            leaves_qty: Fixed::ZERO,
            fee: fx("0.002"),
            realized: Fixed::ZERO,
            ts_ns: 0,
            venue_ms: 0,
        });
        let mut measured = Vec::new();
        markouts.on_mid(0, fx("100.05"), |m| measured.push(m));
        assert_eq!(markouts.averages().map(|m| m.count), [0, 0, 0]);
        // Mid 100.05 at 1 s: +5 bps; mid 99.95 at 5 s and 30 s: -5 bps.
        markouts.on_mid(1_000 * MS, fx("100.05"), |m| measured.push(m));
        markouts.on_mid(31_000 * MS, fx("99.95"), |m| measured.push(m));
        let averages = markouts.averages();
        assert_eq!(averages.map(|m| m.count), [1, 1, 1]);
        let bps = averages.map(|m| (m.mean_bps() * 1e6).round() / 1e6);
        assert_eq!(bps, [5.0, -5.0, -5.0]);
        assert!(markouts.pending.is_empty());
        let each: Vec<(OrderId, usize, f64)> = measured
            .iter()
            .map(|m| (m.id, m.horizon, (m.bps * 1e6).round() / 1e6))
            .collect();
        assert_eq!(
            each,
            [
                (OrderId(1), 0, 5.0),
                (OrderId(1), 1, -5.0),
                (OrderId(1), 2, -5.0)
            ]
        );
    }
}
