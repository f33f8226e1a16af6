//! The venues the engine trades on, built from the configuration.
//!
//! The runtime drives any [`feed::Venue`] and never knows which; this is where one is chosen
//! and built: today the paper venue ([`paper`]), from the `paper` section and the instrument's
//! maker fee.

use std::time::Duration;

use feed::paper::{PaperConfig, PaperVenue};
use feed::{Fixed, Instrument};

use crate::config::Config;
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
    Ok(PaperConfig {
        initial_balance,
        maker_fee_rate: instrument.maker_fee_rate,
        latency_min_ns: nanos(paper.latency_min.get()),
        latency_median_ns: nanos(paper.latency_median.get()),
        latency_sigma: paper.latency_sigma,
        cancel_ahead_probability: paper.cancel_ahead_probability,
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
                latency_min_ns: 2_000_000,
                latency_median_ns: 15_000_000,
                latency_sigma: 0.5,
                cancel_ahead_probability: 0.5,
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
