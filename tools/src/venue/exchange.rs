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
//! Every change is pushed to the private-stream connections subscribed to its topic, as one
//! group (the market may hold a group's pushes back or shuffle them: the `order-first` and
//! `push-reorder` faults). Executions carry a cross sequence (`seq`) that the position's own
//! `seq` covers, as Bybit's do.
//!
//! Besides the account's own orders, the account's position can move from outside, as a real
//! account's does ([`Exchange::outside_fill`]): auto-deleveraging, a liquidation (open orders
//! cancelled with `CancelByPrepareLiq` first), a manual close from the web UI, and another
//! client's order ([`Exchange::foreign_order`]). Resting reduce-only orders left with nothing to
//! reduce are then cancelled by the venue (`CancelByReduceOnly`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

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
    /// The topic of a subscribe argument: all-in-one (`order`) or linear (`order.linear`);
    /// `wallet`; disconnect-cancel-all as `dcp.future`, `dcp.spot` or `dcp.option` (Bybit no
    /// longer takes a bare `dcp`). `None` for anything else, which Bybit answers "handler not
    /// found".
    pub(crate) fn parse(text: &str) -> Option<PrivateTopic> {
        Some(match text {
            "order" | "order.linear" => PrivateTopic::Order,
            "execution" | "execution.linear" => PrivateTopic::Execution,
            "position" | "position.linear" => PrivateTopic::Position,
            "wallet" => PrivateTopic::Wallet,
            "dcp.future" | "dcp.spot" | "dcp.option" => PrivateTopic::Dcp,
            _ => return None,
        })
    }

    /// True for a topic of every category (`order`, `execution`, `position`), which Bybit does
    /// not take in one request with a categorised one (`order.linear`).
    pub(crate) fn is_all_in_one(text: &str) -> bool {
        matches!(text, "order" | "execution" | "position")
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
    /// The change it tells of: pushes of one change share it.
    pub(crate) group: u64,
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
    order_type: &'static str,
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
            r#"{{"category":"linear","symbol":"{symbol}","orderId":"{}","orderLinkId":"{}","side":"{}","orderType":"{}","price":"{}","qty":"{}","timeInForce":"{}","orderStatus":"{}","rejectReason":"{}","cancelType":"{}","reduceOnly":{},"positionIdx":0,"leavesQty":"{leaves}","cumExecQty":"{}","cumExecValue":"{value}","avgPrice":"{}","createdTime":"{}","updatedTime":"{}","closeOnTrigger":false,"stopOrderType":"","triggerPrice":"","takeProfit":"","stopLoss":""}}"#,
            self.order_id,
            self.link_id,
            self.side.as_str(),
            self.order_type,
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

/// One execution, as `execution/list` finds it.
#[derive(Debug, Clone)]
struct ExecutionRecord {
    /// When it happened (venue clock, ms).
    at_ms: u64,
    order_id: String,
    link_id: String,
    json: String,
}

/// What a list query of orders or executions asks for (`/v5/order/history`,
/// `/v5/order/realtime`, `/v5/execution/list`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ListQuery {
    /// `orderId`: this order only.
    pub(crate) order_id: Option<String>,
    /// `orderLinkId`: this order only.
    pub(crate) link_id: Option<String>,
    /// `startTime`, ms.
    pub(crate) start_ms: Option<u64>,
    /// `endTime`, ms.
    pub(crate) end_ms: Option<u64>,
    /// Items per page.
    pub(crate) limit: usize,
    /// Where the page starts (the `nextPageCursor` of the page before).
    pub(crate) offset: usize,
}

impl ListQuery {
    fn keeps(&self, order_id: &str, link_id: &str, at_ms: u64) -> bool {
        self.order_id
            .as_deref()
            .is_none_or(|wanted| wanted == order_id)
            && self
                .link_id
                .as_deref()
                .is_none_or(|wanted| wanted == link_id)
            && self.start_ms.is_none_or(|start| at_ms >= start)
            && self.end_ms.is_none_or(|end| at_ms <= end)
    }

    /// The page of `items` this query asks for, and the cursor of the next (`""` on the
    /// last).
    fn page(&self, items: Vec<String>) -> (Vec<String>, String) {
        let end = (self.offset + self.limit).min(items.len());
        let next = if end < items.len() {
            end.to_string()
        } else {
            String::new()
        };
        (
            items
                .into_iter()
                .skip(self.offset)
                .take(self.limit)
                .collect(),
            next,
        )
    }
}

/// A period a fault is in force for: from when it fired until `until` (None: for good).
fn in_force(until: Option<Instant>) -> bool {
    until.is_none_or(|until| Instant::now() < until)
}

/// What moved the position from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outside {
    /// Auto-deleveraging of a share (per mille) of the position.
    Adl { per_mille: u32 },
    /// A liquidation: orders cancelled ahead of it, then the position closed.
    Liquidation,
    /// A market order from the web UI closing the position.
    ManualClose,
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
    /// The change the pushes being made tell of.
    group: u64,
    /// Every execution, oldest first.
    executions: Vec<ExecutionRecord>,
    /// The mark price (the mid of the last valid book).
    mark: Fixed,
    /// The account's leverage (margin of positions and orders).
    leverage: Fixed,
    /// `exec-lag`: executions are listed this long after they happened, until then.
    exec_lag: Option<(Duration, Option<Instant>)>,
    /// `fee-decimals`: fees written with a ninth decimal, until then.
    fee_decimals: Option<Option<Instant>>,
    /// Orders placed by "other clients" (`foreign-order`).
    foreign_orders: u64,
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
            group: 0,
            executions: Vec::new(),
            mark: Fixed::ZERO,
            leverage: Fixed::from_int(10).unwrap_or(Fixed::ONE),
            exec_lag: None,
            fee_decimals: None,
            foreign_orders: 0,
        }
    }

    /// `exec-lag`: executions listed `lag` after they happened, until `until`.
    pub(crate) fn lag_executions(&mut self, lag: Duration, until: Option<Instant>) {
        self.exec_lag = Some((lag, until));
    }

    /// `fee-decimals`: fees written with a ninth decimal until `until`.
    pub(crate) fn widen_fees(&mut self, until: Option<Instant>) {
        self.fee_decimals = Some(until);
    }

    /// The account's leverage, as `set-leverage` made it.
    pub(crate) fn set_leverage(&mut self, leverage: Fixed) {
        self.leverage = leverage;
    }

    /// The executions `query` asks for, newest first, as `/v5/execution/list` gives them
    /// (what `exec-lag` holds back is not listed yet); and the next page's cursor.
    pub(crate) fn executions_json(&self, query: &ListQuery, now_ms: u64) -> (Vec<String>, String) {
        let lag_ms = match self.exec_lag {
            Some((lag, until)) if in_force(until) => lag.as_millis() as u64,
            _ => 0,
        };
        let listed = self
            .executions
            .iter()
            .rev()
            .filter(|record| record.at_ms + lag_ms <= now_ms)
            .filter(|record| query.keeps(&record.order_id, &record.link_id, record.at_ms))
            .map(|record| record.json.clone())
            .collect();
        query.page(listed)
    }

    /// The closed orders `query` asks for, newest first (`/v5/order/history`; open ones are
    /// `order/realtime`'s); and the next page's cursor.
    pub(crate) fn order_history_json(&self, query: &ListQuery) -> (Vec<String>, String) {
        let mut closed: Vec<&VenueOrder> = self
            .orders
            .values()
            .filter(|order| !order.is_open())
            .filter(|order| query.keeps(&order.order_id, &order.link_id, order.updated_ms))
            .collect();
        closed.sort_by_key(|order| std::cmp::Reverse((order.updated_ms, order.created_ms)));
        query.page(closed.iter().map(|order| order.json(self.symbol)).collect())
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

    /// The open orders `query` asks for, newest first (`/v5/order/realtime`); and the next
    /// page's cursor.
    pub(crate) fn open_orders_json(&self, query: &ListQuery) -> (Vec<String>, String) {
        let mut open: Vec<&VenueOrder> = self
            .orders
            .values()
            .filter(|order| order.is_open())
            .filter(|order| query.keeps(&order.order_id, &order.link_id, order.created_ms))
            .collect();
        open.sort_by_key(|order| std::cmp::Reverse(order.created_ms));
        query.page(open.iter().map(|order| order.json(self.symbol)).collect())
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
                order_type: "Limit",
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

    /// `foreign-order`: another client of the account places a post-only buy 1 % under the
    /// touch at `now_ns` (its `orderLinkId` `web-N`); its ids.
    pub(crate) fn foreign_order(&mut self, now_ns: u64) -> Result<Ack, Refusal> {
        self.foreign_orders += 1;
        let price = self
            .mark
            .checked_mul_floor(Fixed::from_raw(99_000_000))
            .unwrap_or(self.mark)
            .floor_to(self.rules.tick_size);
        let request = CreateRequest {
            category: "linear".to_owned(),
            symbol: self.symbol.to_string(),
            side: "Buy".to_owned(),
            order_type: "Limit".to_owned(),
            qty: self.rules.min_qty,
            price: Some(price),
            time_in_force: Some("PostOnly".to_owned()),
            position_idx: Some(0),
            order_link_id: Some(format!("web-{}", self.foreign_orders)),
            reduce_only: Some(false),
        };
        self.create(&request, PositionMode::OneWay, now_ns)
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

    /// A cancel at `now_ns` (`ignored`: answered, and not done: the `cancel-ignored` fault).
    pub(crate) fn cancel(
        &mut self,
        request: &CancelRequest,
        now_ns: u64,
        ignored: bool,
    ) -> Result<Ack, Refusal> {
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
        if !ignored {
            self.paper.cancel(order.paper_id, now_ns);
        }
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
        self.cancel_all(&request, now_ns, false).unwrap_or_default()
    }

    /// Cancels every open order at `now_ns` (`ignored`: answered, and not done); their ids.
    pub(crate) fn cancel_all(
        &mut self,
        request: &CancelRequest,
        now_ns: u64,
        ignored: bool,
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
                if !ignored {
                    self.paper.cancel(paper_id, now_ns);
                }
                ack
            })
            .collect())
    }

    /// An amend at `now_ns`: the resting part is cancelled and the rest placed at the new
    /// terms under the same ids (a new price loses the queue, as at Bybit).
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
        if price == order.price && qty == order.qty {
            return Err(refusal(10001, "order not modified"));
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
        if let Some(mid) = book.mid() {
            self.mark = mid;
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
            group: self.group,
        }
    }

    /// A fee as an execution writes it: exact, or with a ninth decimal (`fee-decimals`).
    fn fee_text(&self, fee: Fixed) -> String {
        match self.fee_decimals {
            Some(until) if in_force(until) => {
                let mut buf = [0; 32];
                format!("{}1", fee.format_into(Some(8), &mut buf))
            }
            _ => fee.to_string(),
        }
    }

    /// Records and pushes an execution of `qty` at `price` on `side`, of order `order_id`
    /// (`link_id`), of kind `exec_type`, as maker or taker, paying `fee` and realizing
    /// `realized`; `leaves` of its order left.
    #[allow(clippy::too_many_arguments)]
    fn execution(
        &mut self,
        (order_id, link_id): (&str, &str),
        (side, price, qty): (Side, Fixed, Fixed),
        (exec_type, is_maker, order_type): (&str, bool, &str),
        (fee, realized): (Fixed, Fixed),
        (order_price, order_qty, leaves): (Fixed, Fixed, Fixed),
        now_ms: u64,
        pushes: &mut Vec<Push>,
    ) {
        self.seq += 1;
        let symbol = self.symbol;
        let fee_rate = if is_maker {
            self.rules.maker_fee_rate
        } else {
            self.rules.taker_fee_rate
        };
        let json = format!(
            r#"{{"category":"linear","symbol":"{symbol}","execId":"{}-e{}","execPrice":"{price}","execQty":"{qty}","execValue":"{}","execType":"{exec_type}","execTime":"{now_ms}","isMaker":{is_maker},"execFee":"{}","feeRate":"{fee_rate}","feeCurrency":"USDT","leavesQty":"{leaves}","orderId":"{order_id}","orderLinkId":"{link_id}","orderPrice":"{order_price}","orderQty":"{order_qty}","orderType":"{order_type}","side":"{}","closedSize":"0","execPnl":"{realized}","markPrice":"{price}","seq":{}}}"#,
            self.seed,
            self.seq,
            Fixed::from_raw((price.wide_mul(qty) / i128::from(Fixed::SCALE)) as i64),
            self.fee_text(fee),
            side.as_str(),
            self.seq,
        );
        self.executions.push(ExecutionRecord {
            at_ms: now_ms,
            order_id: order_id.to_owned(),
            link_id: link_id.to_owned(),
            json: json.clone(),
        });
        let push = self.envelope(PrivateTopic::Execution, &json, now_ms);
        pushes.push(push);
    }

    /// The position and the wallet after a fill, pushed.
    fn push_account(&mut self, now_ms: u64, pushes: &mut Vec<Push>) {
        let position = self.position_json(PositionMode::OneWay, Some(self.leverage));
        let push = self.envelope(PrivateTopic::Position, &position, now_ms);
        pushes.push(push);
        let wallet = self.wallet_json();
        let push = self.envelope(PrivateTopic::Wallet, &wallet, now_ms);
        pushes.push(push);
    }

    fn apply(&mut self, event: VenueEvent, now_ns: u64, pushes: &mut Vec<Push>) {
        let now_ms = now_ns / 1_000_000;
        let paper_id = match event {
            VenueEvent::Accepted { id, .. }
            | VenueEvent::Rejected { id, .. }
            | VenueEvent::Cancelled { id, .. } => id,
            VenueEvent::Filled(fill) => fill.id,
            // The paper venue makes neither (it takes no amends: this venue amends itself).
            VenueEvent::Amended { .. } | VenueEvent::AmendRejected { .. } => return,
        };
        let Some(key) = self.by_paper.get(&paper_id).cloned() else {
            // The cancelled part of an amended order.
            return;
        };
        let symbol = self.symbol;
        let Some(order) = self.orders.get_mut(&key) else {
            return;
        };
        self.group += 1;
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
                // A cancel the venue made for a reason of its own keeps that reason.
                if order.cancel_type == "UNKNOWN" {
                    order.cancel_type = "CancelByUser";
                }
            }
            VenueEvent::Amended { .. } | VenueEvent::AmendRejected { .. } => return,
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
        let (link_id, order_id, price, qty) = (
            order.link_id.clone(),
            order.order_id.clone(),
            order.price,
            order.qty,
        );
        let leaves = qty.saturating_sub(order.cum_qty);
        if let Some(fill) = fill_push {
            eprintln!(
                "toolkit venue: fill {} {} {} at {} of {} ({})",
                if link_id.is_empty() { "-" } else { &link_id },
                fill.side.as_str(),
                fill.qty,
                fill.price,
                order_id,
                if leaves.is_zero() { "filled" } else { "partly" }
            );
            self.execution(
                (&order_id, &link_id),
                (fill.side, fill.price, fill.qty),
                ("Trade", true, "Limit"),
                (fill.fee, fill.realized),
                (price, qty, leaves),
                now_ms,
                pushes,
            );
        }
        let push = self.envelope(PrivateTopic::Order, &order_json, now_ms);
        pushes.push(push);
        if fill_push.is_some() {
            self.push_account(now_ms, pushes);
        }
    }

    /// The position moved from outside at `now_ns` (`what`): the execution (and, for a manual
    /// close, its order) recorded and pushed with the position and the wallet; orders the venue
    /// cancels ahead of a liquidation cancelled first; reduce-only orders left with nothing to
    /// reduce cancelled after. The pushes, and what it did.
    pub(crate) fn outside_fill(&mut self, what: Outside, now_ns: u64) -> (Vec<Push>, String) {
        let now_ms = now_ns / 1_000_000;
        let mut pushes = Vec::new();
        if what == Outside::Liquidation {
            for order in self.orders.values_mut().filter(|order| order.is_open()) {
                order.cancel_type = "CancelByPrepareLiq";
            }
            let request = CancelRequest {
                category: "linear".to_owned(),
                symbol: self.symbol.to_string(),
                order_id: None,
                order_link_id: None,
            };
            let _ = self.cancel_all(&request, now_ns, false);
        }
        let (position, _) = self.position();
        let share = match what {
            Outside::Adl { per_mille } => i128::from(per_mille),
            Outside::Liquidation | Outside::ManualClose => 1000,
        };
        let qty = Fixed::from_raw(
            i64::try_from(i128::from(position.abs().raw()) * share / 1000).unwrap_or(0),
        )
        .floor_to(self.rules.qty_step);
        if qty.is_zero() || self.mark.is_zero() {
            pushes.extend(self.drain(now_ns));
            return (
                pushes,
                "the account holds no position: nothing moved".to_owned(),
            );
        }
        let side = if position.is_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        let price = self.mark.floor_to(self.rules.tick_size);
        let (exec_type, order_type) = match what {
            Outside::Adl { .. } => ("AdlTrade", "UNKNOWN"),
            Outside::Liquidation => ("BustTrade", "UNKNOWN"),
            Outside::ManualClose => ("Trade", "Market"),
        };
        let fee = if what == Outside::ManualClose {
            price
                .checked_mul_floor(qty)
                .and_then(|value| value.checked_mul_floor(self.rules.taker_fee_rate))
                .unwrap_or(Fixed::ZERO)
        } else {
            Fixed::ZERO
        };
        self.group += 1;
        let order_id = self.next_venue_id();
        self.next_paper_id += 1;
        let realized = self.paper.book_outside(side, price, qty, fee, now_ns);
        if what == Outside::ManualClose {
            let order = VenueOrder {
                order_id: order_id.clone(),
                link_id: String::new(),
                side,
                price,
                qty,
                reduce_only: true,
                order_type: "Market",
                time_in_force: "IOC",
                status: "Filled",
                reject_reason: "EC_NoError",
                cancel_type: "UNKNOWN",
                cum_qty: qty,
                cum_value: price.wide_mul(qty),
                created_ms: now_ms,
                updated_ms: now_ms,
                paper_id: OrderId(0),
            };
            let json = order.json(self.symbol);
            self.orders.insert(order_id.clone(), order);
            self.execution(
                (&order_id, ""),
                (side, price, qty),
                (exec_type, false, order_type),
                (fee, realized),
                (price, qty, Fixed::ZERO),
                now_ms,
                &mut pushes,
            );
            let push = self.envelope(PrivateTopic::Order, &json, now_ms);
            pushes.push(push);
        } else {
            self.execution(
                (&order_id, ""),
                (side, price, qty),
                (exec_type, false, order_type),
                (fee, realized),
                (Fixed::ZERO, qty, Fixed::ZERO),
                now_ms,
                &mut pushes,
            );
        }
        self.push_account(now_ms, &mut pushes);
        // What the venue cancelled meanwhile (ahead of a liquidation, reduce-only cut).
        pushes.extend(self.drain(now_ns));
        let (left, _) = self.position();
        (
            pushes,
            format!(
                "{exec_type} {} {qty} at {price}: position {position} -> {left}",
                side.as_str()
            ),
        )
    }

    /// The position's rows, as `position/list` and the `position` topic give them.
    pub(crate) fn position_json(&self, mode: PositionMode, leverage: Option<Fixed>) -> String {
        let (position, entry) = self.position();
        let leverage = leverage.unwrap_or(self.leverage);
        let symbol = self.symbol;
        let row = |idx: u8, size: Fixed, entry: Fixed| {
            let side = match size.raw() {
                0 => "",
                raw if raw > 0 => "Buy",
                _ => "Sell",
            };
            format!(
                r#"{{"positionIdx":{idx},"symbol":"{symbol}","side":"{side}","size":"{}","avgPrice":"{entry}","entryPrice":"{entry}","leverage":"{leverage}","positionValue":"0","markPrice":"{}","liqPrice":"","unrealisedPnl":"0","curRealisedPnl":"0","cumRealisedPnl":"0","positionStatus":"Normal","tradeMode":0,"seq":{},"createdTime":"0","updatedTime":"0","isReduceOnly":false,"category":"linear"}}"#,
                size.abs(),
                self.mark,
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

    /// The wallet, as `wallet-balance` and the `wallet` topic give it. As Bybit's unified
    /// account computes it: equity is the wallet balance plus the unrealised PnL at the mark;
    /// what is available is equity less the initial margin of the position and of the open
    /// orders (at the account's leverage).
    pub(crate) fn wallet_json(&self) -> String {
        let balance = self.balance();
        let (position, entry) = self.position();
        let (mark, leverage) = (self.mark, self.leverage.max(Fixed::ONE));
        let scale = i128::from(Fixed::SCALE);
        let unrealised = if mark.is_zero() {
            Fixed::ZERO
        } else {
            Fixed::from_raw(
                ((i128::from(mark.raw()) - i128::from(entry.raw())) * i128::from(position.raw())
                    / scale) as i64,
            )
        };
        // A value in raw units (10^-8 USD) over the leverage.
        let margin_of =
            |value: i128| Fixed::from_raw((value * scale / i128::from(leverage.raw())) as i64);
        let position_im = margin_of(mark.wide_mul(position.abs()) / scale);
        let order_im = margin_of(
            self.orders
                .values()
                .filter(|order| order.is_open() && !order.reduce_only)
                .map(|order| {
                    order
                        .price
                        .wide_mul(order.qty.saturating_sub(order.cum_qty))
                        / scale
                })
                .sum::<i128>(),
        );
        let equity = balance.saturating_add(unrealised);
        let available = equity
            .saturating_sub(position_im)
            .saturating_sub(order_im)
            .max(Fixed::ZERO);
        let im = position_im.saturating_add(order_im);
        let mut text = String::new();
        let _ = write!(
            text,
            r#"{{"accountType":"UNIFIED","totalEquity":"{equity}","totalWalletBalance":"{balance}","totalMarginBalance":"{equity}","totalAvailableBalance":"{available}","totalPerpUPL":"{unrealised}","totalInitialMargin":"{im}","totalMaintenanceMargin":"0","accountIMRate":"0","accountMMRate":"0","coin":[{{"coin":"USDT","equity":"{equity}","usdValue":"{equity}","walletBalance":"{balance}","availableToWithdraw":"{available}","unrealisedPnl":"{unrealised}","cumRealisedPnl":"0","locked":"0","totalOrderIM":"{order_im}","totalPositionIM":"{position_im}","totalPositionMM":"0"}}]}}"#
        );
        text
    }
}
