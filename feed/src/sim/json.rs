//! Writing the simulator's frames in Bybit's exact JSON shapes, into a reused buffer.

use std::io::Write;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::book::{SimBook, TickLevel};
use super::{NS_PER_MS, Print, SimConfig};
use crate::fixed::Fixed;
use crate::side::Side;

/// Funding is settled every 8 hours.
const FUNDING_INTERVAL_MS: u64 = 8 * 3600 * 1000;

fn push_fixed(out: &mut Vec<u8>, value: Fixed, decimals: u32) {
    let mut buf = [0; 32];
    out.extend_from_slice(value.format_into(Some(decimals), &mut buf).as_bytes());
}

fn price(config: &SimConfig, ticks: i64) -> Fixed {
    Fixed::from_raw(ticks.saturating_mul(config.tick_size.raw()))
}

fn size(config: &SimConfig, lots: i64) -> Fixed {
    Fixed::from_raw(lots.saturating_mul(config.qty_step.raw()))
}

// Writes into a Vec<u8> cannot fail; the results are ignored on purpose throughout.

/// `{"success":true,"ret_msg":"","conn_id":...,"req_id":"1","op":"subscribe"}`
pub(super) fn subscribe_ack(out: &mut Vec<u8>, config: &SimConfig) {
    let _ = write!(
        out,
        r#"{{"success":true,"ret_msg":"","conn_id":"sim-{}-{}","req_id":"1","op":"subscribe"}}"#,
        config.regime.name(),
        config.seed
    );
}

/// The linear pong: `op` stays `ping`, `ret_msg` is `pong`.
pub(super) fn pong(out: &mut Vec<u8>, _now_ns: u64) {
    out.extend_from_slice(
        br#"{"success":true,"ret_msg":"pong","conn_id":"sim","req_id":"","op":"ping"}"#,
    );
}

fn levels(out: &mut Vec<u8>, config: &SimConfig, levels: &[TickLevel]) {
    out.push(b'[');
    for (index, &(ticks, lots)) in levels.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"[\"");
        push_fixed(out, price(config, ticks), config.price_decimals);
        out.extend_from_slice(b"\",\"");
        push_fixed(out, size(config, lots), config.size_decimals);
        out.extend_from_slice(b"\"]");
    }
    out.push(b']');
}

/// An `orderbook.50` snapshot or delta.
#[allow(clippy::too_many_arguments)] // one argument per field of the message
pub(super) fn book_message(
    out: &mut Vec<u8>,
    config: &SimConfig,
    kind: &str,
    ts_ns: u64,
    cts_ns: u64,
    update_id: u64,
    seq: u64,
    bids: &[TickLevel],
    asks: &[TickLevel],
) {
    let _ = write!(
        out,
        r#"{{"topic":"orderbook.{}.{}","type":"{kind}","ts":{},"data":{{"s":"{}","b":"#,
        super::PUBLISHED_DEPTH,
        config.symbol,
        ts_ns / NS_PER_MS,
        config.symbol
    );
    levels(out, config, bids);
    out.extend_from_slice(br#","a":"#);
    levels(out, config, asks);
    let _ = write!(
        out,
        r#","u":{update_id},"seq":{seq}}},"cts":{}}}"#,
        cts_ns / NS_PER_MS
    );
}

/// A `publicTrade` message with one trade per level the market order took.
#[allow(clippy::too_many_arguments)] // one argument per field of the message
pub(super) fn trades(
    out: &mut Vec<u8>,
    config: &SimConfig,
    match_ns: u64,
    publish_ns: u64,
    taker: Side,
    prints: &[Print],
    up: bool,
    changed: bool,
    rng: &mut ChaCha8Rng,
) {
    let _ = write!(
        out,
        r#"{{"topic":"publicTrade.{}","type":"snapshot","ts":{},"data":["#,
        config.symbol,
        publish_ns / NS_PER_MS
    );
    for (index, print) in prints.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        let tick = match (index == 0 && changed, up) {
            (true, true) => "PlusTick",
            (true, false) => "MinusTick",
            (false, true) => "ZeroPlusTick",
            (false, false) => "ZeroMinusTick",
        };
        let _ = write!(
            out,
            r#"{{"T":{},"s":"{}","S":"{}","v":""#,
            match_ns / NS_PER_MS,
            config.symbol,
            taker
        );
        push_fixed(out, size(config, print.lots), config.size_decimals);
        out.extend_from_slice(br#"","p":""#);
        push_fixed(out, price(config, print.price_ticks), config.price_decimals);
        let id: u128 = rng.random();
        let _ = write!(
            out,
            r#"","L":"{tick}","i":"{:08x}-{:04x}-{:04x}-{:04x}-{:012x}","BT":false,"RPI":false,"seq":{}}}"#,
            (id >> 96) as u32,
            (id >> 80) as u16,
            (id >> 64) as u16,
            (id >> 48) as u16,
            id & 0xffff_ffff_ffff,
            print.seq
        );
    }
    out.extend_from_slice(b"]}");
}

/// What the ticker stream last published, to send only what changed.
#[derive(Debug, Default)]
pub(super) struct TickerState {
    pub(super) sent: bool,
    last_price: i64,
    bid: TickLevel,
    ask: TickLevel,
    mark: i64,
    index: i64,
    volume_lots: i64,
    published_volume: i64,
    open_interest_lots: i64,
    published_open_interest: i64,
    traded_price: i64,
}

impl TickerState {
    /// A match of `lots` ending at `price_ticks`.
    pub(super) fn traded(&mut self, lots: i64, price_ticks: i64) {
        self.volume_lots += lots;
        self.traded_price = price_ticks;
        // Open interest drifts with volume: a tenth of trades open, a tenth close.
        self.open_interest_lots += lots / 10 * if price_ticks % 2 == 0 { 1 } else { -1 };
    }
}

/// A `tickers` snapshot, or a delta with the fields that changed; false when nothing did.
#[allow(clippy::too_many_arguments)] // one argument per source of the message
pub(super) fn ticker_message(
    out: &mut Vec<u8>,
    config: &SimConfig,
    state: &mut TickerState,
    book: &SimBook,
    last_trade_ticks: i64,
    ts_ns: u64,
    cs: u64,
    snapshot: bool,
) -> bool {
    let (Some(bid), Some(ask)) = (book.best_level(Side::Buy), book.best_level(Side::Sell)) else {
        return false;
    };
    let mid2 = bid.0 + ask.0;
    let mark = mid2 / 2;
    let index = mark - 3;
    if snapshot {
        state.open_interest_lots = 50_000_000;
    }
    let last = if state.traded_price != 0 {
        state.traded_price
    } else {
        last_trade_ticks
    };
    let mut fields = 0;
    let _ = write!(
        out,
        r#"{{"topic":"tickers.{}","type":"{}","data":{{"symbol":"{}""#,
        config.symbol,
        if snapshot { "snapshot" } else { "delta" },
        config.symbol
    );
    let mut field_price = |out: &mut Vec<u8>, name: &str, ticks: i64, previous: &mut i64| {
        if snapshot || ticks != *previous {
            let _ = write!(out, r#","{name}":""#);
            push_fixed(out, price(config, ticks), config.price_decimals);
            out.push(b'"');
            *previous = ticks;
            fields += 1;
        }
    };
    field_price(out, "lastPrice", last, &mut state.last_price);
    field_price(out, "markPrice", mark, &mut state.mark);
    field_price(out, "indexPrice", index, &mut state.index);
    let mut previous_bid = state.bid.0;
    field_price(out, "bid1Price", bid.0, &mut previous_bid);
    let mut previous_ask = state.ask.0;
    field_price(out, "ask1Price", ask.0, &mut previous_ask);
    let mut field_size = |out: &mut Vec<u8>, name: &str, lots: i64, previous: i64| {
        if snapshot || lots != previous {
            let _ = write!(out, r#","{name}":""#);
            push_fixed(out, size(config, lots), config.size_decimals);
            out.push(b'"');
            fields += 1;
        }
    };
    field_size(out, "bid1Size", bid.1, state.bid.1);
    field_size(out, "ask1Size", ask.1, state.ask.1);
    field_size(out, "volume24h", state.volume_lots, state.published_volume);
    field_size(
        out,
        "openInterest",
        state.open_interest_lots,
        state.published_open_interest,
    );
    state.bid = bid;
    state.ask = ask;
    state.published_volume = state.volume_lots;
    state.published_open_interest = state.open_interest_lots;
    if snapshot {
        let next_funding = (ts_ns / NS_PER_MS / FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS;
        let _ = write!(
            out,
            r#","fundingRate":"0.0001","nextFundingTime":"{next_funding}","fundingIntervalHour":"8","price24hPcnt":"0""#
        );
    }
    let _ = write!(out, r#"}},"cs":{cs},"ts":{}}}"#, ts_ns / NS_PER_MS);
    state.sent = true;
    if fields == 0 {
        out.clear();
        return false;
    }
    true
}
