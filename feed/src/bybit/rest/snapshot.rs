//! What the venue holds for one symbol, asked over REST: the truth reconciliation starts from.

use super::replies::{execution_page, order_page, position_page};
use super::{Method, RestClient, RestError};
use crate::bybit::limits::Endpoint;
use crate::bybit::private::{Execution, OrderUpdate};
use crate::fixed::Fixed;

/// How many of the latest closed orders and executions a snapshot reads.
pub const RECENT: usize = 100;

/// The venue's state of one symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueSnapshot {
    /// Every open order.
    pub open_orders: Vec<OrderUpdate>,
    /// The latest closed orders, newest first.
    pub closed_orders: Vec<OrderUpdate>,
    /// The latest executions, newest first.
    pub executions: Vec<Execution>,
    /// The position, signed (one-way mode).
    pub position: Fixed,
}

fn unreadable(path: &str, err: &crate::bybit::DecodeError) -> RestError {
    RestError::Unreadable {
        method: "GET",
        path: path.to_owned(),
        reason: err.to_string(),
    }
}

/// Every open order of `symbol`, page by page (50 a page).
pub fn open_orders(client: &RestClient, symbol: &str) -> Result<Vec<OrderUpdate>, RestError> {
    const PATH: &str = "/v5/order/realtime";
    let mut orders = Vec::new();
    let mut cursor = String::new();
    loop {
        let mut query = format!("category=linear&symbol={symbol}&limit=50");
        if !cursor.is_empty() {
            query.push_str("&cursor=");
            query.push_str(&cursor);
        }
        let answer = client.call(Method::Get, PATH, &query, Some(Endpoint::Query))?;
        let page = order_page(&answer.body).map_err(|err| unreadable(PATH, &err))?;
        orders.extend(page.items);
        if page.next_cursor.is_empty() || page.next_cursor == cursor {
            return Ok(orders);
        }
        cursor = page.next_cursor;
    }
}

/// The position of `symbol`, signed (one-way mode).
pub fn position(client: &RestClient, symbol: &str) -> Result<Fixed, RestError> {
    const PATH: &str = "/v5/position/list";
    let query = format!("category=linear&symbol={symbol}");
    let answer = client.call(Method::Get, PATH, &query, Some(Endpoint::Query))?;
    let page = position_page(&answer.body).map_err(|err| unreadable(PATH, &err))?;
    Ok(page
        .items
        .iter()
        .filter(|row| row.symbol == symbol)
        .map(crate::bybit::private::PositionUpdate::signed_size)
        .fold(Fixed::ZERO, Fixed::saturating_add))
}

/// The venue's state of `symbol`: open orders, the latest closed orders and executions, the
/// position.
pub fn snapshot(client: &RestClient, symbol: &str) -> Result<VenueSnapshot, RestError> {
    let recent = format!("category=linear&symbol={symbol}&limit={RECENT}");
    let history = client.call(
        Method::Get,
        "/v5/order/history",
        &recent,
        Some(Endpoint::Query),
    )?;
    let closed = order_page(&history.body).map_err(|err| unreadable("/v5/order/history", &err))?;
    let fills = client.call(
        Method::Get,
        "/v5/execution/list",
        &recent,
        Some(Endpoint::Query),
    )?;
    let executions =
        execution_page(&fills.body).map_err(|err| unreadable("/v5/execution/list", &err))?;
    Ok(VenueSnapshot {
        open_orders: open_orders(client, symbol)?,
        closed_orders: closed.items,
        executions: executions.items,
        position: position(client, symbol)?,
    })
}
