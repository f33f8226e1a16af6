//! `engine size`: how one entry would be sized and gated, step by step.

use anyhow::{Context, Result, anyhow};
use clap::ValueEnum;
use engine::cli::ConfigArgs;
use engine::config::Loaded;
use engine::executor::gates::{self, UnknownLiq};
use engine::executor::{EntryCheck, GateRules, Side, SizingRules, compute_order_qty};
use feed::Fixed;

/// Entry side on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SideArg {
    /// A long entry, joining the bids.
    Buy,
    /// A short entry, joining the asks.
    Sell,
}

/// Arguments of `size`.
#[derive(Debug, clap::Args)]
pub(crate) struct SizeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Symbol, as listed in symbols.yml.
    #[arg(long, default_value = "BTCUSDT")]
    symbol: String,
    /// Entry side.
    #[arg(long, value_enum, default_value = "buy")]
    side: SideArg,
    /// Limit price of the entry (the touch on our side).
    #[arg(long, value_parser = super::parse_fixed)]
    price: Fixed,
    /// Free balance in USD.
    #[arg(long, value_parser = super::parse_fixed)]
    balance: Fixed,
    /// Current position in base units, signed (positive long).
    #[arg(long, value_parser = super::parse_fixed, default_value = "0", allow_hyphen_values = true)]
    position: Fixed,
    /// Liquidation price of the position, if the venue reports one.
    #[arg(long, value_parser = super::parse_fixed)]
    liq_price: Option<Fixed>,
    /// Resting sizes on the side the order joins, from the touch outward, comma-separated.
    #[arg(long, value_parser = super::parse_fixed, value_delimiter = ',', default_value = "5,5,5")]
    depth: Vec<Fixed>,
}

/// Runs `size`.
pub(crate) fn run(args: &SizeArgs) -> Result<()> {
    let Loaded {
        config,
        symbols,
        source,
    } = args.config.load()?;
    let instrument = symbols.symbols.get(&args.symbol).ok_or_else(|| {
        anyhow!(
            "{} has no entry in {}",
            args.symbol,
            source.symbols.display()
        )
    })?;
    let sizing = SizingRules::from_config(&config.executor.sizing)?;
    let gate_rules = GateRules::from_config(&config).context("building the gate rules")?;
    let side = match args.side {
        SideArg::Buy => Side::Buy,
        SideArg::Sell => Side::Sell,
    };

    println!("config    {source}");
    println!(
        "          mode {}, venue {}",
        config.exchange.mode, config.exchange.venue
    );
    println!(
        "entry     {} {} at {} with free balance {} USD (position {})",
        side.as_str(),
        args.symbol,
        args.price,
        args.balance,
        args.position
    );

    let usable = if sizing.use_all_in {
        args.balance
    } else {
        args.balance.saturating_sub(sizing.min_free_balance)
    };
    let leveraged = usable
        .checked_mul_floor(sizing.leverage)
        .unwrap_or(Fixed::MAX);
    println!(
        "sizing    budget = min(cap {}, {} usable x leverage {} = {}) = {}",
        sizing.notional_cap,
        usable,
        sizing.leverage,
        leveraged,
        sizing.notional_cap.min(leveraged)
    );
    let qty = match compute_order_qty(&sizing, instrument, args.price, args.balance) {
        Ok(qty) => {
            println!(
                "          qty = floor(budget / {} / {}) x {} = {qty}",
                args.price, instrument.qty_step, instrument.qty_step
            );
            qty
        }
        Err(reject) => {
            println!("          no order: {reject} [{}]", reject.label());
            println!("decision  DROP ({})", reject.label());
            return Ok(());
        }
    };

    let verdict =
        |name: &str, result: Result<(), gates::GateReject>, pass_detail: String| match result {
            Ok(()) => println!("gate      {name:<18} pass  {pass_detail}"),
            Err(reject) => println!("gate      {name:<18} FAIL  {reject}"),
        };
    verdict(
        "free_balance",
        gates::check_free_balance(args.balance, gate_rules.min_free_balance),
        format!("{} >= {}", args.balance, gate_rules.min_free_balance),
    );
    match &gate_rules.near_liq {
        Some(rule) => verdict(
            "near_liquidation",
            gates::check_near_liquidation(rule, side, args.price, args.liq_price),
            match (args.liq_price, rule.unknown) {
                (Some(liq), _) => format!("liq {liq}, buffer {}", rule.buffer),
                (None, UnknownLiq::Estimate(distance)) => {
                    format!(
                        "liq unknown: estimated distance {distance} >= buffer {}",
                        rule.buffer
                    )
                }
                (None, UnknownLiq::Block) => String::new(),
            },
        ),
        None => println!("gate      {:<18} off", "near_liquidation"),
    }
    match &gate_rules.liquidity {
        Some(rule) => verdict(
            "liquidity_by_side",
            gates::check_liquidity(rule, qty, &args.depth),
            format!(
                "first {} levels hold >= {} x {qty}",
                rule.levels, rule.alpha
            ),
        ),
        None => println!("gate      {:<18} off", "liquidity_by_side"),
    }
    verdict(
        "max_position",
        gates::check_max_position(
            gate_rules.max_position,
            side,
            args.position,
            qty,
            args.price,
        ),
        format!("<= {} USD", gate_rules.max_position),
    );

    let entry = EntryCheck {
        side,
        price: args.price,
        qty,
        free_balance: args.balance,
        position: args.position,
        liq_price: args.liq_price,
        join_side_sizes: &args.depth,
    };
    match gate_rules.check_entry(&entry) {
        Ok(()) => println!(
            "decision  ORDER {} {qty} {} @ {} PostOnly",
            side.as_str(),
            args.symbol,
            args.price
        ),
        Err(reject) => println!("decision  DROP ({})", reject.label()),
    }
    Ok(())
}
