//! The REST fallback: while the trade stream is down, exits and cancels go over REST on a cold
//! thread of their own (entries wait: the state is in doubt until the link is back and
//! reconciled). What became of them still comes from the private stream.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::bybit::codes::Request as RequestKind;
use crate::bybit::private::OrderIdText;
use crate::bybit::rest::{RestClient, RestError};
use crate::bybit::trade::{NewOrder, OrderRef, TradeWriter};
use crate::order::OrderId;

use super::{MAX_PENDING, VenueSettings, bucket_of};

/// An order request sent over REST instead of the trade stream.
#[derive(Debug, Clone, Copy)]
pub(super) enum FallbackRequest {
    /// A new order (an exit: entries wait for the trade stream).
    Create(NewOrder),
    /// A cancel of order `id`, by the venue's id when it is adopted.
    Cancel {
        /// The order.
        id: OrderId,
        /// The venue's id of an adopted order.
        adopted: Option<OrderIdText>,
    },
}

/// What REST answered to a [`FallbackRequest`].
pub(super) struct FallbackAnswer {
    pub(super) id: OrderId,
    pub(super) kind: RequestKind,
    pub(super) result: Result<(), RestError>,
}

/// The fallback's cold side: a thread sending orders and cancels over REST.
pub(super) struct Fallback {
    pub(super) requests: Sender<FallbackRequest>,
    pub(super) answers: Receiver<FallbackAnswer>,
}

impl Fallback {
    /// Starts the thread, sending over `client` with the run's ids of `settings`.
    pub(super) fn start(
        client: Arc<RestClient>,
        settings: &VenueSettings,
    ) -> std::io::Result<Fallback> {
        let (requests, inbox) = crossbeam_channel::bounded::<FallbackRequest>(MAX_PENDING);
        let (outbox, answers) = crossbeam_channel::bounded(MAX_PENDING);
        let mut writer = TradeWriter::new(settings.ids, settings.recv_window_ms);
        let symbol = settings.symbol;
        std::thread::Builder::new()
            .name("venue-rest-orders".to_owned())
            .spawn(move || {
                for request in inbox {
                    let (id, kind, path, body) = match request {
                        FallbackRequest::Create(order) => (
                            order.id,
                            RequestKind::Create,
                            "/v5/order/create",
                            writer.create_body(&order),
                        ),
                        FallbackRequest::Cancel { id, adopted } => (
                            id,
                            RequestKind::Cancel,
                            "/v5/order/cancel",
                            writer.cancel_body(
                                symbol,
                                adopted.as_ref().map_or(OrderRef::Client(id), |venue_id| {
                                    OrderRef::Venue(venue_id.as_str())
                                }),
                            ),
                        ),
                    };
                    let body = String::from_utf8_lossy(body).into_owned();
                    let result = client.post(path, &body, bucket_of(kind)).map(|_| ());
                    if outbox.send(FallbackAnswer { id, kind, result }).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Fallback { requests, answers })
    }
}
