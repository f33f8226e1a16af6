//! Reference data for the workspace's tests and examples, written once: BTCUSDT with the
//! trading rules `config/symbols.yml` ships (a test in `tests/` holds the two equal).

use crate::book::OrderBook;
use crate::bybit::public::ShortText;
use crate::bybit::{BookUpdate, Level, TickDirection, Trade, UpdateKind};
use crate::fixed::Fixed;
use crate::instrument::Instrument;
use crate::side::Side;
use crate::text::Symbol;

/// BTCUSDT: tick 0.1, step and minimum 0.001, maximum 1190, minimum notional 5, maker fee
/// 0.0002, taker fee 0.00055.
pub const fn btcusdt() -> Instrument {
    Instrument {
        tick_size: Fixed::from_raw(10_000_000),
        qty_step: Fixed::from_raw(100_000),
        min_qty: Fixed::from_raw(100_000),
        max_qty: Fixed::from_raw(119_000_000_000),
        min_notional: Fixed::from_raw(500_000_000),
        maker_fee_rate: Fixed::from_raw(20_000),
        taker_fee_rate: Fixed::from_raw(55_000),
    }
}

/// A BTCUSDT book at depth 50 holding one level a side, `size` at `bid` and `size` at `ask`,
/// from one snapshot: the smallest market a venue, an order manager or a trigger is tested on.
pub fn touch_book(bid: Fixed, ask: Fixed, size: Fixed) -> OrderBook {
    let symbol = Symbol::truncated("BTCUSDT");
    let mut book = OrderBook::new(symbol, 50);
    book.apply(&BookUpdate {
        symbol,
        depth: 50,
        kind: UpdateKind::Snapshot,
        ts: 1,
        cts: 1,
        update_id: 1,
        seq: 1,
        bids: &[Level { price: bid, size }],
        asks: &[Level { price: ask, size }],
    });
    book
}

/// A BTCUSDT print of `size` at `price` by a `taker` on the visible book (neither a block nor an
/// RPI trade).
pub fn print(taker: Side, price: Fixed, size: Fixed) -> Trade {
    Trade {
        time: 0,
        symbol: Symbol::truncated("BTCUSDT"),
        taker_side: taker,
        size,
        price,
        tick: TickDirection::Unknown,
        id: ShortText::default(),
        block_trade: false,
        rpi: false,
        seq: 0,
    }
}
