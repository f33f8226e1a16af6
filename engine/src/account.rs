//! The real account, checked before anything is sent: credentials, and what the venue says
//! about the account and the symbol over authenticated REST.
//!
//! [`load_signer`] reads the API key and secret from the environment or from a file only its
//! owner can read, and keeps the secret only as an HMAC key. [`check_account`] then reads,
//! changing nothing:
//!
//! 1. the venue's clock (`/v5/market/time`): requests are stamped on it from then on;
//! 2. the account behind the key (`/v5/user/query-api`): the first authenticated call, which
//!    proves the key and the signature; a read-only key is refused;
//! 3. the symbol's rules (`/v5/market/instruments-info`): it must be `Trading`, and every rule
//!    of `symbols.yml` (tick size, quantity step, minimum and maximum quantity, minimum
//!    notional) must equal the venue's, or the engine refuses to start and names each field;
//! 4. the fee rates (`/v5/account/fee-rate`): the venue's are the ones used from then on; a
//!    difference from `symbols.yml` is reported;
//! 5. the balances (`/v5/account/wallet-balance`, UNIFIED): the free balance sizing starts
//!    from (`totalAvailableBalance`) and the wallet balance;
//! 6. the position and the open orders (`/v5/position/list`, `/v5/order/realtime`).
//!
//! The caller refuses an open position and prints the `REAL MONEY` banner; only then does
//! [`prepare_account`] change settings:
//!
//! 7. the position mode: switched to one-way (`/v5/position/switch-mode`, `positionIdx` 0);
//!    110025 "not modified" means it already was;
//! 8. the leverage (`/v5/position/set-leverage`, `executor.sizing.leverage`); 110043 "not
//!    modified" means it already was; the position list is read again to confirm one-way mode.
//!
//! No secret appears in anything this module returns or prints, and the API key only as its
//! first four characters.

use std::path::Path;

use feed::bybit::limits::Endpoint;
use feed::bybit::rest::replies::{
    ApiKeyInfo, FeeRates, InstrumentsPage, RuleMismatch, WalletBalances, position_page,
    rule_mismatches,
};
use feed::bybit::rest::{ClockSync, Method, RestClient, RestError};
use feed::bybit::sign::{CredentialsError, Signer};
use feed::{Fixed, Instrument};

/// The environment variable holding the API key.
pub const KEY_VAR: &str = "BYBIT_API_KEY";
/// The environment variable holding the API secret.
pub const SECRET_VAR: &str = "BYBIT_API_SECRET";

/// Why the credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadCredentialsError {
    /// Neither in the environment nor in a file.
    #[error("set {KEY_VAR} and {SECRET_VAR} in the environment, or pass --credentials FILE")]
    Missing,
    /// The file cannot be read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file can be read by others than its owner.
    #[error("{path} is readable by others (mode {mode:o}); chmod 600 it")]
    Exposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The file lacks a line.
    #[error("{path} must hold {KEY_VAR}=... and {SECRET_VAR}=... lines")]
    Incomplete {
        /// The file.
        path: String,
    },
    /// The key or secret is not usable.
    #[error(transparent)]
    Invalid(#[from] CredentialsError),
}

/// The signer of the credentials in `file` (owner-readable only, `BYBIT_API_KEY=...` and
/// `BYBIT_API_SECRET=...` lines), or else in the environment as `env` reads it.
pub fn load_signer(
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Signer, LoadCredentialsError> {
    let Some(file) = file else {
        let value = |name| env(name).map(|value| value.trim().to_owned());
        return match (value(KEY_VAR), value(SECRET_VAR)) {
            (Some(key), Some(secret)) if !key.is_empty() && !secret.is_empty() => {
                Ok(Signer::new(&key, &secret)?)
            }
            _ => Err(LoadCredentialsError::Missing),
        };
    };
    use std::os::unix::fs::PermissionsExt;
    let path = file.display().to_string();
    let file_error = |err: std::io::Error| LoadCredentialsError::File {
        path: path.clone(),
        reason: err.to_string(),
    };
    let mode = std::fs::metadata(file)
        .map_err(file_error)?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(LoadCredentialsError::Exposed {
            path,
            mode: mode & 0o777,
        });
    }
    let text = std::fs::read_to_string(file).map_err(file_error)?;
    let line = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == name && !value.trim().is_empty()).then(|| value.trim().to_owned())
        })
    };
    match (line(KEY_VAR), line(SECRET_VAR)) {
        (Some(key), Some(secret)) => Ok(Signer::new(&key, &secret)?),
        _ => Err(LoadCredentialsError::Incomplete { path }),
    }
}

/// The signed REST client of `config`'s active environment (`exchange.endpoints`,
/// `recv_window_ms`, `tls_ca_file`, `rate_limits`), signing with `signer`, drawing on `limits`.
pub fn rest_client(
    config: &crate::config::Config,
    signer: Signer,
    limits: std::sync::Arc<feed::bybit::limits::RateLimits>,
) -> Result<RestClient, feed::bybit::rest::ClientError> {
    let exchange = &config.exchange;
    let settings = feed::bybit::rest::RestSettings {
        base_url: exchange.active_endpoints().rest.clone(),
        recv_window_ms: u64::from(exchange.recv_window_ms),
        timeout: exchange.connection.connect_timeout.get(),
        ca_file: exchange.tls_ca_file.clone(),
    };
    RestClient::new(&settings, signer, limits)
}

/// Why the account cannot be traded.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A call failed.
    #[error("{step}: {error}")]
    Rest {
        /// What was being checked.
        step: &'static str,
        /// The failure (said in the message, not chained).
        error: RestError,
    },
    /// The key may only read.
    #[error("the API key of account {user_id} is read-only: it cannot place orders")]
    ReadOnlyKey {
        /// The account.
        user_id: u64,
    },
    /// The venue does not list the symbol.
    #[error("{symbol} is not listed by the venue")]
    UnknownSymbol {
        /// The symbol.
        symbol: String,
    },
    /// The symbol does not trade.
    #[error("{symbol} is {status} at the venue, not Trading")]
    NotTrading {
        /// The symbol.
        symbol: String,
        /// Its status.
        status: String,
    },
    /// `symbols.yml` disagrees with the venue.
    #[error(
        "{symbol}: symbols.yml disagrees with the venue: {}; update config/symbols.yml",
        .mismatches.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    RulesDiffer {
        /// The symbol.
        symbol: String,
        /// Each field that differs.
        mismatches: Vec<RuleMismatch>,
    },
    /// An answer lacks what was asked.
    #[error("{step}: the answer holds no {what}")]
    Missing {
        /// What was being checked.
        step: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// A position is open at start: the engine starts flat.
    #[error(
        "{symbol}: a position of {position} is open at the venue; the engine starts flat: close \
         it first"
    )]
    OpenPosition {
        /// The symbol.
        symbol: String,
        /// The position, signed.
        position: Fixed,
    },
    /// The account is in hedge mode after asking for one-way.
    #[error(
        "{symbol}: the position is in hedge mode (positionIdx {idx}); the engine trades one-way mode"
    )]
    NotOneWay {
        /// The symbol.
        symbol: String,
        /// The `positionIdx` seen.
        idx: u8,
    },
}

/// A setting as the venue left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// It was changed to what was asked.
    Changed,
    /// It already was what was asked (110025 / 110043).
    AlreadySo,
}

impl Setting {
    fn of(
        result: Result<feed::bybit::rest::Answer, RestError>,
        step: &'static str,
    ) -> Result<Setting, AccountError> {
        match result {
            Ok(answer) if answer.ret_code == 0 => Ok(Setting::Changed),
            // 110025 / 110043: the venue says so.
            Ok(_) => Ok(Setting::AlreadySo),
            Err(error) => Err(AccountError::Rest { step, error }),
        }
    }

    const fn describe(self) -> &'static str {
        match self {
            Setting::Changed => "set",
            Setting::AlreadySo => "already so",
        }
    }
}

/// What the venue said about the account, all reads passed.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountCheck {
    /// The REST base URL.
    pub venue: String,
    /// The API key's first characters.
    pub key_shown: String,
    /// The account.
    pub user_id: u64,
    /// The clock measured.
    pub clock: ClockSync,
    /// The venue's maker fee rate.
    pub maker_fee_rate: Fixed,
    /// The venue's taker fee rate.
    pub taker_fee_rate: Fixed,
    /// Differences of the fee rates from `symbols.yml`, for the report (the venue's are used).
    pub fee_differences: Vec<RuleMismatch>,
    /// Free balance, USD (`totalAvailableBalance`: net of every margin and unrealised PnL).
    pub available_balance: Fixed,
    /// Wallet balance, USD.
    pub wallet_balance: Fixed,
    /// The position, signed.
    pub position: Fixed,
    /// Open orders of the symbol at the venue.
    pub open_orders: usize,
}

/// The settings the engine made, after the banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountSettings {
    /// The position mode switch.
    pub one_way: Setting,
    /// The leverage.
    pub leverage: Fixed,
    /// The leverage setting.
    pub leverage_set: Setting,
}

impl std::fmt::Display for AccountSettings {
    /// The line `engine run` prints once the settings are made.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "account: one-way mode ({}); leverage {} ({})",
            self.one_way.describe(),
            self.leverage,
            self.leverage_set.describe()
        )
    }
}

impl std::fmt::Display for AccountCheck {
    /// The lines `engine run` prints before anything is sent.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "REAL MONEY: account {} at {} (API key {})",
            self.user_id, self.venue, self.key_shown
        )?;
        writeln!(
            f,
            "account: clock offset {:+} ms (round trip {} ms); free balance {} USD (wallet {} \
             USD); position {}; {} open orders",
            self.clock.offset_ms,
            self.clock.round_trip_ms,
            self.available_balance,
            self.wallet_balance,
            self.position,
            self.open_orders
        )?;
        writeln!(
            f,
            "account: rules match symbols.yml; fees maker {} taker {}",
            self.maker_fee_rate, self.taker_fee_rate,
        )?;
        for difference in &self.fee_differences {
            writeln!(f, "account: note: {difference}; the venue's rate is used")?;
        }
        Ok(())
    }
}

/// Reads the account and `symbol` (whose rules in `symbols.yml` are `instrument`) at the venue,
/// changing nothing.
pub fn check_account(
    client: &RestClient,
    symbol: &str,
    instrument: &Instrument,
) -> Result<AccountCheck, AccountError> {
    let rest = |step: &'static str| move |error: RestError| AccountError::Rest { step, error };
    let clock = client.sync_clock().map_err(rest("venue clock"))?;

    let key: ApiKeyInfo = client
        .get("/v5/user/query-api", "", Endpoint::Query)
        .map_err(rest("API key"))?;
    if key.read_only != 0 {
        return Err(AccountError::ReadOnlyKey {
            user_id: key.user_id,
        });
    }

    let query = format!("category=linear&symbol={symbol}");
    let instruments: InstrumentsPage = client
        .get("/v5/market/instruments-info", &query, Endpoint::Query)
        .map_err(rest("instrument rules"))?;
    let info = instruments
        .list
        .iter()
        .find(|info| info.symbol == symbol)
        .ok_or_else(|| AccountError::UnknownSymbol {
            symbol: symbol.to_owned(),
        })?;
    if info.status != "Trading" {
        return Err(AccountError::NotTrading {
            symbol: symbol.to_owned(),
            status: info.status.clone(),
        });
    }
    let mismatches = rule_mismatches(instrument, info);
    if !mismatches.is_empty() {
        return Err(AccountError::RulesDiffer {
            symbol: symbol.to_owned(),
            mismatches,
        });
    }

    let fees: FeeRates = client
        .get("/v5/account/fee-rate", &query, Endpoint::FeeRate)
        .map_err(rest("fee rates"))?;
    let fee = fees
        .list
        .iter()
        .find(|fee| fee.symbol == symbol)
        .ok_or(AccountError::Missing {
            step: "fee rates",
            what: "row for the symbol",
        })?;
    let fee_differences = [
        (
            "maker_fee_rate",
            instrument.maker_fee_rate,
            fee.maker_fee_rate,
        ),
        (
            "taker_fee_rate",
            instrument.taker_fee_rate,
            fee.taker_fee_rate,
        ),
    ]
    .into_iter()
    .filter(|(_, configured, venue)| configured != venue)
    .map(|(field, configured, venue)| RuleMismatch {
        field,
        configured,
        venue,
    })
    .collect();

    let wallets: WalletBalances = client
        .get(
            "/v5/account/wallet-balance",
            "accountType=UNIFIED",
            Endpoint::Query,
        )
        .map_err(rest("wallet balance"))?;
    let wallet = wallets
        .list
        .iter()
        .find(|wallet| wallet.account_type == "UNIFIED");
    let available_balance = wallet
        .and_then(|wallet| wallet.total_available_balance)
        .ok_or(AccountError::Missing {
            step: "wallet balance",
            what: "UNIFIED available balance",
        })?;
    let wallet_balance = wallet
        .and_then(|wallet| wallet.total_wallet_balance)
        .unwrap_or(available_balance);

    let position = positions(client, symbol)?
        .iter()
        .map(feed::bybit::private::PositionUpdate::signed_size)
        .fold(Fixed::ZERO, Fixed::saturating_add);
    let open_orders = open_orders(client, symbol)
        .map_err(rest("open orders"))?
        .len();

    Ok(AccountCheck {
        venue: client.base_url().to_owned(),
        key_shown: client.key_shown(),
        user_id: key.user_id,
        clock,
        maker_fee_rate: fee.maker_fee_rate,
        taker_fee_rate: fee.taker_fee_rate,
        fee_differences,
        available_balance,
        wallet_balance,
        position,
        open_orders,
    })
}

/// The position rows of `symbol` (`/v5/position/list`).
fn positions(
    client: &RestClient,
    symbol: &str,
) -> Result<Vec<feed::bybit::private::PositionUpdate>, AccountError> {
    let query = format!("category=linear&symbol={symbol}");
    let positions = client
        .call(
            Method::Get,
            "/v5/position/list",
            &query,
            Some(Endpoint::Query),
        )
        .map_err(|error| AccountError::Rest {
            step: "position",
            error,
        })?;
    let page = position_page(&positions.body).map_err(|err| AccountError::Rest {
        step: "position",
        error: unreadable("/v5/position/list", &err),
    })?;
    Ok(page
        .items
        .into_iter()
        .filter(|row| row.symbol == symbol)
        .collect())
}

/// Makes the account's settings for `symbol`: one-way mode and `leverage`; then confirms one-way
/// mode from the position list. Called only after the checks passed and the banner was
/// printed.
pub fn prepare_account(
    client: &RestClient,
    symbol: &str,
    leverage: Fixed,
) -> Result<AccountSettings, AccountError> {
    let one_way = Setting::of(
        client.post(
            "/v5/position/switch-mode",
            &format!(r#"{{"category":"linear","symbol":"{symbol}","mode":0}}"#),
            Endpoint::Query,
        ),
        "position mode",
    )?;
    let leverage_set = Setting::of(
        client.post(
            "/v5/position/set-leverage",
            &format!(
                r#"{{"category":"linear","symbol":"{symbol}","buyLeverage":"{leverage}","sellLeverage":"{leverage}"}}"#
            ),
            Endpoint::Query,
        ),
        "leverage",
    )?;
    if let Some(row) = positions(client, symbol)?
        .iter()
        .find(|row| row.position_idx != 0)
    {
        return Err(AccountError::NotOneWay {
            symbol: symbol.to_owned(),
            idx: row.position_idx,
        });
    }
    Ok(AccountSettings {
        one_way,
        leverage,
        leverage_set,
    })
}

/// Cancels every open order of `symbol` at the venue (`/v5/order/cancel-all`); how many it
/// cancelled.
pub fn cancel_all(client: &RestClient, symbol: &str) -> Result<usize, AccountError> {
    #[derive(serde::Deserialize)]
    struct Cancelled {
        #[serde(default)]
        list: Vec<serde_json::Value>,
    }
    let answer = client
        .post(
            "/v5/order/cancel-all",
            &format!(r#"{{"category":"linear","symbol":"{symbol}"}}"#),
            Endpoint::CancelAll,
        )
        .map_err(|error| AccountError::Rest {
            step: "cancel-all",
            error,
        })?;
    let cancelled: Cancelled =
        feed::bybit::rest::result_of(Method::Post, "/v5/order/cancel-all", &answer).map_err(
            |error| AccountError::Rest {
                step: "cancel-all",
                error,
            },
        )?;
    Ok(cancelled.list.len())
}

/// Arms disconnect-cancel-all for derivatives: Bybit cancels every order once the private
/// stream has been down `window_s` seconds (`/v5/order/disconnected-cancel-all`).
pub fn set_dcp(client: &RestClient, window_s: u64) -> Result<(), RestError> {
    client
        .post(
            "/v5/order/disconnected-cancel-all",
            &format!(r#"{{"product":"DERIVATIVES","timeWindow":{window_s}}}"#),
            Endpoint::Query,
        )
        .map(|_| ())
}

/// The position of `symbol` at the venue, signed (one-way mode).
pub fn position(client: &RestClient, symbol: &str) -> Result<Fixed, AccountError> {
    feed::bybit::rest::snapshot::position(client, symbol).map_err(|error| AccountError::Rest {
        step: "position",
        error,
    })
}

pub use feed::bybit::rest::snapshot::open_orders;

fn unreadable(path: &str, err: &feed::bybit::DecodeError) -> RestError {
    RestError::Unreadable {
        method: "GET",
        path: path.to_owned(),
        reason: err.to_string(),
    }
}
