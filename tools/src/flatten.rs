//! `toolkit flatten [--symbol S] [--close]`: the kill switch from outside the engine.
//!
//! For each symbol (the one given, else every configured one), over signed REST on the
//! configured venue: every open order is cancelled (`/v5/order/cancel-all`), and the venue is
//! asked again until none is left or `--timeout` passes. With `--close`, the position is then
//! closed with reduce-only post-only orders at the touch of the closing side (a sell at the best
//! ask for a long), each left `--reprice` to fill and then moved to the new touch, until flat or
//! `--timeout`. Maker-only to the end: a close is not guaranteed to fill in a running market,
//! and the command says so when it did not.
//!
//! It first says which account it acts on (`REAL MONEY`, the account, the venue and the API
//! key's first characters), then what it did and what is left, and exits 1 when anything is
//! left (an open order, or with `--close` a position). A closing order is never left resting:
//! when asking the venue fails while one works, it is cancelled before the error is reported.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use engine::account::{cancel_all, load_signer, open_orders, position, rest_client};
use engine::cli::ConfigArgs;
use feed::bybit::limits::{Endpoint, RateLimits};
use feed::bybit::rest::RestClient;
use feed::bybit::rest::replies::ApiKeyInfo;
use feed::bybit::trade::{LinkIds, NewOrder, TradeWriter};
use feed::order::OrderId;
use feed::{Fixed, Side, Symbol};

/// Arguments of `flatten`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The symbol (default: every one in exchange.symbols).
    #[arg(long)]
    symbol: Option<String>,
    /// Close the position too, with reduce-only orders.
    #[arg(long)]
    close: bool,
    /// A file holding `BYBIT_API_KEY=...` and `BYBIT_API_SECRET=...` lines, readable by its
    /// owner only (default: those variables in the environment).
    #[arg(long, value_name = "FILE")]
    credentials: Option<std::path::PathBuf>,
    /// Give up after this long.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// How long a closing order rests before it follows the touch.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    reprice: Duration,
}

/// How often the venue is asked again.
const POLL: Duration = Duration::from_millis(200);

pub(crate) fn run(args: &Args) -> Result<std::process::ExitCode> {
    let loaded = args.config.load()?;
    let config = loaded.config;
    let signer = load_signer(args.credentials.as_deref(), &|name| {
        std::env::var(name).ok()
    })
    .context("flatten needs credentials")?;
    let limits = std::sync::Arc::new(RateLimits::new(config.exchange.rate_limits.rates()));
    let client = rest_client(&config, signer, limits)?;
    client.sync_clock().context("the venue's clock")?;
    let key: ApiKeyInfo = client
        .get("/v5/user/query-api", "", Endpoint::Query)
        .context("the API key's account")?;
    let symbols = match &args.symbol {
        Some(symbol) => vec![symbol.clone()],
        None => config.exchange.symbols.clone(),
    };
    println!(
        "flatten: REAL MONEY: account {} at {} (API key {}): {}",
        key.user_id,
        client.base_url(),
        client.key_shown(),
        symbols.join(", ")
    );
    let deadline = Instant::now() + args.timeout;
    let mut left = false;
    for symbol in &symbols {
        if !loaded.symbols.symbols.contains_key(symbol) {
            bail!("{symbol} has no entry in symbols.yml");
        }
        let cancelled = cancel_all(&client, symbol)?;
        let open = wait_for_no_orders(&client, symbol, deadline)?;
        println!("{symbol}: cancelled {cancelled} open orders; {open} left");
        left |= open > 0;
        let held = position(&client, symbol)?;
        if held.is_zero() {
            println!("{symbol}: flat");
        } else if args.close {
            let after = close(&client, symbol, args.reprice, deadline)?;
            if after.is_zero() {
                println!("{symbol}: position {held} closed; flat");
            } else {
                println!(
                    "{symbol}: position {after} left of {held}: the closing orders did not fill before the timeout"
                );
                left = true;
            }
        } else {
            println!("{symbol}: position {held} left open (--close closes it)");
        }
    }
    Ok(if left {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// Asks until no order of `symbol` is open or `deadline`; how many are.
fn wait_for_no_orders(client: &RestClient, symbol: &str, deadline: Instant) -> Result<usize> {
    loop {
        let open = open_orders(client, symbol)?.len();
        if open == 0 || Instant::now() >= deadline {
            return Ok(open);
        }
        std::thread::sleep(POLL);
    }
}

/// The best bid and ask of `symbol` (`/v5/market/orderbook`, public).
fn touch(client: &RestClient, symbol: &str) -> Result<(Fixed, Fixed)> {
    #[derive(serde::Deserialize)]
    struct Book {
        b: Vec<(Fixed, Fixed)>,
        a: Vec<(Fixed, Fixed)>,
    }
    let book: Book = client.get(
        "/v5/market/orderbook",
        &format!("category=linear&symbol={symbol}&limit=1"),
        Endpoint::Query,
    )?;
    match (book.b.first(), book.a.first()) {
        (Some(bid), Some(ask)) => Ok((bid.0, ask.0)),
        _ => bail!("{symbol}: the book has no touch"),
    }
}

/// Closes the position of `symbol` with reduce-only post-only orders at the touch of the
/// closing side, moved every `reprice`, until flat or `deadline`; the position left. When
/// asking the venue fails midway, what is open is cancelled before the error is reported.
fn close(client: &RestClient, symbol: &str, reprice: Duration, deadline: Instant) -> Result<Fixed> {
    let closed = close_at_the_touch(client, symbol, reprice, deadline);
    if closed.is_err()
        && let Err(err) = cancel_all(client, symbol)
    {
        eprintln!("{symbol}: the closing order could not be cancelled: {err}; cancel it by hand");
    }
    closed
}

fn close_at_the_touch(
    client: &RestClient,
    symbol: &str,
    reprice: Duration,
    deadline: Instant,
) -> Result<Fixed> {
    let name = Symbol::new(symbol).map_err(|_| anyhow::anyhow!("symbol {symbol:?} is too long"))?;
    let mut writer = TradeWriter::new(LinkIds::for_run(feed::bybit::rest::local_ms()), 5000);
    let mut held = position(client, symbol)?;
    let mut id = 0;
    while !held.is_zero() && Instant::now() < deadline {
        let (bid, ask) = touch(client, symbol)?;
        let (side, price) = if held.is_positive() {
            (Side::Sell, ask)
        } else {
            (Side::Buy, bid)
        };
        id += 1;
        let order = NewOrder {
            id: OrderId(id),
            symbol: name,
            side,
            price,
            qty: held.abs(),
            reduce_only: true,
        };
        let body = String::from_utf8_lossy(writer.create_body(&order)).into_owned();
        match client.post("/v5/order/create", &body, Endpoint::Create) {
            Ok(_) => println!(
                "{symbol}: closing {} {} at {price} (reduce-only)",
                side.as_str(),
                held.abs()
            ),
            Err(err) => println!("{symbol}: closing order refused: {err}"),
        }
        let until = Instant::now() + reprice;
        while Instant::now() < until.min(deadline) {
            std::thread::sleep(POLL);
            held = position(client, symbol)?;
            if held.is_zero() {
                break;
            }
        }
        cancel_all(client, symbol)?;
        held = position(client, symbol)?;
    }
    Ok(held)
}
