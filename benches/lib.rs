//! What the benches share: the shipped instrument reference data.

use engine::config::Symbols;
use feed::Instrument;

/// BTCUSDT as `config/symbols.yml` describes it (compiled in).
pub fn btcusdt() -> Instrument {
    let symbols: Symbols = match serde_yaml_ng::from_str(include_str!("../config/symbols.yml")) {
        Ok(symbols) => symbols,
        Err(err) => panic!("config/symbols.yml: {err}"),
    };
    match symbols.symbols.get("BTCUSDT") {
        Some(instrument) => *instrument,
        None => panic!("config/symbols.yml has no BTCUSDT"),
    }
}
