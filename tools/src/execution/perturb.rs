//! A recorded day with a run's shocks applied to its frames, written as a journal the engine
//! replays like any other.
//!
//! The day's books are rebuilt with the engine's decoder and book as the frames go by. Outside
//! every shock a frame is copied as it was. While liquidity is withdrawn or the market makes a
//! flash move, each book frame becomes a snapshot of the book as the shock shows it (sizes cut,
//! prices moved; a flash move's prints move with it), and a snapshot of the true book follows
//! the shock's end, after which the recorded deltas apply again. A feed gap drops every frame
//! it covers, records the connection loss where it began (as the recorder does) and brings the
//! book back with a snapshot at its end, as a reconnect would.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use feed::bybit::live::LossReason;
use feed::bybit::{PublicDecoder, PublicMessage};
use feed::journal::{
    ClockAnchor, JournalOptions, JournalReader, JournalWriter, OnCorrupt, StreamId,
};
use feed::{Fixed, FrameBuf, Instrument, OrderBook, Side};
use serde_json::Value;

use super::scenario::{Effect, Shock};

/// Monotonic time of a rewritten day's first record (its wall time is the recorded one).
const MONO_BASE_NS: u64 = 1_000_000_000;

/// What a rewrite did, for the run's record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Rewritten {
    /// Recorded records copied as they were.
    pub(crate) copied: u64,
    /// Book frames written as the shocked book's snapshot.
    pub(crate) snapshots: u64,
    /// Trade frames whose prices moved.
    pub(crate) moved_trades: u64,
    /// Frames a feed gap dropped.
    pub(crate) dropped: u64,
}

/// The first and last public frame of the journal in `dir`, receive times in ns.
pub(crate) fn span(dir: &Path) -> Result<(u64, u64)> {
    let mut reader = JournalReader::open(dir, OnCorrupt::Fail)
        .with_context(|| format!("reading {}", dir.display()))?;
    let mut span: Option<(u64, u64)> = None;
    while let Some(record) = reader
        .next_record()
        .with_context(|| format!("reading {}", dir.display()))?
    {
        if record.stream == StreamId::PUBLIC_LINEAR {
            let (first, _) = span.get_or_insert((record.wall_ns, record.wall_ns));
            span = Some((*first, record.wall_ns));
        }
    }
    span.with_context(|| format!("{} has no public frames", dir.display()))
}

/// Writes the journal in `from` to `to` with `shocks` applied (pauses leave frames alone).
pub(crate) fn rewrite(
    from: &Path,
    to: &Path,
    shocks: &[Shock],
    instrument: &Instrument,
) -> Result<Rewritten> {
    let mut reader = JournalReader::open(from, OnCorrupt::Fail)
        .with_context(|| format!("reading {}", from.display()))?;
    let mut writer: Option<(JournalWriter, u64)> = None;
    let mut decoder = PublicDecoder::new();
    let mut scratch = FrameBuf::with_capacity(1 << 20);
    let mut book: Option<OrderBook> = None;
    let mut out = Vec::with_capacity(1 << 16);
    let mut counts = Rewritten::default();
    // Whether the frames written last showed a book other than the true one; whether a gap is
    // under way.
    let (mut shown_shocked, mut in_gap) = (false, false);
    while let Some(record) = reader
        .next_record()
        .with_context(|| format!("reading {}", from.display()))?
    {
        let wall_ns = record.wall_ns;
        let (writer, first_ns) = match &mut writer {
            Some(writer) => writer,
            None => {
                let anchor = ClockAnchor {
                    mono_ns: MONO_BASE_NS,
                    wall_ns,
                };
                let (opened, _) = JournalWriter::open(to, JournalOptions::default(), anchor)
                    .with_context(|| format!("writing {}", to.display()))?;
                writer.insert((opened, wall_ns))
            }
        };
        let mono_ns = MONO_BASE_NS + wall_ns.saturating_sub(*first_ns);
        let mut write = |stream: StreamId, frame: &[u8]| {
            writer
                .append(mono_ns, stream, frame)
                .with_context(|| format!("writing {}", to.display()))
        };
        if record.stream != StreamId::PUBLIC_LINEAR {
            write(record.stream, record.frame)?;
            counts.copied += 1;
            continue;
        }
        let frame = record.frame;
        let mut is_book = false;
        let mut is_trades = false;
        match decoder.decode_bytes(&mut scratch, frame) {
            Ok(PublicMessage::Book(update)) => {
                let book = book.get_or_insert_with(|| {
                    OrderBook::new(update.symbol, usize::from(update.depth))
                });
                if book.symbol() == update.symbol && book.depth() == usize::from(update.depth) {
                    book.apply(&update);
                    is_book = true;
                }
            }
            Ok(PublicMessage::Trades(_)) => is_trades = true,
            // Control replies, tickers and frames the engine would count as errors: as recorded.
            Ok(_) | Err(_) => {}
        }
        if shocks
            .iter()
            .any(|shock| shock.effect == Effect::FeedGap && shock.covers(wall_ns))
        {
            if !in_gap {
                write(StreamId::LINK, LossReason::Closed.label().as_bytes())?;
                in_gap = true;
            }
            counts.dropped += 1;
            continue;
        }
        let resumed = std::mem::take(&mut in_gap);
        let view = View::at(shocks, wall_ns);
        let shocked = view.keep < 1.0 || view.move_bps != 0.0;
        if let Some(book) = book.as_ref().filter(|_| is_book || resumed)
            && (shocked || shown_shocked || resumed)
        {
            snapshot(book, &view, instrument, &mut out);
            write(StreamId::PUBLIC_LINEAR, &out)?;
            counts.snapshots += 1;
            shown_shocked = shocked;
            if is_book {
                continue;
            }
        }
        let offset = match &book {
            Some(book) if is_trades => offset(book, &view, instrument),
            _ => Fixed::ZERO,
        };
        if offset != Fixed::ZERO {
            move_trades(frame, offset, &mut out)
                .with_context(|| format!("{}: a trade frame", from.display()))?;
            write(StreamId::PUBLIC_LINEAR, &out)?;
            counts.moved_trades += 1;
            continue;
        }
        write(StreamId::PUBLIC_LINEAR, frame)?;
        counts.copied += 1;
    }
    if let Some((writer, _)) = writer {
        writer
            .flush()
            .with_context(|| format!("writing {}", to.display()))?;
    }
    Ok(counts)
}

/// What the shocks under way at one time do to the book.
#[derive(Debug, Clone, Copy, PartialEq)]
struct View {
    /// Share of every size shown.
    keep: f64,
    /// Signed price move, bps.
    move_bps: f64,
}

impl View {
    fn at(shocks: &[Shock], ns: u64) -> View {
        let mut view = View {
            keep: 1.0,
            move_bps: 0.0,
        };
        for shock in shocks.iter().filter(|shock| shock.covers(ns)) {
            match shock.effect {
                Effect::LiquidityWithdrawal { keep } => view.keep *= keep,
                Effect::FlashMove { move_bps } => view.move_bps += move_bps * shock.tent(ns),
                Effect::FeedGap | Effect::VenuePause => {}
            }
        }
        view
    }
}

/// The price move of `view` from `book`'s mid, in whole ticks.
fn offset(book: &OrderBook, view: &View, instrument: &Instrument) -> Fixed {
    let Some(mid) = book.mid() else {
        return Fixed::ZERO;
    };
    let tick = instrument.tick_size.raw().max(1) as f64;
    let ticks = (mid.raw() as f64 * view.move_bps / 10_000.0 / tick).round();
    Fixed::from_raw(ticks as i64 * instrument.tick_size.raw())
}

/// Writes into `out` a snapshot of `book` as `view` shows it, carrying the book's last update
/// id, sequence and times (the recorded deltas after it apply to it).
fn snapshot(book: &OrderBook, view: &View, instrument: &Instrument, out: &mut Vec<u8>) {
    let offset = offset(book, view, instrument);
    let keep = Fixed::from_f64(view.keep).unwrap_or(Fixed::ONE);
    let symbol = book.symbol();
    out.clear();
    // Writes into a Vec<u8> cannot fail.
    let _ = write!(
        out,
        "{{\"topic\":\"orderbook.{}.{symbol}\",\"type\":\"snapshot\",\"ts\":{},\"data\":{{\"s\":\"{symbol}\"",
        book.depth(),
        book.ts()
    );
    for (key, side) in [("b", Side::Buy), ("a", Side::Sell)] {
        let _ = write!(out, ",\"{key}\":[");
        let mut first = true;
        for level in book.levels(side) {
            let size = level
                .size
                .checked_mul_floor(keep)
                .unwrap_or(level.size)
                .floor_to(instrument.qty_step);
            let price = Fixed::from_raw(level.price.raw() + offset.raw());
            if size.raw() <= 0 || price.raw() <= 0 {
                continue;
            }
            let _ = write!(
                out,
                "{}[\"{price}\",\"{size}\"]",
                if first { "" } else { "," }
            );
            first = false;
        }
        out.push(b']');
    }
    let _ = write!(
        out,
        ",\"u\":{},\"seq\":{}}},\"cts\":{}}}",
        book.update_id(),
        book.seq(),
        book.cts()
    );
}

/// Writes into `out` the trade frame `frame` with every print's price (`p`) moved by `offset`.
fn move_trades(frame: &[u8], offset: Fixed, out: &mut Vec<u8>) -> Result<()> {
    let mut message: Value = serde_json::from_slice(frame).context("not JSON")?;
    let trades = message
        .get_mut("data")
        .and_then(Value::as_array_mut)
        .context("no data array")?;
    for trade in trades {
        let price = trade.get_mut("p").context("a trade without a price")?;
        let recorded: Fixed = price
            .as_str()
            .context("a price that is not text")?
            .parse()
            .context("a price that is not a decimal")?;
        *price = Value::String(Fixed::from_raw(recorded.raw() + offset.raw()).to_string());
    }
    out.clear();
    serde_json::to_writer(&mut *out, &message).context("writing JSON")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use feed::bybit::{BookUpdate, UpdateKind};

    const S: u64 = 1_000_000_000;
    const T0: u64 = 1_700_000_000 * S;

    /// A day of a book frame and a trade each second `k` from 1 to `seconds`: a snapshot then
    /// deltas with `u` = k, bid 100.0 x (k + 1), ask 100.1 x 3; a print at 100.1.
    fn day(dir: &Path, seconds: u64) {
        let anchor = ClockAnchor {
            mono_ns: MONO_BASE_NS,
            wall_ns: T0,
        };
        let (mut writer, _) = JournalWriter::open(dir, JournalOptions::default(), anchor).unwrap();
        for k in 1..=seconds {
            let ts = (T0 + k * S) / 1_000_000;
            let kind = if k == 1 { "snapshot" } else { "delta" };
            let book = format!(
                r#"{{"topic":"orderbook.50.BTCUSDT","type":"{kind}","ts":{ts},"data":{{"s":"BTCUSDT","b":[["100.0","{bid}"]],"a":[["100.1","3"]],"u":{k},"seq":{k}}},"cts":{ts}}}"#,
                bid = k + 1,
            );
            let trade = format!(
                r#"{{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":{ts},"data":[{{"T":{ts},"s":"BTCUSDT","S":"Buy","v":"0.5","p":"100.1","L":"PlusTick","i":"t{k}","BT":false}}]}}"#,
            );
            let mono = MONO_BASE_NS + k * S;
            writer
                .append(mono, StreamId::PUBLIC_LINEAR, book.as_bytes())
                .unwrap();
            writer
                .append(mono + 1_000, StreamId::PUBLIC_LINEAR, trade.as_bytes())
                .unwrap();
        }
        writer.flush().unwrap();
    }

    /// Each public frame of the journal in `dir` as (second from T0, what it says), and its
    /// connection losses.
    fn frames(dir: &Path) -> Vec<(u64, String)> {
        let mut reader = JournalReader::open(dir, OnCorrupt::Fail).unwrap();
        let mut decoder = PublicDecoder::new();
        let mut scratch = FrameBuf::with_capacity(1 << 16);
        let mut out = Vec::new();
        while let Some(record) = reader.next_record().unwrap() {
            let second = (record.wall_ns - T0) / S;
            if record.stream == StreamId::LINK {
                out.push((second, "lost".to_owned()));
                continue;
            }
            let said = match decoder.decode_bytes(&mut scratch, record.frame).unwrap() {
                PublicMessage::Book(BookUpdate {
                    kind,
                    update_id,
                    bids,
                    asks,
                    ..
                }) => format!(
                    "{} u{update_id} {:?} {:?}",
                    if kind == UpdateKind::Snapshot {
                        "snap"
                    } else {
                        "delta"
                    },
                    bids.iter()
                        .map(|l| format!("{}x{}", l.price, l.size))
                        .collect::<Vec<_>>(),
                    asks.iter()
                        .map(|l| format!("{}x{}", l.price, l.size))
                        .collect::<Vec<_>>(),
                ),
                PublicMessage::Trades(batch) => format!("trade {}", batch.trades[0].price),
                _ => "other".to_owned(),
            };
            out.push((second, said));
        }
        out
    }

    fn shock(from: u64, to: u64, effect: Effect) -> Shock {
        Shock {
            start_ns: T0 + from * S,
            end_ns: T0 + to * S,
            effect,
        }
    }

    /// A day of `seconds` seconds rewritten with `shocks`.
    struct Shocked {
        before: Vec<(u64, String)>,
        after: Vec<(u64, String)>,
        after_span: (u64, u64),
        counts: Rewritten,
    }

    fn shocked(seconds: u64, shocks: &[Shock]) -> Shocked {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("in"), dir.path().join("out"));
        day(&from, seconds);
        let counts = rewrite(&from, &to, shocks, &feed::fixtures::btcusdt()).unwrap();
        Shocked {
            before: frames(&from),
            after: frames(&to),
            after_span: span(&to).unwrap(),
            counts,
        }
    }

    #[test]
    fn without_shocks_every_frame_is_copied_as_recorded() {
        let day = shocked(4, &[]);
        assert_eq!(
            day.counts,
            Rewritten {
                copied: 8,
                ..Rewritten::default()
            }
        );
        assert_eq!(day.before, day.after);
        assert_eq!(day.after_span, (T0 + S, T0 + 4 * S + 1_000));
    }

    #[test]
    fn a_withdrawal_shows_a_share_of_the_book_then_the_true_book_and_its_deltas_again() {
        let day = shocked(5, &[shock(2, 4, Effect::LiquidityWithdrawal { keep: 0.5 })]);
        let books: Vec<(u64, String)> = day
            .after
            .into_iter()
            .filter(|(_, said)| !said.starts_with("trade"))
            .collect();
        assert_eq!(
            books,
            [
                (1, r#"snap u1 ["100x2"] ["100.1x3"]"#.to_owned()),
                (2, r#"snap u2 ["100x1.5"] ["100.1x1.5"]"#.to_owned()),
                (3, r#"snap u3 ["100x2"] ["100.1x1.5"]"#.to_owned()),
                (4, r#"snap u4 ["100x5"] ["100.1x3"]"#.to_owned()),
                (5, r#"delta u5 ["100x6"] ["100.1x3"]"#.to_owned()),
            ]
        );
        assert_eq!((day.counts.snapshots, day.counts.copied), (3, 7));
    }

    #[test]
    fn a_gap_drops_its_frames_records_the_loss_and_resyncs_with_a_snapshot() {
        let day = shocked(5, &[shock(2, 4, Effect::FeedGap)]);
        assert_eq!(
            day.after,
            [
                (1, r#"snap u1 ["100x2"] ["100.1x3"]"#.to_owned()),
                (1, "trade 100.1".to_owned()),
                (2, "lost".to_owned()),
                (4, r#"snap u4 ["100x5"] ["100.1x3"]"#.to_owned()),
                (4, "trade 100.1".to_owned()),
                (5, r#"delta u5 ["100x6"] ["100.1x3"]"#.to_owned()),
                (5, "trade 100.1".to_owned()),
            ]
        );
        assert_eq!((day.counts.dropped, day.counts.snapshots), (4, 1));
    }

    #[test]
    fn a_flash_move_moves_the_book_and_the_prints_by_its_tent_in_whole_ticks() {
        // 200 bps down at its middle (second 3 from 1 to 5): 2.001 from a mid of 100.05,
        // 20 ticks of 0.1; half of it a second either side.
        let day = shocked(6, &[shock(1, 5, Effect::FlashMove { move_bps: -200.0 })]);
        assert_eq!(
            day.after,
            [
                (1, r#"snap u1 ["100x2"] ["100.1x3"]"#.to_owned()),
                (1, "trade 100.1".to_owned()),
                (2, r#"snap u2 ["99x3"] ["99.1x3"]"#.to_owned()),
                (2, "trade 99.1".to_owned()),
                (3, r#"snap u3 ["98x4"] ["98.1x3"]"#.to_owned()),
                (3, "trade 98.1".to_owned()),
                (4, r#"snap u4 ["99x5"] ["99.1x3"]"#.to_owned()),
                (4, "trade 99.1".to_owned()),
                (5, r#"snap u5 ["100x6"] ["100.1x3"]"#.to_owned()),
                (5, "trade 100.1".to_owned()),
                (6, r#"delta u6 ["100x7"] ["100.1x3"]"#.to_owned()),
                (6, "trade 100.1".to_owned()),
            ]
        );
        assert_eq!((day.counts.snapshots, day.counts.moved_trades), (4, 3));
    }
}
