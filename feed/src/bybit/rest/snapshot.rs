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
    /// Its average entry price, when the venue gave one.
    pub entry_price: Option<Fixed>,
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
    position_and_entry(client, symbol).map(|(position, _)| position)
}

/// The position of `symbol`, signed (one-way mode), and its average entry price when the
/// venue gave one.
pub fn position_and_entry(
    client: &RestClient,
    symbol: &str,
) -> Result<(Fixed, Option<Fixed>), RestError> {
    const PATH: &str = "/v5/position/list";
    let query = format!("category=linear&symbol={symbol}");
    let answer = client.call(Method::Get, PATH, &query, Some(Endpoint::Query))?;
    let page = position_page(&answer.body).map_err(|err| unreadable(PATH, &err))?;
    let rows = || page.items.iter().filter(|row| row.symbol == symbol);
    let position = rows()
        .map(crate::bybit::private::PositionUpdate::signed_size)
        .fold(Fixed::ZERO, Fixed::saturating_add);
    let entry = rows()
        .filter(|row| !row.size.is_zero())
        .find_map(|row| row.entry_price)
        .filter(|price| price.is_positive());
    Ok((position, entry))
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
    let open_orders = open_orders(client, symbol)?;
    let (position, entry_price) = position_and_entry(client, symbol)?;
    Ok(VenueSnapshot {
        open_orders,
        closed_orders: closed.items,
        executions: executions.items,
        position,
        entry_price,
    })
}
