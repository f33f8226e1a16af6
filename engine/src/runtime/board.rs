//! The cold path's shared state: what the supervisor, the registry and the parity checker know,
//! read by the metrics thread and the exit summary. Only cold threads touch it, behind a
//! mutex; the hot thread never does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::drift::DriftStat;
use crate::config::RolloutMode;

/// Upper edges of the shadow-score histogram buckets (the last bucket is `+Inf`).
pub const SCORE_BUCKETS: [f64; 10] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// A mode change: a halt, a resume, a rollout change or a rollback.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeSwitch {
    /// Market time, ms since the epoch.
    pub ts_ms: u64,
    /// What changed: `halt`, `resume`, `rollout`, `rollback`.
    pub kind: &'static str,
    /// Why, or the new rollout mode.
    pub detail: String,
}

/// What the cold path knows.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    /// The traded symbol (a metric label).
    pub symbol: String,
    /// Id of the active model.
    pub active_id: String,
    /// Backend the hot path scores with.
    pub backend: &'static str,
    /// Id of the model in the shadow slot, if any.
    pub shadow_id: Option<String>,
    /// tau_entry of each model in use.
    pub tau_entry: BTreeMap<String, f64>,
    /// Rolling winrate and closed trades in the window: active, canary.
    pub winrate: [f64; 2],
    /// Closed trades in the rolling window: active, canary.
    pub window_samples: [u64; 2],
    /// The rollout mode in force.
    pub rollout: RolloutMode,
    /// Halt mask in force.
    pub halts: u8,
    /// Realized volatility over the halt's window, bps.
    pub realized_vol_bps: f64,
    /// Mode changes.
    pub mode_switch_total: u64,
    /// Rollbacks: of the canary (routing) and of the active model (drift, parity,
    /// performance).
    pub rollback_total: u64,
    /// True while a rollback of the active model holds the rollout off.
    pub rollout_held: bool,
    /// The last full drift window of the active model: its id and PSI/KS per watched quantity.
    pub drift: Option<(String, Vec<DriftStat>)>,
    /// The performance guard's CUSUM on net PnL per trade and its limit, while the active
    /// model is guarded.
    pub performance: Option<(f64, f64)>,
    /// Its CUSUM on entry markouts and its limit, while the active model is guarded on them.
    pub markout_guard: Option<(f64, f64)>,
    /// The last mode changes (at most [`Board::MODE_SWITCHES_KEPT`]).
    pub mode_switches: Vec<ModeSwitch>,
    /// Live vectors compared by the parity checker.
    pub parity_compared: u64,
    /// Of those, the ones whose backends disagreed beyond the tolerance.
    pub onnx_parity_fail_total: u64,
    /// Largest difference seen.
    pub parity_max_difference: f64,
    /// Signals the shadow model scored.
    pub shadow_evaluated: u64,
    /// Of those, the ones it would have approved.
    pub shadow_approved: u64,
    /// Shadow scores per bucket of [`SCORE_BUCKETS`] (non-cumulative; the last is above 1).
    pub shadow_buckets: [u64; SCORE_BUCKETS.len() + 1],
    /// Sum of shadow scores.
    pub shadow_score_sum: f64,
    /// Models loaded and handed over (the first included).
    pub model_loads: u64,
    /// Models refused (the running one kept).
    pub model_load_failures: u64,
}

impl Board {
    /// Mode changes kept for the summary.
    pub const MODE_SWITCHES_KEPT: usize = 1000;

    /// A board for a run starting with `active_id` on `backend`.
    pub fn new(active_id: String, backend: &'static str, rollout: RolloutMode) -> Board {
        Board {
            symbol: String::new(),
            active_id,
            backend,
            shadow_id: None,
            tau_entry: BTreeMap::new(),
            winrate: [0.0; 2],
            window_samples: [0; 2],
            rollout,
            halts: 0,
            realized_vol_bps: 0.0,
            mode_switch_total: 0,
            rollback_total: 0,
            rollout_held: false,
            drift: None,
            performance: None,
            markout_guard: None,
            mode_switches: Vec::new(),
            parity_compared: 0,
            onnx_parity_fail_total: 0,
            parity_max_difference: 0.0,
            shadow_evaluated: 0,
            shadow_approved: 0,
            shadow_buckets: [0; SCORE_BUCKETS.len() + 1],
            shadow_score_sum: 0.0,
            model_loads: 0,
            model_load_failures: 0,
        }
    }

    /// Records a mode change: counted, kept, and logged as a `MODE_SWITCH` event on stderr.
    pub fn mode_switch(&mut self, ts_ms: u64, kind: &'static str, detail: String) {
        self.mode_switch_total += 1;
        eprintln!(
            "{{\"event\":\"MODE_SWITCH\",\"ts_ms\":{ts_ms},\"kind\":\"{kind}\",\"detail\":\"{detail}\"}}"
        );
        if self.mode_switches.len() < Self::MODE_SWITCHES_KEPT {
            self.mode_switches.push(ModeSwitch {
                ts_ms,
                kind,
                detail,
            });
        }
    }

    /// Adds one shadow score.
    pub fn record_shadow_score(&mut self, score: f32, approved: bool) {
        self.shadow_evaluated += 1;
        self.shadow_approved += u64::from(approved);
        let score = f64::from(score);
        let bucket = SCORE_BUCKETS
            .iter()
            .position(|&edge| score <= edge)
            .unwrap_or(SCORE_BUCKETS.len());
        self.shadow_buckets[bucket] += 1;
        if score.is_finite() {
            self.shadow_score_sum += score;
        }
    }
}

/// The board as the cold threads share it.
#[derive(Debug, Clone)]
pub struct SharedBoard(Arc<Mutex<Board>>);

impl SharedBoard {
    /// Shares `board`.
    pub fn new(board: Board) -> SharedBoard {
        SharedBoard(Arc::new(Mutex::new(board)))
    }

    /// Locks it (a thread that panicked while holding it left it readable: take it anyway).
    pub fn lock(&self) -> MutexGuard<'_, Board> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
