//! The typed configuration. Field docs are the reference for every key; they also become the
//! descriptions of the JSON Schema printed by `toolkit validate-config --schema`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use feed::Instrument;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Exchange symbols: upper-case letters and digits.
pub(crate) const SYMBOL_PATTERN: &str = r"^[A-Z0-9]{2,30}$";
/// REST endpoints.
pub(crate) const HTTP_URL_PATTERN: &str = r"^https?://[^\s]+$";
/// WebSocket endpoints.
pub(crate) const WS_URL_PATTERN: &str = r"^wss?://[^\s]+$";
/// `IPv4:PORT` or `[IPv6]:PORT`, what `SocketAddr` parses.
pub(crate) const SOCKET_ADDR_PATTERN: &str =
    r"^([0-9]{1,3}(\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$";

/// The whole of `config/app.yml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Venue, trading mode, order flags, endpoints and symbols.
    pub exchange: Exchange,
    /// How signals are routed between the active model and a canary.
    pub rollout: Rollout,
    /// When a canary is rolled back.
    pub rollout_guard: RolloutGuard,
    /// Halts and the near-liquidation guard.
    pub risk: Risk,
    /// Order sizing and the gates an entry must pass.
    pub executor: Executor,
    /// The rule that proposes candidate entries to be scored.
    pub signals: Signals,
    /// How candidates are labeled for training: horizons and targets.
    pub labeling: Labeling,
    /// How models are trained and their thresholds chosen.
    pub training: Training,
    /// `toolkit canary` and the release gates: held-out days replayed through the engine.
    pub canary: Canary,
    /// Scoring backend and shadow scoring.
    pub ai_scorer: AiScorer,
    /// How decisions become orders and how positions are exited.
    pub strategy: Strategy,
    /// The paper venue: simulated fills, latency and starting balance.
    pub paper: Paper,
    /// Threads, CPU layout, rings and latency budgets of the runtime.
    pub engine: EngineLayout,
    /// The Prometheus endpoint.
    pub metrics: Metrics,
    /// Where data, journals and models live (relative paths are taken from the working
    /// directory).
    pub paths: Paths,
}

// ---------------------------------------------------------------------------------------------
// exchange

/// `exchange`: the venue and how the engine trades on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Exchange {
    /// `paper` (simulated fills, the default) or `real` (orders reach the venue; needs
    /// credentials from the environment).
    pub mode: Mode,
    /// The venue protocol.
    pub venue: Venue,
    /// Only maker orders are ever placed. Must be true.
    #[schemars(extend("const" = true))]
    pub maker_only: bool,
    /// Exits are always sent reduce-only. Must be true.
    #[schemars(extend("const" = true))]
    pub reduce_only: bool,
    /// Every order is a PostOnly limit order. Must be true.
    #[schemars(extend("const" = true))]
    pub post_only: bool,
    /// Use the testnet endpoints instead of mainnet.
    pub testnet: bool,
    /// Symbols traded and recorded; each must be described in `config/symbols.yml`.
    #[schemars(length(min = 1), extend("uniqueItems" = true), inner(regex(pattern = SYMBOL_PATTERN)))]
    pub symbols: Vec<String>,
    /// Receive window for signed requests, in milliseconds (Bybit's `X-BAPI-RECV-WINDOW`).
    #[schemars(range(min = 100, max = 60_000))]
    pub recv_window_ms: u32,
    /// Endpoint URLs of mainnet and testnet. `ws://` and `http://` are accepted for loopback
    /// hosts only (the loopback venue, `toolkit venue`).
    pub endpoints: Environments,
    /// A PEM file of certificates trusted besides the public web roots (the loopback venue's
    /// certificate, written by `toolkit venue --tls`); verification is never turned off.
    pub tls_ca_file: Option<PathBuf>,
    /// Liveness and reconnection of the WebSocket connections.
    pub connection: Connection,
    /// Per-UID requests per second, by endpoint group, shared by REST and the trade stream.
    pub rate_limits: RateLimits,
    /// Disconnect-cancel-all (DCP): when set (3 s to 300 s), real mode asks Bybit to cancel
    /// every derivatives order once the private stream has been down this long, and, once
    /// granted, subscribes the `dcp.future` topic that arms it (in a request of its own). Bybit
    /// grants it to some account types only; a refusal is reported, not fatal.
    pub dcp_window: Option<HumanDuration>,
    /// Open orders on the account that the engine did not place (at start, or found by
    /// reconciliation): cancelled when false; when true, adopted: left working, their fills
    /// counted in the position the engine manages, cancelled at shutdown.
    pub adopt_unknown_orders: bool,
    /// Real mode reconciles with REST this often even when nothing put the state in doubt, to
    /// catch what no push announced (5 s to 1 h; entries do not wait for it).
    pub reconcile_every: HumanDuration,
}

impl Default for Exchange {
    fn default() -> Self {
        Exchange {
            mode: Mode::Paper,
            venue: Venue::BybitV5,
            maker_only: true,
            reduce_only: true,
            post_only: true,
            testnet: false,
            symbols: vec!["BTCUSDT".to_owned()],
            recv_window_ms: 5000,
            endpoints: Environments::default(),
            tls_ca_file: None,
            connection: Connection::default(),
            rate_limits: RateLimits::default(),
            dcp_window: None,
            adopt_unknown_orders: false,
            reconcile_every: HumanDuration::from_secs(30),
        }
    }
}

impl Exchange {
    /// The endpoints selected by `testnet`.
    pub fn active_endpoints(&self) -> &Endpoints {
        if self.testnet {
            &self.endpoints.testnet
        } else {
            &self.endpoints.mainnet
        }
    }
}

/// `exchange.connection`: when a WebSocket connection counts as dead, and how it is remade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Connection {
    /// `{"op":"ping"}` is sent this often (Bybit recommends 20 s).
    pub ping_interval: HumanDuration,
    /// A ping not answered within this means the connection is dead.
    pub pong_timeout: HumanDuration,
    /// No message at all for this long means the connection is dead.
    pub stale_after: HumanDuration,
    /// Longest a connection attempt (resolve, TCP, TLS, upgrade) may take, per step.
    pub connect_timeout: HumanDuration,
    /// First delay before reconnecting.
    pub reconnect_initial: HumanDuration,
    /// Longest delay before reconnecting; a connection that stays up this long resets the
    /// back-off.
    pub reconnect_max: HumanDuration,
    /// Each failed attempt multiplies the delay by this.
    #[schemars(range(min = 1.0, max = 10.0))]
    pub reconnect_multiplier: f64,
    /// Each delay is spread at random by up to this fraction either way.
    #[schemars(range(min = 0.0, max = 0.9))]
    pub reconnect_jitter: f64,
}

impl Connection {
    /// When a connection counts as dead, for the live links.
    pub fn liveness(&self) -> feed::bybit::live::Liveness {
        feed::bybit::live::Liveness {
            ping_interval: self.ping_interval.get(),
            pong_timeout: self.pong_timeout.get(),
            stale_after: self.stale_after.get(),
        }
    }

    /// The back-off between connection attempts, for the live links.
    pub fn backoff(&self) -> feed::bybit::live::Backoff {
        feed::bybit::live::Backoff {
            initial: self.reconnect_initial.get(),
            max: self.reconnect_max.get(),
            multiplier: self.reconnect_multiplier,
            jitter: self.reconnect_jitter,
        }
    }
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            ping_interval: HumanDuration::from_secs(20),
            pong_timeout: HumanDuration::from_secs(10),
            stale_after: HumanDuration::from_secs(30),
            connect_timeout: HumanDuration::from_secs(10),
            reconnect_initial: HumanDuration::from(Duration::from_millis(500)),
            reconnect_max: HumanDuration::from_secs(30),
            reconnect_multiplier: 2.0,
            reconnect_jitter: 0.25,
        }
    }
}

/// `exchange.rate_limits`: requests per second per endpoint group, Bybit's per-UID limits for
/// linear (the defaults are its published ones; VIP and pro tiers may be higher). REST and the
/// trade stream draw on the same buckets. 0 means no limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// `order/create`.
    #[schemars(range(max = 1000))]
    pub create: u32,
    /// `order/amend`.
    #[schemars(range(max = 1000))]
    pub amend: u32,
    /// `order/cancel`.
    #[schemars(range(max = 1000))]
    pub cancel: u32,
    /// `order/cancel-all`.
    #[schemars(range(max = 1000))]
    pub cancel_all: u32,
    /// The queries of reconciliation: open orders, positions, executions, wallet balance.
    #[schemars(range(max = 1000))]
    pub query: u32,
    /// `account/fee-rate`.
    #[schemars(range(max = 1000))]
    pub fee_rate: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        let [create, amend, cancel, cancel_all, query, fee_rate] =
            feed::bybit::limits::Rates::BYBIT_LINEAR.per_second;
        RateLimits {
            create,
            amend,
            cancel,
            cancel_all,
            query,
            fee_rate,
        }
    }
}

impl RateLimits {
    /// The rates, in the order of [`feed::bybit::limits::Endpoint::ALL`].
    pub const fn rates(&self) -> feed::bybit::limits::Rates {
        feed::bybit::limits::Rates {
            per_second: [
                self.create,
                self.amend,
                self.cancel,
                self.cancel_all,
                self.query,
                self.fee_rate,
            ],
        }
    }
}

/// Trading mode.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Simulated fills against the live, replayed or simulated market.
    Paper,
    /// Real orders on the venue.
    Real,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Paper => "paper",
            Mode::Real => "real",
        })
    }
}

/// Venue protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Venue {
    /// Bybit v5 linear perpetuals.
    BybitV5,
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Venue::BybitV5 => "bybit_v5",
        })
    }
}

/// `exchange.endpoints`: the endpoints of both environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Environments {
    /// Used when `exchange.testnet` is false.
    pub mainnet: Endpoints,
    /// Used when `exchange.testnet` is true.
    pub testnet: Endpoints,
}

impl Default for Environments {
    fn default() -> Self {
        Environments {
            mainnet: Endpoints::mainnet(),
            testnet: Endpoints::testnet(),
        }
    }
}

/// The four Bybit v5 endpoints of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// REST base URL.
    #[schemars(regex(pattern = HTTP_URL_PATTERN))]
    pub rest: String,
    /// Public market-data WebSocket for linear contracts.
    #[schemars(regex(pattern = WS_URL_PATTERN))]
    pub ws_public: String,
    /// Private WebSocket (orders, executions, positions, wallet).
    #[schemars(regex(pattern = WS_URL_PATTERN))]
    pub ws_private: String,
    /// Trade WebSocket (order entry).
    #[schemars(regex(pattern = WS_URL_PATTERN))]
    pub ws_trade: String,
}

impl Endpoints {
    /// Bybit's mainnet endpoints.
    pub fn mainnet() -> Self {
        Endpoints {
            rest: "https://api.bybit.com".to_owned(),
            ws_public: "wss://stream.bybit.com/v5/public/linear".to_owned(),
            ws_private: "wss://stream.bybit.com/v5/private".to_owned(),
            ws_trade: "wss://stream.bybit.com/v5/trade".to_owned(),
        }
    }

    /// Bybit's testnet endpoints.
    pub fn testnet() -> Self {
        Endpoints {
            rest: "https://api-testnet.bybit.com".to_owned(),
            ws_public: "wss://stream-testnet.bybit.com/v5/public/linear".to_owned(),
            ws_private: "wss://stream-testnet.bybit.com/v5/private".to_owned(),
            ws_trade: "wss://stream-testnet.bybit.com/v5/trade".to_owned(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// rollout

/// `rollout`: which model decides each signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Rollout {
    /// `disabled` (the active model decides everything), `canary` (a fraction of signals goes to
    /// the canary model) or `full` (the canary decides everything).
    pub mode: RolloutMode,
    /// Fraction of signals routed to the canary when `mode` is `canary`; in (0, 1].
    #[schemars(range(min = 0.0, max = 1.0))]
    pub canary_fraction: f64,
    /// Seed of the deterministic signal-id hash that routes signals.
    pub rng_seed: u64,
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            mode: RolloutMode::Disabled,
            canary_fraction: 0.10,
            rng_seed: 1337,
        }
    }
}

/// Rollout mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RolloutMode {
    /// Only the active model.
    Disabled,
    /// A fraction of signals to the canary.
    Canary,
    /// Every signal to the canary.
    Full,
}

impl RolloutMode {
    /// The mode as the configuration spells it.
    pub const fn label(self) -> &'static str {
        match self {
            RolloutMode::Disabled => "disabled",
            RolloutMode::Canary => "canary",
            RolloutMode::Full => "full",
        }
    }
}

/// `rollout_guard`: when a canary is rolled back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RolloutGuard {
    /// Roll back when the canary's winrate is below the baseline's by more than this.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub winrate_delta: f64,
    /// Closed canary trades needed before the winrate comparison counts.
    #[schemars(range(min = 1))]
    pub min_samples: u32,
    /// Roll back when the population stability index of a feature or the score exceeds this.
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub psi_max: f64,
    /// Roll back when the Kolmogorov-Smirnov statistic of a feature or the score exceeds this.
    #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 1.0))]
    pub ks_max: f64,
    /// Scored candidates of the active model per drift window (PSI and KS are computed at the
    /// end of each full window).
    #[schemars(range(min = 10))]
    pub drift_window: u32,
    /// Breaching drift windows in a row that roll the active model back.
    #[schemars(range(min = 1))]
    pub drift_windows: u32,
    /// Whether drift rolls the active model back; with `false` it is only measured and
    /// exported (a parity failure still rolls back).
    pub drift_rollback: bool,
    /// After a canary rollback, no new canary starts for this long (`15m`, `900s`, `1h`). A
    /// rollback of the active model (drift, parity, performance) holds until an operator
    /// clears it.
    pub cooldown: HumanDuration,
    /// Whether the realized-performance guard rolls the active model back: a CUSUM on its
    /// closed trades' net PnL against its release's canary figures (`performance.json`);
    /// with `false` it is only measured and exported.
    pub performance_rollback: bool,
    /// The fall of net PnL per trade, USD, the guard looks for (the canary's figure minus
    /// this is "the edge has gone").
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub performance_drop_usd: f64,
    /// The fall of an entry fill's markout at `canary.gates.markout_horizon`, bps, the
    /// guard's second CUSUM looks for, against the canary's entry markouts.
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub performance_markout_drop_bps: f64,
    /// Closed trades (entry fills, for the markout CUSUM) between false alarms, on average,
    /// of a model still earning its canary figures: each CUSUM's limit is set for it.
    #[schemars(range(min = 10))]
    pub performance_false_alarm_trades: u32,
}

impl Default for RolloutGuard {
    fn default() -> Self {
        RolloutGuard {
            winrate_delta: 0.05,
            min_samples: 50,
            psi_max: 0.2,
            ks_max: 0.1,
            drift_window: 500,
            drift_windows: 3,
            drift_rollback: true,
            cooldown: HumanDuration::from_secs(15 * 60),
            performance_rollback: true,
            performance_drop_usd: 5.0,
            performance_markout_drop_bps: 8.0,
            performance_false_alarm_trades: 20_000,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// risk

/// `risk`: halts and the near-liquidation guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Risk {
    /// The precision halt: stop entering when the live winrate falls below a floor.
    pub precision: PrecisionHalt,
    /// Blocks entries whose stop would sit too close to the liquidation price.
    pub near_liq_guard: NearLiqGuard,
    /// Stop-loss distance assumed for every entry, as a fraction of the entry price.
    #[schemars(extend("exclusiveMinimum" = 0.0, "exclusiveMaximum" = 0.5))]
    pub assumed_sl_pct: f64,
    /// The volatility halt: stop entering while the market moves too fast.
    pub volatility_halt: VolatilityHalt,
}

impl Default for Risk {
    fn default() -> Self {
        Risk {
            precision: PrecisionHalt::default(),
            near_liq_guard: NearLiqGuard::default(),
            assumed_sl_pct: 0.003,
            volatility_halt: VolatilityHalt::default(),
        }
    }
}

/// `risk.precision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PrecisionHalt {
    /// Number of most recent closed trades the rolling winrate is computed over, per route.
    #[schemars(range(min = 1, max = 100_000))]
    pub window: u32,
    /// Halt entries when the rolling winrate over a full window is below this.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub floor: f64,
    /// A precision halt lifts after this long, with the route's window started afresh.
    pub resume_after: HumanDuration,
}

impl Default for PrecisionHalt {
    fn default() -> Self {
        PrecisionHalt {
            window: 200,
            floor: 0.45,
            resume_after: HumanDuration::from_secs(15 * 60),
        }
    }
}

/// `risk.near_liq_guard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NearLiqGuard {
    /// Whether the guard runs.
    pub enabled: bool,
    /// A long is blocked when (entry - liq) / entry < sl_buffer_multiplier * assumed_sl_pct;
    /// a short when (liq - entry) / entry is below the same.
    #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 100.0))]
    pub sl_buffer_multiplier: f64,
    /// What to do when the venue reports no liquidation price (Bybit sends "" when it lies
    /// outside the instrument's price band, and there is none before a position exists).
    pub unknown_liq_price: UnknownLiqPrice,
    /// Maintenance margin rate used by the `estimate` rule.
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
    pub maintenance_margin_rate: f64,
}

impl Default for NearLiqGuard {
    fn default() -> Self {
        NearLiqGuard {
            enabled: true,
            sl_buffer_multiplier: 1.5,
            unknown_liq_price: UnknownLiqPrice::Estimate,
            maintenance_margin_rate: 0.005,
        }
    }
}

/// How the near-liquidation guard treats an unknown liquidation price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownLiqPrice {
    /// Assume the isolated-margin liquidation price at the configured leverage:
    /// entry * (1 - 1/leverage + maintenance_margin_rate) for a long, mirrored for a short.
    /// Cross margin only ever liquidates further away, so this is the conservative estimate.
    Estimate,
    /// Block the entry.
    Block,
}

/// `risk.volatility_halt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VolatilityHalt {
    /// Whether the halt runs.
    pub enabled: bool,
    /// Window of the realized volatility of the mid price.
    pub window: HumanDuration,
    /// Halt entries when the realized volatility over `window` exceeds this many basis points.
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub max_realized_vol_bps: f64,
    /// Resume only after the volatility has stayed below the limit for this long.
    pub resume_after: HumanDuration,
}

impl Default for VolatilityHalt {
    fn default() -> Self {
        VolatilityHalt {
            enabled: true,
            window: HumanDuration::from_secs(60),
            max_realized_vol_bps: 40.0,
            resume_after: HumanDuration::from_secs(5 * 60),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// executor

/// `executor`: sizing, gates and position limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Executor {
    /// How much each entry buys or sells.
    pub sizing: Sizing,
    /// Checks an entry must pass after scoring.
    pub gates: Gates,
    /// Largest absolute position value, in USD, that an entry may lead to.
    #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 10_000_000.0))]
    pub max_position_usd: f64,
}

impl Default for Executor {
    fn default() -> Self {
        Executor {
            sizing: Sizing::default(),
            gates: Gates::default(),
            max_position_usd: 20_000.0,
        }
    }
}

/// `executor.sizing`: `qty = floor(min(cap, balance * leverage) / price / qty_step) * qty_step`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Sizing {
    /// Leverage applied to the free balance.
    #[schemars(range(min = 1.0, max = 100.0))]
    pub leverage: f64,
    /// Largest notional value of one order, in USD.
    #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 10_000_000.0))]
    pub notional_cap_usd: f64,
    /// true: the whole free balance backs an order; false: only the part above
    /// `min_free_balance_usd` does.
    pub use_all_in: bool,
    /// No entry while the free balance is below this many USD.
    #[schemars(range(min = 0.0, max = 10_000_000.0))]
    pub min_free_balance_usd: f64,
    /// Rounding of the quantity to the instrument's qty_step. `floor` is the only rule that
    /// never exceeds the budget.
    pub lot_size_rounding: LotSizeRounding,
}

impl Default for Sizing {
    fn default() -> Self {
        Sizing {
            leverage: 10.0,
            notional_cap_usd: 20_000.0,
            use_all_in: true,
            min_free_balance_usd: 200.0,
            lot_size_rounding: LotSizeRounding::Floor,
        }
    }
}

/// Lot rounding rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LotSizeRounding {
    /// Round down to a whole number of lots.
    Floor,
}

/// `executor.gates`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Gates {
    /// Requires resting liquidity on the side the order joins.
    pub liquidity_by_side: LiquidityBySide,
}

/// `executor.gates.liquidity_by_side`: the resting size on the first `levels` levels of the side
/// the order joins (bids for a buy, asks for a sell) must be at least `alpha` times the order's
/// quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LiquidityBySide {
    /// Whether the gate runs.
    pub enabled: bool,
    /// Required multiple of the order quantity.
    #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 1000.0))]
    pub alpha: f64,
    /// Number of book levels summed, from the touch.
    #[schemars(range(min = 1, max = 1000))]
    pub levels: u16,
}

impl Default for LiquidityBySide {
    fn default() -> Self {
        LiquidityBySide {
            enabled: true,
            alpha: 1.5,
            levels: 3,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// signals

/// `signals`: the candidate trigger. A long candidate is proposed when the book imbalance over
/// `imbalance_levels` crosses up through `imbalance_threshold` while the 1 s order-flow
/// imbalance is positive; a short one mirrored; at most one per side per `cooldown`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Signals {
    /// Levels of the imbalance the trigger reads: 1, 3, 5 or 10.
    #[schemars(extend("enum" = [1, 3, 5, 10]))]
    pub imbalance_levels: u8,
    /// Imbalance the trigger crosses, in (0, 1).
    #[schemars(extend("exclusiveMinimum" = 0.0, "exclusiveMaximum" = 1.0))]
    pub imbalance_threshold: f64,
    /// Least time between two candidates on the same side.
    pub cooldown: HumanDuration,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            imbalance_levels: 3,
            imbalance_threshold: 0.3,
            cooldown: HumanDuration::from_secs(2),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// labeling

/// `labeling`: what a good candidate is. `toolkit label` trades each candidate as the engine
/// would (the paper venue and the order manager): a post-only entry at the touch on its side,
/// then a take-profit at `take_profit_pct`, a stop at `risk.assumed_sl_pct` and an exit after
/// the max hold. Label 1 when the take-profit closes the position, net of maker fees on both
/// legs. A label can reach further ahead than the two horizons (reprices, the exit's chase and
/// latency come on top), which `training.embargo` must cover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Labeling {
    /// How long an entry works before it is cancelled; must equal `strategy.entry_ttl`.
    pub fill_horizon: HumanDuration,
    /// How long a position is held before it is exited at the touch; must equal
    /// `strategy.max_hold`.
    pub hold_horizon: HumanDuration,
    /// Take-profit distance from the entry price, a fraction of it (gross of fees).
    #[schemars(extend("exclusiveMinimum" = 0.0, "maximum" = 0.1))]
    pub take_profit_pct: f64,
}

impl Default for Labeling {
    fn default() -> Self {
        Labeling {
            fill_horizon: HumanDuration::from_secs(5),
            hold_horizon: HumanDuration::from_secs(60),
            take_profit_pct: 0.001,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// training

/// `training`: the LightGBM run and the threshold rules of `toolkit train`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Training {
    /// Share of each day held out for early stopping: the block after training, before the
    /// threshold and report blocks (walk-forward by time).
    #[schemars(extend("exclusiveMinimum" = 0.0, "exclusiveMaximum" = 1.0))]
    pub validation_fraction: f64,
    /// Share of each day, after the early-stopping block, on which tau_entry is chosen.
    #[schemars(extend("exclusiveMinimum" = 0.0, "exclusiveMaximum" = 1.0))]
    pub threshold_fraction: f64,
    /// Share of each day, at its end, that chose nothing: the model's reported figures and the
    /// release check's expectancy come from it.
    #[schemars(extend("exclusiveMinimum" = 0.0, "exclusiveMaximum" = 1.0))]
    pub report_fraction: f64,
    /// How far ahead a label whose entry never filled may reach; at least
    /// `labeling.fill_horizon + labeling.hold_horizon`. A row whose label reaches the next
    /// fold's start (its own fill and exit times when it filled, this when not) is dropped, so
    /// no label reaches across the split.
    pub embargo: HumanDuration,
    /// Boosting rounds at most.
    #[schemars(range(min = 1, max = 100_000))]
    pub num_iterations: u32,
    /// Shrinkage of each tree.
    #[schemars(extend("exclusiveMinimum" = 0.0, "maximum" = 1.0))]
    pub learning_rate: f64,
    /// Leaves per tree.
    #[schemars(range(min = 2, max = 4096))]
    pub num_leaves: u32,
    /// Rows per leaf at least.
    #[schemars(range(min = 1))]
    pub min_data_in_leaf: u32,
    /// Share of features each tree sees.
    #[schemars(extend("exclusiveMinimum" = 0.0, "maximum" = 1.0))]
    pub feature_fraction: f64,
    /// Stop when the validation log-loss has not improved for this many rounds.
    #[schemars(range(min = 1))]
    pub early_stopping_rounds: u32,
    /// Seed of every random choice LightGBM makes.
    pub seed: u64,
    /// A threshold must take at least this many threshold-fold candidates (approved while the
    /// engine, one position at a time, is free): tau_entry is the one whose taken candidates'
    /// summed net return after fees has the highest lower 95 % bound; tau_hold is 0 (positions
    /// are held as the labels held them).
    #[schemars(range(min = 1))]
    pub min_approved: u32,
}

impl Default for Training {
    fn default() -> Self {
        Training {
            validation_fraction: 0.15,
            threshold_fraction: 0.15,
            report_fraction: 0.15,
            embargo: HumanDuration::from_secs(120),
            num_iterations: 400,
            learning_rate: 0.05,
            num_leaves: 31,
            min_data_in_leaf: 50,
            feature_fraction: 0.9,
            early_stopping_rounds: 40,
            seed: 42,
            min_approved: 50,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// canary

/// `canary`: how a candidate model is judged on days it was not trained on, beside the
/// baselines replayed on the same days: every candidate entered, random approvals at the
/// model's rate, and a momentum rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Canary {
    /// What the candidate must achieve over all the held-out days together.
    pub gates: CanaryGates,
    /// Seeds of the random baseline: each replays every held-out day once.
    #[schemars(range(min = 1, max = 100))]
    pub random_baselines: u32,
}

impl Default for Canary {
    fn default() -> Self {
        Canary {
            gates: CanaryGates::default(),
            random_baselines: 3,
        }
    }
}

/// `canary.gates`: each one must hold for a model to be released, over enough closed trades
/// (`min_trades`, and as many as `detectable_pnl_usd` needs). Intervals are 95 % block
/// bootstraps over `block_length` blocks of market time: trades cluster within signal
/// episodes, so they are not independent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CanaryGates {
    /// Share of closed trades with a positive PnL after fees, at least this and at least the
    /// break-even winrate of the round trip: (stop + fees) / (take-profit + stop), with
    /// `labeling.take_profit_pct`, `risk.assumed_sl_pct` and the maker fee on both legs.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub winrate_min: f64,
    /// The lower end of the interval of the average markout of the entry fills at
    /// `markout_horizon`, bps, above this.
    pub markout_min_bps: f64,
    /// The markout horizon the gate reads: 1s, 5s or 30s.
    pub markout_horizon: HumanDuration,
    /// Entry orders that filled per entry order the venue accepted, at least this.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub fill_rate_min: f64,
    /// Net PnL after fees over all the days, USD, at least this.
    pub net_pnl_min_usd: f64,
    /// The lower end of the interval of the net PnL per trade, USD, above this.
    pub pnl_per_trade_min_usd: f64,
    /// The lower end of the paired interval of the candidate's net PnL minus the best
    /// baseline's, USD over all the days, above this.
    pub beat_baseline_min_usd: f64,
    /// Fewer closed trades than this: the result is inconclusive, never a pass.
    #[schemars(range(min = 1))]
    pub min_trades: u32,
    /// The net PnL per trade, USD, the canary must see with 80 % power (one-sided at 2.5 %):
    /// fewer trades than that needs, given their spread and clustering, is inconclusive.
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub detectable_pnl_usd: f64,
    /// Length of the blocks of market time the intervals resample: several signal half-lives
    /// and round trips (one lasts up to `labeling.fill_horizon + hold_horizon`).
    pub block_length: HumanDuration,
}

impl Default for CanaryGates {
    fn default() -> Self {
        CanaryGates {
            winrate_min: 0.5,
            markout_min_bps: 0.0,
            markout_horizon: HumanDuration::from_secs(30),
            fill_rate_min: 0.2,
            net_pnl_min_usd: 0.0,
            pnl_per_trade_min_usd: 0.0,
            beat_baseline_min_usd: 0.0,
            min_trades: 30,
            detectable_pnl_usd: 5.0,
            block_length: HumanDuration::from_secs(5 * 60),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ai_scorer

/// `ai_scorer`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AiScorer {
    /// `onnx` (ONNX Runtime, the reference) or `native` (the built-in tree evaluator).
    pub backend: ScorerBackend,
    /// Shadow scoring: a second model scores the same signals without trading.
    pub shadow: Shadow,
}

/// Scoring backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScorerBackend {
    /// ONNX Runtime through `ort`.
    #[default]
    Onnx,
    /// The native tree evaluator.
    Native,
}

/// `ai_scorer.shadow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Shadow {
    /// Whether the shadow model scores signals.
    pub enabled: bool,
    /// Take tau_entry and tau_hold from the shadow model's metadata instead of the two keys
    /// below.
    pub use_threshold_from_meta: bool,
    /// Score at or above which the shadow model would enter.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub tau_entry: f64,
    /// Score below which the shadow model would exit; at most tau_entry.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub tau_hold: f64,
}

impl Default for Shadow {
    fn default() -> Self {
        Shadow {
            enabled: false,
            use_threshold_from_meta: true,
            tau_entry: 0.6,
            tau_hold: 0.5,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// strategy

/// `strategy`: the order rules of `engine run`. Entries are post-only limits at the touch of
/// their side; exits are reduce-only post-only limits: a take-profit at
/// `labeling.take_profit_pct` from the entry (the target the model was trained on), and an
/// exit at the touch when the stop (`risk.assumed_sl_pct`) is crossed, when the re-scored
/// position falls below tau_hold, or when it has been held `max_hold`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Strategy {
    /// A working entry not filled this long after it was first placed is cancelled.
    pub entry_ttl: HumanDuration,
    /// An entry the touch moved away from is re-placed at the new touch at most this many
    /// times (each re-placement joins the back of the queue).
    #[schemars(range(max = 100))]
    pub max_reprices: u32,
    /// A position held this long is exited at the touch.
    pub max_hold: HumanDuration,
    /// How often an open position is re-scored against tau_hold.
    pub hold_check_interval: HumanDuration,
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy {
            entry_ttl: HumanDuration::from_secs(5),
            max_reprices: 3,
            max_hold: HumanDuration::from_secs(60),
            hold_check_interval: HumanDuration::from_secs(1),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// paper

/// `paper`: the paper venue, the one fill model of paper trading, replays, the canary and the
/// labels (rules: `feed::paper`). An order or cancel reaches it `latency_min` plus a log-normal
/// delay (median `latency_median`, shape `latency_sigma`) after it is sent; what the venue
/// answers comes back after the `response_latency_*` one; both rise with market activity as
/// `latency_scaling` says. A resting order's queue starts at its level's size once the level is
/// in view; unexplained decreases split around it by the power `queue_power`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Paper {
    /// Wallet balance at start, USD.
    #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 1_000_000_000.0))]
    pub initial_balance_usd: f64,
    /// Least time from sending an order or cancel to its arrival at the venue.
    pub latency_min: HumanDuration,
    /// Median of the log-normal part of that latency, added to `latency_min`.
    pub latency_median: HumanDuration,
    /// Shape (sigma of the log) of the log-normal part.
    #[schemars(range(min = 0.0, max = 3.0))]
    pub latency_sigma: f64,
    /// Least time from the venue's answer (ack, reject, fill, cancel) to the order manager.
    pub response_latency_min: HumanDuration,
    /// Median of the log-normal part of the response latency.
    pub response_latency_median: HumanDuration,
    /// Shape of the log-normal part of the response latency.
    #[schemars(range(min = 0.0, max = 3.0))]
    pub response_latency_sigma: f64,
    /// How both latencies rise with market activity.
    pub latency_scaling: LatencyScaling,
    /// Power `n` of hftbacktest's queue rule: an unexplained level decrease is behind the order
    /// in the share `behind^n / (behind^n + ahead^n)`.
    #[schemars(range(min = 0.0, max = 10.0))]
    pub queue_power: f64,
    /// What fills a resting order when the opposite side reaches its price without a print.
    pub cross_fill: CrossFill,
    /// Seed of the latency draws: the same seed and feed give the same fills.
    pub seed: u64,
}

impl Default for Paper {
    fn default() -> Self {
        Paper {
            initial_balance_usd: 10_000.0,
            latency_min: HumanDuration::from(Duration::from_millis(2)),
            latency_median: HumanDuration::from(Duration::from_millis(15)),
            latency_sigma: 0.5,
            response_latency_min: HumanDuration::from(Duration::from_millis(1)),
            response_latency_median: HumanDuration::from(Duration::from_millis(5)),
            response_latency_sigma: 0.5,
            latency_scaling: LatencyScaling::default(),
            queue_power: 2.0,
            cross_fill: CrossFill::OppositeSize,
            seed: 7,
        }
    }
}

/// `paper.latency_scaling`: the log-normal part of each latency x `clamp(activity / reference,
/// 1, max_factor)` (the floor is not scaled), the activity decayed with the time constant
/// `window`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyScaling {
    /// What the activity is: `off`, `message_rate` (market messages per second) or
    /// `volatility` (absolute mid moves, bps per second).
    pub by: LatencyScaleBy,
    /// The activity from which latency rises.
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub reference: f64,
    /// The factor at most.
    #[schemars(range(min = 1.0, max = 100.0))]
    pub max_factor: f64,
    /// Time constant of the activity measure.
    pub window: HumanDuration,
}

impl Default for LatencyScaling {
    fn default() -> Self {
        LatencyScaling {
            by: LatencyScaleBy::MessageRate,
            reference: 100.0,
            max_factor: 4.0,
            window: HumanDuration::from(Duration::from_secs(1)),
        }
    }
}

/// What scales the paper venue's latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LatencyScaleBy {
    /// Nothing: constant distributions.
    Off,
    /// Market messages per second.
    MessageRate,
    /// Absolute mid moves, bps per second.
    Volatility,
}

/// What fills a paper order that the opposite side reaches without a print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CrossFill {
    /// At most the opposite size at or through the order's price.
    OppositeSize,
    /// Nothing until a print fills it (conservative).
    TradesOnly,
}

// ---------------------------------------------------------------------------------------------
// engine

/// `engine`: the runtime's threads, rings and budgets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EngineLayout {
    /// CPU the hot thread is pinned to.
    #[schemars(range(max = 1023))]
    pub hot_core: u16,
    /// CPUs the cold-path threads may run on; must not include hot_core.
    #[schemars(length(min = 1), extend("uniqueItems" = true), inner(range(max = 1023)))]
    pub cold_cores: Vec<u16>,
    /// The hot thread spins on its sources instead of sleeping when idle.
    pub busy_poll: bool,
    /// `engine run` refuses to start unless the kernel keeps `hot_core` isolated
    /// (`/sys/devices/system/cpu/isolated`; `--allow-shared-core` overrides): the bare-metal
    /// profile sets it. `engine doctor` reports the rest of the host.
    pub require_isolated_hot_core: bool,
    /// Levels per side kept in the order book (Bybit depths: 1, 50, 200, 1000 live; 500 in
    /// Bybit's archives before 2025-09, for days imported from them).
    #[schemars(extend("enum" = [1, 50, 200, 500, 1000]))]
    pub book_depth: u16,
    /// Capacities of the lock-free rings, in messages.
    pub rings: Rings,
    /// Latency budget per hot-path stage, in nanoseconds; reported against measured quantiles.
    pub latency_budget_ns: LatencyBudget,
}

impl Default for EngineLayout {
    fn default() -> Self {
        EngineLayout {
            hot_core: 1,
            cold_cores: vec![0],
            busy_poll: true,
            require_isolated_hot_core: false,
            book_depth: 50,
            rings: Rings::default(),
            latency_budget_ns: LatencyBudget::default(),
        }
    }
}

/// `engine.rings`: capacity of each ring between the hot thread and the cold path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Rings {
    /// Counter snapshots (one every 250 ms of market time), hot to metrics thread.
    #[schemars(range(min = 2, max = 16_777_216))]
    pub metrics: u32,
    /// Closed-trade outcomes, hot to supervisor.
    #[schemars(range(min = 2, max = 16_777_216))]
    pub trades: u32,
    /// Feature vectors for shadow scoring and parity checks, hot to registry.
    #[schemars(range(min = 2, max = 16_777_216))]
    pub samples: u32,
    /// Raw frames to record, hot to journal writer.
    #[schemars(range(min = 2, max = 16_777_216))]
    pub journal: u32,
    /// Decision and fill log records, hot to log writer.
    #[schemars(range(min = 2, max = 16_777_216))]
    pub log: u32,
    /// Control messages (halt, resume, rollout), cold to hot.
    #[schemars(range(min = 2, max = 16_777_216))]
    pub control: u32,
}

impl Default for Rings {
    fn default() -> Self {
        Rings {
            metrics: 1024,
            trades: 4096,
            samples: 4096,
            journal: 65_536,
            log: 65_536,
            control: 256,
        }
    }
}

/// `engine.latency_budget_ns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyBudget {
    /// Decoding one frame.
    #[schemars(range(min = 1))]
    pub decode: u64,
    /// Applying one event to the book.
    #[schemars(range(min = 1))]
    pub book: u64,
    /// Updating the features for one event.
    #[schemars(range(min = 1))]
    pub features: u64,
    /// Scoring one candidate.
    #[schemars(range(min = 1))]
    pub score: u64,
    /// Gates and sizing for one scored candidate.
    #[schemars(range(min = 1))]
    pub gates: u64,
    /// From frame received to decision made.
    #[schemars(range(min = 1))]
    pub decision: u64,
}

impl Default for LatencyBudget {
    fn default() -> Self {
        LatencyBudget {
            decode: 500,
            book: 100,
            features: 200,
            score: 1000,
            gates: 100,
            decision: 2000,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// metrics and paths

/// `metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Address the Prometheus `/metrics` endpoint listens on: `IPv4:PORT` or `[IPv6]:PORT`.
    #[schemars(with = "String", regex(pattern = SOCKET_ADDR_PATTERN))]
    pub listen: SocketAddr,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            listen: SocketAddr::from(([127, 0, 0, 1], 9898)),
        }
    }
}

/// `paths`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Paths {
    /// Root of everything recorded or derived.
    pub data: PathBuf,
    /// Journal segments of recorded frames.
    pub journal: PathBuf,
    /// Journals of held-out days: never archived for training, replayed by `toolkit canary`.
    pub holdout: PathBuf,
    /// The parquet archive: candidates with their features.
    pub parquet: PathBuf,
    /// Book tops and trades of each archived partition.
    pub market: PathBuf,
    /// Labels of each archived partition.
    pub labels: PathBuf,
    /// Trained model output directories.
    pub models: PathBuf,
    /// The model registry (manifest and active/shadow slots).
    pub registry: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            data: PathBuf::from("data"),
            journal: PathBuf::from("data/journal"),
            holdout: PathBuf::from("data/holdout"),
            parquet: PathBuf::from("data/parquet"),
            market: PathBuf::from("data/market"),
            labels: PathBuf::from("data/labels"),
            models: PathBuf::from("models"),
            registry: PathBuf::from("models/registry"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// symbols.yml

/// The whole of `config/symbols.yml`: trading rules by symbol.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Symbols {
    /// Instrument reference data by symbol.
    pub symbols: BTreeMap<String, Instrument>,
}

// ---------------------------------------------------------------------------------------------
// durations

/// A duration written as text: `250ms`, `90s`, `15m`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(Duration);

impl HumanDuration {
    /// A whole number of seconds.
    pub const fn from_secs(secs: u64) -> Self {
        HumanDuration(Duration::from_secs(secs))
    }

    /// The duration.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl From<Duration> for HumanDuration {
    fn from(duration: Duration) -> Self {
        HumanDuration(duration)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_duration(self.0).fmt(f)
    }
}

impl FromStr for HumanDuration {
    type Err = humantime::DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(text).map(HumanDuration)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|err| {
            serde::de::Error::custom(format_args!("invalid duration {text:?}: {err}"))
        })
    }
}

/// What `humantime` parses: numbers with units, optionally several (`1h 30m`).
pub(crate) const DURATION_PATTERN: &str = concat!(
    r"^\s*([0-9]+\s*(nsec|ns|usec|us|µs|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|",
    r"min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|w)\s*)+$"
);

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: a number and a unit (ms, s, m, h, d), e.g. \"15m\" or \"1h 30m\".",
            "type": "string",
            "pattern": DURATION_PATTERN
        })
    }
}
