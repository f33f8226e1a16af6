//! What the venue holds for one symbol, asked over REST: the truth reconciliation starts from.
//!
//! A snapshot is several requests, and the account keeps changing while they are made; it is
//! made so that it can be judged against the stream:
//!
//! 1. it is stamped with the venue's clock first ([`VenueSnapshot::asked_ms`]): an order
//!    created after that may be in none of its lists, and is never concluded "never seen";
//! 2. the position, with its cross sequence ([`VenueSnapshot::position_seq`]): every execution
//!    with a `seq` up to it is in it, and, read before the executions, in the executions list;
//! 3. the open orders (`/v5/order/realtime`, paged at 50);
//! 4. the closed orders since `since_ms` (`/v5/order/history`, paged at 50, Bybit's most):
//!    terminal statuses only; an order that closed between 3 and 4 is in both lists, and its
//!    later state wins;
//! 5. the executions since `since_ms` (`/v5/execution/list`, paged at 100), and those of each
//!    order named in `orders` by its id (an order whose fills the venue reported but did not
//!    push), deduplicated by `execId`.

use super::replies::{Page, execution_page, order_page, position_page};
use super::{Method, RestClient, RestError};
use crate::bybit::limits::Endpoint;
use crate::bybit::private::{Execution, OrderUpdate};
use crate::fixed::Fixed;

/// Orders per page of `/v5/order/realtime` and `/v5/order/history` (Bybit's most: 50).
pub const ORDER_PAGE: usize = 50;
/// Executions per page of `/v5/execution/list` (Bybit's most: 100).
pub const EXECUTION_PAGE: usize = 100;
/// Pages read of one list at most (a runaway cursor stops there).
const MAX_PAGES: usize = 40;
/// How far back Bybit's history and execution lists reach in one query: 7 days.
const MAX_WINDOW_MS: u64 = 7 * 24 * 3_600_000;

/// The venue's state of one symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueSnapshot {
    /// The venue's clock when the snapshot began, ms.
    pub asked_ms: u64,
    /// The position, signed (one-way mode).
    pub position: Fixed,
    /// Its average entry price, when the venue gave one.
    pub entry_price: Option<Fixed>,
    /// The position's cross sequence: it includes every execution with a `seq` up to this
    /// (0: never traded).
    pub position_seq: u64,
    /// Every open order.
    pub open_orders: Vec<OrderUpdate>,
    /// The closed orders of the window (terminal statuses only), newest first.
    pub closed_orders: Vec<OrderUpdate>,
    /// The executions of the window and of the orders asked for, newest first.
    pub executions: Vec<Execution>,
}

fn unreadable(path: &str, err: &crate::bybit::DecodeError) -> RestError {
    RestError::Unreadable {
        method: "GET",
        path: path.to_owned(),
        reason: err.to_string(),
    }
}

/// Every page of the list at `path` for `query` (`&limit=N` and the cursor are added), read by
/// `read`.
fn pages<T>(
    client: &RestClient,
    path: &'static str,
    query: &str,
    limit: usize,
    read: fn(&[u8]) -> Result<Page<T>, crate::bybit::DecodeError>,
) -> Result<Vec<T>, RestError> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    for _ in 0..MAX_PAGES {
        let mut paged = format!("{query}&limit={limit}");
        if !cursor.is_empty() {
            paged.push_str("&cursor=");
            paged.push_str(&cursor);
        }
        let answer = client.call(Method::Get, path, &paged, Some(Endpoint::Query))?;
        let page = read(&answer.body).map_err(|err| unreadable(path, &err))?;
        let empty = page.items.is_empty();
        items.extend(page.items);
        if page.next_cursor.is_empty() || page.next_cursor == cursor || empty {
            break;
        }
        cursor = page.next_cursor;
    }
    Ok(items)
}

/// Every open order of `symbol`, page by page.
pub fn open_orders(client: &RestClient, symbol: &str) -> Result<Vec<OrderUpdate>, RestError> {
    pages(
        client,
        "/v5/order/realtime",
        &format!("category=linear&symbol={symbol}"),
        ORDER_PAGE,
        order_page,
    )
}

/// The position of `symbol`, signed (one-way mode).
pub fn position(client: &RestClient, symbol: &str) -> Result<Fixed, RestError> {
    position_now(client, symbol).map(|position| position.size)
}

/// A position as `/v5/position/list` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionNow {
    /// Signed size (one-way mode).
    pub size: Fixed,
    /// Average entry price, when the venue gave one.
    pub entry_price: Option<Fixed>,
    /// Cross sequence (0: never traded).
    pub seq: u64,
}

/// The position of `symbol` now.
pub fn position_now(client: &RestClient, symbol: &str) -> Result<PositionNow, RestError> {
    const PATH: &str = "/v5/position/list";
    let query = format!("category=linear&symbol={symbol}");
    let answer = client.call(Method::Get, PATH, &query, Some(Endpoint::Query))?;
    let page = position_page(&answer.body).map_err(|err| unreadable(PATH, &err))?;
    let rows = || page.items.iter().filter(|row| row.symbol == symbol);
    Ok(PositionNow {
        size: rows()
            .map(crate::bybit::private::PositionUpdate::signed_size)
            .fold(Fixed::ZERO, Fixed::saturating_add),
        entry_price: rows()
            .filter(|row| !row.size.is_zero())
            .find_map(|row| row.entry_price)
            .filter(|price| price.is_positive()),
        seq: rows().map(|row| row.seq).max().unwrap_or(0),
    })
}

/// The venue's state of `symbol`, its history and executions read from `since_ms` (venue
/// clock; at most 7 days back), and the executions of each order in `orders` (venue ids).
pub fn snapshot(
    client: &RestClient,
    symbol: &str,
    since_ms: u64,
    orders: &[&str],
) -> Result<VenueSnapshot, RestError> {
    let asked_ms = client.venue_ms();
    let position = position_now(client, symbol)?;
    let open_orders = open_orders(client, symbol)?;
    let start = since_ms.max(asked_ms.saturating_sub(MAX_WINDOW_MS) + 60_000);
    // Bybit takes history's startTime only with an endTime; a minute ahead covers the clocks.
    let window = format!(
        "category=linear&symbol={symbol}&startTime={start}&endTime={}",
        asked_ms + 60_000
    );
    let mut closed_orders = pages(client, "/v5/order/history", &window, ORDER_PAGE, order_page)?;
    closed_orders.retain(|order| !order.status.is_open());
    let mut executions = pages(
        client,
        "/v5/execution/list",
        &window,
        EXECUTION_PAGE,
        execution_page,
    )?;
    for order_id in orders {
        let by_order = pages(
            client,
            "/v5/execution/list",
            &format!("category=linear&symbol={symbol}&orderId={order_id}"),
            EXECUTION_PAGE,
            execution_page,
        )?;
        for execution in by_order {
            if !executions
                .iter()
                .any(|seen| seen.exec_id == execution.exec_id)
            {
                executions.push(execution);
            }
        }
    }
    // Newest first, as Bybit lists them.
    executions.sort_by_key(|execution| std::cmp::Reverse((execution.exec_time, execution.seq)));
    Ok(VenueSnapshot {
        asked_ms,
        position: position.size,
        entry_price: position.entry_price,
        position_seq: position.seq,
        open_orders,
        closed_orders,
        executions,
    })
}
