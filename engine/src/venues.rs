//! The venues the engine trades on, built from the configuration.
//!
//! The runtime drives any [`feed::Venue`] and never knows which; this is where one is chosen
//! and built: the paper venue ([`paper`]), from the `paper` section and the instrument's maker
//! fee, or the Bybit venue ([`bybit`]), from `exchange`.

use std::time::Duration;

use feed::paper::latency::{LogNormalLatency, ScaleBy, ScalingConfig};
use feed::paper::queue::QueueModel;
use feed::paper::{CrossFill, PaperConfig, PaperVenue};
use feed::{Fixed, Instrument};

use crate::config::{self, Config, HumanDuration, LatencyScaleBy};
use crate::executor::UnrepresentableValue;

/// The paper venue's settings from `config.paper` and the maker fee of `instrument`.
pub fn paper_config(
    config: &Config,
    instrument: &Instrument,
) -> Result<PaperConfig, UnrepresentableValue> {
    let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    let paper = &config.paper;
    let initial_balance =
        Fixed::from_f64(paper.initial_balance_usd).ok_or(UnrepresentableValue {
            key: "paper.initial_balance_usd",
            value: paper.initial_balance_usd,
        })?;
    let latency = |min: &HumanDuration, median: &HumanDuration, sigma: f64| LogNormalLatency {
        min_ns: nanos(min.get()),
        median_ns: nanos(median.get()),
        sigma,
    };
    let scaling = &paper.latency_scaling;
    Ok(PaperConfig {
        initial_balance,
        maker_fee_rate: instrument.maker_fee_rate,
        entry_latency: latency(
            &paper.latency_min,
            &paper.latency_median,
            paper.latency_sigma,
        ),
        response_latency: latency(
            &paper.response_latency_min,
            &paper.response_latency_median,
            paper.response_latency_sigma,
        ),
        latency_scaling: ScalingConfig {
            by: match scaling.by {
                LatencyScaleBy::Off => ScaleBy::Off,
                LatencyScaleBy::MessageRate => ScaleBy::MessageRate,
                LatencyScaleBy::Volatility => ScaleBy::Volatility,
            },
            reference: scaling.reference,
            max_factor: scaling.max_factor,
            window_ns: nanos(scaling.window.get()),
        },
        queue: QueueModel {
            power: paper.queue_power,
            lot: instrument.qty_step,
        },
        cross_fill: match paper.cross_fill {
            config::CrossFill::OppositeSize => CrossFill::OppositeSize,
            config::CrossFill::TradesOnly => CrossFill::TradesOnly,
        },
        seed: paper.seed,
    })
}

/// The paper venue of `config` for `instrument`: flat, holding `paper.initial_balance_usd`.
pub fn paper(config: &Config, instrument: &Instrument) -> Result<PaperVenue, UnrepresentableValue> {
    paper_config(config, instrument).map(PaperVenue::new)
}

/// Why the Bybit venue could not be built.
#[derive(Debug, thiserror::Error)]
pub enum VenueError {
    /// An endpoint does not parse (the loader checked them; this repeats the parse).
    #[error("exchange endpoint {url}: {reason}")]
    Endpoint {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The TLS configuration could not be built.
    #[error("exchange.tls_ca_file {0}")]
    Tls(#[from] feed::net::TlsError),
    /// The connecting threads could not start.
    #[error("starting the venue's connecting threads: {0}")]
    Threads(std::io::Error),
}

/// The Bybit venue of `symbol` on the active environment's private and trade streams, with
/// `exchange.connection`'s liveness and back-off: signing with `signer`, stamping on the venue
/// clock of `rest`, within `limits`, from `account` as REST found it, reconciling over `rest`.
/// `seed` seeds the back-off jitter; the run's order ids are prefixed with its start time.
/// `dcp_granted`: disconnect-cancel-all was granted, so the private stream arms it.
#[allow(clippy::too_many_arguments)]
pub fn bybit(
    config: &Config,
    symbol: feed::Symbol,
    signer: feed::bybit::sign::Signer,
    limits: std::sync::Arc<feed::bybit::limits::RateLimits>,
    rest: std::sync::Arc<feed::bybit::rest::RestClient>,
    account: feed::order::Account,
    seed: u64,
    dcp_granted: bool,
) -> Result<feed::bybit::venue::BybitVenue, VenueError> {
    use feed::bybit::venue::{BybitVenue, VenueSettings};
    use feed::net::Endpoint;

    let exchange = &config.exchange;
    let endpoints = exchange.active_endpoints();
    let parse = |url: &String| {
        Endpoint::parse(url).map_err(|err| VenueError::Endpoint {
            url: url.clone(),
            reason: err.to_string(),
        })
    };
    let (private, trade) = (parse(&endpoints.ws_private)?, parse(&endpoints.ws_trade)?);
    let tls = if private.scheme.is_tls() || trade.scheme.is_tls() {
        Some(feed::net::client_config(exchange.tls_ca_file.as_deref())?)
    } else {
        None
    };
    let connection = &exchange.connection;
    let settings = VenueSettings {
        private,
        trade,
        tls,
        symbol,
        ids: feed::bybit::trade::LinkIds::for_run(feed::bybit::rest::local_ms()),
        recv_window_ms: u64::from(exchange.recv_window_ms),
        liveness: connection.liveness(),
        backoff: connection.backoff(),
        connect_timeout: connection.connect_timeout.get(),
        seed,
        dcp: dcp_granted,
        adopt_unknown_orders: exchange.adopt_unknown_orders,
        reconcile_every: exchange.reconcile_every.get(),
    };
    let clock = rest.clock();
    BybitVenue::new(settings, signer, limits, clock, account, Some(rest))
        .map_err(VenueError::Threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    #[test]
    fn the_paper_venue_takes_the_paper_section_and_the_instruments_maker_fee() {
        let instrument = feed::fixtures::btcusdt();
        let mut config = Config::default();
        assert_eq!(
            paper_config(&config, &instrument),
            Ok(PaperConfig {
                initial_balance: fx("10000"),
                maker_fee_rate: fx("0.0002"),
                entry_latency: LogNormalLatency {
                    min_ns: 2_000_000,
                    median_ns: 15_000_000,
                    sigma: 0.5,
                },
                response_latency: LogNormalLatency {
                    min_ns: 1_000_000,
                    median_ns: 5_000_000,
                    sigma: 0.5,
                },
                latency_scaling: ScalingConfig {
                    by: ScaleBy::MessageRate,
                    reference: 100.0,
                    max_factor: 4.0,
                    window_ns: 1_000_000_000,
                },
                queue: QueueModel {
                    power: 2.0,
                    lot: fx("0.001"),
                },
                cross_fill: CrossFill::OppositeSize,
                seed: 7,
            })
        );
        config.paper.initial_balance_usd = f64::INFINITY;
        assert_eq!(
            paper_config(&config, &instrument).map(|_| ()),
            Err(UnrepresentableValue {
                key: "paper.initial_balance_usd",
                value: f64::INFINITY,
            })
        );
    }
}
