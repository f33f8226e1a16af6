//! Every shipped profile, through the engine's sizing and gates with the shipped instruments.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use engine::config::load_with_env;
use engine::executor::{EntryCheck, GateRules, Side, SizingRules, compute_order_qty};
use feed::Fixed;
use tests::shipped_config;

fn fx(text: &str) -> Fixed {
    text.parse().unwrap()
}

#[test]
fn the_worked_example_holds_under_every_profile() {
    for profile in [None, Some("paper"), Some("real"), Some("bare-metal")] {
        let loaded = load_with_env(&shipped_config(), profile, &|_| None).unwrap();
        let btc = loaded.symbols.symbols["BTCUSDT"];
        let sizing = SizingRules::from_config(&loaded.config.executor.sizing).unwrap();
        let qty = compute_order_qty(&sizing, &btc, fx("60000"), fx("5000")).unwrap();
        assert_eq!(qty.to_string(), "0.333", "{profile:?}");

        let gates = GateRules::from_config(&loaded.config).unwrap();
        let depth = [fx("0.2"), fx("0.2"), fx("0.2")];
        let entry = EntryCheck {
            side: Side::Buy,
            price: fx("60000"),
            qty,
            free_balance: fx("5000"),
            position: Fixed::ZERO,
            liq_price: None,
            join_side_sizes: &depth,
        };
        assert_eq!(gates.check_entry(&entry), Ok(()), "{profile:?}");
    }
}

#[test]
fn every_configured_symbol_sizes_within_its_rules() {
    let loaded = load_with_env(&shipped_config(), None, &|_| None).unwrap();
    let sizing = SizingRules::from_config(&loaded.config.executor.sizing).unwrap();
    for (symbol, price, expected) in [("BTCUSDT", "60000", "0.333"), ("ETHUSDT", "3000", "6.66")] {
        let instrument = loaded.symbols.symbols[symbol];
        let qty = compute_order_qty(&sizing, &instrument, fx(price), fx("5000")).unwrap();
        assert_eq!(qty.to_string(), expected, "{symbol}");
        assert!(qty.is_multiple_of(instrument.qty_step));
    }
}
