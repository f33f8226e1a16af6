//! `toolkit decode`: the normalized events of a journal directory or an NDJSON file of raw
//! frames, as JSON lines, optionally with the top of book after each book event.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use feed::book::{BookState, InvalidReason};
use feed::bybit::{ControlReply, DecodeError, PublicDecoder, PublicMessage};
use feed::journal::{JournalReader, OnCorrupt, StreamId};
use feed::{Fixed, FrameBuf, OrderBook, Side, Symbol};
use serde_json::{Value, json};

/// Arguments of `decode`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// After each book event, print the top of book: best bid and ask with sizes, levels per
    /// side, update id, sequence, and whether the book is valid.
    #[arg(long)]
    book: bool,
    /// Skip corrupt journal records (counted on stderr) instead of stopping at the first.
    #[arg(long)]
    skip_corrupt: bool,
    /// A journal directory (segment files) or an NDJSON file with one raw frame per line.
    path: PathBuf,
}

/// Where a frame came from, for the output lines.
enum Origin {
    Journal {
        segment: u64,
        offset: u64,
        recv_wall_ns: u64,
    },
    Line(usize),
}

struct Printer<W: Write> {
    out: W,
    decoder: PublicDecoder,
    frame: FrameBuf,
    books: HashMap<(Symbol, u16), OrderBook>,
    with_book: bool,
    errors: u64,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let stdout = io::stdout().lock();
    let mut printer = Printer {
        out: BufWriter::with_capacity(1 << 16, stdout),
        decoder: PublicDecoder::new(),
        frame: FrameBuf::default(),
        books: HashMap::new(),
        with_book: args.book,
        errors: 0,
    };
    let result = if args.path.is_dir() {
        printer.journal(&args.path, args.skip_corrupt)
    } else {
        printer.ndjson(&args.path)
    };
    match result.and_then(|()| printer.out.flush().map_err(Into::into)) {
        // A closed pipe (`| head`) is a normal way to stop reading.
        Err(err) if is_broken_pipe(&err) => Ok(()),
        other => {
            if printer.errors > 0 {
                eprintln!(
                    "{} frames could not be decoded (see the \"error\" lines)",
                    printer.errors
                );
            }
            other
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let kind = match (
            cause.downcast_ref::<io::Error>(),
            cause.downcast_ref::<serde_json::Error>(),
        ) {
            (Some(io), _) => Some(io.kind()),
            (None, Some(json)) => json.io_error_kind(),
            (None, None) => None,
        };
        kind == Some(io::ErrorKind::BrokenPipe)
    })
}

impl<W: Write> Printer<W> {
    fn journal(&mut self, dir: &Path, skip_corrupt: bool) -> Result<()> {
        let mode = if skip_corrupt {
            OnCorrupt::Skip
        } else {
            OnCorrupt::Fail
        };
        let mut reader = JournalReader::open(dir, mode)?;
        while let Some(record) = reader.next_record()? {
            if record.stream != StreamId::PUBLIC_LINEAR {
                continue; // connection events and other streams: not public frames
            }
            let origin = Origin::Journal {
                segment: record.segment,
                offset: record.offset,
                recv_wall_ns: record.wall_ns,
            };
            self.frame(record.frame, &origin)?;
        }
        if reader.skipped() > 0 {
            eprintln!("skipped {} corrupt records", reader.skipped());
        }
        Ok(())
    }

    fn ndjson(&mut self, path: &Path) -> Result<()> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            self.frame(line.as_bytes(), &Origin::Line(index + 1))?;
        }
        Ok(())
    }

    fn frame(&mut self, bytes: &[u8], origin: &Origin) -> Result<()> {
        self.frame.fill(bytes);
        let (mut event, top) = match self.decoder.decode(&mut self.frame) {
            Ok(message) => {
                let top = match &message {
                    PublicMessage::Book(update) if self.with_book => {
                        let book = self
                            .books
                            .entry((update.symbol, update.depth))
                            .or_insert_with(|| {
                                OrderBook::new(update.symbol, usize::from(update.depth))
                            });
                        book.apply(update);
                        Some(top_json(book))
                    }
                    _ => None,
                };
                (message_json(&message), top)
            }
            Err(err) => {
                self.errors += 1;
                (error_json(&err), None)
            }
        };
        if let Value::Object(map) = &mut event {
            match origin {
                Origin::Journal {
                    segment,
                    offset,
                    recv_wall_ns,
                } => {
                    map.insert("recv_ns".into(), json!(recv_wall_ns));
                    map.insert("segment".into(), json!(segment));
                    map.insert("offset".into(), json!(offset));
                }
                Origin::Line(line) => {
                    map.insert("line".into(), json!(line));
                }
            }
        }
        for line in std::iter::once(&event).chain(top.as_ref()) {
            serde_json::to_writer(&mut self.out, line)?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }
}

fn text(value: Fixed) -> String {
    value.to_string()
}

fn opt(value: Option<Fixed>) -> Value {
    value.map_or(Value::Null, |value| Value::String(value.to_string()))
}

fn message_json(message: &PublicMessage<'_>) -> Value {
    match message {
        PublicMessage::Book(book) => json!({
            "type": "book",
            "symbol": book.symbol.as_str(),
            "depth": book.depth,
            "kind": book.kind.as_str(),
            "ts": book.ts,
            "cts": book.cts,
            "u": book.update_id,
            "seq": book.seq,
            "bids": book.bids.iter().map(|l| [text(l.price), text(l.size)]).collect::<Vec<_>>(),
            "asks": book.asks.iter().map(|l| [text(l.price), text(l.size)]).collect::<Vec<_>>(),
        }),
        PublicMessage::Trades(batch) => json!({
            "type": "trades",
            "symbol": batch.symbol.as_str(),
            "ts": batch.ts,
            "trades": batch.trades.iter().map(|t| json!({
                "time": t.time,
                "taker_side": t.taker_side.as_str(),
                "price": text(t.price),
                "size": text(t.size),
                "tick": t.tick.as_str(),
                "id": t.id.as_str(),
                "block_trade": t.block_trade,
                "seq": t.seq,
            })).collect::<Vec<_>>(),
        }),
        PublicMessage::Ticker(ticker) => json!({
            "type": "ticker",
            "symbol": ticker.symbol.as_str(),
            "ts": ticker.ts,
            "cs": ticker.cs,
            "last_price": opt(ticker.last_price),
            "mark_price": opt(ticker.mark_price),
            "index_price": opt(ticker.index_price),
            "bid1_price": opt(ticker.bid1_price),
            "bid1_size": opt(ticker.bid1_size),
            "ask1_price": opt(ticker.ask1_price),
            "ask1_size": opt(ticker.ask1_size),
            "funding_rate": opt(ticker.funding_rate),
            "next_funding_time": ticker.next_funding_time,
            "open_interest": opt(ticker.open_interest),
            "volume_24h": opt(ticker.volume_24h),
            "price_24h_pcnt": opt(ticker.price_24h_pcnt),
        }),
        PublicMessage::Control(reply) => match reply {
            ControlReply::Subscribed { req_id } => {
                json!({"type": "subscribed", "req_id": req_id.as_str()})
            }
            ControlReply::SubscribeFailed {
                req_id,
                topic,
                reason,
            } => json!({
                "type": "subscribe_failed",
                "req_id": req_id.as_str(),
                "topic": topic.as_str(),
                "reason": reason.as_str(),
            }),
            ControlReply::Unsubscribed { req_id, success } => {
                json!({"type": "unsubscribed", "req_id": req_id.as_str(), "success": success})
            }
            ControlReply::Pong { server_time } => {
                json!({"type": "pong", "server_time": server_time})
            }
        },
    }
}

fn error_json(error: &DecodeError) -> Value {
    json!({"type": "error", "error": error.label(), "message": error.to_string()})
}

fn top_json(book: &OrderBook) -> Value {
    let level = |side| {
        book.level(side, 0).map_or((Value::Null, Value::Null), |l| {
            (json!(text(l.price)), json!(text(l.size)))
        })
    };
    let (bid, bid_size) = level(Side::Buy);
    let (ask, ask_size) = level(Side::Sell);
    let state = match book.state() {
        BookState::Valid => "valid",
        BookState::AwaitingSnapshot => "awaiting_snapshot",
        BookState::Invalid(InvalidReason::Gap { .. }) => "invalid_gap",
        BookState::Invalid(InvalidReason::Crossed) => "invalid_crossed",
        BookState::Invalid(InvalidReason::Disconnected) => "invalid_disconnected",
    };
    json!({
        "type": "top",
        "symbol": book.symbol().as_str(),
        "bid": bid,
        "bid_size": bid_size,
        "ask": ask,
        "ask_size": ask_size,
        "bid_levels": book.len(Side::Buy),
        "ask_levels": book.len(Side::Sell),
        "u": book.update_id(),
        "seq": book.seq(),
        "valid": book.is_valid(),
        "state": state,
    })
}
