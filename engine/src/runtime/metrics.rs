//! The metrics thread: drains the hot thread's counters and latency histograms, samples the
//! process's resident memory, and serves all of it with the cold path's board as Prometheus
//! text at `/metrics`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use feed::bybit::MessageKind;
use rtrb::{Consumer, Producer};

use super::board::{Board, SCORE_BUCKETS, SharedBoard};
use super::rings::{HaltReason, Route};
use super::stats::{HotStats, REJECT_REASONS, RINGS, StageHistograms, TimedStage};
use crate::config::RolloutMode;

/// Latency quantiles exported per stage.
pub const QUANTILES: [f64; 4] = [0.5, 0.99, 0.999, 1.0];

/// Resident memory of this process, bytes: everything (`VmRSS`) and the anonymous part
/// (`RssAnon`: heap and stacks, without the pages of mapped files such as journal segments).
/// Zeros where /proc/self/status is not there.
pub fn resident_bytes() -> Resident {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| {
                let kb = line.strip_prefix(name)?.trim().strip_suffix("kB")?;
                kb.trim().parse::<u64>().ok()
            })
            .map_or(0, |kb| kb * 1024)
    };
    Resident {
        total: field("VmRSS:"),
        anonymous: field("RssAnon:"),
    }
}

/// Resident memory, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resident {
    /// All resident pages.
    pub total: u64,
    /// Anonymous resident pages (heap, stacks).
    pub anonymous: u64,
}

/// Resident memory at two points of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RssReport {
    /// When the first minute of market time had passed (zeros if it never did).
    pub after_first_minute: Resident,
    /// At the end of the run, before the hot loop is dropped.
    pub last: Resident,
    /// Largest anonymous sample, bytes.
    pub peak_anonymous: u64,
}

/// What the metrics thread knows at the end.
pub struct MetricsReport {
    /// Latency of every stage over the whole run.
    pub latency: StageHistograms,
    /// The last counters.
    pub stats: HotStats,
    /// Resident memory.
    pub rss: RssReport,
    /// The last exposition.
    pub text: String,
}

/// The metrics thread's inputs.
pub struct MetricsInputs {
    /// Counter snapshots from the hot thread.
    pub stats: Consumer<HotStats>,
    /// Full histograms from the hot thread.
    pub latency: Consumer<Box<StageHistograms>>,
    /// Empty histograms back to the hot thread.
    pub spare: Producer<Box<StageHistograms>>,
    /// The cold path's board.
    pub board: SharedBoard,
    /// The HTTP server (already bound).
    pub server: tiny_http::Server,
    /// Set when the hot thread has finished: drain and return.
    pub done: Arc<AtomicBool>,
}

/// Runs the metrics thread until `done` is set and the rings are drained.
pub fn run(mut inputs: MetricsInputs) -> MetricsReport {
    let mut latency = StageHistograms::new();
    let mut stats = HotStats::default();
    let mut rss = RssReport::default();
    let mut next_rss = Instant::now();
    loop {
        let finished = inputs.done.load(Ordering::Acquire);
        while let Ok(snapshot) = inputs.stats.pop() {
            stats = snapshot;
            if rss.after_first_minute.total == 0
                && stats.market_ns.saturating_sub(stats.first_market_ns) >= 60_000_000_000
            {
                rss.after_first_minute = resident_bytes();
                rss.peak_anonymous = rss.peak_anonymous.max(rss.after_first_minute.anonymous);
            }
        }
        while let Ok(mut histograms) = inputs.latency.pop() {
            latency.merge(&histograms);
            histograms.reset();
            // The hot thread holds one set and the ring two more: a full ring means a set
            // too many, dropped here on the cold side.
            let _ = inputs.spare.push(histograms);
        }
        if Instant::now() >= next_rss {
            next_rss += Duration::from_secs(1);
            rss.last = resident_bytes();
            rss.peak_anonymous = rss.peak_anonymous.max(rss.last.anonymous);
        }
        if finished && inputs.stats.is_empty() && inputs.latency.is_empty() {
            break;
        }
        match inputs.server.recv_timeout(Duration::from_millis(20)) {
            Ok(Some(request)) => {
                let response = if request.url() == "/metrics" {
                    let text = render(&stats, &latency, &inputs.board.lock(), rss.last);
                    tiny_http::Response::from_string(text)
                        .with_header(content_type("text/plain; version=0.0.4; charset=utf-8"))
                } else {
                    tiny_http::Response::from_string("not found: try /metrics\n")
                        .with_status_code(404)
                        .with_header(content_type("text/plain; charset=utf-8"))
                };
                // A client that went away is its own problem.
                let _ = request.respond(response);
            }
            Ok(None) => {}
            Err(err) => {
                eprintln!("metrics: {err}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    // The last sample, at the end of the run: the hot loop is still held (it is dropped once
    // this thread has ended), so what it frees then does not pass for the engine shrinking.
    rss.last = resident_bytes();
    rss.peak_anonymous = rss.peak_anonymous.max(rss.last.anonymous);
    let text = render(&stats, &latency, &inputs.board.lock(), rss.last);
    MetricsReport {
        latency,
        stats,
        rss,
        text,
    }
}

fn content_type(value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(&b"Content-Type"[..], value.as_bytes())
        .unwrap_or_else(|()| unreachable!("a valid header"))
}

/// The live venue's families (real mode only).
fn venue_metrics(out: &mut Exposition, venue: &feed::venue::VenueStats) {
    let streams = ["private", "trade"];
    out.family(
        "venue_connected",
        "gauge",
        "1 while the venue's private or trade stream is up, authenticated and subscribed.",
    );
    for (index, stream) in streams.iter().enumerate() {
        out.sample(
            "venue_connected",
            &[("stream", stream)],
            f64::from(u8::from(venue.connected[index])),
        );
    }
    out.family(
        "venue_connects_total",
        "counter",
        "Connections made to the venue's private and trade streams.",
    );
    for (index, stream) in streams.iter().enumerate() {
        out.sample(
            "venue_connects_total",
            &[("stream", stream)],
            venue.connects[index] as f64,
        );
    }
    out.family(
        "venue_disconnects_total",
        "counter",
        "Private and trade stream connections lost (closed, broken, stale, pong late, auth refused).",
    );
    for (index, stream) in streams.iter().enumerate() {
        out.sample(
            "venue_disconnects_total",
            &[("stream", stream)],
            venue.losses[index] as f64,
        );
    }
    out.family(
        "venue_requests_total",
        "counter",
        "Order requests written to the trade stream, by kind (create, amend, cancel).",
    );
    for (kind, count) in [
        ("create", venue.creates),
        ("amend", venue.amends),
        ("cancel", venue.cancels),
    ] {
        out.sample("venue_requests_total", &[("kind", kind)], count as f64);
    }
    out.family(
        "venue_doubts_total",
        "counter",
        "Times the venue's state was put in doubt (reconciliation follows), by reason.",
    );
    for reason in feed::venue::Doubt::ALL {
        out.sample(
            "venue_doubts_total",
            &[("reason", reason.label())],
            venue.doubts[reason.index()] as f64,
        );
    }
    let counters: [(&str, &str, u64); 16] = [
        (
            "venue_auth_failures_total",
            "Authentications the venue refused.",
            venue.auth_failures,
        ),
        (
            "venue_local_rejects_total",
            "Entries refused before they were sent: trade stream down, reconciling, rate limit, full table.",
            venue.local_rejects,
        ),
        (
            "venue_rest_fallbacks_total",
            "Exits and cancels sent over REST while the trade stream was down.",
            venue.rest_fallbacks,
        ),
        (
            "venue_unknown_fates_total",
            "Orders whose fate became unknown (no answer, 10000, 10016, a lost link, an answer with no push after it).",
            venue.unknown_fates,
        ),
        (
            "venue_reconciliations_total",
            "Reconciliations against REST done.",
            venue.reconciliations,
        ),
        (
            "venue_missed_fills_total",
            "Fills found by reconciliation, their push missed.",
            venue.missed_fills,
        ),
        (
            "venue_orders_settled_total",
            "Working orders whose end reconciliation found (push missed, or never at the venue).",
            venue.orders_settled,
        ),
        (
            "venue_foreign_orders_cancelled_total",
            "Open orders at the venue the engine did not place, cancelled.",
            venue.foreign_cancels,
        ),
        (
            "venue_foreign_orders_adopted_total",
            "Open orders at the venue the engine did not place, adopted (exchange.adopt_unknown_orders).",
            venue.foreign_adopted,
        ),
        (
            "venue_position_corrections_total",
            "Times the venue's position differed from the engine's and was taken.",
            venue.position_corrections,
        ),
        (
            "venue_decode_errors_total",
            "Private pushes and trade replies that did not decode.",
            venue.decode_errors,
        ),
        (
            "venue_stale_pushes_total",
            "Order and position pushes older than what was known, ignored.",
            venue.stale_pushes,
        ),
        (
            "venue_orders_drained_total",
            "Orders whose end came before all their fills: held until the fills were booked.",
            venue.drained,
        ),
        (
            "venue_reconciles_deferred_total",
            "Reconciliations that could not settle everything (an order in flight, fills not listed yet) and were done again.",
            venue.reconciles_deferred,
        ),
        (
            "venue_outside_executions_total",
            "Executions that were none of the engine's fills: auto-deleveraging, liquidation, other orders of the account.",
            venue.outside_executions,
        ),
        (
            "venue_outside_cancels_total",
            "Orders of the engine cancelled by the venue on its own (prepare-liquidation, admin, self-match, reduce-only).",
            venue.outside_cancels,
        ),
    ];
    for (name, help, value) in counters {
        out.single(name, "counter", help, value as f64);
    }
    out.single(
        "venue_reconciling",
        "gauge",
        "1 while the venue's state is in doubt and reconciliation is wanted or running (entries wait).",
        f64::from(u8::from(venue.reconciling)),
    );
    out.single(
        "venue_entries_halted",
        "gauge",
        "1 once entries are halted for the session (the venue prepared a liquidation, or refused the credentials).",
        f64::from(u8::from(venue.entries_halted || venue.fatal_code.is_some())),
    );
    shadow_metrics(out, &venue.shadow);
}

/// How the paper venue's shadow of each real order compared with the venue (real mode).
fn shadow_metrics(out: &mut Exposition, shadow: &feed::paper::shadow::ShadowStats) {
    use feed::paper::shadow::ShadowOutcome;
    out.family(
        "venue_shadow_orders_total",
        "counter",
        "Orders done at the venue and at their paper venue shadow, by which of the two filled them.",
    );
    for outcome in ShadowOutcome::ALL {
        out.sample(
            "venue_shadow_orders_total",
            &[("outcome", outcome.label())],
            shadow.outcomes[outcome.index()] as f64,
        );
    }
    out.family(
        "venue_shadow_fill_gap_seconds",
        "summary",
        "Gap between an order's first fill at the venue and at its paper shadow, over orders both filled.",
    );
    out.sample(
        "venue_shadow_fill_gap_seconds_sum",
        &[],
        shadow.fill_gap_ns_sum as f64 / 1e9,
    );
    out.sample(
        "venue_shadow_fill_gap_seconds_count",
        &[],
        shadow.fill_gaps as f64,
    );
    out.family(
        "venue_shadow_markout_bps",
        "summary",
        "Markout of fills 5 s after them at the venue (venue=live) and at the paper shadow (venue=paper), bps.",
    );
    for (index, venue) in ["live", "paper"].iter().enumerate() {
        out.sample(
            "venue_shadow_markout_bps_sum",
            &[("venue", venue)],
            shadow.markout_micro_bps_sum[index] as f64 / 1e6,
        );
        out.sample(
            "venue_shadow_markout_bps_count",
            &[("venue", venue)],
            shadow.markouts[index] as f64,
        );
    }
    out.single(
        "venue_shadow_left_out_total",
        "counter",
        "Orders, markouts and notes the shadow comparison left out because its buffers were full.",
        shadow.left_out as f64,
    );
}

/// Prometheus text exposition, family by family.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (index, (key, text)) in labels.iter().enumerate() {
                if index > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{key}=\"");
                for c in text.chars() {
                    match c {
                        '\\' => self.0.push_str("\\\\"),
                        '"' => self.0.push_str("\\\""),
                        '\n' => self.0.push_str("\\n"),
                        c => self.0.push(c),
                    }
                }
                self.0.push('"');
            }
            self.0.push('}');
        }
        if value.is_nan() {
            self.0.push_str(" NaN\n");
        } else if value.is_infinite() {
            self.0
                .push_str(if value > 0.0 { " +Inf\n" } else { " -Inf\n" });
        } else {
            let _ = writeln!(self.0, " {value}");
        }
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// The exposition of everything known.
pub fn render(stats: &HotStats, latency: &StageHistograms, board: &Board, rss: Resident) -> String {
    let mut out = Exposition(String::with_capacity(16 * 1024));
    let route_label = |route: Route| route.label();

    // The original's names.
    out.single(
        "winrate_baseline_active",
        "gauge",
        "Rolling winrate of closed trades routed to the active model (0 with none).",
        board.winrate[Route::Active.index()],
    );
    out.single(
        "winrate_canary",
        "gauge",
        "Rolling winrate of closed trades routed to the canary (0 with none).",
        board.winrate[Route::Canary.index()],
    );
    out.single(
        "sample_canary",
        "gauge",
        "Closed canary trades in the rolling window.",
        board.window_samples[Route::Canary.index()] as f64,
    );
    out.single(
        "onnx_parity_fail_total",
        "counter",
        "Live feature vectors on which ONNX Runtime and the native evaluator disagreed.",
        board.onnx_parity_fail_total as f64,
    );
    out.family(
        "model_active_id",
        "gauge",
        "The active model, as the label id (value 1).",
    );
    out.sample(
        "model_active_id",
        &[("id", &board.active_id), ("backend", board.backend)],
        1.0,
    );
    out.family(
        "model_shadow_id",
        "gauge",
        "The shadow model, as the label id (value 1; 0 with id=\"\" when the slot is empty).",
    );
    match &board.shadow_id {
        Some(id) => out.sample("model_shadow_id", &[("id", id)], 1.0),
        None => out.sample("model_shadow_id", &[("id", "")], 0.0),
    }
    out.single(
        "shadow_signals_evaluated_total",
        "counter",
        "Signals the shadow model scored.",
        board.shadow_evaluated as f64,
    );
    out.single(
        "shadow_signals_approved_total",
        "counter",
        "Signals the shadow model would have approved (score >= its tau_entry).",
        board.shadow_approved as f64,
    );
    out.family(
        "shadow_score_distribution",
        "histogram",
        "Scores the shadow model gave live signals.",
    );
    let mut cumulative = 0;
    for (index, edge) in SCORE_BUCKETS.iter().enumerate() {
        cumulative += board.shadow_buckets[index];
        out.sample(
            "shadow_score_distribution_bucket",
            &[("split", "online"), ("le", &edge.to_string())],
            cumulative as f64,
        );
    }
    cumulative += board.shadow_buckets[SCORE_BUCKETS.len()];
    out.sample(
        "shadow_score_distribution_bucket",
        &[("split", "online"), ("le", "+Inf")],
        cumulative as f64,
    );
    out.sample(
        "shadow_score_distribution_sum",
        &[("split", "online")],
        board.shadow_score_sum,
    );
    out.sample(
        "shadow_score_distribution_count",
        &[("split", "online")],
        cumulative as f64,
    );
    out.family(
        "tau_entry_current",
        "gauge",
        "Entry threshold of each model in use.",
    );
    for (model, tau) in &board.tau_entry {
        out.sample("tau_entry_current", &[("model", model)], *tau);
    }
    out.single(
        "mode_switch_total",
        "counter",
        "Mode changes (halts, resumes, rollout changes, rollbacks), each logged as MODE_SWITCH.",
        board.mode_switch_total as f64,
    );
    out.single(
        "rollback_total",
        "counter",
        "Rollbacks: of the canary (routing back to the active model) and of the active model \
         (drift, parity or performance: the registry's previous model).",
        board.rollback_total as f64,
    );
    out.single(
        "rollout_held",
        "gauge",
        "1 while a rollback of the active model holds the rollout off (toolkit rollout clear).",
        f64::from(u8::from(board.rollout_held)),
    );
    out.family(
        "model_drift_psi",
        "gauge",
        "Population stability index of the active model's live score and most-gaining \
         features against its training reference, over the last full drift window.",
    );
    out.family(
        "model_drift_ks",
        "gauge",
        "Kolmogorov-Smirnov statistic of the same, at the reference's bin edges.",
    );
    if let Some((model, stats)) = &board.drift {
        for stat in stats {
            let labels = [("model", model.as_str()), ("feature", stat.name.as_str())];
            out.sample("model_drift_psi", &labels, stat.psi);
        }
        for stat in stats {
            let labels = [("model", model.as_str()), ("feature", stat.name.as_str())];
            out.sample("model_drift_ks", &labels, stat.ks);
        }
    }
    out.family(
        "model_performance_cusum",
        "gauge",
        "The performance guard's CUSUM on the active model's closed trades' net PnL against its \
         canary figures, in standard deviations (absent when the model has none).",
    );
    out.family(
        "model_performance_cusum_limit",
        "gauge",
        "The CUSUM's limit: above it the active model is rolled back \
         (rollout_guard.performance_false_alarm_trades sets it).",
    );
    if let Some((statistic, limit)) = board.performance {
        let labels = [("model", board.active_id.as_str())];
        out.sample("model_performance_cusum", &labels, statistic);
        out.sample("model_performance_cusum_limit", &labels, limit);
    }
    out.family(
        "model_markout_cusum",
        "gauge",
        "The performance guard's CUSUM on the active model's entry fills' markouts at \
         canary.gates.markout_horizon against its canary's, in standard deviations (absent when \
         its canary figures have none).",
    );
    out.family(
        "model_markout_cusum_limit",
        "gauge",
        "That CUSUM's limit: above it the active model is rolled back.",
    );
    if let Some((statistic, limit)) = board.markout_guard {
        let labels = [("model", board.active_id.as_str())];
        out.sample("model_markout_cusum", &labels, statistic);
        out.sample("model_markout_cusum_limit", &labels, limit);
    }

    // Rollout and halts.
    out.family(
        "rollout_mode",
        "gauge",
        "The rollout mode in force (value 1 on its label).",
    );
    for mode in [
        RolloutMode::Disabled,
        RolloutMode::Canary,
        RolloutMode::Full,
    ] {
        let label = mode.label();
        let value = f64::from(u8::from(board.rollout == mode));
        out.sample("rollout_mode", &[("mode", label)], value);
    }
    out.family(
        "halted",
        "gauge",
        "1 while entries are halted for the reason.",
    );
    for reason in HaltReason::ALL {
        let value = f64::from(u8::from(stats.halts & reason.bit() != 0));
        out.sample("halted", &[("reason", reason.label())], value);
    }
    out.single(
        "realized_vol_bps",
        "gauge",
        "Realized volatility of the mid over risk.volatility_halt.window, basis points.",
        board.realized_vol_bps,
    );

    // Feed.
    out.family(
        "feed_messages_total",
        "counter",
        "Messages decoded, by topic.",
    );
    for (index, kind) in MessageKind::ALL.into_iter().enumerate() {
        out.sample(
            "feed_messages_total",
            &[("topic", kind.label())],
            stats.decoded[index] as f64,
        );
    }
    out.family(
        "feed_decode_errors_total",
        "counter",
        "Frames that did not decode, counted and dropped, by topic.",
    );
    for (index, kind) in MessageKind::ALL.into_iter().enumerate() {
        out.sample(
            "feed_decode_errors_total",
            &[("topic", kind.label())],
            stats.decode_errors[index] as f64,
        );
    }
    out.single(
        "feed_frames_total",
        "counter",
        "Frames handled by the hot thread.",
        stats.frames as f64,
    );
    out.family(
        "book_resyncs_total",
        "counter",
        "Times the book became invalid and waited for a fresh snapshot, by symbol and reason \
         (gap, crossed, disconnected).",
    );
    for reason in feed::book::InvalidReason::ALL {
        out.sample(
            "book_resyncs_total",
            &[("symbol", &board.symbol), ("reason", reason.label())],
            stats.book_invalidations[reason.index()] as f64,
        );
    }
    let feed = &stats.feed;
    out.single(
        "feed_reconnects_total",
        "counter",
        "Connections to the live public stream made after a lost one.",
        feed.reconnects() as f64,
    );
    out.single(
        "feed_connect_failures_total",
        "counter",
        "Attempts to connect to the live public stream that failed.",
        feed.connect_failures as f64,
    );
    out.family(
        "feed_disconnects_total",
        "counter",
        "Live connections given up, by reason (closed, error, stale, pong_timeout, \
         subscribe_failed).",
    );
    for reason in feed::bybit::live::LossReason::ALL {
        out.sample(
            "feed_disconnects_total",
            &[("reason", reason.label())],
            feed.losses[reason.index()] as f64,
        );
    }
    if let Some(venue) = &stats.venue {
        venue_metrics(&mut out, venue);
    }
    out.single(
        "feed_connected",
        "gauge",
        "1 while the live public stream is connected.",
        f64::from(u8::from(feed.connected)),
    );
    let stale = if feed.last_message_ns == 0 {
        0.0
    } else {
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        now_ns.saturating_sub(feed.last_message_ns) as f64 / 1e9
    };
    out.single(
        "feed_stale_seconds",
        "gauge",
        "Seconds since the live public stream's last message (0 before the first).",
        stale,
    );
    out.family(
        "feed_delay_ns",
        "gauge",
        "Book message receive time less its exchange timestamp ts, nanoseconds, by quantile \
         (1 = max).",
    );
    for quantile in QUANTILES {
        let histogram = latency.feed_delay();
        let value = if histogram.is_empty() {
            0
        } else {
            histogram.value_at_quantile(quantile)
        };
        out.sample(
            "feed_delay_ns",
            &[("quantile", &quantile.to_string())],
            value as f64,
        );
    }
    out.single(
        "feature_window_overflows_total",
        "counter",
        "Feature-window events dropped early because a window was full.",
        stats.feature_overflows as f64,
    );
    out.single(
        "market_time_seconds",
        "gauge",
        "Market time of the last frame, seconds since the epoch.",
        stats.market_ns as f64 / 1e9,
    );

    // Decisions and orders.
    out.family(
        "candidates_total",
        "counter",
        "Candidates proposed by the trigger, by route.",
    );
    for route in Route::ALL {
        out.sample(
            "candidates_total",
            &[("route", route_label(route))],
            stats.candidates[route.index()] as f64,
        );
    }
    out.family(
        "candidate_rejections_total",
        "counter",
        "Candidates that did not become orders, by reason (score, halts, sizing, gates).",
    );
    for (index, reason) in REJECT_REASONS.iter().enumerate() {
        out.sample(
            "candidate_rejections_total",
            &[("reason", reason)],
            stats.rejections[index] as f64,
        );
    }
    out.single(
        "orders_total",
        "counter",
        "Orders sent: entries, reprices, take-profits and exits.",
        stats.orders as f64,
    );
    out.single(
        "entries_total",
        "counter",
        "Entries sent (first placements).",
        stats.entries as f64,
    );
    out.single(
        "cancels_total",
        "counter",
        "Cancels sent.",
        stats.cancels as f64,
    );
    out.single(
        "amends_total",
        "counter",
        "Amends sent: working orders moved in one request (a venue that takes amends).",
        stats.amends as f64,
    );
    out.single(
        "venue_rejects_total",
        "counter",
        "Orders the venue refused or cancelled (post-only cross, reduce-only).",
        stats.venue_rejects as f64,
    );
    out.single("fills_total", "counter", "Fills.", stats.fills as f64);
    out.single(
        "fill_rate",
        "gauge",
        "Entries that filled at least partly, over entries sent.",
        stats.fill_rate(),
    );
    out.family(
        "closed_trades_total",
        "counter",
        "Round trips closed, by route.",
    );
    for route in Route::ALL {
        out.sample(
            "closed_trades_total",
            &[("route", route_label(route))],
            stats.closed(route) as f64,
        );
    }
    out.family(
        "markout_bps",
        "gauge",
        "Average markout of fills, basis points, by horizon.",
    );
    for (markout, horizon) in stats.markouts.iter().zip(["1s", "5s", "30s"]) {
        out.sample("markout_bps", &[("horizon", horizon)], markout.mean_bps());
    }
    out.family(
        "pnl_usd",
        "gauge",
        "PnL, USD: realized (before fees), fees, net, unrealized.",
    );
    out.sample("pnl_usd", &[("kind", "realized")], stats.realized_pnl);
    out.sample("pnl_usd", &[("kind", "fees")], stats.fees);
    out.sample("pnl_usd", &[("kind", "net")], stats.net_pnl());
    out.sample("pnl_usd", &[("kind", "unrealized")], stats.unrealized_pnl);
    out.single(
        "position",
        "gauge",
        "Net position, base units (positive long).",
        stats.position,
    );
    out.single(
        "balance_usd",
        "gauge",
        "Wallet balance at the venue, USD.",
        stats.balance,
    );

    // Runtime.
    out.family(
        "ring_drops_total",
        "counter",
        "Messages dropped by the hot thread because a ring was full, by ring.",
    );
    for (index, ring) in RINGS.iter().enumerate() {
        out.sample(
            "ring_drops_total",
            &[("ring", ring)],
            stats.ring_drops[index] as f64,
        );
    }
    out.family(
        "stage_latency_ns",
        "gauge",
        "Hot-path stage latency over the run, nanoseconds, by stage and quantile (1 = max).",
    );
    for stage in TimedStage::ALL {
        let histogram = latency.get(stage);
        for quantile in QUANTILES {
            let value = if histogram.is_empty() {
                0
            } else {
                histogram.value_at_quantile(quantile)
            };
            out.sample(
                "stage_latency_ns",
                &[
                    ("stage", stage.label()),
                    ("quantile", &quantile.to_string()),
                ],
                value as f64,
            );
        }
    }
    out.single(
        "model_swaps_total",
        "counter",
        "Models swapped in on the hot thread after start.",
        stats.model_swaps as f64,
    );
    out.single(
        "model_loads_total",
        "counter",
        "Models loaded, checked and handed to the hot thread.",
        board.model_loads as f64,
    );
    out.single(
        "model_load_failures_total",
        "counter",
        "Models refused (schema, parity, unreadable); the running model is kept.",
        board.model_load_failures as f64,
    );
    out.single(
        "parity_rows_compared_total",
        "counter",
        "Live feature vectors scored by both backends.",
        board.parity_compared as f64,
    );
    out.single(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory of the engine (VmRSS), bytes.",
        rss.total as f64,
    );
    out.single(
        "process_resident_anonymous_memory_bytes",
        "gauge",
        "Anonymous resident memory of the engine (RssAnon: heap and stacks), bytes.",
        rss.anonymous as f64,
    );
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_their_label_values_and_spell_special_values_as_prometheus_does() {
        let mut out = Exposition(String::new());
        out.family("x_total", "counter", "An example.");
        out.sample("x_total", &[("id", "a\"b\\c\nd"), ("k", "v")], 3.0);
        out.sample("x_total", &[], 0.25);
        out.sample("x_total", &[], f64::INFINITY);
        out.sample("x_total", &[], f64::NAN);
        assert_eq!(
            out.0,
            "# HELP x_total An example.\n# TYPE x_total counter\n\
             x_total{id=\"a\\\"b\\\\c\\nd\",k=\"v\"} 3\nx_total 0.25\nx_total +Inf\nx_total NaN\n"
        );
    }

    #[test]
    fn an_empty_run_renders_every_family_once() {
        let board = Board::new("m1".to_owned(), "native", RolloutMode::Disabled);
        let text = render(
            &HotStats::default(),
            &StageHistograms::new(),
            &board,
            Resident::default(),
        );
        let families: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .map(|line| line.split(' ').next().unwrap_or_default())
            .collect();
        let unique: std::collections::BTreeSet<&str> = families.iter().copied().collect();
        assert_eq!(families.len(), unique.len());
        assert_eq!(families.len(), 56);
        assert!(text.contains("\namends_total 0\n"));
        assert!(text.contains("\nbook_resyncs_total{symbol=\"\",reason=\"disconnected\"} 0\n"));
        assert!(text.contains("\nfeed_disconnects_total{reason=\"pong_timeout\"} 0\n"));
        assert!(text.contains("\nfeed_delay_ns{quantile=\"0.99\"} 0\n"));
        assert!(text.contains("\nwinrate_canary 0\n"));
        assert!(text.contains("\nsample_canary 0\n"));
        assert!(text.contains("\nmodel_active_id{id=\"m1\",backend=\"native\"} 1\n"));
        assert!(text.contains("\nrollout_held 0\n"));
        assert!(text.contains("\n# TYPE model_drift_psi gauge\n# HELP model_drift_ks"));
        // No canary figures, no guard: the families without samples.
        assert!(text.contains(
            "\n# TYPE model_performance_cusum gauge\n# HELP model_performance_cusum_limit"
        ));
        let mut guarded = board.clone();
        guarded.performance = Some((1.5, 23.42));
        guarded.markout_guard = Some((0.25, 19.5));
        let text = render(
            &HotStats::default(),
            &StageHistograms::new(),
            &guarded,
            Resident::default(),
        );
        assert!(text.contains("\nmodel_performance_cusum{model=\"m1\"} 1.5\n"));
        assert!(text.contains("\nmodel_performance_cusum_limit{model=\"m1\"} 23.42\n"));
        assert!(text.contains("\nmodel_markout_cusum{model=\"m1\"} 0.25\n"));
        assert!(text.contains("\nmodel_markout_cusum_limit{model=\"m1\"} 19.5\n"));
        assert!(text.contains("\nstage_latency_ns{stage=\"decision\",quantile=\"0.99\"} 0\n"));
    }
}
