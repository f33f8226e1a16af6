//! `execution_report.html`: the scenarios side by side, one self-contained page (inline CSS and
//! SVG): for each figure, a row per scenario with its runs as dots over a box from the 25th to
//! the 75th percentile, whiskers to the 5th and 95th and the median marked; then the table of
//! quantiles.

use std::fmt::Write as _;

use super::{Report, RunResult, Spread};
use crate::canary::escape;

/// Chart size, px: the label column, the plot, one row per scenario.
const LABEL_WIDTH: f64 = 170.0;
const PLOT_WIDTH: f64 = 560.0;
const ROW_HEIGHT: f64 = 30.0;
const AXIS_HEIGHT: f64 = 28.0;

/// The figures charted: title, how to read one from a run, its spread's place in the report.
type Figure = (&'static str, fn(&RunResult) -> Option<f64>);

const FIGURES: [Figure; 5] = [
    ("Net PnL, USD", |run| Some(run.pnl_usd)),
    ("Worst drawdown, USD", |run| Some(run.worst_drawdown_usd)),
    ("Fill rate of entries", |run| run.fill_rate),
    ("Entry markout at 5 s, bps", |run| run.markout_5s_bps),
    ("Adverse fills (1 s markout below 0), share", |run| {
        run.adverse_fill_share
    }),
];

/// The page.
pub(super) fn page(report: &Report) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>simulate-execution of {id}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
         th{{background:#f4f4f4}}td:first-child{{text-align:left}}</style></head><body>\
         <h1>Execution of {id} under stress</h1><p>Days: {days}. {runs} runs a scenario, seed {seed}.</p>",
        id = escape(&report.model),
        days = escape(
            &report
                .days
                .iter()
                .map(|day| format!("{} ({})", day.date, day.regime))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        runs = report.runs_per_scenario,
        seed = report.seed,
    );
    page.push_str("<h2>Scenarios</h2><ul>");
    for scenario in &report.scenarios {
        let _ = write!(
            page,
            "<li><b>{}</b>: {}</li>",
            escape(&scenario.name),
            escape(&scenario.description)
        );
    }
    page.push_str("</ul>");
    for (title, figure) in FIGURES {
        let _ = write!(page, "<h2>{}</h2>", escape(title));
        page.push_str(&chart(report, figure));
    }
    page.push_str(
        "<h2>Net PnL, USD, by scenario</h2><table><tr><th>scenario</th><th>runs</th><th>mean</th>\
         <th>p5</th><th>p25</th><th>p50</th><th>p75</th><th>p95</th></tr>",
    );
    for scenario in &report.scenarios {
        if let Some(s) = scenario.distribution.pnl_usd {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{:+.2}</td><td>{:+.2}</td><td>{:+.2}</td>\
                 <td>{:+.2}</td><td>{:+.2}</td><td>{:+.2}</td></tr>",
                escape(&scenario.name),
                s.runs,
                s.mean,
                s.p5,
                s.p25,
                s.p50,
                s.p75,
                s.p95
            );
        }
    }
    page.push_str("</table></body></html>\n");
    page
}

/// One figure: a row per scenario.
fn chart(report: &Report, figure: fn(&RunResult) -> Option<f64>) -> String {
    let rows: Vec<(&str, Vec<f64>)> = report
        .scenarios
        .iter()
        .map(|scenario| {
            let values = scenario
                .runs
                .iter()
                .filter_map(figure)
                .filter(|value| value.is_finite())
                .collect();
            (scenario.name.as_str(), values)
        })
        .collect();
    let all = rows.iter().flat_map(|(_, values)| values.iter().copied());
    let low = all.clone().fold(f64::INFINITY, f64::min);
    let high = all.fold(f64::NEG_INFINITY, f64::max);
    let (low, high) = if low.is_finite() && high > low {
        (low, high)
    } else if low.is_finite() {
        (low - 1.0, low + 1.0)
    } else {
        (0.0, 1.0)
    };
    let x = |value: f64| LABEL_WIDTH + (value - low) / (high - low) * PLOT_WIDTH;
    let height = ROW_HEIGHT * rows.len() as f64 + AXIS_HEIGHT;
    let width = LABEL_WIDTH + PLOT_WIDTH + 20.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-size=\"11\">"
    );
    if low < 0.0 && high > 0.0 {
        let zero = x(0.0);
        let _ = write!(
            svg,
            "<line x1=\"{zero:.1}\" y1=\"0\" x2=\"{zero:.1}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"3,3\"/>",
            height - AXIS_HEIGHT
        );
    }
    for (index, (name, values)) in rows.iter().enumerate() {
        let middle = ROW_HEIGHT * index as f64 + ROW_HEIGHT / 2.0;
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{:.1}\">{}</text>",
            middle + 4.0,
            escape(name)
        );
        if let Some(spread) = Spread::of(values.iter().map(|&value| Some(value))) {
            let (top, box_height) = (middle - 8.0, 16.0);
            let _ = write!(
                svg,
                "<line x1=\"{:.1}\" y1=\"{middle:.1}\" x2=\"{:.1}\" y2=\"{middle:.1}\" stroke=\"#555\"/>\
                 <rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{box_height}\" fill=\"#dbe8f5\" stroke=\"#1f77b4\"/>\
                 <line x1=\"{:.1}\" y1=\"{top:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#d62728\" stroke-width=\"2\"/>",
                x(spread.p5),
                x(spread.p95),
                x(spread.p25),
                (x(spread.p75) - x(spread.p25)).max(1.0),
                x(spread.p50),
                x(spread.p50),
                top + box_height,
            );
        }
        for &value in values {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{middle:.1}\" r=\"2\" fill=\"#333\" fill-opacity=\"0.5\"/>",
                x(value)
            );
        }
    }
    let axis = height - AXIS_HEIGHT + 14.0;
    let _ = write!(
        svg,
        "<text x=\"{LABEL_WIDTH}\" y=\"{axis}\">{low:.2}</text>\
         <text x=\"{:.1}\" y=\"{axis}\" text-anchor=\"end\">{high:.2}</text></svg>",
        LABEL_WIDTH + PLOT_WIDTH
    );
    svg
}
