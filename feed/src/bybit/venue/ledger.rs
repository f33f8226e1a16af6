//! The fills booked, once each, and the account they build, comparable with the venue's
//! position at any cross sequence.
//!
//! Bybit stamps every execution and every position state with a cross sequence (`seq`): a
//! position at `seq` P includes exactly the executions of that symbol with `seq` ≤ P. The ledger
//! remembers the recent fills it booked with their `seq`, so that the engine's position *as of
//! P* ([`Ledger::position_at`]) can be compared with the venue's position at P, whatever was
//! booked after P meanwhile (a fill pushed while a snapshot was being taken). A correction is
//! made at such a cut ([`Ledger::correct`]): the venue's position at P plus what the engine
//! booked after P.
//!
//! A cut is only needed when fills were booked since the snapshot was asked ([`Ledger::mark`]);
//! when none was, or none after P, the position now is the one to compare
//! ([`Ledger::position_for`]). That also holds when the venue's sequence went back (a venue
//! that lost its state): then the sequences remembered are forgotten.
//!
//! Executions are counted once by `execId` ([`Ledger::remember`]): only the engine's own
//! (other executions of the account never enter the ring, so they cannot push the engine's out).

use crate::fixed::Fixed;
use crate::order::{Account, Position};
use crate::side::Side;

use super::super::private::OrderIdText;

/// Execution ids remembered, to count a fill once.
const SEEN_EXECUTIONS: usize = 4096;
/// Fills remembered with their cross sequence, for [`Ledger::position_at`].
const BOOKED: usize = 256;

/// One fill booked: its cross sequence and how it moved the position.
#[derive(Debug, Clone, Copy, Default)]
struct Booked {
    seq: u64,
    signed_qty: i64,
}

/// The account and the fills that built it.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    seen: Vec<OrderIdText>,
    seen_next: usize,
    booked: Vec<Booked>,
    booked_next: usize,
    /// How many fills were ever booked (the ring holds the last [`BOOKED`]).
    booked_count: u64,
    /// The highest `seq` of a fill pushed out of the ring: a cut below it cannot be computed.
    evicted_max_seq: u64,
    /// The highest cut a correction was made at: venue positions older than it are stale.
    cut_seq: u64,
    position: Position,
    account: Account,
}

impl Ledger {
    /// A ledger starting from `account` (its position, entry price and balances, as REST found
    /// them).
    pub(crate) fn new(account: Account) -> Ledger {
        let mut position = Position::default();
        if !account.position.is_zero() {
            let side = if account.position.is_positive() {
                Side::Buy
            } else {
                Side::Sell
            };
            position.apply(side, account.entry_price, account.position.abs());
        }
        Ledger {
            seen: vec![OrderIdText::EMPTY; SEEN_EXECUTIONS],
            seen_next: 0,
            booked: vec![Booked::default(); BOOKED],
            booked_next: 0,
            booked_count: 0,
            evicted_max_seq: 0,
            cut_seq: 0,
            position,
            account,
        }
    }

    /// The account.
    pub(crate) const fn account(&self) -> &Account {
        &self.account
    }

    /// The account, to change what the venue reports beside fills (the balance).
    pub(crate) const fn account_mut(&mut self) -> &mut Account {
        &mut self.account
    }

    /// The cross sequence of the last correction: venue positions older than it are stale.
    pub(crate) const fn cut_seq(&self) -> u64 {
        self.cut_seq
    }

    /// A mark of the fills booked so far, for [`Ledger::position_for`].
    pub(crate) const fn mark(&self) -> u64 {
        self.booked_count
    }

    /// The engine's position to compare with the venue's at cross sequence `seq`, read by a
    /// snapshot asked at `mark`: the position now when nothing booked since `mark` came after
    /// `seq`, else the position as of `seq` ([`Ledger::position_at`]). When the position now
    /// is the one, and fills booked before `mark` carry a later sequence than `seq`, the
    /// venue's sequence went back: those sequences are forgotten.
    pub(crate) fn position_for(&mut self, seq: u64, mark: u64) -> Option<Fixed> {
        let recent = self.booked_count.saturating_sub(mark);
        if recent > BOOKED as u64 {
            return None;
        }
        let filled = usize::try_from(self.booked_count.min(BOOKED as u64)).unwrap_or(BOOKED);
        let recent_after = (0..recent as usize)
            .map(|back| self.booked[(self.booked_next + BOOKED - 1 - back) % BOOKED])
            .any(|booked| booked.seq > seq);
        if recent_after {
            return self.position_at(seq);
        }
        let regressed =
            self.evicted_max_seq > seq || self.booked[..filled].iter().any(|b| b.seq > seq);
        if regressed {
            self.booked.fill(Booked::default());
            self.booked_next = 0;
            self.booked_count = 0;
            self.evicted_max_seq = 0;
            self.cut_seq = seq;
        }
        Some(self.position.qty())
    }

    /// Remembers `exec_id`; false when it was booked already.
    pub(crate) fn remember(&mut self, exec_id: OrderIdText) -> bool {
        if self.seen.contains(&exec_id) {
            return false;
        }
        self.seen[self.seen_next] = exec_id;
        self.seen_next = (self.seen_next + 1) % self.seen.len();
        true
    }

    /// Books a fill of `qty` at `price` on `side`, with `fee`, at cross sequence `seq`; the PnL
    /// it realized before fees.
    pub(crate) fn book(
        &mut self,
        side: Side,
        price: Fixed,
        qty: Fixed,
        fee: Fixed,
        seq: u64,
    ) -> Fixed {
        let slot = &mut self.booked[self.booked_next];
        if self.booked_count >= BOOKED as u64 {
            self.evicted_max_seq = self.evicted_max_seq.max(slot.seq);
        }
        *slot = Booked {
            seq,
            signed_qty: qty.raw() * side.sign(),
        };
        self.booked_next = (self.booked_next + 1) % BOOKED;
        self.booked_count += 1;
        let realized = self.position.apply(side, price, qty);
        let account = &mut self.account;
        account.position = self.position.qty();
        account.entry_price = self.position.entry_price();
        account.realized = account.realized.saturating_add(realized);
        account.fees = account.fees.saturating_add(fee);
        realized
    }

    /// The booked fills' position as of cross sequence `seq`: the position less what was
    /// booked after `seq`. `None` when a fill after `seq` has left the ring (the cut is too
    /// old to compute).
    pub(crate) fn position_at(&self, seq: u64) -> Option<Fixed> {
        if self.evicted_max_seq > seq {
            return None;
        }
        let filled = usize::try_from(self.booked_count)
            .unwrap_or(usize::MAX)
            .min(BOOKED);
        let after: i64 = self.booked[..filled]
            .iter()
            .filter(|booked| booked.seq > seq)
            .map(|booked| booked.signed_qty)
            .sum();
        Some(Fixed::from_raw(self.position.qty().raw() - after))
    }

    /// Takes the venue's position `venue` at cross sequence `seq`, where the engine's was
    /// `engine_at` ([`Ledger::position_for`]), entry price `entry` when the venue gave one: the
    /// position becomes `venue` plus what was booked after `seq`. The engine's position before
    /// and after, when they differ.
    pub(crate) fn correct(
        &mut self,
        engine_at: Fixed,
        venue: Fixed,
        seq: u64,
        entry: Option<Fixed>,
    ) -> Option<(Fixed, Fixed)> {
        if engine_at == venue {
            return None;
        }
        self.cut_seq = seq;
        let before = self.position.qty();
        let after = Fixed::from_raw(venue.raw() + (before.raw() - engine_at.raw()));
        let entry = entry
            .filter(|price| price.is_positive())
            .unwrap_or(self.position.entry_price());
        self.position = Position::default();
        if !after.is_zero() {
            let side = if after.is_positive() {
                Side::Buy
            } else {
                Side::Sell
            };
            self.position.apply(side, entry, after.abs());
        }
        self.account.position = self.position.qty();
        self.account.entry_price = self.position.entry_price();
        Some((before, after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    #[test]
    fn the_position_as_of_a_cut_leaves_out_what_was_booked_after_it() {
        let mut ledger = Ledger::new(Account::flat(fx("1000")));
        ledger.book(Side::Buy, fx("100"), fx("0.3"), fx("0.01"), 10);
        ledger.book(Side::Buy, fx("100"), fx("0.2"), fx("0.01"), 12);
        ledger.book(Side::Sell, fx("101"), fx("0.1"), fx("0.01"), 15);
        assert_eq!(ledger.account().position, fx("0.4"));
        assert_eq!(ledger.position_at(9), Some(Fixed::ZERO));
        assert_eq!(ledger.position_at(10), Some(fx("0.3")));
        assert_eq!(ledger.position_at(14), Some(fx("0.5")));
        assert_eq!(ledger.position_at(99), Some(fx("0.4")));
        assert_eq!(ledger.account().fees, fx("0.03"));
        assert_eq!(ledger.account().realized, fx("0.1"));
    }

    #[test]
    fn a_correction_at_a_cut_keeps_the_fills_booked_after_it() {
        let mut ledger = Ledger::new(Account::flat(fx("1000")));
        ledger.book(Side::Buy, fx("100"), fx("0.3"), Fixed::ZERO, 10);
        let asked = ledger.mark();
        // Pushed while the snapshot was taken: after its cut.
        ledger.book(Side::Buy, fx("100"), fx("0.2"), Fixed::ZERO, 20);
        // The venue had 0.3 at 10: nothing to correct, however much came after.
        let engine_at = ledger.position_for(10, asked).unwrap();
        assert_eq!(engine_at, fx("0.3"));
        assert_eq!(ledger.correct(engine_at, fx("0.3"), 10, None), None);
        // A manual close at 15: flat at 15, and the 0.2 after it stays.
        let engine_at = ledger.position_for(15, asked).unwrap();
        assert_eq!(
            ledger.correct(engine_at, Fixed::ZERO, 15, Some(fx("99"))),
            Some((fx("0.5"), fx("0.2")))
        );
        assert_eq!(ledger.account().position, fx("0.2"));
        assert_eq!(ledger.account().entry_price, fx("99"));
        assert_eq!(ledger.cut_seq(), 15);
    }

    #[test]
    fn without_fills_since_the_snapshot_the_position_now_is_compared_even_after_a_reset() {
        let mut ledger = Ledger::new(Account::flat(fx("1000")));
        ledger.book(Side::Buy, fx("100"), fx("0.3"), Fixed::ZERO, 500);
        // Nothing booked since it was asked: the position now, whatever the sequence says.
        let asked = ledger.mark();
        assert_eq!(ledger.position_for(600, asked), Some(fx("0.3")));
        // A venue that lost its state reports a sequence from the start, and flat.
        let engine_at = ledger.position_for(3, asked).unwrap();
        assert_eq!(engine_at, fx("0.3"));
        assert_eq!(
            ledger.correct(engine_at, Fixed::ZERO, 3, None),
            Some((fx("0.3"), Fixed::ZERO))
        );
        // The old sequences are forgotten: the venue's next cuts are read against new fills.
        ledger.book(Side::Buy, fx("100"), fx("0.1"), Fixed::ZERO, 5);
        assert_eq!(ledger.position_at(4), Some(Fixed::ZERO));
        assert_eq!(ledger.position_at(5), Some(fx("0.1")));
    }

    #[test]
    fn a_cut_older_than_the_ring_cannot_be_computed() {
        let mut ledger = Ledger::new(Account::flat(fx("1000")));
        for seq in 1..=BOOKED as u64 + 1 {
            ledger.book(Side::Buy, fx("100"), fx("0.001"), Fixed::ZERO, seq);
        }
        assert_eq!(ledger.position_at(0), None);
        assert_eq!(ledger.position_at(1), Some(fx("0.001")));
        // Booked since a mark more than the ring holds: no cut can be computed.
        assert_eq!(ledger.position_for(0, 0), None);
    }

    #[test]
    fn an_execution_is_remembered_once() {
        let mut ledger = Ledger::new(Account::flat(fx("1000")));
        let id = OrderIdText::new("exec-1").unwrap();
        assert!(ledger.remember(id));
        assert!(!ledger.remember(id));
    }
}
