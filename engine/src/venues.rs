//! The venues the engine trades on, built from the configuration.
//!
//! The runtime drives any [`feed::Venue`] and never knows which; this is where one is chosen
//! and built: today the paper venue ([`paper`]), from the `paper` section and the instrument's
//! maker fee.

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
