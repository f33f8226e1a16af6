//! `toolkit calibrate-fill`: fits the paper venue to what a venue did in paper or real
//! sessions, from their decision logs and the market they traded in.
//!
//! - **Latency** ([`latency`]): the order leg from each order's and cancel's departure to its
//!   arrival at the venue, the response leg from each answer's making to its receipt; each a
//!   floor plus a log-normal delay, with the activity factor of the configured
//!   `paper.latency_scaling` divided out (the fitted median is the one at factor 1).
//! - **Queue** ([`market`]): every session's orders and cancels are put again, at the times
//!   they reached the venue, to paper venues that differ only in `queue_power`; the power whose
//!   fills come closest to the session's is the fit (the smallest total, over orders, of the
//!   difference in time to first fill as a share of the time the order rested, plus the
//!   difference in the share of it filled). A market often cannot tell some powers apart (their
//!   fills are the same): all of them are reported, and of them the configured power is kept,
//!   or the nearest to it.
//! - **Fill curves** ([`survival`]): the probability that an order fills within t of reaching
//!   the venue, Kaplan-Meier with cancelled orders censored, by distance from the touch and by
//!   queue ahead (in the day's median touch sizes), observed and as the fitted queue model
//!   fills the same orders; each pair's largest gap and log-rank test.
//!
//! Written to `--out`: `fill_profile.yml` (a profile overlay of the `paper` keys, for
//! `engine run --profile` and `toolkit label --profile`), `calibration.json` and
//! `calibration.html`. Exit 1 when an observed fill curve of enough orders is further than
//! `--max-fill-gap` from the model's.

mod html;
mod latency;
mod market;
mod sessions;
mod survival;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use engine::cli::ConfigArgs;
use feed::Fixed;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::archive::Partition;
use crate::canary::traded;
use engine::config::Config;
use latency::{LatencyFit, Observation};
use market::{Injection, Injections, Market, Pass};
use sessions::{Message, Session, VenueTime};
use survival::{FillCurve, Subject, log_rank};

/// The outputs, in `--out`.
const PROFILE_FILE: &str = "fill_profile.yml";
const REPORT_JSON: &str = "calibration.json";
const REPORT_HTML: &str = "calibration.html";

/// Queue powers tried: 0.25 to 6 by 0.25.
const POWERS: [f64; 24] = [
    0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75, 4.0, 4.25,
    4.5, 4.75, 5.0, 5.25, 5.5, 5.75, 6.0,
];

/// Fill curves of fewer orders than this are shown but not judged.
const MIN_JUDGED_ORDERS: usize = 20;

/// Horizons of the fill probabilities in the table, s.
const HORIZONS_S: [f64; 3] = [1.0, 5.0, 30.0];

/// `toolkit calibrate-fill`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Decision logs of paper or real sessions (`decisions.jsonl` of `engine run`), all of one
    /// venue; the configuration's `paper.latency_scaling` is the one the fit divides out.
    #[arg(long, value_delimiter = ',', required = true, value_name = "FILE,...")]
    logs: Vec<PathBuf>,
    /// Journal directories of the market the sessions traded in (default, for each day the logs
    /// cover: paths.journal/SYMBOL/DATE, or the journal the archive's partition of the day was
    /// made from).
    #[arg(long, value_delimiter = ',', value_name = "DIR,...")]
    days: Vec<PathBuf>,
    /// Exit 1 when an observed fill curve of at least 20 orders is further than this from the
    /// fitted model's at any time (probability).
    #[arg(long, default_value_t = 0.1)]
    max_fill_gap: f64,
    /// Where the profile and the report go (default: paths.data/calibrate-fill).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The fitted queue power and how well each power reproduced the sessions' fills.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct QueueFit {
    /// The power fitted: of those with the smallest distance, the configured one or the
    /// nearest to it.
    pub(crate) power: f64,
    /// The least and greatest power with that distance: the market tells the power only
    /// within these.
    pub(crate) equally_close: (f64, f64),
    /// Orders compared.
    pub(crate) orders: usize,
    /// Per power tried: the total difference in time to first fill, s, and the orders filled
    /// in one and not the other.
    pub(crate) by_power: Vec<PowerScore>,
}

/// How one queue power reproduced the sessions' fills.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct PowerScore {
    pub(crate) power: f64,
    /// What the fit minimises: over orders, the difference in time to first fill as a share of
    /// the time the order could fill, plus the difference in the share of it that filled.
    pub(crate) distance: f64,
    /// Its parts: the total difference in time to first fill, s, and in filled shares.
    pub(crate) difference_s: f64,
    pub(crate) filled_share_difference: f64,
    /// Orders filled in one and not the other.
    pub(crate) mismatched_orders: usize,
}

/// Observed and modelled fill curves of one group of orders.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Stratum {
    /// Which orders: `all`, or their distance from the touch and queue ahead.
    pub(crate) name: String,
    pub(crate) observed: FillCurve,
    pub(crate) model: FillCurve,
    /// Probability of a fill within 1, 5 and 30 s: observed, model.
    pub(crate) within_s: Vec<(f64, f64, f64)>,
    /// Largest gap between the curves.
    pub(crate) largest_gap: f64,
    /// Log-rank test of the two: chi-square and p-value. The two curves are of the same
    /// orders (observed, and as the model fills them), not independent samples as the test
    /// assumes: read it as a measure of the difference, not as a calibrated p-value.
    pub(crate) log_rank: Option<(f64, f64)>,
    /// Judged against `--max-fill-gap` (enough orders), and within it.
    pub(crate) judged: bool,
    pub(crate) within_gap: bool,
}

/// What the paper venue's shadow of a real session's orders found (`engine run` in real mode
/// shadows every order): how often the two agreed on filling an order, and how far apart their
/// first fills were.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ShadowSummary {
    pub(crate) orders: usize,
    pub(crate) both_filled: usize,
    pub(crate) venue_only: usize,
    pub(crate) paper_only: usize,
    pub(crate) neither: usize,
    /// Share of orders the two agreed on (both filled it or neither did).
    pub(crate) agreement: f64,
    /// Over orders both filled: the mean gap between the first fills (paper minus venue), ms.
    pub(crate) mean_fill_gap_ms: Option<f64>,
}

impl ShadowSummary {
    /// One sentence of it, as the table and the page give it.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} compared, {:.1} % agreed (both filled {}, neither {}); venue only {}, paper only \
             {}; mean first-fill gap (paper - venue) {}",
            self.orders,
            self.agreement * 100.0,
            self.both_filled,
            self.neither,
            self.venue_only,
            self.paper_only,
            self.mean_fill_gap_ms
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.3} ms"))
        )
    }

    fn of(sessions: &[Session]) -> Option<ShadowSummary> {
        let compared: Vec<&sessions::ShadowCompared> =
            sessions.iter().flat_map(|s| &s.shadow).collect();
        if compared.is_empty() {
            return None;
        }
        let count = |venue: bool, paper: bool| {
            compared
                .iter()
                .filter(|c| {
                    c.venue_fill_ns.is_some() == venue && c.paper_fill_ns.is_some() == paper
                })
                .count()
        };
        let gaps: Vec<f64> = compared
            .iter()
            .filter_map(|c| Some(c.paper_fill_ns? as f64 - c.venue_fill_ns? as f64))
            .collect();
        let (both_filled, neither) = (count(true, true), count(false, false));
        Some(ShadowSummary {
            orders: compared.len(),
            both_filled,
            venue_only: count(true, false),
            paper_only: count(false, true),
            neither,
            agreement: (both_filled + neither) as f64 / compared.len() as f64,
            mean_fill_gap_ms: (!gaps.is_empty())
                .then(|| gaps.iter().sum::<f64>() / gaps.len() as f64 / 1e6),
        })
    }
}

impl Stratum {
    /// The fill probabilities within 1, 5 and 30 s, observed (`model` false) or modelled,
    /// joined by `separator`.
    pub(crate) fn within(&self, model: bool, separator: &str) -> String {
        self.within_s
            .iter()
            .map(|&(_, observed, modelled)| {
                format!("{:.2}", if model { modelled } else { observed })
            })
            .collect::<Vec<_>>()
            .join(separator)
    }

    /// The log-rank p-value as shown, `-` without one.
    pub(crate) fn log_rank_p(&self) -> String {
        self.log_rank
            .map_or_else(|| "-".to_owned(), |(_, p)| format!("{p:.3}"))
    }
}

/// `calibration.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Report {
    pub(crate) logs: Vec<PathBuf>,
    pub(crate) days: Vec<PathBuf>,
    pub(crate) orders: usize,
    pub(crate) refused_on_arrival: usize,
    pub(crate) answers: usize,
    pub(crate) latency_scaling: String,
    pub(crate) order_leg: LatencyFit,
    pub(crate) response_leg: Option<LatencyFit>,
    pub(crate) queue: QueueFit,
    /// The day's median size at the touch, the unit of queue ahead in the strata.
    pub(crate) median_touch_size: f64,
    pub(crate) strata: Vec<Stratum>,
    /// The paper shadow's comparisons of real orders, when the logs hold any.
    pub(crate) shadow: Option<ShadowSummary>,
    pub(crate) max_fill_gap: f64,
    pub(crate) passed: bool,
}

/// Runs `calibrate-fill`.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let loaded = args.config.load()?;
    let config = &loaded.config;
    let (symbol_name, symbol, instrument) = traded(&loaded)?;
    let sessions = args
        .logs
        .iter()
        .map(|path| Session::read(path))
        .collect::<Result<Vec<_>>>()?;
    let days = if args.days.is_empty() {
        days_of(&sessions, config, &symbol_name)?
    } else {
        let mut days = args.days.clone();
        days.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        days
    };

    // Before the market pass: the departures whose activity factor is wanted, and a typical
    // order latency for the requests whose arrival the log does not show.
    let legs = order_legs(&sessions);
    if legs.len() < 10 {
        bail!(
            "too few requests whose arrival the logs show ({}; at least 10)",
            legs.len()
        );
    }
    let typical_ns = typical_delay(&legs);
    let answers: Vec<&sessions::Answer> = sessions.iter().flat_map(|s| &s.answers).collect();
    let factor_times: Vec<u64> = legs
        .iter()
        .map(|leg| leg.sent_ns)
        .chain(answers.iter().map(|answer| answer.made.ns()))
        .collect();
    let progress = ProgressBar::new_spinner().with_style(ProgressStyle::with_template(
        "calibrate-fill: replaying the market {pos} frames ({per_sec})",
    )?);
    let market = Pass {
        config,
        symbol,
        instrument,
        days: &days,
        sessions: sessions
            .iter()
            .map(|session| (session.orders.len(), injections(session, typical_ns)))
            .collect(),
        powers: &POWERS,
        factor_times: &factor_times,
    }
    .run(|| progress.inc(1))?;
    progress.finish_and_clear();
    if market.frame_times.is_empty() {
        bail!("the days hold no market frame: {}", display_paths(&days));
    }

    let order_observations: Vec<Observation> = legs
        .iter()
        .zip(&market.factors)
        .map(|(leg, &factor)| {
            let (lo, hi) = (
                leg.arrived.lo_ns as f64 - leg.sent_ns as f64,
                leg.arrived.hi_ns as f64 - leg.sent_ns as f64,
            );
            if leg.arrived.exact() {
                Observation::exact(lo, factor)
            } else {
                Observation::between(lo, hi, factor)
            }
        })
        .collect();
    let order_observations = possible(order_observations);
    let order_leg = latency::fit(&order_observations)
        .context("the order leg could not be fitted (no positive delay)")?;
    let fair = fair_answers(&sessions);
    let response_observations: Vec<Observation> = answers
        .iter()
        .zip(&market.factors[legs.len()..])
        .zip(fair)
        .filter(|(_, fair)| *fair)
        .map(|((answer, &factor), _)| response_observation(answer, &market, factor))
        .collect();
    let response_observations = possible(response_observations);
    let response_leg = latency::fit(&response_observations);
    let (queue, strata) = queue_fit(
        &sessions,
        &market,
        config.paper.queue_power,
        args.max_fill_gap,
    );

    let report = Report {
        logs: args.logs.clone(),
        days: days.clone(),
        orders: sessions.iter().map(|s| s.orders.len()).sum(),
        refused_on_arrival: sessions
            .iter()
            .flat_map(|s| &s.orders)
            .filter(|o| o.rejected)
            .count(),
        answers: answers.len(),
        latency_scaling: serde_json::to_value(config.paper.latency_scaling.by)?
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        order_leg,
        response_leg,
        queue,
        median_touch_size: market.median_touch,
        passed: strata.iter().all(|s| s.within_gap),
        strata,
        shadow: ShadowSummary::of(&sessions),
        max_fill_gap: args.max_fill_gap,
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| config.paths.data.join("calibrate-fill"));
    write_outputs(&report, &out)?;
    print!("{}", table(&report));
    println!(
        "profile: {} (engine run --profile / toolkit label --profile)\nreport: {} and {}",
        out.join(PROFILE_FILE).display(),
        out.join(REPORT_JSON).display(),
        out.join(REPORT_HTML).display()
    );
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The journal of each UTC date the sessions cover: `paths.journal/SYMBOL/DATE`, or else the
/// journal the archive's partition of that day was made from (its sidecar's `source.journal`).
fn days_of(sessions: &[Session], config: &Config, symbol: &str) -> Result<Vec<PathBuf>> {
    let mut dates = Vec::new();
    for session in sessions {
        let (first, last) = (date_of(session.first_ns)?, date_of(session.last_ns)?);
        let mut date = first;
        while date <= last {
            dates.push(date);
            date = date.tomorrow().context("date out of range")?;
        }
    }
    dates.sort();
    dates.dedup();
    dates
        .into_iter()
        .map(|date| {
            let recorded = config.paths.journal.join(symbol).join(date.to_string());
            if recorded.is_dir() {
                return Ok(recorded);
            }
            let partition = Partition {
                symbol: symbol.to_owned(),
                date,
            };
            match partition.sidecar(config)? {
                Some(sidecar) if sidecar.source.journal.is_dir() => Ok(sidecar.source.journal),
                _ => bail!(
                    "the logs cover {date} but {} holds no journal, nor does the archive name one \
                     (give the days with --days)",
                    recorded.display()
                ),
            }
        })
        .collect()
}

fn date_of(ns: u64) -> Result<jiff::civil::Date> {
    let stamp = jiff::Timestamp::from_nanosecond(i128::from(ns)).context("time out of range")?;
    Ok(jiff::tz::TimeZone::UTC.to_datetime(stamp).date())
}

pub(super) fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A request whose arrival the log shows.
#[derive(Debug, Clone, Copy)]
struct Leg {
    sent_ns: u64,
    arrived: VenueTime,
}

/// Every order's and cancel's trip to the venue that the logs show. A paper venue delivers in
/// the order sent, so a request sent while the one before it was still on its way may have
/// waited for it: those are left out (their delay need not be the latency's). Which are kept
/// depends only on the requests before, not on a request's own delay: a fair sample.
fn order_legs(sessions: &[Session]) -> Vec<Leg> {
    let mut legs = Vec::new();
    for session in sessions {
        let mut sent: Vec<Message> = session
            .orders
            .iter()
            .flat_map(|order| std::iter::once(order.new).chain(order.cancel))
            .collect();
        sent.sort_by_key(|message| message.sent_ns);
        let mut last_arrival = None;
        for message in sent {
            let Some(arrived) = message.arrived else {
                continue;
            };
            let may_have_waited =
                arrived.exact() && last_arrival.is_some_and(|last| last > message.sent_ns);
            last_arrival = last_arrival.max(Some(arrived.ns()));
            if !may_have_waited && arrived.hi_ns > message.sent_ns {
                legs.push(Leg {
                    sent_ns: message.sent_ns,
                    arrived,
                });
            }
        }
    }
    legs
}

/// The median observed order-leg delay, ns.
fn typical_delay(legs: &[Leg]) -> u64 {
    let mut delays: Vec<u64> = legs
        .iter()
        .map(|leg| leg.arrived.ns().saturating_sub(leg.sent_ns))
        .collect();
    delays.sort_unstable();
    delays.get(delays.len() / 2).copied().unwrap_or(0)
}

/// A session's requests at the times they reached the venue (the typical delay after they
/// left when the log does not show it). An amended order is cancelled where it was amended:
/// the paper venue takes no amends, and the comparison stops there.
fn injections(session: &Session, typical_ns: u64) -> Injections {
    let arrival = |message: &Message| {
        message
            .arrived
            .map_or(message.sent_ns + typical_ns, VenueTime::ns)
    };
    let mut injections: Injections = Vec::new();
    for (index, order) in session.orders.iter().enumerate() {
        injections.push((
            arrival(&order.new),
            Injection::New {
                index,
                order: order.request,
            },
        ));
        let cancel = order.cancel.map(|cancel| arrival(&cancel));
        let amend = order.amended_ns.map(|ns| ns + typical_ns);
        if let Some(at) = cancel.into_iter().chain(amend).min() {
            injections.push((
                at,
                Injection::Cancel {
                    id: order.request.id,
                },
            ));
        }
    }
    injections.sort_by_key(|(at, _)| *at);
    injections
}

/// The observations a delay could have made: a window that ends at or before 0 (an answer
/// received before it was made: the host's clock and the venue's disagree) says nothing of
/// the latency and is left out.
fn possible(observations: Vec<Observation>) -> Vec<Observation> {
    observations.into_iter().filter(|o| o.hi_ns > 0.0).collect()
}

/// Per answer of every session, in order: whether its delay is the response latency's. A paper
/// venue delivers its answers in the order made, so one made while the one before it (in the
/// log, the order they were taken) was still on its way may have waited for it; those are left
/// out. Which answers are kept depends only on the one before, not on the answer's own delay,
/// so they are a fair sample. A live venue's answers, received when they came, are all kept.
fn fair_answers(sessions: &[Session]) -> Vec<bool> {
    sessions
        .iter()
        .flat_map(|session| {
            session.answers.iter().enumerate().map(|(at, answer)| {
                answer.receipt_exact
                    || at.checked_sub(1).is_none_or(|before| {
                        answer.made.ns() >= session.answers[before].received_ns
                    })
            })
        })
        .collect()
}

/// An answer's trip back: from its making (a window for a real venue's ms stamp) to its
/// receipt (exact from a live venue; after the frame before for a simulated one).
fn response_observation(answer: &sessions::Answer, market: &Market, factor: f64) -> Observation {
    let received = answer.received_ns as f64;
    let received_after = if answer.receipt_exact {
        received
    } else {
        market
            .frame_before(answer.received_ns)
            .map_or(0.0, |ns| ns as f64)
            .max(answer.made.ns() as f64)
    };
    let (made_lo, made_hi) = (answer.made.lo_ns as f64, answer.made.hi_ns as f64);
    if answer.receipt_exact && answer.made.exact() {
        Observation::exact(received - made_lo, factor)
    } else {
        Observation::between(received_after - made_hi, received - made_lo, factor)
    }
}

/// One order compared: what it met on arrival, how long it could fill, when it first did and
/// what share of it filled, in the session and per power replayed.
struct Compared {
    view: market::ArrivalView,
    window_s: f64,
    observed: Subject,
    observed_share: f64,
    replayed: Vec<(Subject, f64)>,
}

/// The queue power that reproduces the sessions' fills best, and the fill curves under it.
fn queue_fit(
    sessions: &[Session],
    market: &Market,
    configured_power: f64,
    max_gap: f64,
) -> (QueueFit, Vec<Stratum>) {
    let mut compared = Vec::new();
    for (s, session) in sessions.iter().enumerate() {
        // An order still working when its session's log ends is followed no further.
        let end = session.last_ns.min(market.end_ns());
        for (index, order) in session.orders.iter().enumerate() {
            let Some(arrived) = order.new.arrived.filter(|_| order.accepted) else {
                continue;
            };
            let at = arrived.ns();
            let until = order
                .cancel
                .and_then(|cancel| cancel.arrived.map(VenueTime::ns))
                .into_iter()
                .chain(order.amended_ns)
                .fold(end, u64::min)
                .max(at);
            let subject = |fill: Option<u64>| {
                let filled_at = fill.filter(|&ns| ns <= until);
                Subject {
                    seconds: filled_at.unwrap_or(until).saturating_sub(at) as f64 / 1e9,
                    filled: filled_at.is_some(),
                }
            };
            // How much of the order filled (not followed past an amend).
            let share = |filled: Fixed| {
                if order.amended_ns.is_some() || !order.request.qty.is_positive() {
                    0.0
                } else {
                    filled.to_f64() / order.request.qty.to_f64()
                }
            };
            compared.push(Compared {
                view: market.views[s][index],
                window_s: (until - at) as f64 / 1e9,
                observed: subject(order.first_fill.map(VenueTime::ns)),
                observed_share: share(order.filled),
                replayed: market.replayed[s]
                    .iter()
                    .map(|by_power| {
                        (
                            subject(by_power[index].first_fill_ns),
                            share(by_power[index].filled),
                        )
                    })
                    .collect(),
            });
        }
    }
    let by_power: Vec<PowerScore> = POWERS
        .iter()
        .enumerate()
        .map(|(p, &power)| {
            let time = |c: &Compared| (c.observed.seconds - c.replayed[p].0.seconds).abs();
            let share = |c: &Compared| (c.observed_share - c.replayed[p].1).abs();
            PowerScore {
                power,
                distance: compared
                    .iter()
                    .map(|c| time(c) / c.window_s.max(1e-9) + share(c))
                    .sum(),
                difference_s: compared.iter().map(time).sum(),
                filled_share_difference: compared.iter().map(share).sum(),
                mismatched_orders: compared
                    .iter()
                    .filter(|c| c.observed.filled != c.replayed[p].0.filled)
                    .count(),
            }
        })
        .collect();
    let least = by_power
        .iter()
        .map(|score| score.distance)
        .fold(f64::INFINITY, f64::min);
    let close: Vec<usize> = (0..POWERS.len())
        .filter(|&p| by_power[p].distance <= least + 1e-9)
        .collect();
    // Among the powers the market cannot tell apart, the configured one or the nearest to it:
    // the data do not ask to change more.
    let best = close
        .iter()
        .copied()
        .min_by(|&a, &b| {
            (POWERS[a] - configured_power)
                .abs()
                .total_cmp(&(POWERS[b] - configured_power).abs())
        })
        .unwrap_or(0);
    let queue = QueueFit {
        power: POWERS[best],
        equally_close: (
            POWERS[close.first().copied().unwrap_or(best)],
            POWERS[close.last().copied().unwrap_or(best)],
        ),
        orders: compared.len(),
        by_power,
    };

    let unit = market.median_touch;
    let mut groups: Vec<(String, Vec<&Compared>)> =
        vec![("all".to_owned(), compared.iter().collect())];
    for c in &compared {
        let name = stratum_name(c.view, unit);
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, members)) => members.push(c),
            None => groups.push((name, vec![c])),
        }
    }
    groups[1..].sort_by(|a, b| a.0.cmp(&b.0));
    let strata = groups
        .into_iter()
        .map(|(name, members)| {
            let observed: Vec<Subject> = members.iter().map(|c| c.observed).collect();
            let model: Vec<Subject> = members.iter().map(|c| c.replayed[best].0).collect();
            let (observed_curve, model_curve) = (FillCurve::of(&observed), FillCurve::of(&model));
            let largest_gap = observed_curve.largest_gap(&model_curve);
            let judged = members.len() >= MIN_JUDGED_ORDERS;
            Stratum {
                name,
                within_s: HORIZONS_S
                    .iter()
                    .map(|&t| (t, observed_curve.at(t), model_curve.at(t)))
                    .collect(),
                largest_gap,
                log_rank: log_rank(&observed, &model),
                judged,
                within_gap: !judged || largest_gap <= max_gap,
                observed: observed_curve,
                model: model_curve,
            }
        })
        .collect();
    (queue, strata)
}

/// The stratum of an order: its distance from the touch, then its queue ahead in touch sizes.
fn stratum_name(view: market::ArrivalView, unit: f64) -> String {
    let distance = match view.ticks_from_touch {
        None => "no touch",
        Some(ticks) if ticks < 0 => "inside the spread",
        Some(0) => "at the touch",
        Some(1) => "1 tick behind",
        Some(2..=4) => "2-4 ticks behind",
        Some(_) => "5+ ticks behind",
    };
    let queue = if unit <= 0.0 {
        "queue unknown"
    } else {
        match view.queue_ahead / unit {
            q if q < 0.5 => "queue ahead < 0.5 touch",
            q if q < 1.0 => "queue ahead 0.5-1 touch",
            q if q < 2.0 => "queue ahead 1-2 touches",
            _ => "queue ahead 2+ touches",
        }
    };
    format!("{distance}, {queue}")
}

fn write_outputs(report: &Report, out: &Path) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, text: String| {
        let path = out.join(name);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write(PROFILE_FILE, profile_overlay(report))?;
    write(REPORT_JSON, serde_json::to_string_pretty(report)? + "\n")?;
    write(REPORT_HTML, html::page(report))
}

/// The `paper` keys the fit sets, as a profile overlay.
fn profile_overlay(report: &Report) -> String {
    let duration = |ns: f64| format!("{}us", (ns / 1e3).round() as u64);
    let mut text = format!(
        "# Written by toolkit calibrate-fill from {} orders of {} log(s); see {REPORT_JSON}.\n\
         # The medians are at latency factor 1 (paper.latency_scaling: {}).\npaper:\n",
        report.orders,
        report.logs.len(),
        report.latency_scaling
    );
    let leg = &report.order_leg;
    let _ = writeln!(
        text,
        "  latency_min: {}\n  latency_median: {}\n  latency_sigma: {:.3}",
        duration(leg.min_ns),
        duration(leg.median_ns),
        leg.sigma
    );
    match &report.response_leg {
        Some(leg) => {
            let _ = writeln!(
                text,
                "  response_latency_min: {}\n  response_latency_median: {}\n  response_latency_sigma: {:.3}",
                duration(leg.min_ns),
                duration(leg.median_ns),
                leg.sigma
            );
        }
        None => text.push_str("  # response latency: too few answers to fit; left as configured\n"),
    }
    let _ = writeln!(text, "  queue_power: {}", report.queue.power);
    text
}

/// The terminal table.
fn table(report: &Report) -> String {
    let mut text = format!(
        "calibrate-fill: {} log(s), {} day(s), {} orders ({} refused on arrival), {} answers\n\n",
        report.logs.len(),
        report.days.len(),
        report.orders,
        report.refused_on_arrival,
        report.answers
    );
    let _ = writeln!(
        text,
        "{:<14} {:>10} {:>10} {:>7} {:>7} {:>9} {:>6}",
        "latency", "min ms", "median ms", "sigma", "obs", "censored", "KS"
    );
    for (name, leg) in [
        ("order leg", Some(&report.order_leg)),
        ("response leg", report.response_leg.as_ref()),
    ] {
        match leg {
            Some(leg) => {
                let _ = writeln!(
                    text,
                    "{name:<14} {:>10.3} {:>10.3} {:>7.3} {:>7} {:>9} {:>6.3}",
                    leg.min_ns / 1e6,
                    leg.median_ns / 1e6,
                    leg.sigma,
                    leg.observations,
                    leg.interval_censored,
                    leg.ks_distance
                );
            }
            None => {
                let _ = writeln!(text, "{name:<14} too few answers to fit");
            }
        }
    }
    let queue = &report.queue;
    let score = queue
        .by_power
        .iter()
        .find(|s| s.power == queue.power)
        .copied();
    let _ = writeln!(
        text,
        "\nqueue power {} over {} orders (the market cannot tell it from {} to {}); at it: \
         distance {:.4}, {:.3} s of difference in time to first fill, {} orders filled in one \
         and not the other\n",
        queue.power,
        queue.orders,
        queue.equally_close.0,
        queue.equally_close.1,
        score.map_or(0.0, |s| s.distance),
        score.map_or(0.0, |s| s.difference_s),
        score.map_or(0, |s| s.mismatched_orders)
    );
    let _ = writeln!(
        text,
        "{:<52} {:>6} {:>17} {:>17} {:>6} {:>9}",
        "fills within 1 / 5 / 30 s", "orders", "observed", "model", "gap", "log-rank p"
    );
    for stratum in &report.strata {
        let _ = writeln!(
            text,
            "{:<52} {:>6} {:>17} {:>17} {:>6.3} {:>9}{}",
            stratum.name,
            stratum.observed.orders,
            stratum.within(false, " "),
            stratum.within(true, " "),
            stratum.largest_gap,
            stratum.log_rank_p(),
            if stratum.within_gap {
                ""
            } else {
                "  GAP ABOVE --max-fill-gap"
            }
        );
    }
    if let Some(shadow) = &report.shadow {
        let _ = writeln!(
            text,
            "\npaper shadow of the real orders: {}",
            shadow.describe()
        );
    }
    let _ = writeln!(
        text,
        "\n{}",
        if report.passed {
            format!(
                "PASS: every fill curve of {MIN_JUDGED_ORDERS}+ orders within {} of the model",
                report.max_fill_gap
            )
        } else {
            format!(
                "FAIL: a fill curve of {MIN_JUDGED_ORDERS}+ orders is further than {} from the model",
                report.max_fill_gap
            )
        }
    );
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code

    use super::*;
    use sessions::ShadowCompared;

    /// Four real orders as their paper shadow compared them: two both filled (the paper 2 ms
    /// and 4 ms later), one the venue alone filled, one neither.
    #[test]
    fn the_shadow_summary_counts_agreement_and_the_fill_gap() {
        let compared = |venue: Option<u64>, paper: Option<u64>| ShadowCompared {
            venue_fill_ns: venue,
            paper_fill_ns: paper,
        };
        let session = Session {
            orders: Vec::new(),
            answers: Vec::new(),
            shadow: vec![
                compared(Some(10_000_000), Some(12_000_000)),
                compared(Some(20_000_000), Some(24_000_000)),
                compared(Some(30_000_000), None),
                compared(None, None),
            ],
            first_ns: 0,
            last_ns: 0,
        };
        let summary = ShadowSummary::of(&[session]).unwrap();
        assert_eq!(
            summary,
            ShadowSummary {
                orders: 4,
                both_filled: 2,
                venue_only: 1,
                paper_only: 0,
                neither: 1,
                agreement: 0.75,
                mean_fill_gap_ms: Some(3.0),
            }
        );
        assert_eq!(
            summary.describe(),
            "4 compared, 75.0 % agreed (both filled 2, neither 1); venue only 1, paper only 0; \
             mean first-fill gap (paper - venue) 3.000 ms"
        );
        assert_eq!(ShadowSummary::of(&[]), None);
    }
}
