//! `canary_report.html`: the report as one self-contained page (inline CSS and SVG, nothing
//! fetched): the verdict and gates, the summary tables, the equity curves of both models, the
//! markout distributions and the fill rate of entries by queue position.

use std::fmt::Write as _;

use super::{Report, SUMMARY_COLUMNS, looks};

/// Chart size, px.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const MARGIN: f64 = 48.0;
/// Colours of the candidate and the baseline.
const COLOURS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];
/// Markout histogram: bins of this many bps over +-this range (outside values in the edges).
const MARKOUT_BIN_BPS: f64 = 2.5;
const MARKOUT_RANGE_BPS: f64 = 40.0;
/// Queue-position buckets: quantiles of the candidate's queue ahead.
const QUEUE_BUCKETS: usize = 5;

/// The page.
pub(super) fn render(report: &Report) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>canary of {id}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
         th{{background:#f4f4f4}}td:first-child,td:nth-child(2){{text-align:left}}\
         .pass{{color:#070}}.fail{{color:#b00}}.inconclusive{{color:#a60}}</style></head><body>",
        id = escape(&report.candidate.id)
    );
    let verdict = report.verdict.label();
    let _ = write!(
        page,
        "<h1>Canary of {}</h1><p>Baseline: {}. Verdict: <b class=\"{}\">{verdict}</b>.</p>\
         <p>Trained on: {}<br>Judged on: {}<br>{}</p>",
        escape(&report.candidate.id),
        report
            .baseline
            .as_ref()
            .map_or("none".to_owned(), |baseline| escape(&baseline.id)),
        verdict.to_lowercase(),
        escape(&report.trained_on.join(", ")),
        escape(&report.judged_on.join(", ")),
        escape(&looks::describe(&report.earlier_looks).join("; "))
    );
    page.push_str("<h2>Gates (candidate, all days)</h2><table><tr><th>gate</th><th>value</th><th>bar</th><th>status</th></tr>");
    for check in &report.checks {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{:.4}</td><td>{} {:.4}</td><td class=\"{}\">{}</td></tr>",
            escape(&check.gate),
            check.value,
            if check.strict { "&gt;" } else { "&ge;" },
            check.bar,
            if check.passed { "pass" } else { "fail" },
            if check.passed { "pass" } else { "FAIL" }
        );
    }
    let power = &report.power;
    let _ = write!(
        page,
        "</table><p>Lower bounds are the 2.5 % end of a block bootstrap over {} blocks of market \
         time. Break-even winrate: {:.3}. Trades needed to judge: {} (at least {}, and {} for 80 % \
         power to see {:.2} USD per trade: sd {:.2} USD, design effect {:.2}).</p>",
        report.gates.block_length,
        report.break_even_winrate,
        if power.required_trades == u64::MAX {
            "more than there are".to_owned()
        } else {
            power.required_trades.to_string()
        },
        report.gates.min_trades,
        if power.trades_for_power == u64::MAX {
            "every".to_owned()
        } else {
            power.trades_for_power.to_string()
        },
        power.detectable_usd,
        power.sd_usd,
        power.design_effect
    );
    page.push_str(
        "<h2>Against the baselines (candidate minus baseline, net PnL, USD, paired by block)</h2>\
         <table><tr><th>baseline</th><th>what it enters</th><th>difference [95 %]</th></tr>",
    );
    for baseline in &report.baselines {
        let difference = &baseline.candidate_minus_baseline_usd;
        let _ = write!(
            page,
            "<tr><td>{}{}</td><td>{}</td><td>{:+.2} [{:+.2}, {:+.2}]</td></tr>",
            escape(&baseline.name),
            if baseline.name == report.best_baseline {
                " (best)"
            } else {
                ""
            },
            escape(&baseline.rule),
            difference.estimate,
            difference.low,
            difference.high
        );
    }
    page.push_str("</table>");
    if let Some(oracle) = &report.oracle {
        let _ = write!(
            page,
            "<p>Oracle ({}): {} trades, {:+.2} USD net; {}.</p>",
            escape(&oracle.rule),
            oracle.results.overall.trades,
            oracle.results.overall.net_pnl_usd,
            escape(&oracle.findings())
        );
    }
    page.push_str("<h2>Results</h2><table><tr><th>model</th><th>regime</th>");
    for column in SUMMARY_COLUMNS {
        let _ = write!(page, "<th>{column}</th>");
    }
    page.push_str("</tr>");
    for (role, results) in report.models() {
        for (regime, summary) in results.slices() {
            let _ = write!(page, "<tr><td>{role}</td><td>{}</td>", escape(regime));
            for cell in summary.cells() {
                let _ = write!(page, "<td>{cell}</td>");
            }
            page.push_str("</tr>");
        }
    }
    page.push_str("</table>");
    if let Some(comparison) = &report.comparison {
        let _ = write!(
            page,
            "<p>Winrate against the baseline: {:+.3}{}: {}.</p>",
            comparison.winrate_difference,
            comparison
                .z
                .map_or_else(String::new, |z| format!(" (two-proportion z = {z:+.2})")),
            escape(&comparison.finding)
        );
    }
    page.push_str("<h2>Equity curves (closed trades, USD)</h2>");
    page.push_str(&equity_chart(report));
    page.push_str("<h2>Markout distributions (share of fills, bps)</h2>");
    for (horizon, name) in ["1 s", "5 s", "30 s"].iter().enumerate() {
        let _ = write!(page, "<h3>{name}</h3>");
        page.push_str(&markout_chart(report, horizon));
    }
    page.push_str("<h2>Fills by queue position (entries, by size ahead when accepted)</h2>");
    page.push_str(&queue_chart(report));
    page.push_str("</body></html>\n");
    page
}

/// An SVG frame with axes from (x0, y0) to (x1, y1) in data units; returns the page text and
/// the map from data to pixels.
fn frame(x: (f64, f64), y: (f64, f64), x_label: &str) -> (String, impl Fn(f64, f64) -> (f64, f64)) {
    let (x0, x1) = (x.0, if x.1 > x.0 { x.1 } else { x.0 + 1.0 });
    let (y0, y1) = (y.0, if y.1 > y.0 { y.1 } else { y.0 + 1.0 });
    let map = move |vx: f64, vy: f64| {
        (
            MARGIN + (vx - x0) / (x1 - x0) * (WIDTH - 2.0 * MARGIN),
            HEIGHT - MARGIN - (vy - y0) / (y1 - y0) * (HEIGHT - 2.0 * MARGIN),
        )
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-size=\"11\">\
         <rect x=\"{MARGIN}\" y=\"{MARGIN}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
         <text x=\"4\" y=\"{}\">{y1:.1}</text><text x=\"4\" y=\"{}\">{y0:.1}</text>\
         <text x=\"{MARGIN}\" y=\"{}\">{x0:.1}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{x1:.1}</text>",
        WIDTH - 2.0 * MARGIN,
        HEIGHT - 2.0 * MARGIN,
        WIDTH / 2.0,
        HEIGHT - 8.0,
        escape(x_label),
        MARGIN + 4.0,
        HEIGHT - MARGIN,
        HEIGHT - MARGIN + 14.0,
        WIDTH - MARGIN,
        HEIGHT - MARGIN + 14.0,
    );
    (svg, map)
}

fn legend(svg: &mut String, report: &Report) {
    let names: Vec<&str> = report.models().iter().map(|(role, _)| *role).collect();
    legend_of(svg, &names);
}

fn legend_of(svg: &mut String, names: &[&str]) {
    for (index, role) in names.iter().enumerate() {
        let y = MARGIN + 14.0 * index as f64 + 12.0;
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{role}</text>",
            WIDTH - MARGIN - 90.0,
            y - 9.0,
            COLOURS[index % COLOURS.len()],
            WIDTH - MARGIN - 76.0,
            y
        );
    }
}

fn equity_chart(report: &Report) -> String {
    let curves: Vec<(String, Vec<f64>)> = report
        .models()
        .iter()
        .map(|(role, results)| {
            let mut curve = vec![0.0];
            curve.extend(results.equity_usd());
            ((*role).to_owned(), curve)
        })
        .collect();
    equity_svg(&curves)
}

/// Named equity curves (cumulative USD after each closed trade, from 0) on one SVG chart.
pub(crate) fn equity_svg(named: &[(String, Vec<f64>)]) -> String {
    let curves: Vec<&Vec<f64>> = named.iter().map(|(_, curve)| curve).collect();
    let longest = curves.iter().map(|curve| curve.len()).max().unwrap_or(1) as f64 - 1.0;
    let values = curves.iter().copied().flatten().copied();
    let low = values.clone().fold(0.0_f64, f64::min);
    let high = values.fold(0.0_f64, f64::max);
    let (mut svg, map) = frame((0.0, longest.max(1.0)), (low, high), "closed trades");
    let (zx0, zy) = map(0.0, 0.0);
    let (zx1, _) = map(longest.max(1.0), 0.0);
    let _ = write!(
        svg,
        "<line x1=\"{zx0}\" y1=\"{zy}\" x2=\"{zx1}\" y2=\"{zy}\" stroke=\"#ccc\"/>"
    );
    for (index, curve) in curves.iter().enumerate() {
        let points: Vec<String> = curve
            .iter()
            .enumerate()
            .map(|(x, &y)| {
                let (px, py) = map(x as f64, y);
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
            COLOURS[index % COLOURS.len()],
            points.join(" ")
        );
    }
    let names: Vec<&str> = named.iter().map(|(name, _)| name.as_str()).collect();
    legend_of(&mut svg, &names);
    svg.push_str("</svg>");
    svg
}

/// Named curves of (x, y) points on one SVG chart, as lines: `steps` draws each as a step
/// function (held until the next point), as survival curves are read.
pub(crate) fn lines_svg(named: &[(String, Vec<(f64, f64)>)], x_label: &str, steps: bool) -> String {
    let points = named.iter().flat_map(|(_, curve)| curve.iter().copied());
    let (x0, x1, y0, y1) = points.fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(x0, x1, y0, y1), (x, y)| (x0.min(x), x1.max(x), y0.min(y), y1.max(y)),
    );
    let finite = |v: f64, or: f64| if v.is_finite() { v } else { or };
    let (mut svg, map) = frame(
        (finite(x0, 0.0), finite(x1, 1.0)),
        (finite(y0, 0.0).min(0.0), finite(y1, 1.0)),
        x_label,
    );
    for (index, (_, curve)) in named.iter().enumerate() {
        let mut drawn: Vec<String> = Vec::with_capacity(curve.len() * 2);
        for (at, &(x, y)) in curve.iter().enumerate() {
            if steps && at > 0 {
                let (px, py) = map(x, curve[at - 1].1);
                drawn.push(format!("{px:.1},{py:.1}"));
            }
            let (px, py) = map(x, y);
            drawn.push(format!("{px:.1},{py:.1}"));
        }
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
            COLOURS[index % COLOURS.len()],
            drawn.join(" ")
        );
    }
    let names: Vec<&str> = named.iter().map(|(name, _)| name.as_str()).collect();
    legend_of(&mut svg, &names);
    svg.push_str("</svg>");
    svg
}

fn markout_chart(report: &Report, horizon: usize) -> String {
    let bins = (2.0 * MARKOUT_RANGE_BPS / MARKOUT_BIN_BPS) as usize;
    let shares: Vec<Vec<f64>> = report
        .models()
        .iter()
        .map(|(_, results)| {
            let mut counts = vec![0_u64; bins];
            let mut total = 0;
            for value in results
                .days
                .iter()
                .flat_map(|day| day.markouts_bps[horizon].iter().map(|markout| markout.bps))
            {
                let bin = ((value + MARKOUT_RANGE_BPS) / MARKOUT_BIN_BPS).floor();
                counts[(bin.max(0.0) as usize).min(bins - 1)] += 1;
                total += 1;
            }
            counts
                .into_iter()
                .map(|count| count as f64 / f64::from(total.max(1)))
                .collect()
        })
        .collect();
    let top = shares.iter().flatten().copied().fold(0.0_f64, f64::max);
    let (mut svg, map) = frame(
        (-MARKOUT_RANGE_BPS, MARKOUT_RANGE_BPS),
        (0.0, top),
        "markout (bps; the outer bins hold everything beyond)",
    );
    let series = shares.len() as f64;
    for (index, shares) in shares.iter().enumerate() {
        for (bin, &share) in shares.iter().enumerate() {
            let left = -MARKOUT_RANGE_BPS + bin as f64 * MARKOUT_BIN_BPS;
            let width = MARKOUT_BIN_BPS / series;
            let (x, y) = map(left + index as f64 * width, share);
            let (x_end, base) = map(left + (index as f64 + 1.0) * width, 0.0);
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                (x_end - x).max(0.5),
                base - y,
                COLOURS[index]
            );
        }
    }
    legend(&mut svg, report);
    svg.push_str("</svg>");
    svg
}

fn queue_chart(report: &Report) -> String {
    let mut ahead: Vec<f64> = report
        .candidate_results
        .days
        .iter()
        .flat_map(|day| day.entries.iter().map(|entry| entry.queue_ahead))
        .collect();
    ahead.sort_by(f64::total_cmp);
    if ahead.is_empty() {
        return "<p>No entry was accepted.</p>".to_owned();
    }
    // Inner edges at the candidate's quantiles, shared by both models.
    let mut edges: Vec<f64> = (1..QUEUE_BUCKETS)
        .map(|q| ahead[q * ahead.len() / QUEUE_BUCKETS])
        .collect();
    edges.dedup();
    let buckets = edges.len() + 1;
    let rates: Vec<Vec<(u64, u64)>> = report
        .models()
        .iter()
        .map(|(_, results)| {
            let mut counts = vec![(0_u64, 0_u64); buckets];
            for entry in results.days.iter().flat_map(|day| &day.entries) {
                let bucket = edges.partition_point(|&edge| edge <= entry.queue_ahead);
                counts[bucket].0 += u64::from(entry.filled);
                counts[bucket].1 += 1;
            }
            counts
        })
        .collect();
    let (mut svg, map) = frame(
        (0.0, buckets as f64),
        (0.0, 1.0),
        "size ahead when accepted (quantile buckets of the candidate's entries)",
    );
    let series = rates.len() as f64;
    for (index, counts) in rates.iter().enumerate() {
        for (bucket, &(filled, total)) in counts.iter().enumerate() {
            let share = filled as f64 / total.max(1) as f64;
            let width = 0.8 / series;
            let left = bucket as f64 + 0.1 + index as f64 * width;
            let (x, y) = map(left, share);
            let (x_end, base) = map(left + width, 0.0);
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{filled} of {total} filled</title></rect>",
                x_end - x,
                base - y,
                COLOURS[index]
            );
        }
    }
    for bucket in 0..buckets {
        let low = if bucket == 0 { 0.0 } else { edges[bucket - 1] };
        let label = match edges.get(bucket) {
            Some(high) => format!("{low:.3}-{high:.3}"),
            None => format!("{low:.3}+"),
        };
        let (x, y) = map(bucket as f64 + 0.5, 0.0);
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            y + 26.0
        );
    }
    legend(&mut svg, report);
    svg.push_str("</svg><p>Bars: the share of entries that filled at all; hover for counts.</p>");
    svg
}

/// Text made safe inside HTML.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
