//! What a Bybit v5 answer means for the order it was about, and what to do next.
//!
//! Every `retCode` of a REST or trade-stream reply, and every HTTP status without one, is read
//! as one [`Outcome`]. The rule that matters most: an answer that leaves the order's fate
//! unknown (a timeout, a server error, a dropped connection, a duplicate `orderLinkId`) is
//! [`Outcome::Unknown`] and is settled by reconciliation, never assumed rejected.

use std::time::Duration;

use crate::order::RejectReason;

/// What a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    /// A new order.
    Create,
    /// An amend.
    Amend,
    /// A cancel (one order, or all of a symbol).
    Cancel,
    /// Anything else (queries, settings, auth).
    Other,
}

/// What an answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Done as asked.
    Ok,
    /// A setting already as asked (110025 position mode, 110043 leverage): success.
    NotModified,
    /// A cancel or amend of an order that is already filled or cancelled (110001, 110008,
    /// 110010, 170213): nothing to do; its end comes from the private stream.
    AlreadyGone,
    /// The venue refused the order: it never rested. Counted by reason.
    Rejected(RejectReason),
    /// The per-UID rate limit (10006), or the trade stream's frequency protection (10429,
    /// 20003, 10403): back off until the window resets.
    RateLimited,
    /// The request's time stamp fell outside the receive window (10002): resync the clock.
    ClockSkew,
    /// The trade service is restarting (10019): reconnect the trade stream.
    Reconnect,
    /// The order's fate is unknown (10000 timeout, 10016 server error, 110079 processing,
    /// 110072 duplicate id, HTTP 5xx, no answer at all): reconcile.
    Unknown,
    /// HTTP 403: the IP limit, or a blocked region. Stop all REST for [`IP_BAN_COOLDOWN`].
    IpBanned,
    /// The credentials cannot trade here (10003 bad key, 10004 bad signature, 10005
    /// permission, 10010 IP not whitelisted, 10027 banned, 33004 key expired): stop.
    Fatal,
}

/// How long REST stays silent after an HTTP 403: Bybit's IP ban lasts about 10 minutes.
pub const IP_BAN_COOLDOWN: Duration = Duration::from_secs(600);

impl Outcome {
    /// A stable label for metrics and logs.
    pub const fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NotModified => "not_modified",
            Outcome::AlreadyGone => "already_gone",
            Outcome::Rejected(_) => "rejected",
            Outcome::RateLimited => "rate_limited",
            Outcome::ClockSkew => "clock_skew",
            Outcome::Reconnect => "reconnect",
            Outcome::Unknown => "unknown",
            Outcome::IpBanned => "ip_banned",
            Outcome::Fatal => "fatal",
        }
    }

    /// True when the request did what it was sent for (or there was nothing left to do).
    pub const fn is_success(self) -> bool {
        matches!(
            self,
            Outcome::Ok | Outcome::NotModified | Outcome::AlreadyGone
        )
    }
}

/// The meaning of `ret_code` in the answer to `request`.
pub fn classify(request: Request, ret_code: i64) -> Outcome {
    let gone = matches!(request, Request::Cancel | Request::Amend);
    match ret_code {
        0 => Outcome::Ok,
        110025 | 110043 => Outcome::NotModified,
        110001 | 110008 | 110010 | 170213 if gone => Outcome::AlreadyGone,
        110001 => Outcome::Rejected(RejectReason::OrderNotExists),
        10006 | 10429 | 20003 | 10403 => Outcome::RateLimited,
        10002 => Outcome::ClockSkew,
        10019 => Outcome::Reconnect,
        10000 | 10016 | 110079 | 110072 => Outcome::Unknown,
        10003 | 10004 | 10005 | 10010 | 10027 | 33004 => Outcome::Fatal,
        110017 => Outcome::Rejected(RejectReason::ReduceOnlyNotSatisfied),
        110004 | 110006 | 110007 | 110012 | 110044 | 110045 => {
            Outcome::Rejected(RejectReason::InsufficientBalance)
        }
        110020 => Outcome::Rejected(RejectReason::TooManyOrders),
        // Parameter errors, prices out of band, notional below the minimum, and every other
        // business refusal: the order was not taken.
        _ => Outcome::Rejected(RejectReason::InvalidOrder),
    }
}

/// What a [`Outcome::Fatal`] code (or HTTP 401) means, and what the operator must do about it.
pub const fn fatal_advice(code: i64) -> &'static str {
    match code {
        10003 => {
            "the API key is invalid or belongs to another environment (mainnet, testnet, demo): \
             check BYBIT_API_KEY and exchange.environment"
        }
        10004 => {
            "the signature was refused: check BYBIT_API_SECRET (the key's secret, whole), and \
             that the host's clock is synchronised"
        }
        10005 => {
            "the API key lacks a permission: give it Contract trading (Orders and Positions) in \
             the API management page"
        }
        10010 => {
            "this host's IP address is not on the API key's allow-list: add it, or use a key without one"
        }
        10027 => "the account is banned from trading: contact Bybit",
        33004 => "the API key has expired: make a new one",
        401 => {
            "the venue refused the credentials (HTTP 401): check BYBIT_API_KEY and BYBIT_API_SECRET"
        }
        _ => {
            "the venue refused the credentials for good: check the API key, its permissions and its IP allow-list"
        }
    }
}

/// The meaning of an HTTP status that came without a Bybit body (`None` when the body is the
/// answer: 200, or any status whose body carries a `retCode`).
pub fn classify_http(status: u16) -> Option<Outcome> {
    match status {
        200 => None,
        403 => Some(Outcome::IpBanned),
        401 => Some(Outcome::Fatal),
        429 => Some(Outcome::RateLimited),
        _ => Some(Outcome::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn races_with_a_terminal_state_are_success_for_cancels_and_amends_only() {
        for code in [110001, 110008, 110010, 170213] {
            assert_eq!(
                classify(Request::Cancel, code),
                Outcome::AlreadyGone,
                "{code}"
            );
            assert_eq!(
                classify(Request::Amend, code),
                Outcome::AlreadyGone,
                "{code}"
            );
            assert!(classify(Request::Cancel, code).is_success());
        }
        assert_eq!(
            classify(Request::Create, 110001),
            Outcome::Rejected(RejectReason::OrderNotExists)
        );
    }

    #[test]
    fn each_code_of_the_protocol_notes_has_its_meaning() {
        let cases = [
            (0, Outcome::Ok),
            (110025, Outcome::NotModified),
            (110043, Outcome::NotModified),
            (10006, Outcome::RateLimited),
            (10429, Outcome::RateLimited),
            (20003, Outcome::RateLimited),
            (10002, Outcome::ClockSkew),
            (10019, Outcome::Reconnect),
            (10000, Outcome::Unknown),
            (10016, Outcome::Unknown),
            (110072, Outcome::Unknown),
            (10003, Outcome::Fatal),
            (10004, Outcome::Fatal),
            (10010, Outcome::Fatal),
            (
                110017,
                Outcome::Rejected(RejectReason::ReduceOnlyNotSatisfied),
            ),
            (110007, Outcome::Rejected(RejectReason::InsufficientBalance)),
            (110020, Outcome::Rejected(RejectReason::TooManyOrders)),
            (10001, Outcome::Rejected(RejectReason::InvalidOrder)),
            (110094, Outcome::Rejected(RejectReason::InvalidOrder)),
        ];
        for (code, outcome) in cases {
            assert_eq!(classify(Request::Create, code), outcome, "{code}");
        }
        assert!(classify(Request::Other, 110043).is_success());
    }

    #[test]
    fn http_statuses_without_a_body_are_read() {
        assert_eq!(classify_http(200), None);
        assert_eq!(classify_http(403), Some(Outcome::IpBanned));
        assert_eq!(classify_http(401), Some(Outcome::Fatal));
        assert_eq!(classify_http(429), Some(Outcome::RateLimited));
        assert_eq!(classify_http(502), Some(Outcome::Unknown));
    }
}
