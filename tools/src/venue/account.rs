//! The venue's account: who may call the private endpoints, and the account they see.
//!
//! Private REST requests are checked as Bybit checks them, in Bybit's words:
//!
//! - `X-BAPI-API-KEY` must be the venue's key (`--api-key`): else 10003 "API key is invalid.";
//! - `X-BAPI-SIGN` must be the HMAC of `timestamp + key + recv_window + payload`: else 10004
//!   "error sign! origin_string[...]", echoing the string the venue signed;
//! - `X-BAPI-TIMESTAMP` must fall in `[now - recv_window, now + 1000)` on the venue's clock
//!   (with its `skew`): else 10002, naming both times and the window.
//!
//! The account is a position mode and a leverage; its wallet, orders and position are the
//! matching engine's ([`super::exchange`]); the instrument's rules are BTCUSDT's
//! (`feed::fixtures::btcusdt`, as in `config/symbols.yml`) under the served symbol.

use std::sync::{Mutex, MutexGuard, PoisonError};

use feed::bybit::sign::Signer;
use feed::{Fixed, Instrument, Symbol};
use serde::Deserialize;

use super::exchange::{Exchange, ListQuery};

/// The account id the venue reports for its key.
const USER_ID: u64 = 1_001;
/// Bybit's default recv window, when a request names none.
const DEFAULT_RECV_WINDOW: u64 = 5000;
/// How far ahead of the venue's clock a time stamp may be.
const AHEAD_MS: u64 = 1000;

/// The auth headers of a request.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthHeaders {
    pub(crate) api_key: Option<String>,
    pub(crate) timestamp: Option<String>,
    pub(crate) recv_window: Option<String>,
    pub(crate) sign: Option<String>,
}

/// A refusal: Bybit's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: i64,
    pub(crate) message: String,
}

impl Refusal {
    fn new(code: i64, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// Position mode of a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PositionMode {
    /// One position per symbol (`positionIdx` 0; switch-mode `mode` 0).
    OneWay,
    /// A long and a short position (`positionIdx` 1 and 2; `mode` 3).
    Hedge,
}

impl PositionMode {
    /// Parses `one-way` or `hedge`.
    pub(crate) fn from_name(text: &str) -> Result<PositionMode, String> {
        match text {
            "one-way" => Ok(PositionMode::OneWay),
            "hedge" => Ok(PositionMode::Hedge),
            _ => Err(format!("unknown position mode {text:?} (one-way, hedge)")),
        }
    }
}

#[derive(Debug)]
struct State {
    leverage: Fixed,
    mode: PositionMode,
}

/// The venue's account.
#[derive(Debug)]
pub(crate) struct Account {
    signer: Option<Signer>,
    /// Whether disconnect-cancel-all is granted.
    dcp: bool,
    symbol: Symbol,
    rules: Instrument,
    state: Mutex<State>,
}

impl Account {
    /// An account for `signer` (none: every private request is refused 10003) trading
    /// `symbol` under `rules` in `mode`.
    pub(crate) fn new(
        signer: Option<Signer>,
        symbol: Symbol,
        rules: Instrument,
        mode: PositionMode,
        dcp: bool,
    ) -> Account {
        Account {
            signer,
            dcp,
            symbol,
            rules,
            state: Mutex::new(State {
                leverage: Fixed::from_int(10).unwrap_or_default(),
                mode,
            }),
        }
    }

    /// The position mode.
    pub(crate) fn mode(&self) -> PositionMode {
        self.state().mode
    }

    /// The signer of the venue's key, if it has one.
    pub(crate) const fn signer(&self) -> Option<&Signer> {
        self.signer.as_ref()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks a private request's key, signature and time stamp against `payload` (the query
    /// string or the body, as received) at venue time `now_ms`.
    pub(crate) fn authenticate(
        &self,
        auth: &AuthHeaders,
        payload: &str,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        let invalid_key = || Refusal::new(10003, "API key is invalid.");
        let signer = self.signer.as_ref().ok_or_else(invalid_key)?;
        if auth.api_key.as_deref() != Some(signer.api_key()) {
            return Err(invalid_key());
        }
        let timestamp = auth.timestamp.as_deref().unwrap_or_default();
        let recv_window = auth.recv_window.as_deref().unwrap_or("");
        let origin = format!("{timestamp}{}{recv_window}{payload}", signer.api_key());
        let sign_error = || Refusal::new(10004, format!("error sign! origin_string[{origin}]"));
        let stamp: u64 = timestamp
            .parse()
            .map_err(|_| Refusal::new(10001, "params error: X-BAPI-TIMESTAMP is required"))?;
        let window = if recv_window.is_empty() {
            DEFAULT_RECV_WINDOW
        } else {
            recv_window.parse().map_err(|_| sign_error())?
        };
        let expected = signer.sign_rest(stamp, window, payload.as_bytes());
        let given = auth.sign.as_deref().unwrap_or_default();
        if !given.eq_ignore_ascii_case(expected.as_str()) {
            return Err(sign_error());
        }
        if stamp + window < now_ms || stamp >= now_ms + AHEAD_MS {
            return Err(Refusal::new(
                10002,
                format!(
                    "invalid request, please check your server timestamp or recv_window param. \
                     req_timestamp[{stamp}],server_timestamp[{now_ms}],recv_window[{window}]"
                ),
            ));
        }
        Ok(())
    }

    /// `GET /v5/market/instruments-info` (public).
    /// `instruments-info` of `category`: linear only (spot, inverse and option list nothing
    /// here); by `symbol` the served one's rules, else every linear symbol Bybit lists (the
    /// served one with its rules, and [`OTHER_LINEAR`] as Bybit publishes them), a page at a
    /// time. `status` `PreLaunch` lists nothing.
    pub(crate) fn instruments_info(
        &self,
        category: &str,
        symbol: &str,
        status: &str,
        page: &ListQuery,
    ) -> Result<String, Refusal> {
        let listing = |list: &[String], next: &str| {
            format!(
                r#"{{"category":"{category}","list":[{}],"nextPageCursor":"{next}"}}"#,
                list.join(",")
            )
        };
        if category != "linear" || status == "PreLaunch" {
            if !matches!(category, "linear" | "spot" | "inverse" | "option") {
                return Err(Refusal::new(10001, "Illegal category"));
            }
            return Ok(listing(&[], ""));
        }
        if !symbol.is_empty() {
            self.check_symbol(symbol)?;
            return Ok(listing(&[instrument_json(symbol, &self.rules)], ""));
        }
        let mut all = vec![instrument_json(self.symbol.as_str(), &self.rules)];
        for (name, published) in OTHER_LINEAR {
            if name != self.symbol.as_str() {
                all.push(instrument_json(name, &rules(published)));
            }
        }
        let start = page.offset.min(all.len());
        let end = (start + page.limit).min(all.len());
        let next = if end < all.len() {
            end.to_string()
        } else {
            String::new()
        };
        Ok(listing(&all[start..end], &next))
    }

    /// `asset/coin/query-info`: the coins of the account (USDT).
    pub(crate) fn coin_info(&self) -> String {
        r#"{"rows":[{"name":"USDT","coin":"USDT","remainAmount":"10000000","chains":[]}]}"#
            .to_owned()
    }

    /// `account/info`: a unified trading account (UTA 2.0), regular margin.
    pub(crate) fn account_info(&self, now_ms: u64) -> String {
        format!(
            r#"{{"unifiedMarginStatus":5,"marginMode":"REGULAR_MARGIN","isMasterTrader":false,"spotHedgingStatus":"OFF","updatedTime":"{now_ms}","dcpStatus":"{}","timeWindow":10,"smpGroup":0}}"#,
            if self.dcp { "ON" } else { "OFF" }
        )
    }

    /// The account's leverage, as `set-leverage` left it.
    pub(crate) fn leverage(&self) -> Fixed {
        self.state().leverage
    }

    /// `text` with the API key masked (as the venue's log shows what it refused).
    pub(crate) fn masked(&self, text: &str) -> String {
        match &self.signer {
            Some(signer) => signer.masked(text),
            None => text.to_owned(),
        }
    }

    /// A list's scope: the served `symbol`, or every symbol settled in `settle_coin` USDT.
    pub(crate) fn check_scope(&self, symbol: &str, settle_coin: &str) -> Result<(), Refusal> {
        if symbol.is_empty() && settle_coin == "USDT" {
            return Ok(());
        }
        self.check_symbol(symbol)
    }

    pub(crate) fn query_api(&self) -> String {
        let key = self
            .signer
            .as_ref()
            .map(Signer::api_key)
            .unwrap_or_default();
        format!(
            r#"{{"id":"1","note":"toolkit venue","apiKey":"{key}","readOnly":0,"secret":"","permissions":{{"ContractTrade":["Order","Position"]}},"ips":["*"],"type":1,"deadlineDay":-1,"expiredAt":"","createdAt":"","unified":0,"uta":1,"userID":{USER_ID},"inviterID":0,"vipLevel":"No VIP","mktMakerLevel":"0","affiliateID":0}}"#
        )
    }

    /// `GET /v5/account/fee-rate?category=linear&symbol=S`.
    pub(crate) fn fee_rate(&self, symbol: &str) -> Result<String, Refusal> {
        self.check_symbol(symbol)?;
        Ok(format!(
            r#"{{"list":[{{"symbol":"{symbol}","takerFeeRate":"{}","makerFeeRate":"{}"}}]}}"#,
            self.rules.taker_fee_rate, self.rules.maker_fee_rate
        ))
    }

    /// `GET /v5/account/wallet-balance?accountType=UNIFIED`.
    pub(crate) fn wallet_balance(
        &self,
        account_type: &str,
        exchange: &Exchange,
    ) -> Result<String, Refusal> {
        if account_type != "UNIFIED" {
            return Err(Refusal::new(10001, "accountType only support UNIFIED"));
        }
        Ok(format!(r#"{{"list":[{}]}}"#, exchange.wallet_json()))
    }

    /// `GET /v5/position/list?category=linear&symbol=S`: the position's row (two in hedge
    /// mode), as Bybit lists a symbol asked for by name, flat or not.
    /// `position/list` of the served `symbol` (a row even when flat), or of every symbol
    /// settled in `settle_coin` (only positions that are open).
    pub(crate) fn position_list(
        &self,
        symbol: &str,
        settle_coin: &str,
        exchange: &Exchange,
    ) -> Result<String, Refusal> {
        self.check_scope(symbol, settle_coin)?;
        let state = self.state();
        let rows = if symbol.is_empty() && exchange.position().0.is_zero() {
            String::new()
        } else {
            exchange.position_json(state.mode, Some(state.leverage))
        };
        Ok(format!(
            r#"{{"category":"linear","list":[{rows}],"nextPageCursor":""}}"#
        ))
    }

    pub(crate) fn dcp_window(&self, body: &str) -> Result<std::time::Duration, Refusal> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Dcp {
            #[serde(default)]
            product: Option<String>,
            time_window: u64,
        }
        if !self.dcp {
            return Err(Refusal::new(
                10001,
                "disconnect-cancel-all is not enabled for this account",
            ));
        }
        let request: Dcp = parse_body(body)?;
        if request.product.as_deref() != Some("DERIVATIVES") {
            return Err(Refusal::new(10001, "params error: product"));
        }
        if !(3..=300).contains(&request.time_window) {
            return Err(Refusal::new(
                10001,
                "params error: timeWindow must be 3-300",
            ));
        }
        Ok(std::time::Duration::from_secs(request.time_window))
    }

    /// `POST /v5/position/switch-mode` `{category, symbol, mode: 0 | 3}`.
    pub(crate) fn switch_mode(&self, body: &str) -> Result<String, Refusal> {
        #[derive(Deserialize)]
        struct SwitchMode {
            category: String,
            symbol: String,
            mode: u8,
        }
        let request: SwitchMode = parse_body(body)?;
        check_category(&request.category)?;
        self.check_symbol(&request.symbol)?;
        let mode = match request.mode {
            0 => PositionMode::OneWay,
            3 => PositionMode::Hedge,
            _ => return Err(Refusal::new(10001, "params error: mode invalid")),
        };
        let mut state = self.state();
        if state.mode == mode {
            return Err(Refusal::new(110025, "Position mode is not modified"));
        }
        state.mode = mode;
        Ok("{}".to_owned())
    }

    /// `POST /v5/position/set-leverage` `{category, symbol, buyLeverage, sellLeverage}`.
    pub(crate) fn set_leverage(&self, body: &str) -> Result<String, Refusal> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct SetLeverage {
            category: String,
            symbol: String,
            buy_leverage: Fixed,
            sell_leverage: Fixed,
        }
        let request: SetLeverage = parse_body(body)?;
        check_category(&request.category)?;
        self.check_symbol(&request.symbol)?;
        let (min, max) = (Fixed::from_int(1), Fixed::from_int(100));
        let in_range = |value: Fixed| Some(value) >= min && Some(value) <= max;
        if request.buy_leverage != request.sell_leverage || !in_range(request.buy_leverage) {
            return Err(Refusal::new(10001, "leverage invalid"));
        }
        let mut state = self.state();
        if state.leverage == request.buy_leverage {
            return Err(Refusal::new(110043, "Set leverage not modified"));
        }
        state.leverage = request.buy_leverage;
        Ok("{}".to_owned())
    }

    fn check_symbol(&self, symbol: &str) -> Result<(), Refusal> {
        if symbol == self.symbol.as_str() {
            Ok(())
        } else {
            Err(Refusal::new(10001, "params error: symbol invalid"))
        }
    }
}

fn check_category(category: &str) -> Result<(), Refusal> {
    if category == "linear" {
        Ok(())
    } else {
        Err(Refusal::new(10001, "Illegal category"))
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, Refusal> {
    serde_json::from_str(body).map_err(|err| Refusal::new(10001, format!("params error: {err}")))
}

/// Other linear symbols Bybit lists, with the rules it publishes (as `config/symbols.yml`
/// has them): tick size, quantity step, minimum and maximum quantity. For clients that load
/// every market; the venue trades only its own symbol.
const OTHER_LINEAR: [(&str, [&str; 4]); 4] = [
    ("BTCUSDT", ["0.10", "0.001", "0.001", "1190.000"]),
    ("ETHUSDT", ["0.01", "0.01", "0.01", "7240.00"]),
    ("SOLUSDT", ["0.010", "0.1", "0.1", "79770.0"]),
    ("XRPUSDT", ["0.0001", "1", "1", "1360000"]),
];

/// A linear symbol's rules (minimum notional 5 USDT, base-tier fees).
fn rules([tick_size, qty_step, min_qty, max_qty]: [&str; 4]) -> Instrument {
    let fx = |text: &str| text.parse().unwrap_or(Fixed::ZERO);
    Instrument {
        tick_size: fx(tick_size),
        qty_step: fx(qty_step),
        min_qty: fx(min_qty),
        max_qty: fx(max_qty),
        ..feed::fixtures::btcusdt()
    }
}

/// One `instruments-info` item of `symbol` with `rules`.
fn instrument_json(symbol: &str, rules: &Instrument) -> String {
    let base = symbol.strip_suffix("USDT").unwrap_or(symbol);
    format!(
        r#"{{"symbol":"{symbol}","contractType":"LinearPerpetual","status":"Trading","baseCoin":"{base}","quoteCoin":"USDT","launchTime":"1584230400000","deliveryTime":"0","deliveryFeeRate":"","priceScale":"2","leverageFilter":{{"minLeverage":"1","maxLeverage":"100.00","leverageStep":"0.01"}},"priceFilter":{{"minPrice":"{}","maxPrice":"1999999.80","tickSize":"{}"}},"lotSizeFilter":{{"maxOrderQty":"{}","minOrderQty":"{}","qtyStep":"{}","postOnlyMaxOrderQty":"{}","maxMktOrderQty":"{}","minNotionalValue":"{}"}},"unifiedMarginTrade":true,"fundingInterval":480,"settleCoin":"USDT","copyTrading":"both","upperFundingRate":"0.005","lowerFundingRate":"-0.005","isPreListing":false,"preListingInfo":null}}"#,
        rules.tick_size,
        rules.tick_size,
        rules.max_qty,
        rules.min_qty,
        rules.qty_step,
        rules.max_qty,
        rules.max_qty,
        rules.min_notional,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account::new(
            Some(Signer::new("venuekey", "venuesecret").unwrap()),
            Symbol::new("BTCUSDT").unwrap(),
            feed::fixtures::btcusdt(),
            PositionMode::OneWay,
            false,
        )
    }

    fn signed(payload: &str, stamp: u64) -> AuthHeaders {
        let signer = Signer::new("venuekey", "venuesecret").unwrap();
        AuthHeaders {
            api_key: Some("venuekey".to_owned()),
            timestamp: Some(stamp.to_string()),
            recv_window: Some("5000".to_owned()),
            sign: Some(
                signer
                    .sign_rest(stamp, 5000, payload.as_bytes())
                    .to_string(),
            ),
        }
    }

    #[test]
    fn requests_are_checked_as_bybit_checks_them() {
        let account = account();
        let now = 1_700_000_010_000;
        assert_eq!(
            account.authenticate(&signed("a=1", now), "a=1", now),
            Ok(())
        );
        // Inside the window on both sides.
        assert_eq!(
            account.authenticate(&signed("", now - 5000), "", now),
            Ok(())
        );
        assert_eq!(
            account.authenticate(&signed("", now + 999), "", now),
            Ok(())
        );
        let refused = |auth: &AuthHeaders, payload: &str| {
            account.authenticate(auth, payload, now).unwrap_err()
        };
        assert_eq!(
            refused(&signed("", now - 5001), "").message,
            "invalid request, please check your server timestamp or recv_window param. \
             req_timestamp[1700000004999],server_timestamp[1700000010000],recv_window[5000]"
        );
        assert_eq!(refused(&signed("", now + 1000), "").code, 10002);
        assert_eq!(
            refused(&signed("a=1", now), "a=2"),
            Refusal::new(
                10004,
                "error sign! origin_string[1700000010000venuekey5000a=2]"
            )
        );
        let wrong_key = AuthHeaders {
            api_key: Some("other".to_owned()),
            ..signed("", now)
        };
        assert_eq!(
            refused(&wrong_key, ""),
            Refusal::new(10003, "API key is invalid.")
        );
        let keyless = Account::new(
            None,
            Symbol::new("BTCUSDT").unwrap(),
            feed::fixtures::btcusdt(),
            PositionMode::OneWay,
            false,
        );
        assert_eq!(
            keyless
                .authenticate(&signed("", now), "", now)
                .unwrap_err()
                .code,
            10003
        );
    }

    #[test]
    fn mode_and_leverage_say_not_modified_when_already_so() {
        let account = account();
        let exchange = Exchange::new(
            Symbol::new("BTCUSDT").unwrap(),
            feed::fixtures::btcusdt(),
            Fixed::from_int(10_000).unwrap(),
            7,
        );
        let mode = r#"{"category":"linear","symbol":"BTCUSDT","mode":0}"#;
        assert_eq!(account.switch_mode(mode).unwrap_err().code, 110025);
        let hedge = r#"{"category":"linear","symbol":"BTCUSDT","mode":3}"#;
        assert_eq!(account.switch_mode(hedge), Ok("{}".to_owned()));
        assert!(
            account
                .position_list("BTCUSDT", "", &exchange)
                .unwrap()
                .contains(r#""positionIdx":2"#)
        );
        let ten =
            r#"{"category":"linear","symbol":"BTCUSDT","buyLeverage":"10","sellLeverage":"10"}"#;
        assert_eq!(account.set_leverage(ten).unwrap_err().code, 110043);
        let five =
            r#"{"category":"linear","symbol":"BTCUSDT","buyLeverage":"5","sellLeverage":"5"}"#;
        assert_eq!(account.set_leverage(five), Ok("{}".to_owned()));
        assert!(
            account
                .position_list("BTCUSDT", "", &exchange)
                .unwrap()
                .contains(r#""leverage":"5""#)
        );
        assert_eq!(account.fee_rate("ETHUSDT").unwrap_err().code, 10001);
    }
}
