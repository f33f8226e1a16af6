//! The venue's matching engine: the account's orders, filled by the paper venue (the engine's
//! one fill model: queue position, trades and the opposite side reaching the price) against the
//! served market, and what the private stream and REST say about them.
//!
//! Orders arrive from the trade stream or REST. They are checked as Bybit checks them at the
//! door, in Bybit's words (a limit order only; `PostOnly` or `GTC`; `positionIdx` 0 in one-way
//! mode; a tick-multiple price and a step-multiple quantity of at least the minimum; the
//! minimum notional; a new `orderLinkId`; a reduce-only order that reduces), answered with
//! their ids at once, and handed to the paper venue, which reports what became of them:
//!
//! - resting: `New`;
//! - would take liquidity: `Cancelled` with `EC_PostOnlyWillTakeLiquidity`, nothing filled;
//! - a fill: an `execution`, the order `PartiallyFilled` or `Filled`, the `position` and the
//!   `wallet`;
//! - cancelled: `Cancelled` with `CancelByUser` (an amend is a cancel of the resting part and a
//!   new one at the new terms, under the same ids).
//!
//! Every change is pushed to the private-stream connections subscribed to its topic, in order.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use feed::order::{OrderId, OrderRequest, RejectReason, VenueEvent};
use feed::paper::{PaperConfig, PaperVenue};
use feed::{Fixed, Instrument, OrderBook, Side, Symbol};
use serde::Deserialize;

use super::account::{PositionMode, Refusal};

/// The private topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PrivateTopic {
    /// `order`
    Order,
    /// `execution`
    Execution,
    /// `position`
    Position,
    /// `wallet`
    Wallet,
    /// `dcp`: arms disconnect-cancel-all.
    Dcp,
}

impl PrivateTopic {
    /// The topic of a subscribe argument (`order`, `order.linear`, ...).
    pub(crate) fn parse(text: &str) -> Option<PrivateTopic> {
        let base = match text.split_once('.') {
            Some((base, "linear")) => base,
            Some(_) => return None,
            None => text,
        };
        Some(match base {
            "order" => PrivateTopic::Order,
            "execution" => PrivateTopic::Execution,
            "position" => PrivateTopic::Position,
            "wallet" => PrivateTopic::Wallet,
            "dcp" => PrivateTopic::Dcp,
            _ => return None,
        })
    }

    pub(crate) const fn name(self) -> &'static str {
        match self {
            PrivateTopic::Order => "order",
            PrivateTopic::Execution => "execution",
            PrivateTopic::Position => "position",
            PrivateTopic::Wallet => "wallet",
            PrivateTopic::Dcp => "dcp",
        }
    }
}

/// A push for the private connections subscribed to its topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Push {
    pub(crate) topic: PrivateTopic,
    pub(crate) text: String,
}

/// One order's state.
#[derive(Debug, Clone)]
struct VenueOrder {
    order_id: String,
    link_id: String,
    side: Side,
    price: Fixed,
    qty: Fixed,
    reduce_only: bool,
    time_in_force: &'static str,
    status: &'static str,
    reject_reason: &'static str,
    cancel_type: &'static str,
    cum_qty: Fixed,
    /// Price x quantity filled, raw units squared.
    cum_value: i128,
    created_ms: u64,
    updated_ms: u64,
    /// The paper venue's id of its resting part (changes with each amend).
    paper_id: OrderId,
}

impl VenueOrder {
    fn is_open(&self) -> bool {
        matches!(self.status, "Created" | "New" | "PartiallyFilled")
    }

    fn json(&self, symbol: Symbol) -> String {
        let leaves = if self.is_open() {
            self.qty.saturating_sub(self.cum_qty)
        } else {
            Fixed::ZERO
        };
        let avg = average(self.cum_value, self.cum_qty);
        let value = Fixed::from_raw((self.cum_value / i128::from(Fixed::SCALE)) as i64);
        format!(
            r#"{{"category":"linear","symbol":"{symbol}","orderId":"{}","orderLinkId":"{}","side":"{}","orderType":"Limit","price":"{}","qty":"{}","timeInForce":"{}","orderStatus":"{}","rejectReason":"{}","cancelType":"{}","reduceOnly":{},"positionIdx":0,"leavesQty":"{leaves}","cumExecQty":"{}","cumExecValue":"{value}","avgPrice":"{}","createdTime":"{}","updatedTime":"{}","closeOnTrigger":false,"stopOrderType":"","triggerPrice":"","takeProfit":"","stopLoss":""}}"#,
            self.order_id,
            self.link_id,
            self.side.as_str(),
            self.price,
            self.qty,
            self.time_in_force,
            if self.status == "Created" {
                "New"
            } else {
                self.status
            },
            self.reject_reason,
            self.cancel_type,
            self.reduce_only,
            self.cum_qty,
            avg.map(|avg| avg.to_string()).unwrap_or_default(),
            self.created_ms,
            self.updated_ms,
        )
    }
}

/// The average price of `value` (raw units squared) over `qty`.
fn average(value: i128, qty: Fixed) -> Option<Fixed> {
    (qty.is_positive()).then(|| Fixed::from_raw((value / i128::from(qty.raw())) as i64))
}

/// A new order, as the trade stream and REST send it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateRequest {
    category: String,
    symbol: String,
    side: String,
    order_type: String,
    qty: Fixed,
    #[serde(default)]
    price: Option<Fixed>,
    #[serde(default)]
    time_in_force: Option<String>,
    #[serde(default)]
    position_idx: Option<u8>,
    #[serde(default)]
    order_link_id: Option<String>,
    #[serde(default)]
    reduce_only: Option<bool>,
}

/// An amend.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AmendRequest {
    category: String,
    symbol: String,
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    order_link_id: Option<String>,
    #[serde(default)]
    qty: Option<Fixed>,
    #[serde(default)]
    price: Option<Fixed>,
}

/// A cancel (one order, or with neither id for cancel-all).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancelRequest {
    category: String,
    symbol: String,
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    order_link_id: Option<String>,
}

/// The ids an accepted request answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    pub(crate) order_id: String,
    pub(crate) link_id: String,
}

impl Ack {
    /// `{"orderId","orderLinkId"}`.
    pub(crate) fn json(&self) -> String {
        format!(
            r#"{{"orderId":"{}","orderLinkId":"{}"}}"#,
            self.order_id, self.link_id
        )
    }
}

fn refusal(code: i64, message: &str) -> Refusal {
    Refusal {
        code,
        message: message.to_owned(),
    }
}

/// The account's orders and position at the venue.
#[derive(Debug)]
pub(crate) struct Exchange {
    symbol: Symbol,
    rules: Instrument,
    paper: PaperVenue,
    /// Every order this run, by its venue id.
    orders: BTreeMap<String, VenueOrder>,
    /// The venue id of each paper id.
    by_paper: BTreeMap<OrderId, String>,
    next_paper_id: u64,
    seed: u64,
    /// Execution and message sequence.
    seq: u64,
    /// Every execution, oldest first, as `execution/list` gives them.
    executions: Vec<String>,
}

impl Exchange {
    /// An exchange for `symbol` with `rules`, holding `balance` USDT.
    pub(crate) fn new(symbol: Symbol, rules: Instrument, balance: Fixed, seed: u64) -> Exchange {
        Exchange {
            symbol,
            rules,
            paper: PaperVenue::new(PaperConfig::new(balance, rules.maker_fee_rate)),
            orders: BTreeMap::new(),
            by_paper: BTreeMap::new(),
            next_paper_id: 1,
            seed,
            seq: 1,
            executions: Vec::new(),
        }
    }

    /// The latest `limit` executions, newest first (`/v5/execution/list`).
    pub(crate) fn executions_json(&self, limit: usize) -> Vec<String> {
        self.executions.iter().rev().take(limit).cloned().collect()
    }

    /// The latest `limit` closed orders, newest first (`/v5/order/history`; open ones are
    /// `order/realtime`'s).
    pub(crate) fn order_history_json(&self, limit: usize) -> Vec<String> {
        let mut closed: Vec<&VenueOrder> = self
            .orders
            .values()
            .filter(|order| !order.is_open())
            .collect();
        closed.sort_by_key(|order| std::cmp::Reverse((order.updated_ms, order.created_ms)));
        closed
            .iter()
            .take(limit)
            .map(|order| order.json(self.symbol))
            .collect()
    }

    /// The wallet balance (initial balance plus realized PnL less fees).
    pub(crate) fn balance(&self) -> Fixed {
        self.paper.account().balance
    }

    /// The net position and its entry price.
    pub(crate) fn position(&self) -> (Fixed, Fixed) {
        let account = self.paper.account();
        (account.position, account.entry_price)
    }

    /// The open orders, as `order/realtime` lists them, newest first.
    pub(crate) fn open_orders_json(&self) -> Vec<String> {
        let mut open: Vec<&VenueOrder> = self.orders.values().filter(|o| o.is_open()).collect();
        open.sort_by_key(|order| std::cmp::Reverse(order.created_ms));
        open.iter().map(|order| order.json(self.symbol)).collect()
    }

    /// How many orders are open.
    pub(crate) fn open_count(&self) -> usize {
        self.orders.values().filter(|order| order.is_open()).count()
    }

    fn next_venue_id(&mut self) -> String {
        let n = self.next_paper_id;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (self.seed as u32) ^ 0x7e57_0000,
            (n >> 48) & 0xffff,
            (n >> 36) & 0xfff,
            (n >> 24) & 0xfff,
            n & 0xffff_ffff_ffff
        )
    }

    /// A new order at `now_ns` (wall clock, ns); the ids, or why not.
    pub(crate) fn create(
        &mut self,
        request: &CreateRequest,
        mode: PositionMode,
        now_ns: u64,
    ) -> Result<Ack, Refusal> {
        self.check(&request.category, &request.symbol)?;
        let side = Side::from_bybit(&request.side)
            .ok_or_else(|| refusal(10001, "params error: side invalid"))?;
        if request.order_type != "Limit" {
            return Err(refusal(
                10001,
                "params error: toolkit venue takes Limit orders only",
            ));
        }
        let time_in_force = match request.time_in_force.as_deref().unwrap_or("GTC") {
            "PostOnly" => "PostOnly",
            // A GTC limit that would take is not what this venue fills: it rests like PostOnly.
            "GTC" => "GTC",
            _ => return Err(refusal(10001, "params error: timeInForce invalid")),
        };
        let idx = request.position_idx.unwrap_or(0);
        if (mode == PositionMode::OneWay) != (idx == 0) {
            return Err(refusal(10001, "position idx not match position mode"));
        }
        let price = request
            .price
            .filter(|price| price.is_positive())
            .ok_or_else(|| refusal(10001, "params error: price invalid"))?;
        if !price.is_multiple_of(self.rules.tick_size) {
            return Err(refusal(10001, "params error: price invalid"));
        }
        let qty = request.qty;
        if qty < self.rules.min_qty || !qty.is_multiple_of(self.rules.qty_step) {
            return Err(refusal(
                10001,
                "The number of contracts exceeds minimum limit allowed",
            ));
        }
        if qty > self.rules.max_qty {
            return Err(refusal(
                10001,
                "The number of contracts exceeds maximum limit allowed",
            ));
        }
        let notional = price.wide_mul(qty) / i128::from(Fixed::SCALE);
        if notional < i128::from(self.rules.min_notional.raw()) {
            return Err(refusal(
                110094,
                "Order does not meet minimum order value 5USDT",
            ));
        }
        let link_id = request.order_link_id.clone().unwrap_or_default();
        if link_id.len() > 36 {
            return Err(refusal(10001, "params error: orderLinkId too long"));
        }
        if !link_id.is_empty() && self.orders.values().any(|order| order.link_id == link_id) {
            return Err(refusal(110072, "OrderLinkedID is duplicate"));
        }
        let reduce_only = request.reduce_only.unwrap_or(false);
        let (position, _) = self.position();
        if reduce_only {
            let reduces = match side {
                Side::Buy => position.raw() < 0,
                Side::Sell => position.raw() > 0,
            };
            if !reduces {
                return Err(refusal(110017, "Reduce-only rule not satisfied"));
            }
        }
        if self.open_count() >= feed::paper::MAX_ORDERS {
            return Err(refusal(
                110020,
                "Exceeded the maximum number of active orders",
            ));
        }
        let order_id = self.next_venue_id();
        let paper_id = OrderId(self.next_paper_id);
        self.next_paper_id += 1;
        let now_ms = now_ns / 1_000_000;
        self.orders.insert(
            order_id.clone(),
            VenueOrder {
                order_id: order_id.clone(),
                link_id: link_id.clone(),
                side,
                price,
                qty,
                reduce_only,
                time_in_force,
                status: "Created",
                reject_reason: "EC_NoError",
                cancel_type: "UNKNOWN",
                cum_qty: Fixed::ZERO,
                cum_value: 0,
                created_ms: now_ms,
                updated_ms: now_ms,
                paper_id,
            },
        );
        self.by_paper.insert(paper_id, order_id.clone());
        self.paper.submit(
            OrderRequest {
                id: paper_id,
                side,
                price,
                qty,
                reduce_only,
            },
            now_ns,
        );
        Ok(Ack { order_id, link_id })
    }

    /// The venue id of the order `order_id` or `link_id` names, if it is open.
    fn open_order(&self, order_id: Option<&str>, link_id: Option<&str>) -> Result<String, Refusal> {
        let found = match (
            order_id.filter(|id| !id.is_empty()),
            link_id.filter(|id| !id.is_empty()),
        ) {
            (Some(id), _) => self.orders.get(id),
            (None, Some(link)) => self.orders.values().find(|order| order.link_id == link),
            (None, None) => {
                return Err(refusal(
                    10001,
                    "params error: OrderId or orderLinkId is required",
                ));
            }
        };
        match found {
            Some(order) if order.is_open() => Ok(order.order_id.clone()),
            _ => Err(refusal(110001, "Order does not exist")),
        }
    }

    /// A cancel at `now_ns`.
    pub(crate) fn cancel(&mut self, request: &CancelRequest, now_ns: u64) -> Result<Ack, Refusal> {
        self.check(&request.category, &request.symbol)?;
        let key = self.open_order(
            request.order_id.as_deref(),
            request.order_link_id.as_deref(),
        )?;
        let order = &self.orders[&key];
        let ack = Ack {
            order_id: order.order_id.clone(),
            link_id: order.link_id.clone(),
        };
        self.paper.cancel(order.paper_id, now_ns);
        Ok(ack)
    }

    /// Cancels every open order of `symbol` at `now_ns`, whoever asks (disconnect-cancel-all);
    /// their ids.
    pub(crate) fn cancel_every(&mut self, symbol: &str, now_ns: u64) -> Vec<Ack> {
        let request = CancelRequest {
            category: "linear".to_owned(),
            symbol: symbol.to_owned(),
            order_id: None,
            order_link_id: None,
        };
        self.cancel_all(&request, now_ns).unwrap_or_default()
    }

    /// Cancels every open order at `now_ns`; their ids.
    pub(crate) fn cancel_all(
        &mut self,
        request: &CancelRequest,
        now_ns: u64,
    ) -> Result<Vec<Ack>, Refusal> {
        self.check(&request.category, &request.symbol)?;
        let open: Vec<(OrderId, Ack)> = self
            .orders
            .values()
            .filter(|order| order.is_open())
            .map(|order| {
                (
                    order.paper_id,
                    Ack {
                        order_id: order.order_id.clone(),
                        link_id: order.link_id.clone(),
                    },
                )
            })
            .collect();
        Ok(open
            .into_iter()
            .map(|(paper_id, ack)| {
                self.paper.cancel(paper_id, now_ns);
                ack
            })
            .collect())
    }

    /// An amend at `now_ns`: the resting part is cancelled and the rest placed at the new
    /// terms under the same ids.
    pub(crate) fn amend(&mut self, request: &AmendRequest, now_ns: u64) -> Result<Ack, Refusal> {
        self.check(&request.category, &request.symbol)?;
        let key = self.open_order(
            request.order_id.as_deref(),
            request.order_link_id.as_deref(),
        )?;
        let rules = self.rules;
        let order = &self.orders[&key];
        let price = request.price.unwrap_or(order.price);
        let qty = request.qty.unwrap_or(order.qty);
        if !price.is_positive() || !price.is_multiple_of(rules.tick_size) {
            return Err(refusal(10001, "params error: price invalid"));
        }
        if qty <= order.cum_qty || !qty.is_multiple_of(rules.qty_step) {
            return Err(refusal(10001, "params error: qty invalid"));
        }
        let new_paper = OrderId(self.next_paper_id);
        self.next_paper_id += 1;
        let order = self
            .orders
            .get_mut(&key)
            .ok_or_else(|| refusal(110001, "Order does not exist"))?;
        let old_paper = order.paper_id;
        order.paper_id = new_paper;
        order.price = price;
        let leaves = qty.saturating_sub(order.cum_qty);
        order.qty = qty;
        order.updated_ms = now_ns / 1_000_000;
        let request = OrderRequest {
            id: new_paper,
            side: order.side,
            price,
            qty: leaves,
            reduce_only: order.reduce_only,
        };
        let ack = Ack {
            order_id: order.order_id.clone(),
            link_id: order.link_id.clone(),
        };
        // The old part's cancel confirmation is not the order's: it is forgotten.
        self.by_paper.remove(&old_paper);
        self.paper.cancel(old_paper, now_ns);
        self.by_paper.insert(new_paper, key);
        self.paper.submit(request, now_ns);
        Ok(ack)
    }

    fn check(&self, category: &str, symbol: &str) -> Result<(), Refusal> {
        if category != "linear" {
            return Err(refusal(10001, "Illegal category"));
        }
        if symbol != self.symbol.as_str() {
            return Err(refusal(10001, "params error: symbol invalid"));
        }
        Ok(())
    }

    /// The market at `now_ns`: delivers what arrived, fills what the book reached, and returns
    /// the pushes of every change.
    pub(crate) fn on_book(&mut self, book: &OrderBook, now_ns: u64) -> Vec<Push> {
        if !book.is_valid() {
            return Vec::new();
        }
        self.paper.advance(now_ns, book);
        self.paper.on_book(book, now_ns);
        self.drain(now_ns)
    }

    /// Trades printed at `now_ns` against `book`.
    pub(crate) fn on_trades(
        &mut self,
        book: &OrderBook,
        trades: &[feed::bybit::Trade],
        now_ns: u64,
    ) -> Vec<Push> {
        if !book.is_valid() {
            return Vec::new();
        }
        self.paper.advance(now_ns, book);
        self.paper.on_trades(trades, now_ns);
        self.drain(now_ns)
    }

    fn drain(&mut self, now_ns: u64) -> Vec<Push> {
        let mut events = Vec::new();
        self.paper.drain_events(|event| events.push(event));
        let mut pushes = Vec::new();
        for event in events {
            self.apply(event, now_ns, &mut pushes);
        }
        pushes
    }

    fn envelope(&mut self, topic: PrivateTopic, items: &str, now_ms: u64) -> Push {
        self.seq += 1;
        Push {
            topic,
            text: format!(
                r#"{{"id":"{}-{}","topic":"{}","creationTime":{now_ms},"data":[{items}]}}"#,
                self.seed,
                self.seq,
                topic.name()
            ),
        }
    }

    fn apply(&mut self, event: VenueEvent, now_ns: u64, pushes: &mut Vec<Push>) {
        let now_ms = now_ns / 1_000_000;
        let paper_id = match event {
            VenueEvent::Accepted { id, .. }
            | VenueEvent::Rejected { id, .. }
            | VenueEvent::Cancelled { id, .. } => id,
            VenueEvent::Filled(fill) => fill.id,
        };
        let Some(key) = self.by_paper.get(&paper_id).cloned() else {
            // The cancelled part of an amended order.
            return;
        };
        let symbol = self.symbol;
        let Some(order) = self.orders.get_mut(&key) else {
            return;
        };
        order.updated_ms = now_ms;
        let mut fill_push = None;
        match event {
            VenueEvent::Accepted { .. } => {
                order.status = if order.cum_qty.is_positive() {
                    "PartiallyFilled"
                } else {
                    "New"
                };
            }
            VenueEvent::Rejected { reason, .. } => {
                order.status = "Cancelled";
                match reason {
                    RejectReason::PostOnlyWillTakeLiquidity => {
                        order.reject_reason = "EC_PostOnlyWillTakeLiquidity";
                    }
                    RejectReason::ReduceOnlyNotSatisfied => {
                        order.cancel_type = "CancelByReduceOnly";
                    }
                    _ => order.status = "Rejected",
                }
            }
            VenueEvent::Cancelled { .. } => {
                order.status = "Cancelled";
                order.cancel_type = "CancelByUser";
            }
            VenueEvent::Filled(fill) => {
                order.cum_qty = order.cum_qty.saturating_add(fill.qty);
                order.cum_value += fill.price.wide_mul(fill.qty);
                order.status = if fill.leaves_qty.is_zero() {
                    "Filled"
                } else {
                    "PartiallyFilled"
                };
                fill_push = Some(fill);
            }
        }
        let order_json = order.json(symbol);
        let (link_id, order_id, side, price, qty) = (
            order.link_id.clone(),
            order.order_id.clone(),
            order.side,
            order.price,
            order.qty,
        );
        let leaves = qty.saturating_sub(order.cum_qty);
        if let Some(fill) = fill_push {
            self.seq += 1;
            let exec = format!(
                r#"{{"category":"linear","symbol":"{symbol}","execId":"{}-e{}","execPrice":"{}","execQty":"{}","execValue":"{}","execType":"Trade","execTime":"{now_ms}","isMaker":true,"execFee":"{}","feeRate":"{}","feeCurrency":"USDT","leavesQty":"{leaves}","orderId":"{order_id}","orderLinkId":"{link_id}","orderPrice":"{price}","orderQty":"{qty}","orderType":"Limit","side":"{}","closedSize":"0","execPnl":"{}","markPrice":"{}","seq":{}}}"#,
                self.seed,
                self.seq,
                fill.price,
                fill.qty,
                Fixed::from_raw((fill.price.wide_mul(fill.qty) / i128::from(Fixed::SCALE)) as i64),
                fill.fee,
                self.rules.maker_fee_rate,
                side.as_str(),
                fill.realized,
                fill.price,
                self.seq,
            );
            self.executions.push(exec.clone());
            let push = self.envelope(PrivateTopic::Execution, &exec, now_ms);
            pushes.push(push);
        }
        let push = self.envelope(PrivateTopic::Order, &order_json, now_ms);
        pushes.push(push);
        if fill_push.is_some() {
            let position = self.position_json(PositionMode::OneWay, None);
            let push = self.envelope(PrivateTopic::Position, &position, now_ms);
            pushes.push(push);
            let wallet = self.wallet_json();
            let push = self.envelope(PrivateTopic::Wallet, &wallet, now_ms);
            pushes.push(push);
        }
    }

    /// The position's rows, as `position/list` and the `position` topic give them.
    pub(crate) fn position_json(&self, mode: PositionMode, leverage: Option<Fixed>) -> String {
        let (position, entry) = self.position();
        let leverage = leverage.unwrap_or(Fixed::from_raw(10 * Fixed::SCALE));
        let symbol = self.symbol;
        let row = |idx: u8, size: Fixed, entry: Fixed| {
            let side = match size.raw() {
                0 => "",
                raw if raw > 0 => "Buy",
                _ => "Sell",
            };
            format!(
                r#"{{"positionIdx":{idx},"symbol":"{symbol}","side":"{side}","size":"{}","avgPrice":"{entry}","entryPrice":"{entry}","leverage":"{leverage}","positionValue":"0","markPrice":"","liqPrice":"","unrealisedPnl":"0","curRealisedPnl":"0","cumRealisedPnl":"0","positionStatus":"Normal","tradeMode":0,"seq":{},"createdTime":"0","updatedTime":"0","isReduceOnly":false,"category":"linear"}}"#,
                size.abs(),
                self.seq
            )
        };
        match mode {
            PositionMode::OneWay => row(0, position, entry),
            PositionMode::Hedge => {
                format!(
                    "{},{}",
                    row(1, Fixed::ZERO, Fixed::ZERO),
                    row(2, Fixed::ZERO, Fixed::ZERO)
                )
            }
        }
    }

    /// The wallet, as `wallet-balance` and the `wallet` topic give it.
    pub(crate) fn wallet_json(&self) -> String {
        let balance = self.balance();
        let mut text = String::new();
        let _ = write!(
            text,
            r#"{{"accountType":"UNIFIED","totalEquity":"{balance}","totalWalletBalance":"{balance}","totalMarginBalance":"{balance}","totalAvailableBalance":"{balance}","totalPerpUPL":"0","totalInitialMargin":"0","totalMaintenanceMargin":"0","accountIMRate":"0","accountMMRate":"0","coin":[{{"coin":"USDT","equity":"{balance}","usdValue":"{balance}","walletBalance":"{balance}","unrealisedPnl":"0","cumRealisedPnl":"0","locked":"0","totalOrderIM":"0","totalPositionIM":"0","totalPositionMM":"0"}}]}}"#
        );
        text
    }
}
