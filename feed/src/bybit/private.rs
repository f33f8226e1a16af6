//! Decoding of the Bybit v5 private stream (`/v5/private`): orders, executions, positions and
//! the wallet, and the stream's control replies (auth, subscribe, pong).
//!
//! Like the public decoder, a frame is parsed in place by simd-json into a reused tape and read
//! field by field into fixed-size structs: every price, size, fee and PnL is an exact
//! [`Fixed`] read from its decimal string, ids are inline strings, and the items of one push go
//! into buffers sized once. After warm-up nothing allocates. Key order is never relied on,
//! unknown fields are ignored, `""` reads as "not applicable" (`None`) where Bybit uses it so,
//! and a malformed message is a [`DecodeError`], never a panic.
//!
//! The item readers ([`read_order`], [`read_position`]) also read the items of the REST lists
//! (`/v5/order/realtime`, `/v5/position/list`), whose fields are the same (REST names the
//! entry price `avgPrice`, the stream `entryPrice`).

use simd_json::prelude::{ValueAsScalar, ValueIntoString};
use simd_json::value::tape::{Object, Value};

use super::json::{JsonScratch, decimal, millis, opt_amount, opt_decimal, sequence, text};
use super::public::{DecodeError, ShortText};
use crate::fixed::Fixed;
use crate::frame::FrameBuf;
use crate::side::Side;
use crate::text::{InlineStr, Symbol};

/// Most items one push may carry (orders, executions, positions or coin balances).
pub const MAX_ITEMS: usize = 256;

/// An order id or an `orderLinkId` (Bybit's are UUIDs, 36 characters at most).
pub type OrderIdText = InlineStr<40>;

/// A product category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Category {
    /// USDT and USDC perpetuals and futures.
    Linear,
    /// Inverse contracts.
    Inverse,
    /// Spot.
    Spot,
    /// Options.
    Option,
    /// Absent or another value.
    #[default]
    Unknown,
}

impl Category {
    fn from_bybit(text: &str) -> Category {
        match text {
            "linear" => Category::Linear,
            "inverse" => Category::Inverse,
            "spot" => Category::Spot,
            "option" => Category::Option,
            _ => Category::Unknown,
        }
    }
}

/// The state of an order (`orderStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Resting, nothing filled.
    New,
    /// Resting, partly filled.
    PartiallyFilled,
    /// A conditional order waiting for its trigger.
    Untriggered,
    /// Completely filled.
    Filled,
    /// Cancelled (by the user, the venue, a post-only rule, ...); may have filled in part.
    Cancelled,
    /// Refused.
    Rejected,
    /// A conditional order whose trigger fired.
    Triggered,
    /// A conditional order cancelled before its trigger.
    Deactivated,
    /// Spot only: partly filled, then cancelled.
    PartiallyFilledCanceled,
}

impl OrderStatus {
    fn from_bybit(text: &str) -> Option<OrderStatus> {
        Some(match text {
            "New" => OrderStatus::New,
            "PartiallyFilled" => OrderStatus::PartiallyFilled,
            "Untriggered" => OrderStatus::Untriggered,
            "Filled" => OrderStatus::Filled,
            "Cancelled" => OrderStatus::Cancelled,
            "Rejected" => OrderStatus::Rejected,
            "Triggered" => OrderStatus::Triggered,
            "Deactivated" => OrderStatus::Deactivated,
            "PartiallyFilledCanceled" => OrderStatus::PartiallyFilledCanceled,
            _ => return None,
        })
    }

    /// True while the order can still fill.
    pub const fn is_open(self) -> bool {
        matches!(
            self,
            OrderStatus::New | OrderStatus::PartiallyFilled | OrderStatus::Untriggered
        )
    }
}

/// Limit or market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderType {
    /// A limit order.
    Limit,
    /// A market order.
    Market,
    /// `UNKNOWN` (funding and the like) or another value.
    Unknown,
}

impl OrderType {
    fn from_bybit(text: &str) -> OrderType {
        match text {
            "Limit" => OrderType::Limit,
            "Market" => OrderType::Market,
            _ => OrderType::Unknown,
        }
    }
}

/// How long an order lives (`timeInForce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
    /// Maker only: cancelled by the matching engine if it would take.
    PostOnly,
    /// Retail price improvement.
    Rpi,
    /// Absent or another value.
    Unknown,
}

impl TimeInForce {
    fn from_bybit(text: &str) -> TimeInForce {
        match text {
            "GTC" => TimeInForce::Gtc,
            "IOC" => TimeInForce::Ioc,
            "FOK" => TimeInForce::Fok,
            "PostOnly" => TimeInForce::PostOnly,
            "RPI" => TimeInForce::Rpi,
            _ => TimeInForce::Unknown,
        }
    }
}

/// `rejectReason` of a post-only order that would have taken liquidity.
pub const POST_ONLY_WILL_TAKE_LIQUIDITY: &str = "EC_PostOnlyWillTakeLiquidity";

/// An order as the `order` topic (or a REST order list) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderUpdate {
    /// Category (absent from some REST lists, which name it once for the whole list).
    pub category: Category,
    /// Symbol.
    pub symbol: Symbol,
    /// The venue's order id.
    pub order_id: OrderIdText,
    /// The client's id (`""` when none was given).
    pub order_link_id: OrderIdText,
    /// Side.
    pub side: Side,
    /// Limit or market.
    pub order_type: OrderType,
    /// Limit price (`None` when `""`).
    pub price: Option<Fixed>,
    /// Quantity.
    pub qty: Fixed,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// State.
    pub status: OrderStatus,
    /// Why the venue refused or cancelled it (`EC_NoError` normally).
    pub reject_reason: ShortText,
    /// Who cancelled it (`CancelByUser`, `UNKNOWN`, ...).
    pub cancel_type: ShortText,
    /// Only reduces the position.
    pub reduce_only: bool,
    /// 0 one-way, 1 or 2 hedge mode.
    pub position_idx: u8,
    /// Quantity still open (`None` when `""`, as for a closed order).
    pub leaves_qty: Option<Fixed>,
    /// Quantity filled so far.
    pub cum_exec_qty: Fixed,
    /// Value filled so far.
    pub cum_exec_value: Option<Fixed>,
    /// Average fill price (`None` when `""`).
    pub avg_price: Option<Fixed>,
    /// Creation time, ms.
    pub created_time: u64,
    /// Time of this state, ms.
    pub updated_time: u64,
}

impl OrderUpdate {
    /// A post-only order the matching engine cancelled because it would have taken liquidity:
    /// `Cancelled`, `EC_PostOnlyWillTakeLiquidity`, nothing filled. A reject, never a user
    /// cancel and never a fill.
    pub fn is_post_only_reject(&self) -> bool {
        self.status == OrderStatus::Cancelled
            && self.reject_reason == POST_ONLY_WILL_TAKE_LIQUIDITY
            && self.cum_exec_qty.is_zero()
    }
}

/// What kind of execution (`execType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecType {
    /// A fill of an order.
    Trade,
    /// A funding payment (order type `UNKNOWN`).
    Funding,
    /// Auto-deleveraging.
    AdlTrade,
    /// Liquidation.
    BustTrade,
    /// Delivery of a dated contract.
    Delivery,
    /// Absent (as in `execution.fast`, which reports trades only) or another value.
    Unknown,
}

impl ExecType {
    fn from_bybit(text: &str) -> ExecType {
        match text {
            "Trade" => ExecType::Trade,
            "Funding" => ExecType::Funding,
            "AdlTrade" => ExecType::AdlTrade,
            "BustTrade" => ExecType::BustTrade,
            "Delivery" => ExecType::Delivery,
            _ => ExecType::Unknown,
        }
    }
}

/// One execution as the `execution` or `execution.fast` topic reports it (the fast topic
/// leaves out the fee, the value and the order's context: those are `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execution {
    /// Category.
    pub category: Category,
    /// Symbol.
    pub symbol: Symbol,
    /// The execution's id.
    pub exec_id: OrderIdText,
    /// The venue's order id.
    pub order_id: OrderIdText,
    /// The client's order id.
    pub order_link_id: OrderIdText,
    /// Side of the order.
    pub side: Side,
    /// Fill price.
    pub exec_price: Fixed,
    /// Fill quantity.
    pub exec_qty: Fixed,
    /// Fill value.
    pub exec_value: Option<Fixed>,
    /// Kind.
    pub exec_type: ExecType,
    /// Fill time, ms.
    pub exec_time: u64,
    /// The order was the maker.
    pub is_maker: bool,
    /// Fee paid (negative: a rebate).
    pub exec_fee: Option<Fixed>,
    /// Fee rate.
    pub fee_rate: Option<Fixed>,
    /// What is left of the order after this fill.
    pub leaves_qty: Option<Fixed>,
    /// The order's limit price.
    pub order_price: Option<Fixed>,
    /// The order's quantity.
    pub order_qty: Option<Fixed>,
    /// Position closed by this fill.
    pub closed_size: Option<Fixed>,
    /// PnL of this fill.
    pub exec_pnl: Option<Fixed>,
    /// Mark price at the fill.
    pub mark_price: Option<Fixed>,
    /// Cross sequence.
    pub seq: u64,
}

/// A position as the `position` topic (or `/v5/position/list`) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionUpdate {
    /// Category.
    pub category: Category,
    /// Symbol.
    pub symbol: Symbol,
    /// Side (`None` when flat).
    pub side: Option<Side>,
    /// Size, always positive or zero.
    pub size: Fixed,
    /// 0 one-way, 1 or 2 hedge mode.
    pub position_idx: u8,
    /// Average entry price (`entryPrice` on the stream, `avgPrice` on REST).
    pub entry_price: Option<Fixed>,
    /// Mark price.
    pub mark_price: Option<Fixed>,
    /// Liquidation price (`None` when `""`: outside the price limits).
    pub liq_price: Option<Fixed>,
    /// Leverage.
    pub leverage: Option<Fixed>,
    /// Unrealized PnL.
    pub unrealised_pnl: Option<Fixed>,
    /// PnL realized by the current position.
    pub cur_realised_pnl: Option<Fixed>,
    /// PnL realized over the position's life.
    pub cum_realised_pnl: Option<Fixed>,
    /// `Normal`, `Liq`, `Adl`.
    pub status: ShortText,
    /// Cross sequence (0 when absent).
    pub seq: u64,
    /// Time of this state, ms (0 when absent).
    pub updated_time: u64,
}

impl PositionUpdate {
    /// The net size, positive long, negative short.
    pub fn signed_size(&self) -> Fixed {
        match self.side {
            Some(Side::Sell) => Fixed::from_raw(-self.size.raw()),
            _ => self.size,
        }
    }
}

/// One coin of a wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoinBalance {
    /// Coin.
    pub coin: InlineStr<16>,
    /// Equity.
    pub equity: Option<Fixed>,
    /// Wallet balance.
    pub wallet_balance: Option<Fixed>,
    /// Unrealized PnL.
    pub unrealised_pnl: Option<Fixed>,
    /// Realized PnL, cumulative.
    pub cum_realised_pnl: Option<Fixed>,
    /// Locked by open spot orders.
    pub locked: Option<Fixed>,
    /// Value in USD.
    pub usd_value: Option<Fixed>,
}

/// One account of a `wallet` push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletAccount {
    /// `UNIFIED` or `CONTRACT`.
    pub account_type: InlineStr<16>,
    /// Total equity, USD.
    pub total_equity: Option<Fixed>,
    /// Total wallet balance, USD.
    pub total_wallet_balance: Option<Fixed>,
    /// Total margin balance, USD.
    pub total_margin_balance: Option<Fixed>,
    /// What is free to open positions with, USD: the balance sizing uses.
    pub total_available_balance: Option<Fixed>,
    /// Initial margin in use, USD.
    pub total_initial_margin: Option<Fixed>,
    /// Maintenance margin in use, USD.
    pub total_maintenance_margin: Option<Fixed>,
    /// Where the account's coins start in [`PrivateMessage::Wallet`]'s `coins`.
    pub first_coin: usize,
    /// How many coins it has.
    pub coin_count: usize,
}

impl WalletAccount {
    /// The account's coins, out of the push's `coins`.
    pub fn coins<'a>(&self, all: &'a [CoinBalance]) -> &'a [CoinBalance] {
        all.get(self.first_coin..self.first_coin + self.coin_count)
            .unwrap_or_default()
    }
}

/// A control reply on the private stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateControl {
    /// The answer to `auth`.
    Auth {
        /// Accepted.
        success: bool,
        /// The venue's message (why, on failure).
        message: ShortText,
    },
    /// The answer to `subscribe`.
    Subscribed {
        /// Accepted.
        success: bool,
        /// The request id echoed (`""` when none).
        req_id: ShortText,
        /// The venue's message (why, on failure).
        message: ShortText,
    },
    /// A pong (`op: "pong"`, the server time in `args`).
    Pong {
        /// Server time, ms, when the reply carries it.
        server_time: Option<u64>,
    },
}

/// A decoded private-stream message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateMessage<'a> {
    /// `order`: orders whose state changed.
    Orders {
        /// When the push was made, ms.
        creation_time: u64,
        /// The orders.
        orders: &'a [OrderUpdate],
    },
    /// `execution` or `execution.fast`: fills.
    Executions {
        /// When the push was made, ms.
        creation_time: u64,
        /// From `execution.fast` (fewer fields).
        fast: bool,
        /// The fills.
        executions: &'a [Execution],
    },
    /// `position`: positions whose state changed.
    Positions {
        /// When the push was made, ms.
        creation_time: u64,
        /// The positions.
        positions: &'a [PositionUpdate],
    },
    /// `wallet`: the accounts' balances.
    Wallet {
        /// When the push was made, ms.
        creation_time: u64,
        /// The accounts.
        accounts: &'a [WalletAccount],
        /// The coins of every account ([`WalletAccount::coins`] indexes them).
        coins: &'a [CoinBalance],
    },
    /// `dcp`: disconnect-cancel-all is armed on this connection (its content is not read).
    Dcp {
        /// When the push was made, ms.
        creation_time: u64,
    },
    /// A control reply.
    Control(PrivateControl),
}

enum Decoded {
    Orders(u64),
    Executions(u64, bool),
    Positions(u64),
    Wallet(u64),
    Dcp(u64),
    Control(PrivateControl),
}

/// Decoder of private stream frames; reuses its buffers across frames.
pub struct PrivateDecoder {
    json: JsonScratch,
    orders: Vec<OrderUpdate>,
    executions: Vec<Execution>,
    positions: Vec<PositionUpdate>,
    accounts: Vec<WalletAccount>,
    coins: Vec<CoinBalance>,
}

impl Default for PrivateDecoder {
    fn default() -> Self {
        PrivateDecoder::new()
    }
}

impl PrivateDecoder {
    /// A decoder with every buffer sized for the largest pushes.
    pub fn new() -> Self {
        PrivateDecoder {
            json: JsonScratch::new(128 * 1024),
            orders: Vec::with_capacity(MAX_ITEMS),
            executions: Vec::with_capacity(MAX_ITEMS),
            positions: Vec::with_capacity(MAX_ITEMS),
            accounts: Vec::with_capacity(MAX_ITEMS),
            coins: Vec::with_capacity(MAX_ITEMS),
        }
    }

    /// Decodes the frame held in `frame` (its bytes may be rewritten in place).
    pub fn decode(&mut self, frame: &mut FrameBuf) -> Result<PrivateMessage<'_>, DecodeError> {
        let PrivateDecoder {
            json,
            orders,
            executions,
            positions,
            accounts,
            coins,
        } = self;
        let decoded = json.parse(frame, |root| {
            let object = root.as_object().ok_or(DecodeError::NotAnObject)?;
            let mut top = TopLevel::default();
            for (key, value) in object.iter() {
                match key {
                    "topic" => top.topic = value.into_string(),
                    "creationTime" => top.creation_time = value.as_u64(),
                    "data" => top.data = Some(value),
                    "op" => top.op = value.into_string(),
                    "success" => top.success = value.as_bool(),
                    "ret_msg" => top.ret_msg = value.into_string(),
                    "req_id" => top.req_id = value.into_string(),
                    "args" => top.args = Some(value),
                    _ => {}
                }
            }
            if let Some(topic) = top.topic {
                let created = top.creation_time.unwrap_or(0);
                if let Ok(Topic::Dcp) = topic_kind(topic) {
                    return Ok(Decoded::Dcp(created));
                }
                let items = top.data.ok_or(DecodeError::MissingField("data"))?;
                return match topic_kind(topic)? {
                    Topic::Order => {
                        read_items(items, orders, read_order)?;
                        Ok(Decoded::Orders(created))
                    }
                    Topic::Execution { fast } => {
                        read_items(items, executions, read_execution)?;
                        Ok(Decoded::Executions(created, fast))
                    }
                    Topic::Position => {
                        read_items(items, positions, read_position)?;
                        Ok(Decoded::Positions(created))
                    }
                    Topic::Wallet => {
                        read_wallet(items, accounts, coins)?;
                        Ok(Decoded::Wallet(created))
                    }
                    Topic::Dcp => Ok(Decoded::Dcp(created)),
                };
            }
            match top.op {
                Some(op) => control(op, &top).map(Decoded::Control),
                None => Err(DecodeError::UnexpectedMessage),
            }
        })?;
        Ok(match decoded {
            Decoded::Orders(creation_time) => PrivateMessage::Orders {
                creation_time,
                orders: &self.orders,
            },
            Decoded::Executions(creation_time, fast) => PrivateMessage::Executions {
                creation_time,
                fast,
                executions: &self.executions,
            },
            Decoded::Positions(creation_time) => PrivateMessage::Positions {
                creation_time,
                positions: &self.positions,
            },
            Decoded::Wallet(creation_time) => PrivateMessage::Wallet {
                creation_time,
                accounts: &self.accounts,
                coins: &self.coins,
            },
            Decoded::Dcp(creation_time) => PrivateMessage::Dcp { creation_time },
            Decoded::Control(reply) => PrivateMessage::Control(reply),
        })
    }
}

#[derive(Default)]
struct TopLevel<'t, 'i> {
    topic: Option<&'i str>,
    creation_time: Option<u64>,
    data: Option<Value<'t, 'i>>,
    op: Option<&'i str>,
    success: Option<bool>,
    ret_msg: Option<&'i str>,
    req_id: Option<&'i str>,
    args: Option<Value<'t, 'i>>,
}

enum Topic {
    Order,
    Execution { fast: bool },
    Position,
    Wallet,
    Dcp,
}

/// The topic, all-in-one (`order`) or by category (`order.linear`).
fn topic_kind(topic: &str) -> Result<Topic, DecodeError> {
    let base = match topic.split_once('.') {
        Some(("dcp", "future" | "spot" | "option")) => return Ok(Topic::Dcp),
        Some((base, "linear" | "inverse" | "spot" | "option")) => base,
        Some(("execution", "fast")) => return Ok(Topic::Execution { fast: true }),
        Some(("execution", rest)) if rest.starts_with("fast.") => {
            return Ok(Topic::Execution { fast: true });
        }
        Some(_) => return Err(DecodeError::UnknownTopic),
        None => topic,
    };
    match base {
        "order" => Ok(Topic::Order),
        "execution" => Ok(Topic::Execution { fast: false }),
        "position" => Ok(Topic::Position),
        "wallet" => Ok(Topic::Wallet),
        "dcp" => Ok(Topic::Dcp),
        _ => Err(DecodeError::UnknownTopic),
    }
}

/// Reads every element of the array `items` with `read` into `out`.
fn read_items<T>(
    items: Value<'_, '_>,
    out: &mut Vec<T>,
    read: fn(Object<'_, '_>) -> Result<T, DecodeError>,
) -> Result<(), DecodeError> {
    let items = items.as_array().ok_or(DecodeError::BadField("data"))?;
    out.clear();
    for item in items.iter() {
        if out.len() == MAX_ITEMS {
            return Err(DecodeError::TooManyItems { max: MAX_ITEMS });
        }
        out.push(read(
            item.as_object().ok_or(DecodeError::BadField("data[]"))?,
        )?);
    }
    Ok(())
}

fn side(value: Value<'_, '_>, field: &'static str) -> Result<Side, DecodeError> {
    Side::from_bybit(text(value, field)?).ok_or(DecodeError::BadField(field))
}

fn inline<const N: usize>(
    value: Value<'_, '_>,
    field: &'static str,
) -> Result<InlineStr<N>, DecodeError> {
    InlineStr::new(text(value, field)?).map_err(|_| DecodeError::BadField(field))
}

fn position_idx(value: Value<'_, '_>, field: &'static str) -> Result<u8, DecodeError> {
    value
        .as_u64()
        .and_then(|idx| u8::try_from(idx).ok())
        .ok_or(DecodeError::BadField(field))
}

/// Reads one order (a `data[]` element of the `order` topic, or a REST order list item).
pub fn read_order(object: Object<'_, '_>) -> Result<OrderUpdate, DecodeError> {
    let mut order = OrderUpdate {
        category: Category::Unknown,
        symbol: Symbol::EMPTY,
        order_id: OrderIdText::EMPTY,
        order_link_id: OrderIdText::EMPTY,
        side: Side::Buy,
        order_type: OrderType::Unknown,
        price: None,
        qty: Fixed::ZERO,
        time_in_force: TimeInForce::Unknown,
        status: OrderStatus::New,
        reject_reason: ShortText::EMPTY,
        cancel_type: ShortText::EMPTY,
        reduce_only: false,
        position_idx: 0,
        leaves_qty: None,
        cum_exec_qty: Fixed::ZERO,
        cum_exec_value: None,
        avg_price: None,
        created_time: 0,
        updated_time: 0,
    };
    let (mut saw_symbol, mut saw_id, mut saw_side, mut saw_qty, mut saw_status) =
        (false, false, false, false, false);
    for (key, value) in object.iter() {
        match key {
            "category" => order.category = Category::from_bybit(text(value, "category")?),
            "symbol" => {
                order.symbol = inline(value, "symbol")?;
                saw_symbol = true;
            }
            "orderId" => {
                order.order_id = inline(value, "orderId")?;
                saw_id = true;
            }
            "orderLinkId" => order.order_link_id = inline(value, "orderLinkId")?,
            "side" => {
                order.side = side(value, "side")?;
                saw_side = true;
            }
            "orderType" => order.order_type = OrderType::from_bybit(text(value, "orderType")?),
            "price" => order.price = opt_decimal(value, "price")?,
            "qty" => {
                order.qty = decimal(value, "qty")?;
                saw_qty = true;
            }
            "timeInForce" => {
                order.time_in_force = TimeInForce::from_bybit(text(value, "timeInForce")?)
            }
            "orderStatus" => {
                order.status = OrderStatus::from_bybit(text(value, "orderStatus")?)
                    .ok_or(DecodeError::BadField("orderStatus"))?;
                saw_status = true;
            }
            "rejectReason" => {
                order.reject_reason = ShortText::truncated(text(value, "rejectReason")?)
            }
            "cancelType" => order.cancel_type = ShortText::truncated(text(value, "cancelType")?),
            "reduceOnly" => {
                order.reduce_only = value.as_bool().ok_or(DecodeError::BadField("reduceOnly"))?
            }
            "positionIdx" => order.position_idx = position_idx(value, "positionIdx")?,
            "leavesQty" => order.leaves_qty = opt_decimal(value, "leavesQty")?,
            "cumExecQty" => {
                order.cum_exec_qty = opt_decimal(value, "cumExecQty")?.unwrap_or(Fixed::ZERO)
            }
            "cumExecValue" => order.cum_exec_value = opt_amount(value, "cumExecValue")?,
            "avgPrice" => order.avg_price = opt_amount(value, "avgPrice")?,
            "createdTime" => order.created_time = millis(value, "createdTime")?,
            "updatedTime" => order.updated_time = millis(value, "updatedTime")?,
            _ => {}
        }
    }
    for (seen, field) in [
        (saw_symbol, "symbol"),
        (saw_id, "orderId"),
        (saw_side, "side"),
        (saw_qty, "qty"),
        (saw_status, "orderStatus"),
    ] {
        if !seen {
            return Err(DecodeError::MissingField(field));
        }
    }
    Ok(order)
}

/// Reads one execution (a `data[]` element of `execution` or `execution.fast`).
pub fn read_execution(object: Object<'_, '_>) -> Result<Execution, DecodeError> {
    let mut exec = Execution {
        category: Category::Unknown,
        symbol: Symbol::EMPTY,
        exec_id: OrderIdText::EMPTY,
        order_id: OrderIdText::EMPTY,
        order_link_id: OrderIdText::EMPTY,
        side: Side::Buy,
        exec_price: Fixed::ZERO,
        exec_qty: Fixed::ZERO,
        exec_value: None,
        exec_type: ExecType::Unknown,
        exec_time: 0,
        is_maker: false,
        exec_fee: None,
        fee_rate: None,
        leaves_qty: None,
        order_price: None,
        order_qty: None,
        closed_size: None,
        exec_pnl: None,
        mark_price: None,
        seq: 0,
    };
    let mut seen = [false; 6];
    for (key, value) in object.iter() {
        match key {
            "category" => exec.category = Category::from_bybit(text(value, "category")?),
            "symbol" => {
                exec.symbol = inline(value, "symbol")?;
                seen[0] = true;
            }
            "execId" => {
                exec.exec_id = inline(value, "execId")?;
                seen[1] = true;
            }
            "orderId" => {
                exec.order_id = inline(value, "orderId")?;
                seen[2] = true;
            }
            "orderLinkId" => exec.order_link_id = inline(value, "orderLinkId")?,
            "side" => {
                exec.side = side(value, "side")?;
                seen[3] = true;
            }
            "execPrice" => {
                exec.exec_price = decimal(value, "execPrice")?;
                seen[4] = true;
            }
            "execQty" => {
                exec.exec_qty = decimal(value, "execQty")?;
                seen[5] = true;
            }
            "execValue" => exec.exec_value = opt_amount(value, "execValue")?,
            "execType" => exec.exec_type = ExecType::from_bybit(text(value, "execType")?),
            "execTime" => exec.exec_time = millis(value, "execTime")?,
            "isMaker" => exec.is_maker = value.as_bool().ok_or(DecodeError::BadField("isMaker"))?,
            "execFee" => exec.exec_fee = opt_amount(value, "execFee")?,
            "feeRate" => exec.fee_rate = opt_amount(value, "feeRate")?,
            "leavesQty" => exec.leaves_qty = opt_decimal(value, "leavesQty")?,
            "orderPrice" => exec.order_price = opt_decimal(value, "orderPrice")?,
            "orderQty" => exec.order_qty = opt_decimal(value, "orderQty")?,
            "closedSize" => exec.closed_size = opt_decimal(value, "closedSize")?,
            "execPnl" => exec.exec_pnl = opt_amount(value, "execPnl")?,
            "markPrice" => exec.mark_price = opt_amount(value, "markPrice")?,
            "seq" => exec.seq = sequence(value, "seq")?,
            _ => {}
        }
    }
    let fields = [
        "symbol",
        "execId",
        "orderId",
        "side",
        "execPrice",
        "execQty",
    ];
    if let Some(missing) = seen.iter().position(|seen| !seen) {
        return Err(DecodeError::MissingField(fields[missing]));
    }
    Ok(exec)
}

/// Reads one position (a `data[]` element of `position`, or a `/v5/position/list` item).
pub fn read_position(object: Object<'_, '_>) -> Result<PositionUpdate, DecodeError> {
    let mut position = PositionUpdate {
        category: Category::Unknown,
        symbol: Symbol::EMPTY,
        side: None,
        size: Fixed::ZERO,
        position_idx: 0,
        entry_price: None,
        mark_price: None,
        liq_price: None,
        leverage: None,
        unrealised_pnl: None,
        cur_realised_pnl: None,
        cum_realised_pnl: None,
        status: ShortText::EMPTY,
        seq: 0,
        updated_time: 0,
    };
    let (mut saw_symbol, mut saw_size) = (false, false);
    for (key, value) in object.iter() {
        match key {
            "category" => position.category = Category::from_bybit(text(value, "category")?),
            "symbol" => {
                position.symbol = inline(value, "symbol")?;
                saw_symbol = true;
            }
            "side" => {
                position.side = match text(value, "side")? {
                    "" | "None" => None,
                    other => Some(Side::from_bybit(other).ok_or(DecodeError::BadField("side"))?),
                }
            }
            "size" => {
                position.size = decimal(value, "size")?;
                saw_size = true;
            }
            "positionIdx" => position.position_idx = position_idx(value, "positionIdx")?,
            "entryPrice" | "avgPrice" => position.entry_price = opt_amount(value, "entryPrice")?,
            "markPrice" => position.mark_price = opt_amount(value, "markPrice")?,
            "liqPrice" => position.liq_price = opt_amount(value, "liqPrice")?,
            "leverage" => position.leverage = opt_amount(value, "leverage")?,
            "unrealisedPnl" => position.unrealised_pnl = opt_amount(value, "unrealisedPnl")?,
            "curRealisedPnl" => position.cur_realised_pnl = opt_amount(value, "curRealisedPnl")?,
            "cumRealisedPnl" => position.cum_realised_pnl = opt_amount(value, "cumRealisedPnl")?,
            "positionStatus" => {
                position.status = ShortText::truncated(text(value, "positionStatus")?)
            }
            "seq" => position.seq = sequence(value, "seq")?,
            "updatedTime" => position.updated_time = millis(value, "updatedTime")?,
            _ => {}
        }
    }
    if !saw_symbol {
        return Err(DecodeError::MissingField("symbol"));
    }
    if !saw_size {
        return Err(DecodeError::MissingField("size"));
    }
    Ok(position)
}

/// Reads a `wallet` push's accounts and their coins.
fn read_wallet(
    items: Value<'_, '_>,
    accounts: &mut Vec<WalletAccount>,
    coins: &mut Vec<CoinBalance>,
) -> Result<(), DecodeError> {
    let items = items.as_array().ok_or(DecodeError::BadField("data"))?;
    accounts.clear();
    coins.clear();
    for item in items.iter() {
        let object = item.as_object().ok_or(DecodeError::BadField("data[]"))?;
        if accounts.len() == MAX_ITEMS {
            return Err(DecodeError::TooManyItems { max: MAX_ITEMS });
        }
        let mut account = WalletAccount {
            account_type: InlineStr::EMPTY,
            total_equity: None,
            total_wallet_balance: None,
            total_margin_balance: None,
            total_available_balance: None,
            total_initial_margin: None,
            total_maintenance_margin: None,
            first_coin: coins.len(),
            coin_count: 0,
        };
        for (key, value) in object.iter() {
            match key {
                "accountType" => account.account_type = inline(value, "accountType")?,
                "totalEquity" => account.total_equity = opt_amount(value, "totalEquity")?,
                "totalWalletBalance" => {
                    account.total_wallet_balance = opt_amount(value, "totalWalletBalance")?
                }
                "totalMarginBalance" => {
                    account.total_margin_balance = opt_amount(value, "totalMarginBalance")?
                }
                "totalAvailableBalance" => {
                    account.total_available_balance = opt_amount(value, "totalAvailableBalance")?
                }
                "totalInitialMargin" => {
                    account.total_initial_margin = opt_amount(value, "totalInitialMargin")?
                }
                "totalMaintenanceMargin" => {
                    account.total_maintenance_margin = opt_amount(value, "totalMaintenanceMargin")?
                }
                "coin" => {
                    let list = value.as_array().ok_or(DecodeError::BadField("coin"))?;
                    for coin in list.iter() {
                        if coins.len() == MAX_ITEMS {
                            return Err(DecodeError::TooManyItems { max: MAX_ITEMS });
                        }
                        coins.push(read_coin(
                            coin.as_object().ok_or(DecodeError::BadField("coin[]"))?,
                        )?);
                    }
                }
                _ => {}
            }
        }
        account.coin_count = coins.len() - account.first_coin;
        accounts.push(account);
    }
    Ok(())
}

fn read_coin(object: Object<'_, '_>) -> Result<CoinBalance, DecodeError> {
    let mut coin = CoinBalance {
        coin: InlineStr::EMPTY,
        equity: None,
        wallet_balance: None,
        unrealised_pnl: None,
        cum_realised_pnl: None,
        locked: None,
        usd_value: None,
    };
    let mut saw_coin = false;
    for (key, value) in object.iter() {
        match key {
            "coin" => {
                coin.coin = inline(value, "coin[].coin")?;
                saw_coin = true;
            }
            "equity" => coin.equity = opt_amount(value, "coin[].equity")?,
            "walletBalance" => coin.wallet_balance = opt_amount(value, "coin[].walletBalance")?,
            "unrealisedPnl" => coin.unrealised_pnl = opt_amount(value, "coin[].unrealisedPnl")?,
            "cumRealisedPnl" => coin.cum_realised_pnl = opt_amount(value, "coin[].cumRealisedPnl")?,
            "locked" => coin.locked = opt_amount(value, "coin[].locked")?,
            "usdValue" => coin.usd_value = opt_amount(value, "coin[].usdValue")?,
            _ => {}
        }
    }
    if !saw_coin {
        return Err(DecodeError::MissingField("coin[].coin"));
    }
    Ok(coin)
}

fn control(op: &str, top: &TopLevel<'_, '_>) -> Result<PrivateControl, DecodeError> {
    let message = ShortText::truncated(top.ret_msg.unwrap_or_default());
    match op {
        "auth" => Ok(PrivateControl::Auth {
            success: top.success.ok_or(DecodeError::MissingField("success"))?,
            message,
        }),
        "subscribe" => Ok(PrivateControl::Subscribed {
            success: top.success.ok_or(DecodeError::MissingField("success"))?,
            req_id: ShortText::truncated(top.req_id.unwrap_or_default()),
            message,
        }),
        "pong" => {
            let first = top
                .args
                .and_then(|args| args.as_array())
                .and_then(|args| args.get(0));
            let server_time = match first {
                Some(arg) => Some(millis(arg, "args")?),
                None => None,
            };
            Ok(PrivateControl::Pong { server_time })
        }
        _ => Err(DecodeError::UnexpectedMessage),
    }
}
