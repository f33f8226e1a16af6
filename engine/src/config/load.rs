//! Reading the configuration: parse, overlay a profile, refuse credentials, interpolate, check
//! against the schema, build the typed structs, check cross-field rules. Every problem found on
//! the way is kept, so one run reports them all.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::interpolate::interpolate_str;
use super::schema::{join, schema_of, validate};
use super::types::{Config, HumanDuration, RolloutMode, Symbols, UnknownLiqPrice};

/// File name of the instrument reference data, looked up beside the main config file.
pub const SYMBOLS_FILE: &str = "symbols.yml";

/// Key fragments that mark a credential. Credentials come from the environment only.
const SECRET_KEY_FRAGMENTS: &[&str] = &[
    "secret",
    "password",
    "passwd",
    "passphrase",
    "token",
    "credential",
    "private_key",
    "api_key",
    "apikey",
];

/// One problem in the configuration, at a dotted key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key path (`executor.sizing.leverage`, `engine.cold_cores[1]`).
    pub path: String,
    /// What is wrong, with the value and the rule.
    pub message: String,
}

impl ConfigIssue {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigIssue {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(top level)"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not valid YAML.
    #[error("{path} is not valid YAML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The named profile does not exist.
    #[error("profile {name:?} not found at {path} (available: {})", .available.join(", "))]
    ProfileNotFound {
        /// The name given.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
        /// Profiles that do exist.
        available: Vec<String>,
    },
    /// The files parse but break rules; every broken rule is listed.
    #[error("{}", render_invalid(.source_desc, .issues))]
    Invalid {
        /// The files the configuration came from.
        source_desc: String,
        /// Every problem found.
        issues: Vec<ConfigIssue>,
    },
    /// The schema derived from the types does not compile (a bug in this crate).
    #[error("internal error: the configuration schema does not compile: {0}")]
    Schema(String),
}

fn render_invalid(source_desc: &str, issues: &[ConfigIssue]) -> String {
    let count = issues.len();
    let mut text = format!(
        "invalid configuration ({source_desc}): {count} problem{}",
        if count == 1 { "" } else { "s" }
    );
    for issue in issues {
        text.push_str(&format!("\n  - {issue}"));
    }
    text
}

/// Where a configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    /// The main file.
    pub config: PathBuf,
    /// The profile overlay, if one was selected.
    pub profile: Option<PathBuf>,
    /// The instrument reference data.
    pub symbols: PathBuf,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.config.display())?;
        if let Some(profile) = &self.profile {
            write!(f, " + {}", profile.display())?;
        }
        write!(f, ", {}", self.symbols.display())
    }
}

/// A loaded, checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The effective configuration (file, overlay, environment and defaults).
    pub config: Config,
    /// Instrument reference data.
    pub symbols: Symbols,
    /// The files it came from.
    pub source: ConfigSource,
}

/// Loads `config_path` with an optional profile, reading `${VAR}` from the process environment.
pub fn load(config_path: &Path, profile: Option<&str>) -> Result<Loaded, ConfigError> {
    load_with_env(config_path, profile, &|name| std::env::var(name).ok())
}

/// Loads `config_path` with an optional profile, reading `${VAR}` through `env`.
///
/// A profile is a name (`paper` → `profiles/paper.yml` beside the directory holding the config
/// file) or a path to a `.yml` file. `symbols.yml` is read from the config file's directory.
pub fn load_with_env(
    config_path: &Path,
    profile: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let config_dir = config_path.parent().unwrap_or(Path::new(""));
    let source = ConfigSource {
        config: config_path.to_path_buf(),
        profile: profile
            .map(|name| resolve_profile(config_dir, name))
            .transpose()?,
        symbols: config_dir.join(SYMBOLS_FILE),
    };

    let mut document = read_yaml(&source.config)?;
    if let Some(profile_path) = &source.profile {
        deep_merge(&mut document, read_yaml(profile_path)?);
    }
    let mut issues = Vec::new();
    remove_credentials(&mut document, "", &mut issues);
    interpolate_tree(&mut document, "", env, &mut issues);
    let config = check_and_build::<Config>(&document, true, &mut issues)?;

    let mut symbols_document = read_yaml(&source.symbols)?;
    remove_credentials(&mut symbols_document, "", &mut issues);
    let symbols = check_and_build::<Symbols>(&symbols_document, false, &mut issues)?.value;
    if let Some(symbols) = &symbols {
        check_instruments(symbols, &mut issues);
    }
    if let Some(typed) = &config.value {
        let sound = |key: &str| !config.repaired.iter().any(|path| paths_overlap(path, key));
        check_cross_field_rules(typed, symbols.as_ref(), &sound, &mut issues);
    }

    match (config.value, symbols) {
        (Some(config), Some(symbols)) if issues.is_empty() => Ok(Loaded {
            config,
            symbols,
            source,
        }),
        _ => Err(ConfigError::Invalid {
            source_desc: source.to_string(),
            issues,
        }),
    }
}

/// The file a profile name stands for; an error listing the available profiles when missing.
fn resolve_profile(config_dir: &Path, name: &str) -> Result<PathBuf, ConfigError> {
    if name.contains('/') || name.ends_with(".yml") || name.ends_with(".yaml") {
        return Ok(PathBuf::from(name));
    }
    let profiles_dir = match config_dir.parent() {
        Some(root) if !root.as_os_str().is_empty() => root.join("profiles"),
        _ if config_dir.as_os_str().is_empty() => PathBuf::from("../profiles"),
        _ => PathBuf::from("profiles"),
    };
    let path = profiles_dir.join(format!("{name}.yml"));
    if path.is_file() {
        return Ok(path);
    }
    let mut available: Vec<String> = fs::read_dir(&profiles_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let file_name = entry.file_name().into_string().ok()?;
                    file_name.strip_suffix(".yml").map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    available.sort();
    Err(ConfigError::ProfileNotFound {
        name: name.to_owned(),
        path,
        available,
    })
}

/// Reads a YAML file into a JSON value tree (an empty file is an empty mapping).
fn read_yaml(path: &Path) -> Result<Value, ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value: Value = serde_yaml_ng::from_str(&text).map_err(|err| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: err.to_string(),
    })?;
    Ok(if value.is_null() {
        Value::Object(Map::new())
    } else {
        value
    })
}

/// Merges `overlay` into `base`: mappings merge key by key, anything else replaces.
fn deep_merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// Removes every key that looks like a credential, with an issue for each. The value is never
/// echoed.
fn remove_credentials(value: &mut Value, path: &str, issues: &mut Vec<ConfigIssue>) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| {
                let normalized = key.to_ascii_lowercase().replace('-', "_");
                let is_secret = SECRET_KEY_FRAGMENTS
                    .iter()
                    .any(|fragment| normalized.contains(fragment));
                if is_secret {
                    issues.push(ConfigIssue::new(
                        join(path, key),
                        "looks like a credential; credentials are never read from configuration \
                         files: set them in the environment (BYBIT_API_KEY, BYBIT_API_SECRET)",
                    ));
                }
                !is_secret
            });
            for (key, child) in map.iter_mut() {
                remove_credentials(child, &join(path, key), issues);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                remove_credentials(item, &format!("{path}[{index}]"), issues);
            }
        }
        _ => {}
    }
}

/// Expands `${VAR}` expressions in every string value; see [`super::interpolate`]. A value that
/// cannot be expanded is reported and removed, so it is not reported a second time as a wrong
/// type.
fn interpolate_tree(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    issues: &mut Vec<ConfigIssue>,
) -> bool {
    match value {
        Value::String(text) => match interpolate_str(text, env) {
            Ok(Some(expanded)) => *value = scalar_from_text(expanded),
            Ok(None) => {}
            Err(err) => {
                issues.push(ConfigIssue::new(path, err.to_string()));
                return false;
            }
        },
        Value::Object(map) => {
            map.retain(|key, child| interpolate_tree(child, &join(path, key), env, issues));
        }
        Value::Array(items) => {
            let mut index = 0;
            items.retain_mut(|item| {
                let keep = interpolate_tree(item, &format!("{path}[{index}]"), env, issues);
                index += 1;
                keep
            });
        }
        _ => {}
    }
    true
}

/// Reads interpolated text as a YAML scalar: a boolean or a number when it is one, otherwise
/// the text itself (never a mapping or a list, whatever the text holds).
fn scalar_from_text(text: String) -> Value {
    match serde_yaml_ng::from_str::<Value>(&text) {
        Ok(scalar @ (Value::Bool(_) | Value::Number(_))) => scalar,
        _ => Value::String(text),
    }
}

/// What [`check_and_build`] made of a document.
struct Built<T> {
    /// The typed value, when one could be built.
    value: Option<T>,
    /// Dotted paths of the entries that were removed (and so took their defaults) to build it.
    repaired: Vec<String>,
}

/// Checks `document` against the schema of `T` and builds a `T`.
///
/// With `repair`, a document with schema violations is still built after removing the entries at
/// fault, so that they take their defaults and the rules that need a typed value can run and
/// report their own problems in the same pass; the removed paths are returned so that those
/// rules can stay quiet about values that were not the user's.
fn check_and_build<T: DeserializeOwned + schemars::JsonSchema>(
    document: &Value,
    repair: bool,
    issues: &mut Vec<ConfigIssue>,
) -> Result<Built<T>, ConfigError> {
    let violations = validate(&schema_of::<T>(), document).map_err(ConfigError::Schema)?;
    let mut repaired = Vec::new();
    let mut candidate = document.clone();
    for violation in violations {
        repaired.push(violation.issue.path.clone());
        issues.push(violation.issue);
        if !repair || !remove_pointer(&mut candidate, &violation.culprit) {
            return Ok(Built {
                value: None,
                repaired,
            });
        }
    }
    // The schema cannot express everything, so this can still fail; the path says where.
    match serde_path_to_error::deserialize::<_, T>(&candidate) {
        Ok(built) => Ok(Built {
            value: Some(built),
            repaired,
        }),
        Err(err) => {
            let path = err.path().to_string();
            let path = if path == "." { String::new() } else { path };
            issues.push(ConfigIssue::new(path.clone(), err.into_inner().to_string()));
            repaired.push(path);
            Ok(Built {
                value: None,
                repaired,
            })
        }
    }
}

/// Removes the mapping entry at a JSON pointer; false when there is none (or it is the root).
fn remove_pointer(document: &mut Value, pointer: &str) -> bool {
    let Some((parent, key)) = pointer.rsplit_once('/') else {
        return false;
    };
    let key = key.replace("~1", "/").replace("~0", "~");
    match document.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&key);
            true
        }
        _ => false,
    }
}

/// True when two dotted paths name the same entry or one holds the other.
fn paths_overlap(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.strip_prefix(short)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// Internal consistency of every instrument.
fn check_instruments(symbols: &Symbols, issues: &mut Vec<ConfigIssue>) {
    for (symbol, instrument) in &symbols.symbols {
        for problem in instrument.check() {
            issues.push(ConfigIssue::new(
                format!("symbols.{symbol}"),
                problem.to_string(),
            ));
        }
    }
}

/// Rules that tie several keys (or both files) together. `sound(key)` is false for keys whose
/// value was at fault already; a rule reading such a key stays quiet.
fn check_cross_field_rules(
    config: &Config,
    symbols: Option<&Symbols>,
    sound: &dyn Fn(&str) -> bool,
    issues: &mut Vec<ConfigIssue>,
) {
    let all_sound = |keys: &[&str]| keys.iter().all(|key| sound(key));

    let rollout = &config.rollout;
    if all_sound(&["rollout.mode", "rollout.canary_fraction"])
        && rollout.mode == RolloutMode::Canary
        && !(rollout.canary_fraction > 0.0 && rollout.canary_fraction <= 1.0)
    {
        issues.push(ConfigIssue::new(
            "rollout.canary_fraction",
            format!(
                "{} must be in (0, 1] when rollout.mode is canary",
                rollout.canary_fraction
            ),
        ));
    }

    let layout = &config.engine;
    if all_sound(&["engine.hot_core", "engine.cold_cores"])
        && let Some(index) = layout
            .cold_cores
            .iter()
            .position(|&core| core == layout.hot_core)
    {
        issues.push(ConfigIssue::new(
            format!("engine.cold_cores[{index}]"),
            format!(
                "{} is engine.hot_core; the hot core is reserved for the hot thread",
                layout.hot_core
            ),
        ));
    }

    let shadow = &config.ai_scorer.shadow;
    if all_sound(&["ai_scorer.shadow.tau_hold", "ai_scorer.shadow.tau_entry"])
        && shadow.tau_hold > shadow.tau_entry
    {
        issues.push(ConfigIssue::new(
            "ai_scorer.shadow.tau_hold",
            format!(
                "{} is above ai_scorer.shadow.tau_entry {}",
                shadow.tau_hold, shadow.tau_entry
            ),
        ));
    }

    let (labeling, training) = (&config.labeling, &config.training);
    // Labels trade each candidate as the order manager does (`toolkit label`).
    for (label_key, horizon, trader_key, trader) in [
        (
            "labeling.fill_horizon",
            &labeling.fill_horizon,
            "strategy.entry_ttl",
            &config.strategy.entry_ttl,
        ),
        (
            "labeling.hold_horizon",
            &labeling.hold_horizon,
            "strategy.max_hold",
            &config.strategy.max_hold,
        ),
    ] {
        if all_sound(&[label_key, trader_key]) && horizon.get() != trader.get() {
            issues.push(ConfigIssue::new(
                label_key,
                format!(
                    "{horizon} differs from {trader_key} {trader}: labels trade each candidate \
                     as the order manager does, so the two must be equal"
                ),
            ));
        }
    }
    let horizon = config.canary.gates.markout_horizon;
    if sound("canary.gates.markout_horizon")
        && !feed::markout::MARKOUT_HORIZONS_NS.contains(&(horizon.get().as_nanos() as u64))
    {
        issues.push(ConfigIssue::new(
            "canary.gates.markout_horizon",
            format!("{horizon} is not a markout horizon: 1s, 5s or 30s"),
        ));
    }
    if sound("canary.gates.block_length") && config.canary.gates.block_length.get().is_zero() {
        issues.push(ConfigIssue::new(
            "canary.gates.block_length",
            "must be longer than 0: it is the block of market time the intervals resample",
        ));
    }
    let held_out =
        training.validation_fraction + training.threshold_fraction + training.report_fraction;
    if all_sound(&[
        "training.validation_fraction",
        "training.threshold_fraction",
        "training.report_fraction",
    ]) && held_out > 0.8
    {
        issues.push(ConfigIssue::new(
            "training.report_fraction",
            format!(
                "validation, threshold and report fractions hold out {held_out} of each day: \
                 at most 0.8, or too little is left to train on"
            ),
        ));
    }
    let label_reach = labeling.fill_horizon.get() + labeling.hold_horizon.get();
    if all_sound(&[
        "training.embargo",
        "labeling.fill_horizon",
        "labeling.hold_horizon",
    ]) && training.embargo.get() < label_reach
    {
        issues.push(ConfigIssue::new(
            "training.embargo",
            format!(
                "{} is shorter than labeling.fill_horizon + labeling.hold_horizon = {}: labels \
                 of rows whose entry never filled would reach into the next fold",
                training.embargo,
                HumanDuration::from(label_reach)
            ),
        ));
    }

    if let Some(symbols) = symbols
        && sound("exchange.symbols")
    {
        for (index, symbol) in config.exchange.symbols.iter().enumerate() {
            let Some(instrument) = symbols.symbols.get(symbol) else {
                issues.push(ConfigIssue::new(
                    format!("exchange.symbols[{index}]"),
                    format!("{symbol:?} has no entry in {SYMBOLS_FILE}"),
                ));
                continue;
            };
            // A take-profit is entered and exited as a maker: it must earn more than both fees,
            // or no trade ever breaks even.
            let fee = instrument.maker_fee_rate.to_f64();
            if sound("labeling.take_profit_pct") && labeling.take_profit_pct <= 2.0 * fee {
                issues.push(ConfigIssue::new(
                    "labeling.take_profit_pct",
                    format!(
                        "{} cannot break even after fees: a round trip of {symbol} pays the maker \
                         fee {fee} twice, {}, so even a take-profit loses money",
                        labeling.take_profit_pct,
                        2.0 * fee
                    ),
                ));
            }
        }
    }

    for (environment, endpoints) in [
        ("mainnet", &config.exchange.endpoints.mainnet),
        ("testnet", &config.exchange.endpoints.testnet),
    ] {
        for (name, url, websocket) in [
            ("rest", &endpoints.rest, false),
            ("ws_public", &endpoints.ws_public, true),
            ("ws_private", &endpoints.ws_private, true),
            ("ws_trade", &endpoints.ws_trade, true),
        ] {
            let key = format!("exchange.endpoints.{environment}.{name}");
            if !sound(&key) {
                continue;
            }
            match feed::net::Endpoint::parse(url) {
                Ok(endpoint) if endpoint.scheme.is_websocket() != websocket => {
                    let expected = if websocket {
                        "ws:// or wss://"
                    } else {
                        "http:// or https://"
                    };
                    issues.push(ConfigIssue::new(
                        key,
                        format!("{url:?}: expected a {expected} URL"),
                    ));
                }
                Ok(_) => {}
                Err(err) => issues.push(ConfigIssue::new(key, err.to_string())),
            }
        }
    }
    let connection = &config.exchange.connection;
    if sound("exchange.connection")
        && connection.reconnect_initial.get() > connection.reconnect_max.get()
    {
        issues.push(ConfigIssue::new(
            "exchange.connection.reconnect_initial",
            format!(
                "{} is longer than exchange.connection.reconnect_max {}",
                connection.reconnect_initial, connection.reconnect_max
            ),
        ));
    }
    if sound("exchange.connection") && connection.pong_timeout.get() >= connection.stale_after.get()
    {
        issues.push(ConfigIssue::new(
            "exchange.connection.pong_timeout",
            format!(
                "{} is not shorter than exchange.connection.stale_after {}",
                connection.pong_timeout, connection.stale_after
            ),
        ));
    }

    if let Some(window) = &config.exchange.dcp_window
        && sound("exchange.dcp_window")
        && !(3..=300).contains(&window.get().as_secs())
    {
        issues.push(ConfigIssue::new(
            "exchange.dcp_window",
            format!("{window} is outside Bybit's 3 s to 300 s"),
        ));
    }

    let every = config.exchange.reconcile_every;
    if sound("exchange.reconcile_every") && !(5..=3600).contains(&every.get().as_secs()) {
        issues.push(ConfigIssue::new(
            "exchange.reconcile_every",
            format!("{every} is outside 5 s to 1 h"),
        ));
    }

    let guard = &config.risk.near_liq_guard;
    let guard_keys = [
        "risk.near_liq_guard",
        "risk.assumed_sl_pct",
        "executor.sizing.leverage",
    ];
    if all_sound(&guard_keys)
        && guard.enabled
        && guard.unknown_liq_price == UnknownLiqPrice::Estimate
    {
        let stop_buffer = guard.sl_buffer_multiplier * config.risk.assumed_sl_pct;
        let estimated_distance =
            1.0 / config.executor.sizing.leverage - guard.maintenance_margin_rate;
        if stop_buffer >= estimated_distance {
            issues.push(ConfigIssue::new(
                "risk.near_liq_guard.sl_buffer_multiplier",
                format!(
                    "{} x risk.assumed_sl_pct {} = {stop_buffer} reaches the estimated \
                     liquidation distance 1/leverage - maintenance_margin_rate = \
                     {estimated_distance}: every entry without a known liquidation price would \
                     be blocked",
                    guard.sl_buffer_multiplier, config.risk.assumed_sl_pct
                ),
            ));
        }
    }
}
