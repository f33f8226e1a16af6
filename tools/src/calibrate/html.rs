//! `calibration.html`: the fit as one self-contained page: each latency leg's observed
//! distribution against the fitted one, how close each queue power came, and each group's
//! observed fill curve against the model's.

use std::fmt::Write as _;

use super::latency::LatencyFit;
use super::{Report, Stratum, display_paths};
use crate::canary::{escape, html::lines_svg};

/// Points of a fitted CDF drawn.
const CDF_POINTS: usize = 120;

/// The page.
pub(super) fn page(report: &Report) -> String {
    let mut page = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>calibrate-fill</title>\
         <style>body{font-family:sans-serif;margin:2em;max-width:1100px}\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}\
         th{background:#f4f4f4}td:first-child{text-align:left}</style></head><body>\
         <h1>Fill model calibration</h1>",
    );
    let _ = write!(
        page,
        "<p>{} orders ({} refused on arrival) and {} answers from {}; market: {}. {}</p>",
        report.orders,
        report.refused_on_arrival,
        report.answers,
        escape(&display_paths(&report.logs)),
        escape(&display_paths(&report.days)),
        if report.passed {
            "<b>PASS</b>: every judged fill curve within the gap allowed.".to_owned()
        } else {
            format!(
                "<b>FAIL</b>: a fill curve is further than {} from the model.",
                report.max_fill_gap
            )
        }
    );
    page.push_str(
        "<h2>Latency</h2><p>The fitted floor plus log-normal, and the observed delays (the \
         midpoints of their windows, each under the activity factor it met) against it.</p>",
    );
    for (name, leg) in [
        ("Order leg", Some(&report.order_leg)),
        ("Response leg", report.response_leg.as_ref()),
    ] {
        let _ = write!(page, "<h3>{name}</h3>");
        match leg {
            Some(leg) => {
                let _ = write!(
                    page,
                    "<p>min {:.3} ms, median {:.3} ms, sigma {:.3}; {} delays ({} known to a \
                     window of {:.2} ms on average); Kolmogorov-Smirnov distance {:.3}.</p>",
                    leg.min_ns / 1e6,
                    leg.median_ns / 1e6,
                    leg.sigma,
                    leg.observations,
                    leg.interval_censored,
                    leg.mean_window_ms,
                    leg.ks_distance
                );
                page.push_str(&latency_chart(leg));
            }
            None => page.push_str("<p>Too few answers to fit.</p>"),
        }
    }
    let queue = &report.queue;
    let _ = write!(
        page,
        "<h2>Queue power</h2><p>Each power replays the {} orders at the times they reached the \
         venue; the distance is the total, over orders, of the gap in time to first fill as a \
         share of the time the order rested, plus the gap in the share of it filled. Fitted: \
         <b>{}</b>; the market cannot tell it from any power between {} and {}.</p>",
        queue.orders, queue.power, queue.equally_close.0, queue.equally_close.1
    );
    let curve: Vec<(f64, f64)> = queue
        .by_power
        .iter()
        .map(|score| (score.power, score.distance))
        .collect();
    page.push_str(&lines_svg(
        &[("distance".to_owned(), curve)],
        "queue power",
        false,
    ));
    let _ = write!(
        page,
        "<h2>Fill curves</h2><p>Probability of a fill within t of reaching the venue \
         (Kaplan-Meier, cancelled orders censored), observed and as the fitted model fills the \
         same orders. Queue ahead is in the day's median touch size ({:.4}).</p>",
        report.median_touch_size
    );
    page.push_str(&strata_table(&report.strata));
    if let Some(shadow) = &report.shadow {
        let _ = write!(
            page,
            "<h2>Paper shadow of the real orders</h2><p>{}.</p>",
            escape(&shadow.describe())
        );
    }
    for stratum in &report.strata {
        let _ = write!(
            page,
            "<h3>{} ({} orders)</h3>",
            escape(&stratum.name),
            stratum.observed.orders
        );
        let steps = |curve: &super::FillCurve| {
            let mut points = vec![(0.0, 0.0)];
            points.extend(curve.steps.iter().copied());
            points
        };
        page.push_str(&lines_svg(
            &[
                ("observed".to_owned(), steps(&stratum.observed)),
                ("model".to_owned(), steps(&stratum.model)),
            ],
            "seconds after arrival",
            true,
        ));
    }
    page.push_str("</body></html>\n");
    page
}

/// The fitted CDF at factor 1, and the probability plot of the observations against the fit
/// (the diagonal where they agree).
fn latency_chart(leg: &LatencyFit) -> String {
    let high = leg.min_ns + leg.median_ns * (3.0 * leg.sigma).exp();
    let curve: Vec<(f64, f64)> = (0..=CDF_POINTS)
        .map(|i| {
            let ns = high * i as f64 / CDF_POINTS as f64;
            (ns / 1e6, leg.cdf(ns, 1.0))
        })
        .collect();
    let cdf = lines_svg(
        &[("fitted CDF, factor 1".to_owned(), curve)],
        "delay, ms",
        false,
    );
    let plot = lines_svg(
        &[
            ("observed".to_owned(), leg.probability_plot.clone()),
            ("perfect fit".to_owned(), vec![(0.0, 0.0), (1.0, 1.0)]),
        ],
        "fitted CDF at each delay (y: share of delays at or below)",
        false,
    );
    format!("{cdf}{plot}")
}

fn strata_table(strata: &[Stratum]) -> String {
    let mut table = String::from(
        "<table><tr><th>Orders</th><th>n</th><th>observed 1 s / 5 s / 30 s</th>\
         <th>model 1 s / 5 s / 30 s</th><th>largest gap</th><th>log-rank p</th><th>judged</th></tr>",
    );
    for stratum in strata {
        let _ = write!(
            table,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td></tr>",
            escape(&stratum.name),
            stratum.observed.orders,
            stratum.within(false, " / "),
            stratum.within(true, " / "),
            stratum.largest_gap,
            stratum.log_rank_p(),
            match (stratum.judged, stratum.within_gap) {
                (false, _) => "too few",
                (true, true) => "within",
                (true, false) => "<b>beyond</b>",
            }
        );
    }
    table.push_str("</table>");
    table
}
