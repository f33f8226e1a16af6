//! The REST replies the engine reads, decoded with exact decimals, and the start-up check of a
//! symbol's trading rules against the venue's.
//!
//! Orders, positions and wallets are read by the same item readers as the private stream
//! ([`crate::bybit::private`]), so one field mapping serves both; the rest (instruments, fee
//! rates, server time, the API key's account) are plain serde structs.

use serde::Deserialize;
use simd_json::prelude::ValueIntoString;
use simd_json::value::tape::{Object, Value};

use crate::bybit::json::JsonScratch;
use crate::bybit::private::{
    Execution, OrderUpdate, PositionUpdate, read_execution, read_order, read_position,
};
use crate::bybit::public::DecodeError;
use crate::fixed::Fixed;
use crate::frame::FrameBuf;
use crate::instrument::Instrument;

/// A page of a REST list: its items and the cursor of the next page (`""` on the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// `nextPageCursor`.
    pub next_cursor: String,
}

/// The `result.list` of an order list reply (`/v5/order/realtime`, `/v5/order/history`).
pub fn order_page(body: &[u8]) -> Result<Page<OrderUpdate>, DecodeError> {
    read_page(body, read_order)
}

/// The `result.list` of `/v5/execution/list`.
pub fn execution_page(body: &[u8]) -> Result<Page<Execution>, DecodeError> {
    read_page(body, read_execution)
}

/// The `result.list` of `/v5/position/list`.
pub fn position_page(body: &[u8]) -> Result<Page<PositionUpdate>, DecodeError> {
    read_page(body, read_position)
}

fn read_page<T>(
    body: &[u8],
    read: fn(Object<'_, '_>) -> Result<T, DecodeError>,
) -> Result<Page<T>, DecodeError> {
    let mut frame = FrameBuf::with_capacity(body.len());
    frame.fill(body);
    JsonScratch::new(body.len()).parse(&mut frame, |root| {
        let result = field(root, "result")?;
        let mut page = Page {
            items: Vec::new(),
            next_cursor: String::new(),
        };
        let object = result.as_object().ok_or(DecodeError::BadField("result"))?;
        for (key, value) in object.iter() {
            match key {
                "list" => {
                    let list = value
                        .as_array()
                        .ok_or(DecodeError::BadField("result.list"))?;
                    for item in list.iter() {
                        let item = item
                            .as_object()
                            .ok_or(DecodeError::BadField("result.list[]"))?;
                        page.items.push(read(item)?);
                    }
                }
                "nextPageCursor" => {
                    page.next_cursor = value.into_string().unwrap_or_default().to_owned();
                }
                _ => {}
            }
        }
        Ok(page)
    })
}

fn field<'t, 'i>(value: Value<'t, 'i>, name: &'static str) -> Result<Value<'t, 'i>, DecodeError> {
    let object = value.as_object().ok_or(DecodeError::NotAnObject)?;
    object.get(name).ok_or(DecodeError::MissingField(name))
}

/// A decimal Bybit may send as `""` (not applicable).
fn optional_decimal<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Fixed>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|err| serde::de::Error::custom(format_args!("invalid decimal {text:?}: {err}")))
}

/// `result` of `GET /v5/market/instruments-info`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InstrumentsPage {
    /// The instruments.
    pub list: Vec<InstrumentInfo>,
    /// Cursor of the next page.
    #[serde(default, rename = "nextPageCursor")]
    pub next_cursor: String,
}

/// One instrument of `instruments-info`: the fields the engine checks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentInfo {
    /// Symbol.
    pub symbol: String,
    /// `Trading`, `PreLaunch`, `Settling`, `Closed`, ...
    pub status: String,
    /// Price rules.
    pub price_filter: PriceFilter,
    /// Quantity rules.
    pub lot_size_filter: LotSizeFilter,
    /// Leverage rules.
    pub leverage_filter: LeverageFilter,
}

/// `priceFilter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceFilter {
    /// Price increment.
    pub tick_size: Fixed,
}

/// `lotSizeFilter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LotSizeFilter {
    /// Quantity increment.
    pub qty_step: Fixed,
    /// Smallest order quantity.
    pub min_order_qty: Fixed,
    /// Largest limit or post-only order quantity.
    pub max_order_qty: Fixed,
    /// Smallest order value (absent from older replies).
    #[serde(default, deserialize_with = "optional_decimal")]
    pub min_notional_value: Option<Fixed>,
}

/// `leverageFilter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeverageFilter {
    /// Lowest leverage.
    pub min_leverage: Fixed,
    /// Highest leverage.
    pub max_leverage: Fixed,
    /// Leverage increment.
    pub leverage_step: Fixed,
}

/// `result` of `GET /v5/account/fee-rate`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FeeRates {
    /// One row per symbol.
    pub list: Vec<FeeRate>,
}

/// A symbol's fee rates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeRate {
    /// Symbol.
    pub symbol: String,
    /// Maker fee, a fraction of value (negative: a rebate).
    pub maker_fee_rate: Fixed,
    /// Taker fee.
    pub taker_fee_rate: Fixed,
}

/// `result` of `GET /v5/market/time`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    /// Seconds since the epoch.
    pub time_second: String,
    /// Nanoseconds since the epoch.
    pub time_nano: String,
}

impl ServerTime {
    /// The time in ms.
    pub fn millis(&self) -> Option<u64> {
        let nanos: u128 = self.time_nano.parse().ok()?;
        u64::try_from(nanos / 1_000_000).ok()
    }
}

/// `result` of `GET /v5/user/query-api`: the account behind the API key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    /// The account's user id.
    #[serde(rename = "userID")]
    pub user_id: u64,
    /// 1 when the key can only read.
    pub read_only: u8,
    /// The key's note, as its owner named it.
    #[serde(default)]
    pub note: String,
}

/// `result` of `GET /v5/account/wallet-balance`: the accounts' totals.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WalletBalances {
    /// One row per account type asked for.
    pub list: Vec<WalletBalance>,
}

/// An account's totals.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletBalance {
    /// `UNIFIED` or `CONTRACT`.
    pub account_type: String,
    /// Total equity, USD.
    #[serde(default, deserialize_with = "optional_decimal")]
    pub total_equity: Option<Fixed>,
    /// Total wallet balance, USD.
    #[serde(default, deserialize_with = "optional_decimal")]
    pub total_wallet_balance: Option<Fixed>,
    /// What is free to open positions with, USD: the balance sizing uses.
    #[serde(default, deserialize_with = "optional_decimal")]
    pub total_available_balance: Option<Fixed>,
}

/// A trading rule of `symbols.yml` the venue does not agree with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{field} is {configured} in symbols.yml but {venue} at the venue")]
pub struct RuleMismatch {
    /// The field of `symbols.yml`.
    pub field: &'static str,
    /// Its value there.
    pub configured: Fixed,
    /// The venue's.
    pub venue: Fixed,
}

/// Each rule of `symbols.yml` beside the venue's `info`: tick size, quantity step, minimum
/// and maximum quantity, minimum notional (`None` when the venue does not report it).
pub fn rule_values(
    configured: &Instrument,
    info: &InstrumentInfo,
) -> [(&'static str, Fixed, Option<Fixed>); 5] {
    let lot = &info.lot_size_filter;
    [
        (
            "tick_size",
            configured.tick_size,
            Some(info.price_filter.tick_size),
        ),
        ("qty_step", configured.qty_step, Some(lot.qty_step)),
        ("min_qty", configured.min_qty, Some(lot.min_order_qty)),
        ("max_qty", configured.max_qty, Some(lot.max_order_qty)),
        (
            "min_notional",
            configured.min_notional,
            lot.min_notional_value,
        ),
    ]
}

/// Where `configured` differs from the venue's `info` (of [`rule_values`], those the venue
/// reports). Empty when they agree.
pub fn rule_mismatches(configured: &Instrument, info: &InstrumentInfo) -> Vec<RuleMismatch> {
    rule_values(configured, info)
        .into_iter()
        .filter_map(|(field, configured, venue)| {
            let venue = venue?;
            (venue != configured).then_some(RuleMismatch {
                field,
                configured,
                venue,
            })
        })
        .collect()
}
