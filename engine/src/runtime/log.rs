//! The decision and fill log: every candidate and what became of it, every order and cancel
//! sent, every venue event and every control message that took effect, one JSON object a
//! line, in market time. Written on the cold path from the hot thread's log ring; its SHA-256
//! is printed at exit, so two replays of one journal can be compared by their hashes.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use feed::order::{OrderRequest, VenueEvent};
use rtrb::Consumer;
use sha2::{Digest, Sha256};

use super::rings::{Control, LogRecord, MarketEvent, Outcome};
use crate::pipeline::Rejection;

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    /// The file.
    pub path: PathBuf,
    /// Lines written.
    pub records: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// Why the log could not be written.
#[derive(Debug, thiserror::Error)]
#[error("decision log {path}: {source}")]
pub struct LogError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    pub source: std::io::Error,
}

/// Writes the log ring to `path` until `done` is set and the ring is drained.
pub fn run(
    path: &Path,
    mut records: Consumer<LogRecord>,
    done: &AtomicBool,
) -> Result<LogReport, LogError> {
    let error = |source| LogError {
        path: path.to_path_buf(),
        source,
    };
    let mut out = BufWriter::new(File::create(path).map_err(error)?);
    let mut hasher = Sha256::new();
    let mut line = String::with_capacity(512);
    let mut count = 0_u64;
    loop {
        let finished = done.load(Ordering::Acquire);
        let mut wrote = false;
        while let Ok(record) = records.pop() {
            line.clear();
            format_record(&record, &mut line);
            line.push('\n');
            hasher.update(line.as_bytes());
            out.write_all(line.as_bytes()).map_err(error)?;
            count += 1;
            wrote = true;
        }
        if finished && records.is_empty() {
            break;
        }
        if !wrote {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    out.flush().map_err(error)?;
    Ok(LogReport {
        path: path.to_path_buf(),
        records: count,
        sha256: hasher
            .finalize()
            .iter()
            .fold(String::with_capacity(64), |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            }),
    })
}

/// Closes a venue event's object: when the order manager took it if later than the event's own
/// time `ts_ns` (a simulated venue's answer, delayed by the response latency), and the venue's
/// own time stamp when it sent one.
fn close_event(line: &mut String, ts_ns: u64, received_ns: u64, venue_ms: u64) {
    if received_ns > ts_ns {
        let _ = write!(line, ",\"received_ns\":{received_ns}");
    }
    if venue_ms > 0 {
        let _ = write!(line, ",\"venue_ms\":{venue_ms}");
    }
    line.push('}');
}

fn order_fields(line: &mut String, order: &OrderRequest) {
    let _ = write!(
        line,
        "\"id\":{},\"side\":\"{}\",\"price\":\"{}\",\"qty\":\"{}\",\"reduce_only\":{}",
        order.id.0,
        order.side.as_str(),
        order.price,
        order.qty,
        order.reduce_only
    );
}

fn rejection_label(rejection: &Rejection) -> &'static str {
    match rejection {
        Rejection::Score => "score",
        Rejection::Sizing(reject) => reject.label(),
        Rejection::Gate(reject) => reject.label(),
    }
}

/// One record as a JSON object.
pub fn format_record(record: &LogRecord, line: &mut String) {
    match record {
        LogRecord::Decision {
            ts_ns,
            signal,
            side,
            price,
            score,
            route,
            outcome,
        } => {
            let _ = write!(
                line,
                "{{\"ts_ns\":{ts_ns},\"type\":\"decision\",\"signal\":{},\"side\":\"{}\",\"price\":\"{price}\",\"score\":{score},\"route\":\"{}\",\"outcome\":",
                signal.0,
                side.as_str(),
                route.label()
            );
            match outcome {
                Outcome::Placed { order } => {
                    let _ = write!(
                        line,
                        "\"placed\",\"order\":{},\"qty\":\"{}\"}}",
                        order.id.0, order.qty
                    );
                }
                Outcome::Rejected(rejection) => {
                    let _ = write!(
                        line,
                        "\"rejected\",\"reason\":\"{}\"}}",
                        rejection_label(rejection)
                    );
                }
                Outcome::Halted => line.push_str("\"halted\"}"),
                Outcome::EntryWorking => line.push_str("\"entry_working\"}"),
                Outcome::PositionBusy => line.push_str("\"position_busy\"}"),
            }
        }
        LogRecord::Place {
            ts_ns,
            order,
            purpose,
        } => {
            let _ = write!(
                line,
                "{{\"ts_ns\":{ts_ns},\"type\":\"place\",\"purpose\":\"{}\",",
                purpose.label()
            );
            order_fields(line, order);
            line.push('}');
        }
        LogRecord::Amend {
            ts_ns,
            id,
            price,
            qty,
            purpose,
        } => {
            let _ = write!(
                line,
                "{{\"ts_ns\":{ts_ns},\"type\":\"amend\",\"purpose\":\"{}\",\"id\":{},\"price\":\"{price}\",\"qty\":\"{qty}\"}}",
                purpose.label(),
                id.0
            );
        }
        LogRecord::Cancel { ts_ns, id, reason } => {
            let _ = write!(
                line,
                "{{\"ts_ns\":{ts_ns},\"type\":\"cancel\",\"id\":{},\"reason\":\"{}\"}}",
                id.0,
                reason.label()
            );
        }
        LogRecord::Venue { event, received_ns } => match event {
            VenueEvent::Accepted {
                id,
                queue_ahead,
                ts_ns,
                venue_ms,
            } => {
                let _ = write!(
                    line,
                    "{{\"ts_ns\":{ts_ns},\"type\":\"accepted\",\"id\":{},\"queue_ahead\":\"{queue_ahead}\"",
                    id.0
                );
                close_event(line, *ts_ns, *received_ns, *venue_ms);
            }
            VenueEvent::Rejected {
                id,
                reason,
                ts_ns,
                venue_ms,
            } => {
                let _ = write!(
                    line,
                    "{{\"ts_ns\":{ts_ns},\"type\":\"rejected\",\"id\":{},\"reason\":\"{}\"",
                    id.0,
                    reason.label()
                );
                close_event(line, *ts_ns, *received_ns, *venue_ms);
            }
            VenueEvent::Cancelled {
                id,
                filled,
                ts_ns,
                venue_ms,
            } => {
                let _ = write!(
                    line,
                    "{{\"ts_ns\":{ts_ns},\"type\":\"cancelled\",\"id\":{},\"filled\":\"{filled}\"",
                    id.0
                );
                close_event(line, *ts_ns, *received_ns, *venue_ms);
            }
            VenueEvent::Amended {
                id,
                price,
                qty,
                ts_ns,
                venue_ms,
            } => {
                let _ = write!(
                    line,
                    "{{\"ts_ns\":{ts_ns},\"type\":\"amended\",\"id\":{},\"price\":\"{price}\",\"qty\":\"{qty}\"",
                    id.0
                );
                close_event(line, *ts_ns, *received_ns, *venue_ms);
            }
            VenueEvent::AmendRejected { id, ts_ns } => {
                let _ = write!(
                    line,
                    "{{\"ts_ns\":{ts_ns},\"type\":\"amend_rejected\",\"id\":{}",
                    id.0
                );
                close_event(line, *ts_ns, *received_ns, 0);
            }
            VenueEvent::Filled(fill) => {
                let _ = write!(
                    line,
                    "{{\"ts_ns\":{},\"type\":\"fill\",\"id\":{},\"side\":\"{}\",\"price\":\"{}\",\"qty\":\"{}\",\"leaves_qty\":\"{}\",\"fee\":\"{}\",\"realized\":\"{}\"",
                    fill.ts_ns,
                    fill.id.0,
                    fill.side.as_str(),
                    fill.price,
                    fill.qty,
                    fill.leaves_qty,
                    fill.fee,
                    fill.realized
                );
                close_event(line, fill.ts_ns, *received_ns, fill.venue_ms);
            }
        },
        LogRecord::VenueNote { ts_ns, note } => {
            use feed::venue::VenueNote;
            // The paper shadow's comparisons are not reconciliation's.
            let kind = match note {
                VenueNote::ShadowCompared { .. } => "shadow",
                _ => "reconcile",
            };
            let _ = write!(line, "{{\"ts_ns\":{ts_ns},\"type\":\"{kind}\",\"event\":");
            let _ = match note {
                VenueNote::ShadowCompared {
                    id,
                    venue_fill_ns,
                    paper_fill_ns,
                } => {
                    let _ = write!(line, "\"compared\",\"id\":{}", id.0);
                    for (name, fill) in [
                        ("venue_fill_ns", venue_fill_ns),
                        ("paper_fill_ns", paper_fill_ns),
                    ] {
                        if let Some(ns) = fill {
                            let _ = write!(line, ",\"{name}\":{ns}");
                        }
                    }
                    write!(line, "}}")
                }
                VenueNote::UnknownFate { id } => {
                    write!(line, "\"unknown_fate\",\"id\":{}}}", id.0)
                }
                VenueNote::MissedFill { id, qty } => {
                    write!(line, "\"missed_fill\",\"id\":{},\"qty\":\"{qty}\"}}", id.0)
                }
                VenueNote::OrderSettled { id, at_venue } => write!(
                    line,
                    "\"order_settled\",\"id\":{},\"at_venue\":{at_venue}}}",
                    id.0
                ),
                VenueNote::ForeignCancelled { order_id } => {
                    write!(line, "\"foreign_cancelled\",\"order_id\":\"{order_id}\"}}")
                }
                VenueNote::ForeignAdopted { order_id, id } => write!(
                    line,
                    "\"foreign_adopted\",\"order_id\":\"{order_id}\",\"id\":{}}}",
                    id.0
                ),
                VenueNote::PositionCorrected { engine, venue } => write!(
                    line,
                    "\"position_corrected\",\"engine\":\"{engine}\",\"venue\":\"{venue}\"}}"
                ),
                VenueNote::Doubt { reason } => {
                    write!(line, "\"doubt\",\"reason\":\"{}\"}}", reason.label())
                }
                VenueNote::OutsideExecution { kind, qty } => write!(
                    line,
                    "\"outside_execution\",\"kind\":\"{}\",\"qty\":\"{qty}\"}}",
                    kind.label()
                ),
                VenueNote::OutsideCancel { id, kind } => write!(
                    line,
                    "\"outside_cancel\",\"id\":{},\"kind\":\"{}\"}}",
                    id.0,
                    kind.label()
                ),
                VenueNote::EntriesHalted => write!(line, "\"entries_halted\"}}"),
                VenueNote::ReconcileDeferred => write!(line, "\"deferred\"}}"),
                VenueNote::Reconciled => write!(line, "\"reconciled\"}}"),
            };
        }
        LogRecord::Closed(trade) => {
            let _ = write!(
                line,
                "{{\"ts_ns\":{},\"type\":\"closed\",\"route\":\"{}\",\"side\":\"{}\",\"qty\":\"{}\",\"pnl\":{}}}",
                trade.ts_ns,
                trade.route.label(),
                trade.side.as_str(),
                trade.qty,
                trade.pnl
            );
        }
        LogRecord::Markout { ts_ns, measured } => {
            let horizon_ms = feed::markout::MARKOUT_HORIZONS_NS[measured.horizon] / 1_000_000;
            let _ = write!(
                line,
                "{{\"ts_ns\":{ts_ns},\"type\":\"markout\",\"id\":{},\"horizon_ms\":{horizon_ms},\"bps\":{}}}",
                measured.id.0, measured.bps
            );
        }
        LogRecord::Control { ts_ns, control } => {
            let (kind, detail) = match control {
                Control::Halt(reason) => ("halt", reason.label()),
                Control::Resume(reason) => ("resume", reason.label()),
                Control::Rollout(mode) => ("rollout", mode.label()),
            };
            let _ = write!(
                line,
                "{{\"ts_ns\":{ts_ns},\"type\":\"control\",\"control\":\"{kind}\",\"detail\":\"{detail}\"}}"
            );
        }
        LogRecord::Market { ts_ns, event } => {
            let (kind, detail) = match event {
                MarketEvent::LinkLost(reason) => ("link_lost", reason.label()),
                MarketEvent::BookInvalid(reason) => ("book_invalid", reason.label()),
                MarketEvent::BookValid => ("book_valid", ""),
            };
            let _ = write!(
                line,
                "{{\"ts_ns\":{ts_ns},\"type\":\"market\",\"event\":\"{kind}\",\"detail\":\"{detail}\"}}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::rings::{Purpose, Route};
    use crate::signals::SignalId;
    use feed::order::{Fill, OrderId, RejectReason};
    use feed::{Fixed, Side};

    fn line(record: &LogRecord) -> String {
        let mut line = String::new();
        format_record(record, &mut line);
        line
    }

    #[test]
    fn records_are_one_json_object_each() {
        let order = OrderRequest {
            id: OrderId(7),
            side: Side::Sell,
            price: "60000.1".parse().unwrap(),
            qty: "0.333".parse().unwrap(),
            reduce_only: false,
        };
        let decision = LogRecord::Decision {
            ts_ns: 5,
            signal: SignalId(21),
            side: Side::Sell,
            price: order.price,
            score: 0.75,
            route: Route::Canary,
            outcome: Outcome::Placed { order },
        };
        assert_eq!(
            line(&decision),
            "{\"ts_ns\":5,\"type\":\"decision\",\"signal\":21,\"side\":\"Sell\",\"price\":\"60000.1\",\
             \"score\":0.75,\"route\":\"canary\",\"outcome\":\"placed\",\"order\":7,\"qty\":\"0.333\"}"
        );
        let place = LogRecord::Place {
            ts_ns: 5,
            order,
            purpose: Purpose::Entry,
        };
        assert_eq!(
            line(&place),
            "{\"ts_ns\":5,\"type\":\"place\",\"purpose\":\"entry\",\"id\":7,\"side\":\"Sell\",\
             \"price\":\"60000.1\",\"qty\":\"0.333\",\"reduce_only\":false}"
        );
        // A simulated venue's fill, taken by the order manager at the next frame (12).
        let fill = LogRecord::Venue {
            event: VenueEvent::Filled(Fill {
                id: OrderId(7),
                side: Side::Sell,
                price: order.price,
                qty: order.qty,
                leaves_qty: Fixed::ZERO,
                fee: "3.99".parse().unwrap(),
                realized: Fixed::ZERO,
                ts_ns: 9,
                venue_ms: 0,
            }),
            received_ns: 12,
        };
        assert_eq!(
            line(&fill),
            "{\"ts_ns\":9,\"type\":\"fill\",\"id\":7,\"side\":\"Sell\",\"price\":\"60000.1\",\
             \"qty\":\"0.333\",\"leaves_qty\":\"0\",\"fee\":\"3.99\",\"realized\":\"0\",\
             \"received_ns\":12}"
        );
        let rejected = LogRecord::Venue {
            event: VenueEvent::Rejected {
                id: OrderId(7),
                reason: RejectReason::PostOnlyWillTakeLiquidity,
                ts_ns: 9,
                venue_ms: 0,
            },
            received_ns: 9,
        };
        let closed = LogRecord::Closed(crate::runtime::rings::ClosedTrade {
            ts_ns: 11,
            route: Route::Active,
            side: Side::Sell,
            qty: order.qty,
            pnl: -1.25,
        });
        assert_eq!(
            line(&closed),
            "{\"ts_ns\":11,\"type\":\"closed\",\"route\":\"active\",\"side\":\"Sell\",\
             \"qty\":\"0.333\",\"pnl\":-1.25}"
        );
        let markout = LogRecord::Markout {
            ts_ns: 5_000_000_009,
            measured: feed::markout::Measured {
                id: OrderId(7),
                horizon: 1,
                bps: 2.5,
            },
        };
        assert_eq!(
            line(&markout),
            "{\"ts_ns\":5000000009,\"type\":\"markout\",\"id\":7,\"horizon_ms\":5000,\"bps\":2.5}"
        );
        let notes = [
            (
                feed::venue::VenueNote::UnknownFate { id: OrderId(7) },
                "\"unknown_fate\",\"id\":7}",
            ),
            (
                feed::venue::VenueNote::MissedFill {
                    id: OrderId(7),
                    qty: order.qty,
                },
                "\"missed_fill\",\"id\":7,\"qty\":\"0.333\"}",
            ),
            (
                feed::venue::VenueNote::OrderSettled {
                    id: OrderId(7),
                    at_venue: false,
                },
                "\"order_settled\",\"id\":7,\"at_venue\":false}",
            ),
            (
                feed::venue::VenueNote::ForeignCancelled {
                    order_id: feed::text::InlineStr::new("c0ffee-01").unwrap(),
                },
                "\"foreign_cancelled\",\"order_id\":\"c0ffee-01\"}",
            ),
            (
                feed::venue::VenueNote::ForeignAdopted {
                    order_id: feed::text::InlineStr::new("c0ffee-02").unwrap(),
                    id: OrderId(1 << 62),
                },
                "\"foreign_adopted\",\"order_id\":\"c0ffee-02\",\"id\":4611686018427387904}",
            ),
            (
                feed::venue::VenueNote::PositionCorrected {
                    engine: Fixed::ZERO,
                    venue: order.qty,
                },
                "\"position_corrected\",\"engine\":\"0\",\"venue\":\"0.333\"}",
            ),
            (feed::venue::VenueNote::Reconciled, "\"reconciled\"}"),
        ];
        for (note, rest) in notes {
            assert_eq!(
                line(&LogRecord::VenueNote { ts_ns: 12, note }),
                format!("{{\"ts_ns\":12,\"type\":\"reconcile\",\"event\":{rest}")
            );
        }
        // The paper shadow's comparison of an order: its own type; a side that never filled
        // has no time.
        let compared = feed::venue::VenueNote::ShadowCompared {
            id: OrderId(7),
            venue_fill_ns: Some(40),
            paper_fill_ns: None,
        };
        assert_eq!(
            line(&LogRecord::VenueNote {
                ts_ns: 12,
                note: compared
            }),
            "{\"ts_ns\":12,\"type\":\"shadow\",\"event\":\"compared\",\"id\":7,\"venue_fill_ns\":40}"
        );
        for record in [decision, place, fill, rejected, closed, markout] {
            let parsed: serde_json::Value = serde_json::from_str(&line(&record)).unwrap();
            assert!(parsed["ts_ns"].is_u64());
        }
    }
}
