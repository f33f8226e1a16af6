//! The exit summary of a run: trading results, the cold path's state, and the latency of
//! every hot-path stage against its budget.

use std::fmt::Write as _;

use super::RunReport;
use super::hot::StopReason;
use super::rings::Route;
use super::stats::{REJECT_REASONS, RINGS, StageHistograms, TimedStage};
use crate::config::LatencyBudget;

/// The per-stage latency table: p50, p99, p99.9 and max against each stage's budget.
pub fn latency_table(latency: &StageHistograms, budget: &LatencyBudget) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8}  p99 vs budget",
        "stage", "count", "p50 ns", "p99 ns", "p99.9 ns", "max ns", "budget"
    );
    for stage in TimedStage::ALL {
        let histogram = latency.get(stage);
        if histogram.is_empty() {
            let _ = writeln!(out, "{:<10} {:>10}", stage.label(), 0);
            continue;
        }
        let quantile = |q: f64| histogram.value_at_quantile(q);
        let p99 = quantile(0.99);
        let (budget_text, verdict) = match stage.budget(budget) {
            Some(limit) => (
                limit.to_string(),
                if p99 <= limit { "within" } else { "OVER" },
            ),
            None => ("-".to_owned(), ""),
        };
        let _ = writeln!(
            out,
            "{:<10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8}  {verdict}",
            stage.label(),
            histogram.len(),
            quantile(0.5),
            p99,
            quantile(0.999),
            histogram.max(),
            budget_text,
        );
    }
    out
}

/// The whole summary.
pub fn format(report: &RunReport, budget: &LatencyBudget) -> String {
    let stats = &report.hot.stats;
    let board = &report.board;
    let mut out = String::new();
    let market_s = stats.market_ns.saturating_sub(stats.first_market_ns) as f64 / 1e9;
    let stop = match report.hot.stop {
        StopReason::EndOfFeed => "end of feed",
        StopReason::Duration => "duration reached",
        StopReason::Signal => "stopped by signal",
        StopReason::VenueFailed => "the venue refused the credentials",
        StopReason::SourceFailed => "the feed failed",
    };
    let _ = writeln!(out, "== summary ({stop}, {market_s:.1} s of market time)");
    let errors: u64 = stats.decode_errors.iter().sum();
    let _ = writeln!(
        out,
        "feed:        {} frames, {errors} decode errors, {} book resyncs",
        stats.frames, stats.book_resyncs
    );
    let feed = &stats.feed;
    if feed.connects > 0 {
        let invalid = stats.book_invalidations;
        let losses = feed::bybit::live::LossReason::ALL
            .iter()
            .filter(|reason| feed.losses[reason.index()] > 0)
            .map(|reason| format!("{} {}", feed.losses[reason.index()], reason.label()))
            .collect::<Vec<_>>();
        let losses = if losses.is_empty() {
            "none".to_owned()
        } else {
            losses.join(", ")
        };
        let _ = writeln!(
            out,
            "connection:  {} reconnects ({} failed attempts); lost: {losses}; book invalid: {} gap, \
             {} crossed, {} disconnected",
            feed.reconnects(),
            feed.connect_failures,
            invalid[0],
            invalid[1],
            invalid[2]
        );
    }
    if let Some(venue) = &stats.venue {
        let _ = writeln!(
            out,
            "venue links: private {} connects, {} lost; trade {} connects, {} lost; {} auth \
             failures; {} creates, {} amends, {} cancels sent, {} refused locally, {} over REST",
            venue.connects[0],
            venue.losses[0],
            venue.connects[1],
            venue.losses[1],
            venue.auth_failures,
            venue.creates,
            venue.amends,
            venue.cancels,
            venue.local_rejects,
            venue.rest_fallbacks
        );
        let _ = writeln!(
            out,
            "reconcile:   {} reconciliations after {} unknown fates: {} missed fills, {} orders \
             settled, {} foreign orders cancelled, {} adopted, {} position corrections",
            venue.reconciliations,
            venue.unknown_fates,
            venue.missed_fills,
            venue.orders_settled,
            venue.foreign_cancels,
            venue.foreign_adopted,
            venue.position_corrections
        );
        let doubts = feed::venue::Doubt::ALL
            .iter()
            .filter(|reason| venue.doubts[reason.index()] > 0)
            .map(|reason| format!("{} {}", venue.doubts[reason.index()], reason.label()))
            .collect::<Vec<_>>();
        let _ = writeln!(
            out,
            "races:       doubts: {}; {} stale pushes, {} orders drained, {} deferred \
             reconciliations, {} outside executions, {} outside cancels{}",
            if doubts.is_empty() {
                "none".to_owned()
            } else {
                doubts.join(", ")
            },
            venue.stale_pushes,
            venue.drained,
            venue.reconciles_deferred,
            venue.outside_executions,
            venue.outside_cancels,
            if venue.entries_halted {
                "; entries halted (liquidation)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(
        out,
        "candidates:  {} ({} active, {} canary), {} entries sent",
        stats.total_candidates(),
        stats.candidates[Route::Active.index()],
        stats.candidates[Route::Canary.index()],
        stats.entries
    );
    let rejected: Vec<String> = REJECT_REASONS
        .iter()
        .zip(stats.rejections)
        .filter(|(_, count)| *count > 0)
        .map(|(reason, count)| format!("{reason} {count}"))
        .collect();
    if !rejected.is_empty() {
        let _ = writeln!(out, "not sent:    {}", rejected.join(", "));
    }
    let _ = writeln!(
        out,
        "orders:      {} sent, {} amends, {} cancels, {} venue rejects, {} fills, fill rate {:.3}",
        stats.orders,
        stats.amends,
        stats.cancels,
        stats.venue_rejects,
        stats.fills,
        stats.fill_rate()
    );
    let closed: u64 = stats.closed_trades.iter().sum();
    let _ = writeln!(
        out,
        "trades:      {closed} closed, winrate {:.3} (active {:.3} over the window, canary {:.3})",
        stats.winrate(),
        board.winrate[Route::Active.index()],
        board.winrate[Route::Canary.index()]
    );
    let markouts: Vec<String> = stats
        .markouts
        .iter()
        .zip(["1s", "5s", "30s"])
        .map(|(markout, horizon)| format!("{horizon} {:+.2} bps", markout.mean_bps()))
        .collect();
    let _ = writeln!(out, "markouts:    {}", markouts.join(", "));
    let _ = writeln!(
        out,
        "pnl:         net {:+.4} USD (realized {:+.4}, fees {:.4}), unrealized {:+.4}, position {}, balance {:.4}",
        stats.net_pnl(),
        stats.realized_pnl,
        stats.fees,
        stats.unrealized_pnl,
        report.hot.open_position,
        stats.balance
    );
    let _ = writeln!(
        out,
        "shutdown:    {} working orders cancelled, {} left at the venue",
        report.hot.cancels_at_shutdown, report.hot.resting_after_shutdown
    );
    let _ = writeln!(
        out,
        "models:      active {} ({}), shadow {}; {} swaps, {} refused; shadow scored {} (approved {})",
        board.active_id,
        board.backend,
        board.shadow_id.as_deref().unwrap_or("none"),
        stats.model_swaps,
        board.model_load_failures,
        board.shadow_evaluated,
        board.shadow_approved
    );
    let _ = writeln!(
        out,
        "parity:      {} live vectors, {} mismatches (onnx_parity_fail_total), max difference {:e}",
        board.parity_compared, board.onnx_parity_fail_total, board.parity_max_difference
    );
    let recorded = board
        .mode_switches
        .iter()
        .filter(|switch| switch.kind == "rollback_recorded")
        .count();
    let _ = writeln!(
        out,
        "supervisor:  {} mode switches, {} rollbacks{}, rollout {}",
        board.mode_switch_total,
        board.rollback_total,
        if recorded > 0 {
            format!(" ({recorded} recorded, not applied: a replay never changes the registry)")
        } else {
            String::new()
        },
        board.rollout.label()
    );
    let drops: Vec<String> = RINGS
        .iter()
        .zip(stats.ring_drops)
        .filter(|(_, count)| *count > 0)
        .map(|(ring, count)| format!("{ring} {count}"))
        .collect();
    let _ = writeln!(
        out,
        "ring drops:  {}",
        if drops.is_empty() {
            "none".to_owned()
        } else {
            drops.join(", ")
        }
    );
    if let Some(record) = &report.record {
        let _ = writeln!(
            out,
            "recorded:    {} frames into {}",
            record.frames,
            record.dir.display()
        );
    }
    let rss = &report.metrics.rss;
    let _ = write!(out, "memory:      anonymous RSS ");
    let too_short = rss.after_first_minute.total == 0;
    if !too_short {
        let _ = write!(
            out,
            "{:.1} MiB (total {:.1}) after the first minute of market time, ",
            mib(rss.after_first_minute.anonymous),
            mib(rss.after_first_minute.total)
        );
    }
    let _ = writeln!(
        out,
        "{:.1} MiB (total {:.1}) at the end, peak {:.1} MiB{}",
        mib(rss.last.anonymous),
        mib(rss.last.total),
        mib(rss.peak_anonymous),
        if too_short {
            "; the run was shorter than a minute of market time"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "log:         {} ({} records), sha256 {}",
        report.log.path.display(),
        report.log.records,
        report.log.sha256
    );
    let _ = writeln!(
        out,
        "\nlatency ({}hot thread):",
        if report.hot_pinned {
            "pinned "
        } else {
            "unpinned "
        }
    );
    out.push_str(&latency_table(&report.metrics.latency, budget));
    out
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
