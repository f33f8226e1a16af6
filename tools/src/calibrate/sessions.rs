//! Decision logs (`decisions.jsonl` of `engine run`, paper or real) read back as what the
//! calibration needs: every order sent, when it left, when and how the venue answered, its
//! fills; and every answer with when it was taken.
//!
//! Times come in two kinds. A paper venue stamps its answers with its own market time in ns
//! (`ts_ns`) and the log adds when the order manager took them (`received_ns`, the next frame);
//! a real venue's answers carry its time stamp in ms (`venue_ms`) and `ts_ns` is when they
//! were received (any `received_ns` beside is the order manager's, not the link's). Either way
//! [`VenueTime`] is the window the venue acted in. In a real venue's log, an answer without
//! `venue_ms` was made on the engine's side and is left out.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, Result, bail};
use feed::order::{OrderId, OrderRequest};
use feed::{Fixed, Side};
use serde_json::Value;

/// When the venue did something: `[lo_ns, hi_ns)`, one instant for a paper venue, a whole
/// millisecond for a real venue's `venue_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VenueTime {
    pub(crate) lo_ns: u64,
    pub(crate) hi_ns: u64,
}

impl VenueTime {
    /// The instant used where one is needed (the window's start: what the venue stamped).
    pub(crate) const fn ns(self) -> u64 {
        self.lo_ns
    }

    /// True when known to the ns.
    pub(crate) const fn exact(self) -> bool {
        self.lo_ns == self.hi_ns
    }
}

/// A request on its way to the venue: when it left and, when the venue answered it, when it
/// arrived there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) sent_ns: u64,
    pub(crate) arrived: Option<VenueTime>,
}

/// One order's life as the log tells it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrderLife {
    pub(crate) request: OrderRequest,
    pub(crate) new: Message,
    /// The venue took it (an `accepted`, or a fill of an order never acknowledged).
    pub(crate) accepted: bool,
    /// The venue refused it on arrival.
    pub(crate) rejected: bool,
    pub(crate) cancel: Option<Message>,
    /// When an amend was sent: the order is followed no further.
    pub(crate) amended_ns: Option<u64>,
    /// The venue time of its first fill.
    pub(crate) first_fill: Option<VenueTime>,
    pub(crate) filled: Fixed,
}

/// An answer of the venue: when the venue made it and when the order manager took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) made: VenueTime,
    pub(crate) received_ns: u64,
    /// True when `received_ns` is the moment it came (a live venue's private stream); false
    /// when it is the frame at which a simulated venue's answer was taken, so it came after
    /// the frame before.
    pub(crate) receipt_exact: bool,
}

/// A real session's order as the paper venue's shadow of it compared (`engine run` in real
/// mode): when each side first filled it, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShadowCompared {
    pub(crate) venue_fill_ns: Option<u64>,
    pub(crate) paper_fill_ns: Option<u64>,
}

/// One session's log.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Session {
    /// Orders in the order they were sent.
    pub(crate) orders: Vec<OrderLife>,
    pub(crate) answers: Vec<Answer>,
    /// The shadow's comparisons, in a real session's log.
    pub(crate) shadow: Vec<ShadowCompared>,
    /// Market time of the first and last record, ns.
    pub(crate) first_ns: u64,
    pub(crate) last_ns: u64,
}

impl Session {
    /// Reads `path`; a line that is not a record of the log's format is an error naming the
    /// file and the line.
    pub(crate) fn read(path: &Path) -> Result<Session> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut session = Session {
            orders: Vec::new(),
            answers: Vec::new(),
            shadow: Vec::new(),
            first_ns: u64::MAX,
            last_ns: 0,
        };
        let mut index: HashMap<u64, usize> = HashMap::new();
        for (number, line) in BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            session
                .take(&line, &mut index)
                .with_context(|| format!("{} line {}", path.display(), number + 1))?;
        }
        if session.orders.is_empty() {
            bail!("{}: no order was sent in this log", path.display());
        }
        if session.answers.iter().any(|answer| answer.receipt_exact) {
            session.leave_out_local_answers();
        }
        Ok(session)
    }

    /// A live venue's log: what carries no venue time was answered on the engine's side (a
    /// link down, a rate limit, entries halted, a local reduce-only check). Those answers
    /// travelled nowhere, and their orders or cancels never reached the venue.
    fn leave_out_local_answers(&mut self) {
        self.answers.retain(|answer| answer.receipt_exact);
        for order in &mut self.orders {
            if order.new.arrived.is_some_and(VenueTime::exact) {
                order.new.arrived = None;
                order.rejected = false;
            }
            if let Some(cancel) = &mut order.cancel
                && cancel.arrived.is_some_and(VenueTime::exact)
            {
                cancel.arrived = None;
            }
        }
    }

    fn take(&mut self, line: &str, index: &mut HashMap<u64, usize>) -> Result<()> {
        let record: Value = serde_json::from_str(line).context("not JSON")?;
        let ts_ns = record["ts_ns"].as_u64().context("no ts_ns")?;
        self.first_ns = self.first_ns.min(ts_ns);
        self.last_ns = self.last_ns.max(ts_ns);
        let kind = record["type"].as_str().context("no type")?;
        let id = || record["id"].as_u64().context("no id");
        let venue_ms = record["venue_ms"].as_u64();
        let made = match venue_ms {
            Some(ms) => {
                let ns = |ms: u64| ms.checked_mul(1_000_000).context("venue_ms out of range");
                VenueTime {
                    lo_ns: ns(ms)?,
                    hi_ns: ns(ms.saturating_add(1))?,
                }
            }
            None => VenueTime {
                lo_ns: ts_ns,
                hi_ns: ts_ns,
            },
        };
        // Refusals made on the engine's side of the link (nothing was sent) never travelled: a
        // paper venue's own (`reject_now`); a live venue's carry no venue time (left out once
        // the log is read, see `Session::read`).
        let local = kind == "amend_rejected"
            || matches!(
                record["reason"].as_str(),
                Some("too_many_orders" | "invalid_order")
            );
        if !local
            && matches!(
                kind,
                "accepted" | "rejected" | "cancelled" | "amended" | "fill"
            )
        {
            // A live venue's answer was received at `ts_ns`; a simulated venue's, at the frame
            // `received_ns` (when later than its own time).
            let received_ns = match venue_ms {
                Some(_) => ts_ns,
                None => record["received_ns"].as_u64().unwrap_or(ts_ns),
            };
            self.last_ns = self.last_ns.max(received_ns);
            self.answers.push(Answer {
                made,
                received_ns,
                receipt_exact: venue_ms.is_some(),
            });
        }
        match kind {
            "place" => {
                let request = OrderRequest {
                    id: OrderId(id()?),
                    side: side(&record["side"])?,
                    price: fixed(&record["price"], "price")?,
                    qty: fixed(&record["qty"], "qty")?,
                    reduce_only: record["reduce_only"].as_bool().context("no reduce_only")?,
                };
                index.insert(request.id.0, self.orders.len());
                self.orders.push(OrderLife {
                    request,
                    new: Message {
                        sent_ns: ts_ns,
                        arrived: None,
                    },
                    accepted: false,
                    rejected: false,
                    cancel: None,
                    amended_ns: None,
                    first_fill: None,
                    filled: Fixed::ZERO,
                });
            }
            "cancel" => {
                if let Some(order) = self.order(index, id()?) {
                    order.cancel.get_or_insert(Message {
                        sent_ns: ts_ns,
                        arrived: None,
                    });
                }
            }
            "amend" => {
                if let Some(order) = self.order(index, id()?) {
                    order.amended_ns.get_or_insert(ts_ns);
                }
            }
            "accepted" => {
                if let Some(order) = self.order(index, id()?) {
                    order.accepted = true;
                    order.new.arrived.get_or_insert(made);
                }
            }
            "rejected" => {
                if let Some(order) = self.order(index, id()?) {
                    // A refused cancel (the order was gone) is the cancel's arrival; a refused
                    // order is the order's.
                    match &mut order.cancel {
                        Some(cancel) if order.accepted => {
                            cancel.arrived.get_or_insert(made);
                        }
                        _ => {
                            order.rejected = !order.accepted;
                            order.new.arrived.get_or_insert(made);
                        }
                    }
                }
            }
            "cancelled" => {
                if let Some(order) = self.order(index, id()?) {
                    if let Some(cancel) = &mut order.cancel {
                        cancel.arrived.get_or_insert(made);
                    }
                    if !order.accepted {
                        // Cancelled by the venue on arrival (Bybit cancels a post-only order
                        // that would cross).
                        order.rejected = true;
                        order.new.arrived.get_or_insert(made);
                    }
                }
            }
            "fill" => {
                let qty = fixed(&record["qty"], "qty")?;
                if let Some(order) = self.order(index, id()?) {
                    order.accepted = true;
                    order.first_fill.get_or_insert(made);
                    order.filled = order.filled.saturating_add(qty);
                }
            }
            "shadow" => self.shadow.push(ShadowCompared {
                venue_fill_ns: record["venue_fill_ns"].as_u64(),
                paper_fill_ns: record["paper_fill_ns"].as_u64(),
            }),
            _ => {}
        }
        Ok(())
    }

    fn order(&mut self, index: &HashMap<u64, usize>, id: u64) -> Option<&mut OrderLife> {
        index.get(&id).map(|&at| &mut self.orders[at])
    }
}

fn side(value: &Value) -> Result<Side> {
    match value.as_str() {
        Some("Buy") => Ok(Side::Buy),
        Some("Sell") => Ok(Side::Sell),
        _ => bail!("side is {value}, not Buy or Sell"),
    }
}

fn fixed(value: &Value, name: &str) -> Result<Fixed> {
    value
        .as_str()
        .and_then(|text| text.parse().ok())
        .with_context(|| format!("{name} is {value}, not a decimal string"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code

    use super::*;

    /// A paper session's order that rests, fills in part and is cancelled; one refused as
    /// post-only; the shadow's comparison of an order.
    #[test]
    fn a_log_reads_back_as_order_lives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.jsonl");
        std::fs::write(
            &path,
            r#"{"ts_ns":100,"type":"place","purpose":"entry","id":1,"side":"Buy","price":"100.5","qty":"0.2","reduce_only":false}
{"ts_ns":117,"type":"accepted","id":1,"queue_ahead":"3","received_ns":130}
{"ts_ns":150,"type":"fill","id":1,"side":"Buy","price":"100.5","qty":"0.1","leaves_qty":"0.1","fee":"0","realized":"0","received_ns":160}
{"ts_ns":200,"type":"cancel","id":1,"reason":"expired"}
{"ts_ns":212,"type":"cancelled","id":1,"filled":"0.1","received_ns":220}
{"ts_ns":300,"type":"place","purpose":"entry","id":2,"side":"Sell","price":"100","qty":"0.2","reduce_only":false}
{"ts_ns":5000000,"type":"rejected","id":2,"reason":"post_only_will_take_liquidity"}
{"ts_ns":5000000,"type":"shadow","event":"compared","id":2,"paper_fill_ns":4500000}
"#,
        )
        .unwrap();
        let session = Session::read(&path).unwrap();
        let first = &session.orders[0];
        assert!(first.accepted && !first.rejected);
        assert_eq!(
            first.new.arrived,
            Some(VenueTime {
                lo_ns: 117,
                hi_ns: 117
            })
        );
        assert_eq!(first.first_fill.map(VenueTime::ns), Some(150));
        assert_eq!(first.filled, "0.1".parse().unwrap());
        assert_eq!(first.cancel.unwrap().arrived.map(VenueTime::ns), Some(212));
        let second = &session.orders[1];
        assert!(second.rejected);
        assert_eq!(
            second.new.arrived,
            Some(VenueTime {
                lo_ns: 5_000_000,
                hi_ns: 5_000_000
            })
        );
        assert_eq!(session.answers.len(), 4);
        assert_eq!(
            session.answers[0],
            Answer {
                made: VenueTime {
                    lo_ns: 117,
                    hi_ns: 117
                },
                received_ns: 130,
                receipt_exact: false
            }
        );
        assert!(!session.answers[3].receipt_exact);
        assert_eq!((session.first_ns, session.last_ns), (100, 5_000_000));
        assert_eq!(
            session.shadow,
            [ShadowCompared {
                venue_fill_ns: None,
                paper_fill_ns: Some(4_500_000)
            }]
        );
    }

    /// A live venue's log: an order the venue took (its time in ms, received later), one the
    /// engine refused itself (no venue time: the link was down), and a venue time out of range.
    #[test]
    fn a_live_venues_log_keeps_only_what_travelled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.jsonl");
        std::fs::write(
            &path,
            r#"{"ts_ns":1000000,"type":"place","purpose":"entry","id":1,"side":"Buy","price":"100.5","qty":"0.2","reduce_only":false}
{"ts_ns":9000000,"type":"accepted","id":1,"queue_ahead":"0","received_ns":9500000,"venue_ms":6}
{"ts_ns":10000000,"type":"place","purpose":"entry","id":2,"side":"Buy","price":"100.5","qty":"0.2","reduce_only":false}
{"ts_ns":10000000,"type":"rejected","id":2,"reason":"venue_unavailable"}
"#,
        )
        .unwrap();
        let session = Session::read(&path).unwrap();
        assert_eq!(
            session.answers,
            [Answer {
                made: VenueTime {
                    lo_ns: 6_000_000,
                    hi_ns: 7_000_000
                },
                received_ns: 9_000_000,
                receipt_exact: true
            }]
        );
        assert_eq!(session.orders[1].new.arrived, None);
        assert!(!session.orders[1].rejected);

        std::fs::write(
            &path,
            "{\"ts_ns\":1,\"type\":\"accepted\",\"id\":1,\"queue_ahead\":\"0\",\"venue_ms\":18446744073709551615}\n",
        )
        .unwrap();
        let error = format!("{:#}", Session::read(&path).unwrap_err());
        assert!(error.ends_with("line 1: venue_ms out of range"), "{error}");
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.jsonl");
        std::fs::write(
            &path,
            "{\"ts_ns\":1,\"type\":\"place\",\"id\":1,\"side\":\"Up\",\"price\":\"1\",\"qty\":\"1\",\"reduce_only\":false}\n",
        )
        .unwrap();
        let error = format!("{:#}", Session::read(&path).unwrap_err());
        assert!(
            error.contains("decisions.jsonl line 1: side is \"Up\""),
            "{error}"
        );
    }
}
