//! Sizing and gates of one entry: the last hot-path stage before an order.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use engine::config::Config;
use engine::executor::{EntryCheck, GateRules, Side, SizingRules, compute_order_qty};
use feed::Fixed;

fn fx(text: &str) -> Fixed {
    text.parse().unwrap_or(Fixed::ZERO)
}

fn executor(c: &mut Criterion) {
    let config = Config::default();
    let instrument = benches::btcusdt();
    let sizing =
        SizingRules::from_config(&config.executor.sizing).unwrap_or_else(|e| panic!("{e}"));
    let gates = GateRules::from_config(&config).unwrap_or_else(|e| panic!("{e}"));
    let price = fx("60000");
    let balance = fx("5000");
    let depth = [fx("0.4"), fx("0.3"), fx("0.5"), fx("2")];

    c.bench_function("compute_order_qty", |b| {
        b.iter(|| compute_order_qty(&sizing, &instrument, black_box(price), black_box(balance)))
    });
    c.bench_function("size_and_gate_entry", |b| {
        b.iter(|| -> Option<Fixed> {
            let qty = compute_order_qty(&sizing, &instrument, black_box(price), black_box(balance))
                .ok()?;
            gates
                .check_entry(&EntryCheck {
                    side: Side::Buy,
                    price,
                    qty,
                    free_balance: balance,
                    position: Fixed::ZERO,
                    liq_price: Some(black_box(fx("54000"))),
                    join_side_sizes: black_box(&depth),
                })
                .ok()?;
            Some(qty)
        })
    });
}

criterion_group!(benches, executor);
criterion_main!(benches);
