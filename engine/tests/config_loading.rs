//! The shipped configuration, its profiles, and every kind of error the loader must report.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use engine::config::{Config, ConfigError, ConfigIssue, Mode, RolloutMode, load_with_env};

fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/app.yml")
}

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.get(name).cloned()
}

/// A config directory in a temp dir holding `app_yml`, the shipped symbols.yml, and the given
/// profiles.
fn config_dir(app_yml: &str, profiles: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("config");
    fs::create_dir_all(&config).unwrap();
    fs::create_dir_all(root.path().join("profiles")).unwrap();
    fs::write(config.join("app.yml"), app_yml).unwrap();
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/symbols.yml"),
        config.join("symbols.yml"),
    )
    .unwrap();
    for (name, text) in profiles {
        fs::write(
            root.path().join("profiles").join(format!("{name}.yml")),
            text,
        )
        .unwrap();
    }
    let path = config.join("app.yml");
    (root, path)
}

fn issues_of(app_yml: &str, vars: &[(&str, &str)]) -> Vec<ConfigIssue> {
    let (_root, path) = config_dir(app_yml, &[]);
    match load_with_env(&path, None, &env_of(vars)) {
        Err(ConfigError::Invalid { issues, .. }) => issues,
        other => panic!("expected invalid configuration, got {other:?}"),
    }
}

fn issue(path: &str, message: &str) -> ConfigIssue {
    ConfigIssue {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

#[test]
fn the_shipped_file_is_exactly_the_defaults() {
    let loaded = load_with_env(&shipped_config(), None, &env_of(&[])).unwrap();
    assert_eq!(loaded.config, Config::default());
    let symbols: Vec<&str> = loaded.symbols.symbols.keys().map(String::as_str).collect();
    assert_eq!(symbols, ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]);
    let btc = loaded.symbols.symbols["BTCUSDT"];
    assert_eq!(btc.tick_size.to_string(), "0.1");
    assert_eq!(btc.qty_step.to_string(), "0.001");
}

#[test]
fn every_shipped_profile_loads() {
    let paper = load_with_env(&shipped_config(), Some("paper"), &env_of(&[])).unwrap();
    assert_eq!(paper.config.exchange.mode, Mode::Paper);
    assert!(paper.config.ai_scorer.shadow.enabled);
    assert!(
        paper
            .source
            .profile
            .unwrap()
            .ends_with("profiles/paper.yml")
    );

    let real = load_with_env(&shipped_config(), Some("real"), &env_of(&[])).unwrap();
    assert_eq!(real.config.exchange.mode, Mode::Real);
    assert!(!real.config.exchange.testnet);
    let testnet = load_with_env(
        &shipped_config(),
        Some("real"),
        &env_of(&[("BYBIT_TESTNET", "true")]),
    )
    .unwrap();
    assert!(testnet.config.exchange.testnet);
    assert_eq!(
        testnet.config.exchange.active_endpoints().rest,
        "https://api-testnet.bybit.com"
    );

    let bare = load_with_env(&shipped_config(), Some("bare-metal"), &env_of(&[])).unwrap();
    assert_eq!(bare.config.engine.hot_core, 2);
    assert_eq!(bare.config.engine.cold_cores, [0, 1]);
    // Everything the overlay does not name keeps the base value.
    assert_eq!(bare.config.executor, Config::default().executor);
}

#[test]
fn the_environment_selects_the_mode() {
    let real = load_with_env(
        &shipped_config(),
        None,
        &env_of(&[("EXCHANGE_MODE", "real")]),
    );
    assert_eq!(real.unwrap().config.exchange.mode, Mode::Real);
    let empty = load_with_env(&shipped_config(), None, &env_of(&[("EXCHANGE_MODE", "")]));
    assert_eq!(empty.unwrap().config.exchange.mode, Mode::Paper);
    let bad = load_with_env(
        &shipped_config(),
        None,
        &env_of(&[("EXCHANGE_MODE", "live")]),
    );
    match bad {
        Err(ConfigError::Invalid { issues, .. }) => {
            assert_eq!(
                issues,
                [issue(
                    "exchange.mode",
                    r#""live" is not one of "paper", "real""#
                )]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn interpolated_values_take_their_yaml_type() {
    let (_root, path) = config_dir(
        "executor:\n  sizing:\n    leverage: ${LEV:-10}\n    use_all_in: ${ALL_IN:-true}\n",
        &[],
    );
    let loaded = load_with_env(&path, None, &env_of(&[("LEV", "5")])).unwrap();
    assert_eq!(loaded.config.executor.sizing.leverage, 5.0);
    assert!(loaded.config.executor.sizing.use_all_in);
}

#[test]
fn an_unknown_key_is_named() {
    assert_eq!(
        issues_of("executor:\n  sizing:\n    leverge: 5\n", &[]),
        [issue("executor.sizing.leverge", "unknown key")]
    );
    assert_eq!(
        issues_of("extra: 1\n", &[]),
        [issue("extra", "unknown key")]
    );
}

#[test]
fn a_wrong_type_is_named() {
    assert_eq!(
        issues_of("executor:\n  sizing:\n    leverage: ten\n", &[]),
        [issue(
            "executor.sizing.leverage",
            r#""ten" is not of type "number""#
        )]
    );
    assert_eq!(
        issues_of("engine:\n  cold_cores: 0\n", &[]),
        [issue("engine.cold_cores", r#"0 is not of type "array""#)]
    );
}

#[test]
fn an_out_of_range_value_is_named() {
    assert_eq!(
        issues_of("executor:\n  sizing:\n    leverage: 0\n", &[]),
        [issue(
            "executor.sizing.leverage",
            "0 is less than the minimum of 1.0"
        )]
    );
    assert_eq!(
        issues_of("engine:\n  book_depth: 100\n", &[]),
        [issue(
            "engine.book_depth",
            "100 is not one of 1, 50, 200, 500, 1000"
        )]
    );
}

#[test]
fn an_unset_variable_is_named() {
    assert_eq!(
        issues_of("paths:\n  data: ${DATA_DIR}\n", &[]),
        [issue(
            "paths.data",
            "${DATA_DIR} is not set and has no default (write ${DATA_DIR:-default} to give one)"
        )]
    );
}

#[test]
fn credentials_are_refused_without_echoing_them() {
    let issues = issues_of(
        "exchange:\n  api_key: abcd\n  API-SECRET: s3cr3t-value\n",
        &[],
    );
    let paths: Vec<&str> = issues.iter().map(|issue| issue.path.as_str()).collect();
    assert_eq!(paths, ["exchange.api_key", "exchange.API-SECRET"]);
    for issue in &issues {
        assert!(
            issue.message.starts_with("looks like a credential"),
            "{issue}"
        );
        assert!(!issue.message.contains("s3cr3t") && !issue.message.contains("abcd"));
    }
}

#[test]
fn cross_field_rules_name_their_keys() {
    assert_eq!(
        issues_of("rollout:\n  mode: canary\n  canary_fraction: 0\n", &[]),
        [issue(
            "rollout.canary_fraction",
            "0 must be in (0, 1] when rollout.mode is canary"
        )]
    );
    assert_eq!(
        issues_of("engine:\n  hot_core: 3\n  cold_cores: [0, 3]\n", &[]),
        [issue(
            "engine.cold_cores[1]",
            "3 is engine.hot_core; the hot core is reserved for the hot thread"
        )]
    );
    assert_eq!(
        issues_of("exchange:\n  symbols: [BTCUSDT, DOGEUSDT]\n", &[]),
        [issue(
            "exchange.symbols[1]",
            r#""DOGEUSDT" has no entry in symbols.yml"#
        )]
    );
    assert_eq!(
        issues_of(
            "exchange:\n  endpoints:\n    testnet:\n      rest: http://127.0.0.1:9000\n      \
             ws_public: ws://stream.example.com/v5/public/linear\n      \
             ws_private: ws://127.0.0.1:9000/v5/private\n      \
             ws_trade: ws://localhost:9000/v5/trade\n",
            &[]
        ),
        [issue(
            "exchange.endpoints.testnet.ws_public",
            "\"ws://stream.example.com/v5/public/linear\": ws:// is accepted for loopback \
             hosts only (localhost, 127.0.0.0/8, ::1); use wss://"
        )]
    );
    assert_eq!(
        issues_of(
            "exchange:\n  connection:\n    reconnect_initial: 1m\n    reconnect_max: 10s\n    \
             pong_timeout: 30s\n    stale_after: 30s\n",
            &[]
        ),
        [
            issue(
                "exchange.connection.reconnect_initial",
                "1m is longer than exchange.connection.reconnect_max 10s"
            ),
            issue(
                "exchange.connection.pong_timeout",
                "30s is not shorter than exchange.connection.stale_after 30s"
            ),
        ]
    );
    assert_eq!(
        issues_of(
            "ai_scorer:\n  shadow:\n    tau_entry: 0.5\n    tau_hold: 0.6\n",
            &[]
        ),
        [issue(
            "ai_scorer.shadow.tau_hold",
            "0.6 is above ai_scorer.shadow.tau_entry 0.5"
        )]
    );
    assert_eq!(
        issues_of("labeling:\n  fill_horizon: 3s\n", &[]),
        [issue(
            "labeling.fill_horizon",
            "3s differs from strategy.entry_ttl 5s: labels trade each candidate as the order \
             manager does, so the two must be equal"
        )]
    );
    assert_eq!(
        issues_of(
            "labeling:\n  hold_horizon: 5m\nstrategy:\n  max_hold: 5m\ntraining:\n  embargo: 1m\n",
            &[]
        ),
        [issue(
            "training.embargo",
            "1m is shorter than labeling.fill_horizon + labeling.hold_horizon = 5m 5s: labels \
             of rows whose entry never filled would reach into the next fold"
        )]
    );
    assert_eq!(
        issues_of(
            "training:\n  validation_fraction: 0.3\n  threshold_fraction: 0.3\n  report_fraction: 0.25\n",
            &[]
        ),
        [issue(
            "training.report_fraction",
            "validation, threshold and report fractions hold out 0.85 of each day: at most \
             0.8, or too little is left to train on"
        )]
    );
    assert_eq!(
        issues_of("labeling:\n  take_profit_pct: 0.0004\n", &[]),
        [issue(
            "labeling.take_profit_pct",
            "0.0004 cannot break even after fees: a round trip of BTCUSDT pays the maker fee \
             0.0002 twice, 0.0004, so even a take-profit loses money"
        )]
    );
    let (_root, path) = config_dir("labeling:\n  take_profit_pct: 0.00041\n", &[]);
    assert!(load_with_env(&path, None, &env_of(&[])).is_ok());
    let guard = issues_of(
        "risk:\n  assumed_sl_pct: 0.004\nexecutor:\n  sizing:\n    leverage: 100\n",
        &[],
    );
    assert_eq!(guard.len(), 1);
    assert_eq!(guard[0].path, "risk.near_liq_guard.sl_buffer_multiplier");
}

#[test]
fn every_problem_of_a_file_is_reported_together() {
    let text = "\
exchange:
  venue: ftx
  foo: 1
rollout:
  mode: canary
  canary_fraction: 0
executor:
  sizing:
    leverage: ten
  max_position_usd: ${MAXPOS}
engine:
  hot_core: 0
  cold_cores: [0]
metrics:
  listen: nowhere
rollout_guard:
  cooldown: 15 fortnights
";
    assert_eq!(
        issues_of(text, &[]),
        [
            issue(
                "executor.max_position_usd",
                "${MAXPOS} is not set and has no default (write ${MAXPOS:-default} to give one)"
            ),
            issue("exchange.venue", r#""ftx" is not one of "bybit_v5""#),
            issue("exchange.foo", "unknown key"),
            issue(
                "executor.sizing.leverage",
                r#""ten" is not of type "number""#
            ),
            issue(
                "metrics.listen",
                r#""nowhere" is not an address of the form IPv4:PORT or [IPv6]:PORT"#
            ),
            issue(
                "rollout_guard.cooldown",
                r#""15 fortnights" is not a duration such as 250ms, 90s, 15m or 1h 30m"#
            ),
            issue(
                "rollout.canary_fraction",
                "0 must be in (0, 1] when rollout.mode is canary"
            ),
            issue(
                "engine.cold_cores[0]",
                "0 is engine.hot_core; the hot core is reserved for the hot thread"
            ),
        ]
    );
}

#[test]
fn a_rule_on_a_value_already_at_fault_stays_quiet() {
    // cold_cores is wrong by itself; the hot-core rule must not also fire on its default.
    assert_eq!(
        issues_of("engine:\n  hot_core: 0\n  cold_cores: [1, 1]\n", &[]),
        [issue("engine.cold_cores", "[1,1] has non-unique elements")]
    );
}

#[test]
fn broken_symbols_are_named() {
    let (root, path) = config_dir("", &[]);
    fs::write(
        root.path().join("config/symbols.yml"),
        "symbols:\n  BTCUSDT:\n    tick_size: \"0.10\"\n    qty_step: \"0.001\"\n    min_qty: \"0.0015\"\n    max_qty: \"100\"\n    min_notional: \"5\"\n    maker_fee_rate: \"0.0002\"\n    taker_fee_rate: abc\n",
    )
    .unwrap();
    match load_with_env(&path, None, &env_of(&[])) {
        Err(ConfigError::Invalid { issues, .. }) => assert_eq!(
            issues,
            [issue(
                "symbols.BTCUSDT.taker_fee_rate",
                r#""abc" is not a decimal number"#
            )]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn profiles_resolve_by_name_or_path_and_missing_ones_are_listed() {
    let (root, path) = config_dir("", &[("fast", "engine:\n  busy_poll: false\n")]);
    let by_name = load_with_env(&path, Some("fast"), &env_of(&[])).unwrap();
    assert!(!by_name.config.engine.busy_poll);
    let profile_path = root.path().join("profiles/fast.yml");
    let by_path = load_with_env(&path, Some(profile_path.to_str().unwrap()), &env_of(&[])).unwrap();
    assert_eq!(by_path.config, by_name.config);
    match load_with_env(&path, Some("slow"), &env_of(&[])) {
        Err(err @ ConfigError::ProfileNotFound { .. }) => {
            assert!(err.to_string().ends_with("(available: fast)"), "{err}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn syntax_errors_name_the_file() {
    let (_root, path) = config_dir("exchange: [unclosed\n", &[]);
    let err = load_with_env(&path, None, &env_of(&[])).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(
        err.to_string().contains("app.yml is not valid YAML"),
        "{err}"
    );
}

#[test]
fn an_overlay_merges_deeply_and_replaces_lists() {
    let (_root, path) = config_dir(
        "engine:\n  hot_core: 1\n  cold_cores: [0]\n",
        &[("layout", "engine:\n  cold_cores: [2, 3]\n")],
    );
    let loaded = load_with_env(&path, Some("layout"), &env_of(&[])).unwrap();
    assert_eq!(loaded.config.engine.hot_core, 1);
    assert_eq!(loaded.config.engine.cold_cores, [2, 3]);
    assert_eq!(loaded.config.rollout.mode, RolloutMode::Disabled);
}
