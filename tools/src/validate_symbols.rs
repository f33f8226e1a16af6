//! `toolkit validate-symbols`: `config/symbols.yml` against what the exchange says, and the
//! strategy's economics against the fees.
//!
//! The exchange's word is Bybit's `GET /v5/market/instruments-info` and `GET
//! /v5/account/fee-rate` answers, read from files in Bybit's response format (`--instruments`,
//! `--fees`) or asked of the venue `exchange.endpoints` names (`--venue`, signed: the fee rates
//! are the account's, so it takes credentials as `engine run --mode real` does). Each rule the
//! engine trades by (tick size, quantity step, minimum and maximum quantity, minimum notional,
//! maker and taker fee) is compared as real mode compares it before it starts (`rule_values`:
//! a rule the venue does not report is not a finding; a fee it does not give is). Then, per symbol, the economics: the take-profit must clear the round trip in
//! maker fees, and the winrate that breaks even is `(stop + fees) / (take-profit + stop)`
//! (`labeling.take_profit_pct`, `risk.assumed_sl_pct`, the maker fee on both legs).
//!
//! A table, `--json`, exit status 1 on any mismatch, missing symbol or losing economics.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use engine::account::{load_signer, rest_client};
use engine::cli::ConfigArgs;
use engine::config::Symbols;
use engine::model::registry::write_json_atomically;
use feed::Instrument;
use feed::bybit::limits::{Endpoint, RateLimits};
use feed::bybit::rest::RestError;
use feed::bybit::rest::replies::{FeeRate, FeeRates, InstrumentInfo, InstrumentsPage, rule_values};
use serde::{Deserialize, Serialize};

use crate::estimate::break_even_winrate;

/// Arguments of `validate-symbols`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The symbols file to check (default: the one beside the configuration).
    #[arg(long)]
    symbols: Option<PathBuf>,
    /// `GET /v5/market/instruments-info` answers (category linear), as Bybit sends them.
    #[arg(long, requires = "fees", conflicts_with = "venue")]
    instruments: Option<PathBuf>,
    /// `GET /v5/account/fee-rate` answers, as Bybit sends them.
    #[arg(long, requires = "instruments", conflicts_with = "venue")]
    fees: Option<PathBuf>,
    /// Ask the venue `exchange.endpoints` names (signed; credentials as for real mode).
    #[arg(long, required_unless_present = "instruments")]
    venue: bool,
    /// A file holding `BYBIT_API_KEY=...` and `BYBIT_API_SECRET=...` lines, readable by its
    /// owner only (default: those variables in the environment); with `--venue`.
    #[arg(long, value_name = "FILE", requires = "venue")]
    credentials: Option<PathBuf>,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One rule of one symbol, as configured and as the exchange has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RuleRow {
    pub(crate) symbol: String,
    pub(crate) field: String,
    pub(crate) configured: String,
    /// `None` when the exchange did not say.
    pub(crate) exchange: Option<String>,
    pub(crate) agrees: bool,
}

/// The strategy's economics for one symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Economics {
    pub(crate) symbol: String,
    /// Take-profit, stop and the round trip's maker fees, as fractions of the entry price.
    pub(crate) take_profit: f64,
    pub(crate) stop: f64,
    pub(crate) round_trip_fees: f64,
    /// The take-profit net of fees; it must be above 0.
    pub(crate) net_take_profit: f64,
    /// `(stop + fees) / (take_profit + stop)`.
    pub(crate) break_even_winrate: f64,
}

/// What `validate-symbols` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Report {
    /// Where the exchange's rules came from.
    pub(crate) source: String,
    pub(crate) rules: Vec<RuleRow>,
    /// Symbols of the file the exchange does not list.
    pub(crate) unknown: Vec<String>,
    pub(crate) economics: Vec<Economics>,
}

impl Report {
    fn passed(&self) -> bool {
        self.unknown.is_empty()
            && self.rules.iter().all(|row| row.agrees)
            && self.economics.iter().all(|row| row.net_take_profit > 0.0)
    }
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let loaded = args.config.load()?;
    let config = &loaded.config;
    let (symbols_path, symbols) = match &args.symbols {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let symbols: Symbols = serde_yaml_ng::from_str(&text)
                .with_context(|| format!("reading {}", path.display()))?;
            (path.clone(), symbols)
        }
        None => (loaded.source.symbols.clone(), loaded.symbols.clone()),
    };
    let (source, instruments, fees) = match (&args.instruments, &args.fees) {
        (Some(instruments), Some(fees)) => (
            format!("{} and {}", instruments.display(), fees.display()),
            read_answer::<InstrumentsPage>(instruments)?.list,
            read_answer::<FeeRates>(fees)?.list,
        ),
        _ => {
            let signer = load_signer(args.credentials.as_deref(), &|name| {
                std::env::var(name).ok()
            })
            .context(
                "validate-symbols --venue reads the account's fee rates: it needs credentials",
            )?;
            let limits = std::sync::Arc::new(RateLimits::new(config.exchange.rate_limits.rates()));
            let client = rest_client(config, signer, limits)?;
            client.sync_clock().context("the venue's clock")?;
            let mut instruments = Vec::new();
            let mut fees = Vec::new();
            for symbol in symbols.symbols.keys() {
                // A symbol the venue refuses (retCode 10001, "symbol invalid") is one it does not
                // list: a finding, not a failure to ask.
                let query = format!("category=linear&symbol={symbol}");
                match client.get::<InstrumentsPage>(
                    "/v5/market/instruments-info",
                    &query,
                    Endpoint::Query,
                ) {
                    Ok(page) => instruments.extend(page.list),
                    Err(RestError::Venue { .. }) => continue,
                    Err(err) => return Err(err).with_context(|| format!("{symbol}'s rules")),
                }
                match client.get::<FeeRates>("/v5/account/fee-rate", &query, Endpoint::FeeRate) {
                    Ok(rates) => fees.extend(rates.list),
                    Err(RestError::Venue { .. }) => {}
                    Err(err) => return Err(err).with_context(|| format!("{symbol}'s fee rates")),
                }
            }
            (client.base_url().to_owned(), instruments, fees)
        }
    };
    let report = compare(&symbols, &instruments, &fees, source, config);
    print!("{}", table(&report, &symbols_path));
    if let Some(path) = &args.json {
        write_json_atomically(path, &report)?;
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The `result` of a Bybit answer in `path`; an answer with a non-zero `retCode` is refused.
fn read_answer<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer<T> {
        ret_code: i64,
        #[serde(default)]
        ret_msg: String,
        result: Option<T>,
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let answer: Answer<T> = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a Bybit answer of this kind", path.display()))?;
    if answer.ret_code != 0 {
        bail!(
            "{}: the answer is an error, retCode {} ({})",
            path.display(),
            answer.ret_code,
            answer.ret_msg
        );
    }
    answer
        .result
        .with_context(|| format!("{}: the answer has no result", path.display()))
}

/// Every symbol of `symbols` against the exchange's rules and fees, and its economics.
fn compare(
    symbols: &Symbols,
    instruments: &[InstrumentInfo],
    fees: &[FeeRate],
    source: String,
    config: &engine::config::Config,
) -> Report {
    let mut rules = Vec::new();
    let mut unknown = Vec::new();
    let mut economics = Vec::new();
    for (symbol, configured) in &symbols.symbols {
        let Some(info) = instruments.iter().find(|info| &info.symbol == symbol) else {
            unknown.push(symbol.clone());
            continue;
        };
        for (field, value, exchange) in rule_values(configured, info) {
            rules.push(RuleRow {
                symbol: symbol.clone(),
                field: field.to_owned(),
                configured: value.to_string(),
                exchange: exchange.map(|value| value.to_string()),
                // As real mode compares: a rule the venue does not report is not a finding.
                agrees: exchange.is_none_or(|exchange| exchange == value),
            });
        }
        let fee = fees.iter().find(|fee| &fee.symbol == symbol);
        for (field, value, exchange) in [
            (
                "maker_fee_rate",
                configured.maker_fee_rate,
                fee.map(|fee| fee.maker_fee_rate),
            ),
            (
                "taker_fee_rate",
                configured.taker_fee_rate,
                fee.map(|fee| fee.taker_fee_rate),
            ),
        ] {
            rules.push(RuleRow {
                symbol: symbol.clone(),
                field: field.to_owned(),
                configured: value.to_string(),
                exchange: exchange.map(|value| value.to_string()),
                agrees: exchange == Some(value),
            });
        }
        economics.push(economics_of(symbol, configured, config));
    }
    Report {
        source,
        rules,
        unknown,
        economics,
    }
}

fn economics_of(
    symbol: &str,
    instrument: &Instrument,
    config: &engine::config::Config,
) -> Economics {
    let take_profit = config.labeling.take_profit_pct;
    let stop = config.risk.assumed_sl_pct;
    let round_trip_fees = 2.0 * instrument.maker_fee_rate.to_f64();
    Economics {
        symbol: symbol.to_owned(),
        take_profit,
        stop,
        round_trip_fees,
        net_take_profit: take_profit - round_trip_fees,
        break_even_winrate: break_even_winrate(take_profit, stop, round_trip_fees),
    }
}

/// The report as markdown tables.
fn table(report: &Report, symbols_path: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} against {}", symbols_path.display(), report.source);
    out.push_str("| symbol | rule | symbols.yml | exchange | |\n|---|---|---|---|---|\n");
    for row in &report.rules {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            row.symbol,
            row.field,
            row.configured,
            row.exchange.as_deref().unwrap_or("not given"),
            if row.agrees { "ok" } else { "MISMATCH" }
        );
    }
    for symbol in &report.unknown {
        let _ = writeln!(
            out,
            "| {symbol} | (all) | listed | not listed by the exchange | MISMATCH |"
        );
    }
    out.push_str(
        "\n| symbol | take-profit | stop | round-trip maker fees | take-profit net | break-even winrate |\n\
         |---|---|---|---|---|---|\n",
    );
    for row in &report.economics {
        let _ = writeln!(
            out,
            "| {} | {:.2} bps | {:.2} bps | {:.2} bps | {:+.2} bps{} | {:.4} |",
            row.symbol,
            row.take_profit * 1e4,
            row.stop * 1e4,
            row.round_trip_fees * 1e4,
            row.net_take_profit * 1e4,
            if row.net_take_profit > 0.0 {
                ""
            } else {
                " (LOSES)"
            },
            row.break_even_winrate
        );
    }
    let _ = writeln!(
        out,
        "break-even winrate = (stop + fees) / (take-profit + stop): a round trip wins the \
         take-profit less fees or loses the stop plus fees; {}",
        if report.passed() {
            "every rule agrees"
        } else {
            "FINDINGS above"
        }
    );
    out
}
