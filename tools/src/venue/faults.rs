//! Injectable faults: the `--faults` grammar, its parser and the schedule that fires them.
//!
//! ```text
//! SPEC  = FAULT ("," FAULT)*
//! FAULT = KIND (":" KEY "=" VALUE)*
//! ```
//!
//! Every fault takes `after=D` (first firing; default `every`, or 0 without it), `every=D`
//! (repeat period; absent: fire once) and `times=N` (at most N firings). The kinds and their own
//! keys are listed in [`HELP`]. Random choices (only `chaos` makes any) come from one ChaCha8
//! generator seeded from `--seed`, so a seed gives the same sequence of faults.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The `--faults` part of `toolkit venue --help`.
pub(crate) const HELP: &str = "\
Faults (--faults SPEC):
  SPEC  = FAULT (\",\" FAULT)*
  FAULT = KIND (\":\" KEY \"=\" VALUE)*
  Every fault takes after=D (first firing; default: every, or 0 without every), every=D
  (repeat period; absent: fire once) and times=N (at most N firings). Durations: 500ms, 2s, 1m.
  Times count from the venue's start. While it runs, the venue also reads faults from its
  standard input, one SPEC a line, their times counted from when the line is read (type
  `manual-close` and Enter to close the position from outside at once). Kinds:
    drop             close every open public connection abruptly (TCP shutdown, no close frame)
    stall:for=D      send nothing on every open connection for D (default 60s): data due meanwhile
                     is dropped, pings are read and not answered, the socket stays open
    gap              the next delta of every book stream is applied to the view but not sent
    snapshot         send a fresh snapshot of every book stream (with the next u)
    restart          send a snapshot with u=1 on every book stream and continue from 1
    malformed        send one text frame of invalid JSON on every connection
    truncated        send the next delta of every book stream cut to half its bytes
    subscribe-fail   fail every topic of the next subscribe requests (times=N requests a firing,
                     default 1)
    pong-delay:ms=N  answer pings N ms late (for=D, default: from then on)
    pong-lost        do not answer pings (for=D, default: from then on)
    burst:frames=N   send the next N market frames at once, as fast as the socket takes them
                     (default 2000); the stream then pauses until the clock catches up
    skew:ms=N        add N ms (may be negative) to every time stamp the venue sends, from then on
                     (each firing adds N again)
    rate-limit       answer the next signed REST and trade-stream order requests retCode 10006
                     \"Too many visits!\" with X-Bapi-Limit-Status 0 and a reset 1 s ahead
                     (times=N requests a firing, default 1)
    ip-ban           answer the next REST requests HTTP 403 without a Bybit body, as Bybit's IP
                     limit does (times=N requests a firing, default 1)
    ack-lost         carry out the next trade-stream order requests but send no answer (times=N
                     requests a firing, default 1)
    ack-delay:ms=N   answer trade-stream order requests N ms late (for=D, default: from then on)
    push-lost        send the next private-stream pushes to nobody (times=N pushes a firing,
                     default 1): what they said is found only by asking REST
    order-first:ms=N a fill's order push goes first, its execution, position and wallet pushes
                     N ms later (for=D, default: from then on)
    push-reorder:ms=N  the pushes of each change go in a random order (seeded), each up to N ms
                     late (for=D, default: from then on)
    exec-lag:ms=N    executions are listed by /v5/execution/list only N ms after they happened
                     (for=D, default: from then on)
    fee-decimals     execution fees are written with a ninth decimal (for=D, default: from then on)
    adl:share=F      auto-deleveraging takes F (0 to 1, default 1) of the position: an AdlTrade
                     execution at the mid, the position and wallet pushed
    liquidation      the account is liquidated: every open order cancelled with CancelByPrepareLiq,
                     then a BustTrade execution closes the position
    manual-close     the position is closed from outside (a market order from the web UI): its
                     order and execution pushed, the position and wallet too
    foreign-order    another client places a post-only order 1 % away from the touch
    cancel-ignored   answer the next single-order cancels OK and do nothing (times=N requests a
                     firing, default 1); cancel-all still works, unless scope=all
    rest-delay:ms=N  answer signed REST requests N ms late (for=D, default: from then on)
    fatal:code=C     answer the next order requests (trade stream and REST) retCode C, as for a key
                     that lost its permission (times=N requests a firing, default 1)
    chaos            each firing picks one of drop, stall (3s), gap, snapshot, restart,
                     malformed, truncated, pong-lost (3s), burst at random from --seed
  Examples: --faults gap:every=5s   --faults drop:after=10s:every=30s:times=3,skew:ms=-250
            --faults chaos:every=2s   --faults order-first:ms=800,manual-close:after=20s";

/// Every fault kind, as written in a spec.
pub(crate) const KINDS: [&str; 29] = [
    "drop",
    "stall",
    "gap",
    "snapshot",
    "restart",
    "malformed",
    "truncated",
    "subscribe-fail",
    "pong-delay",
    "pong-lost",
    "burst",
    "skew",
    "rate-limit",
    "ip-ban",
    "ack-lost",
    "ack-delay",
    "push-lost",
    "order-first",
    "push-reorder",
    "exec-lag",
    "fee-decimals",
    "adl",
    "liquidation",
    "manual-close",
    "foreign-order",
    "cancel-ignored",
    "rest-delay",
    "fatal",
    "chaos",
];

/// Keys every fault takes.
const COMMON_KEYS: [&str; 3] = ["after", "every", "times"];

/// How long `stall` lasts by default.
const DEFAULT_STALL: Duration = Duration::from_secs(60);
/// How long `chaos`'s stall and pong-lost last.
const CHAOS_WINDOW: Duration = Duration::from_secs(3);
/// Frames of a `burst` by default.
const DEFAULT_BURST_FRAMES: u64 = 2000;

/// Why a fault spec is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FaultError {
    /// An empty fault (`,,` or a trailing comma).
    #[error("empty fault in {0:?}")]
    Empty(String),
    /// A kind that does not exist.
    #[error("unknown fault kind {kind:?}; valid kinds: {}", KINDS.join(", "))]
    UnknownKind {
        /// The kind given.
        kind: String,
    },
    /// A key the kind does not take.
    #[error("fault {kind}: unknown key {key:?}; valid keys: {valid}")]
    UnknownKey {
        /// The fault kind.
        kind: &'static str,
        /// The key given.
        key: String,
        /// The keys it takes.
        valid: String,
    },
    /// `KEY` without `=VALUE`.
    #[error("fault {kind}: {part:?} is not KEY=VALUE")]
    NotKeyValue {
        /// The fault kind.
        kind: &'static str,
        /// The text.
        part: String,
    },
    /// A key given twice.
    #[error("fault {kind}: {key} given twice")]
    Duplicate {
        /// The fault kind.
        kind: &'static str,
        /// The key.
        key: String,
    },
    /// A value that does not parse.
    #[error("fault {kind}: {key}={value:?} is not {expected}")]
    BadValue {
        /// The fault kind.
        kind: &'static str,
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A required key is missing.
    #[error("fault {kind} needs {key}=N")]
    Missing {
        /// The fault kind.
        kind: &'static str,
        /// The key.
        key: &'static str,
    },
}

/// What a fault does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    /// Close every public connection abruptly.
    Drop,
    /// Send nothing on every connection for a while.
    Stall {
        /// How long.
        period: Duration,
    },
    /// Withhold the next delta of every book stream.
    Gap,
    /// A fresh snapshot on every book stream.
    Snapshot,
    /// A snapshot with `u = 1` on every book stream.
    Restart,
    /// One frame of invalid JSON on every connection.
    Malformed,
    /// The next delta of every book stream cut in half.
    Truncated,
    /// Fail the next subscribe requests.
    SubscribeFail {
        /// Requests that fail per firing.
        requests: u32,
    },
    /// Answer pings late.
    PongDelay {
        /// The delay.
        delay: Duration,
        /// For how long (None: from then on).
        period: Option<Duration>,
    },
    /// Do not answer pings.
    PongLost {
        /// For how long (None: from then on).
        period: Option<Duration>,
    },
    /// The next market frames at once.
    Burst {
        /// How many.
        frames: u64,
    },
    /// Shift every time stamp.
    Skew {
        /// Milliseconds added (negative: earlier).
        ms: i64,
    },
    /// Answer the next signed REST requests 10006.
    RateLimit {
        /// Requests refused per firing.
        requests: u32,
    },
    /// Answer the next REST requests HTTP 403.
    IpBan {
        /// Requests refused per firing.
        requests: u32,
    },
    /// Carry out the next trade-stream order requests without answering.
    AckLost {
        /// Requests per firing.
        requests: u32,
    },
    /// Answer trade-stream order requests late.
    AckDelay {
        /// The delay.
        delay: Duration,
        /// For how long (None: from then on).
        period: Option<Duration>,
    },
    /// Send the next private pushes to nobody.
    PushLost {
        /// Pushes per firing.
        pushes: u32,
    },
    /// A fill's `order` push first, the rest of its pushes this late.
    OrderFirst {
        /// How late.
        delay: Duration,
        /// For how long (None: from then on).
        period: Option<Duration>,
    },
    /// The pushes of each change in a random order, each up to this late.
    PushReorder {
        /// The most a push is held back.
        delay: Duration,
        /// For how long (None: from then on).
        period: Option<Duration>,
    },
    /// Executions listed by REST only this long after they happened.
    ExecLag {
        /// How long.
        lag: Duration,
        /// For how long (None: from then on).
        period: Option<Duration>,
    },
    /// Fees written with a ninth decimal.
    FeeDecimals {
        /// For how long (None: from then on).
        period: Option<Duration>,
    },
    /// Auto-deleveraging of a share of the position.
    Adl {
        /// The share taken, per mille (1000: all of it).
        per_mille: u32,
    },
    /// A liquidation.
    Liquidation,
    /// A manual close from outside.
    ManualClose,
    /// Another client's order.
    ForeignOrder,
    /// Answer the next single-order cancels (and cancel-alls too with `all`) OK and do
    /// nothing.
    CancelIgnored {
        /// Requests per firing.
        requests: u32,
        /// Cancel-all too.
        all: bool,
    },
    /// Answer signed REST requests late.
    RestDelay {
        /// How late.
        delay: Duration,
        /// For how long (None: from then on).
        period: Option<Duration>,
    },
    /// Answer the next order requests with a code that refuses the credentials.
    Fatal {
        /// The `retCode`.
        code: i64,
        /// Requests per firing.
        requests: u32,
    },
    /// One of the above at random on each firing.
    Chaos,
}

impl FaultKind {
    /// The name used in specs and logs.
    pub(crate) const fn name(&self) -> &'static str {
        match self {
            FaultKind::Drop => "drop",
            FaultKind::Stall { .. } => "stall",
            FaultKind::Gap => "gap",
            FaultKind::Snapshot => "snapshot",
            FaultKind::Restart => "restart",
            FaultKind::Malformed => "malformed",
            FaultKind::Truncated => "truncated",
            FaultKind::SubscribeFail { .. } => "subscribe-fail",
            FaultKind::PongDelay { .. } => "pong-delay",
            FaultKind::PongLost { .. } => "pong-lost",
            FaultKind::Burst { .. } => "burst",
            FaultKind::Skew { .. } => "skew",
            FaultKind::RateLimit { .. } => "rate-limit",
            FaultKind::IpBan { .. } => "ip-ban",
            FaultKind::AckLost { .. } => "ack-lost",
            FaultKind::AckDelay { .. } => "ack-delay",
            FaultKind::PushLost { .. } => "push-lost",
            FaultKind::OrderFirst { .. } => "order-first",
            FaultKind::PushReorder { .. } => "push-reorder",
            FaultKind::ExecLag { .. } => "exec-lag",
            FaultKind::FeeDecimals { .. } => "fee-decimals",
            FaultKind::Adl { .. } => "adl",
            FaultKind::Liquidation => "liquidation",
            FaultKind::ManualClose => "manual-close",
            FaultKind::ForeignOrder => "foreign-order",
            FaultKind::CancelIgnored { .. } => "cancel-ignored",
            FaultKind::RestDelay { .. } => "rest-delay",
            FaultKind::Fatal { .. } => "fatal",
            FaultKind::Chaos => "chaos",
        }
    }

    /// Keys of this kind besides the common ones.
    fn own_keys(name: &str) -> &'static [&'static str] {
        match name {
            "stall" => &["for"],
            "pong-delay" | "ack-delay" | "order-first" | "push-reorder" | "exec-lag"
            | "rest-delay" => &["ms", "for"],
            "fee-decimals" => &["for"],
            "cancel-ignored" => &["scope"],
            "adl" => &["share"],
            "fatal" => &["code"],
            "pong-lost" => &["for"],
            "burst" => &["frames"],
            "skew" => &["ms"],
            _ => &[],
        }
    }
}

/// One fault of a spec with its timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault {
    /// What it does.
    pub(crate) kind: FaultKind,
    /// First firing, from the venue's start.
    pub(crate) after: Duration,
    /// Repeat period (None: once).
    pub(crate) every: Option<Duration>,
    /// Most firings (None: no limit).
    pub(crate) times: Option<u32>,
}

/// The parsed `--faults` spec: faults in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FaultPlan {
    faults: Vec<Fault>,
    text: String,
}

impl FaultPlan {
    /// The faults.
    pub(crate) fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// True when there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for FaultPlan {
    type Err = FaultError;

    fn from_str(spec: &str) -> Result<FaultPlan, FaultError> {
        let faults = spec
            .split(',')
            .map(|fault| parse_fault(fault.trim(), spec))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FaultPlan {
            faults,
            text: spec.to_owned(),
        })
    }
}

/// The key-value pairs of one fault, checked against what its kind takes.
struct Keys {
    kind: &'static str,
    pairs: Vec<(String, String)>,
}

impl Keys {
    fn take(&mut self, key: &str) -> Option<String> {
        let index = self.pairs.iter().position(|(name, _)| name == key)?;
        Some(self.pairs.swap_remove(index).1)
    }

    fn duration(&mut self, key: &'static str) -> Result<Option<Duration>, FaultError> {
        self.take(key)
            .map(|value| {
                humantime::parse_duration(&value).map_err(|_| FaultError::BadValue {
                    kind: self.kind,
                    key,
                    value,
                    expected: "a duration (e.g. 500ms, 2s, 1m)",
                })
            })
            .transpose()
    }

    fn number<T: FromStr>(
        &mut self,
        key: &'static str,
        expected: &'static str,
    ) -> Result<Option<T>, FaultError> {
        self.take(key)
            .map(|value| {
                value.parse().map_err(|_| FaultError::BadValue {
                    kind: self.kind,
                    key,
                    value,
                    expected,
                })
            })
            .transpose()
    }

    fn positive(&mut self, key: &'static str) -> Result<Option<u64>, FaultError> {
        match self.number::<u64>(key, "a positive integer")? {
            Some(0) => Err(FaultError::BadValue {
                kind: self.kind,
                key,
                value: "0".to_owned(),
                expected: "a positive integer",
            }),
            other => Ok(other),
        }
    }
}

fn parse_fault(text: &str, spec: &str) -> Result<Fault, FaultError> {
    let mut parts = text.split(':');
    let name = parts.next().unwrap_or_default().trim();
    if name.is_empty() {
        return Err(FaultError::Empty(spec.to_owned()));
    }
    let Some(&kind) = KINDS.iter().find(|&&kind| kind == name) else {
        return Err(FaultError::UnknownKind {
            kind: name.to_owned(),
        });
    };
    let own = FaultKind::own_keys(kind);
    let mut keys = Keys {
        kind,
        pairs: Vec::new(),
    };
    for part in parts {
        let Some((key, value)) = part.split_once('=') else {
            return Err(FaultError::NotKeyValue {
                kind,
                part: part.to_owned(),
            });
        };
        let key = key.trim();
        if !COMMON_KEYS.contains(&key) && !own.contains(&key) {
            return Err(FaultError::UnknownKey {
                kind,
                key: key.to_owned(),
                valid: COMMON_KEYS
                    .iter()
                    .chain(own)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if keys.pairs.iter().any(|(name, _)| name == key) {
            return Err(FaultError::Duplicate {
                kind,
                key: key.to_owned(),
            });
        }
        keys.pairs.push((key.to_owned(), value.trim().to_owned()));
    }

    let every = keys.duration("every")?;
    if every == Some(Duration::ZERO) {
        return Err(FaultError::BadValue {
            kind,
            key: "every",
            value: "0".to_owned(),
            expected: "a positive duration",
        });
    }
    let after = keys.duration("after")?.or(every).unwrap_or_default();
    let times = keys
        .positive("times")?
        .map(|times| u32::try_from(times).unwrap_or(u32::MAX));
    let fault_kind = match kind {
        "drop" => FaultKind::Drop,
        "stall" => FaultKind::Stall {
            period: keys.duration("for")?.unwrap_or(DEFAULT_STALL),
        },
        "gap" => FaultKind::Gap,
        "snapshot" => FaultKind::Snapshot,
        "restart" => FaultKind::Restart,
        "malformed" => FaultKind::Malformed,
        "truncated" => FaultKind::Truncated,
        "pong-delay" => FaultKind::PongDelay {
            delay: Duration::from_millis(
                keys.number::<u64>("ms", "a number of milliseconds")?
                    .ok_or(FaultError::Missing { kind, key: "ms" })?,
            ),
            period: keys.duration("for")?,
        },
        "ack-delay" => FaultKind::AckDelay {
            delay: Duration::from_millis(
                keys.number::<u64>("ms", "a number of milliseconds")?
                    .ok_or(FaultError::Missing { kind, key: "ms" })?,
            ),
            period: keys.duration("for")?,
        },
        "pong-lost" => FaultKind::PongLost {
            period: keys.duration("for")?,
        },
        "order-first" | "push-reorder" | "exec-lag" | "rest-delay" => {
            let delay = Duration::from_millis(
                keys.number::<u64>("ms", "a number of milliseconds")?
                    .ok_or(FaultError::Missing { kind, key: "ms" })?,
            );
            let period = keys.duration("for")?;
            match kind {
                "order-first" => FaultKind::OrderFirst { delay, period },
                "push-reorder" => FaultKind::PushReorder { delay, period },
                "exec-lag" => FaultKind::ExecLag { lag: delay, period },
                _ => FaultKind::RestDelay { delay, period },
            }
        }
        "fee-decimals" => FaultKind::FeeDecimals {
            period: keys.duration("for")?,
        },
        "adl" => {
            let share = keys
                .number::<f64>("share", "a share from 0 to 1")?
                .unwrap_or(1.0);
            if !(share > 0.0 && share <= 1.0) {
                return Err(FaultError::BadValue {
                    kind,
                    key: "share",
                    value: share.to_string(),
                    expected: "a share above 0 and at most 1",
                });
            }
            FaultKind::Adl {
                per_mille: (share * 1000.0).round() as u32,
            }
        }
        "liquidation" => FaultKind::Liquidation,
        "manual-close" => FaultKind::ManualClose,
        "foreign-order" => FaultKind::ForeignOrder,
        "burst" => FaultKind::Burst {
            frames: keys.positive("frames")?.unwrap_or(DEFAULT_BURST_FRAMES),
        },
        "skew" => FaultKind::Skew {
            ms: keys
                .number::<i64>("ms", "a whole number of milliseconds")?
                .ok_or(FaultError::Missing { kind, key: "ms" })?,
        },
        "chaos" => FaultKind::Chaos,
        // `times` counts the failing requests of one firing here, not firings.
        "subscribe-fail" | "rate-limit" | "ip-ban" | "ack-lost" | "push-lost"
        | "cancel-ignored" | "fatal" => {
            let requests = times.unwrap_or(1);
            return Ok(Fault {
                kind: match kind {
                    "subscribe-fail" => FaultKind::SubscribeFail { requests },
                    "rate-limit" => FaultKind::RateLimit { requests },
                    "ack-lost" => FaultKind::AckLost { requests },
                    "push-lost" => FaultKind::PushLost { pushes: requests },
                    "cancel-ignored" => FaultKind::CancelIgnored {
                        requests,
                        all: match keys.take("scope").as_deref() {
                            None | Some("single") => false,
                            Some("all") => true,
                            Some(other) => {
                                return Err(FaultError::BadValue {
                                    kind,
                                    key: "scope",
                                    value: other.to_owned(),
                                    expected: "single or all",
                                });
                            }
                        },
                    },
                    "fatal" => FaultKind::Fatal {
                        code: keys
                            .number::<i64>("code", "a retCode")?
                            .ok_or(FaultError::Missing { kind, key: "code" })?,
                        requests,
                    },
                    _ => FaultKind::IpBan { requests },
                },
                after,
                every,
                times: None,
            });
        }
        _ => {
            return Err(FaultError::UnknownKind {
                kind: kind.to_owned(),
            });
        }
    };
    Ok(Fault {
        kind: fault_kind,
        after,
        every,
        times,
    })
}

/// A fault's next firing.
#[derive(Debug)]
struct Entry {
    fault: Fault,
    next: Option<Instant>,
    fired: u32,
}

/// When each fault of a plan fires, from a start instant.
#[derive(Debug)]
pub(crate) struct FaultSchedule {
    entries: Vec<Entry>,
    rng: ChaCha8Rng,
}

impl FaultSchedule {
    /// The schedule of `plan` from `start`; `seed` drives `chaos`'s choices.
    pub(crate) fn new(plan: &FaultPlan, start: Instant, seed: u64) -> FaultSchedule {
        FaultSchedule {
            entries: plan
                .faults()
                .iter()
                .map(|&fault| Entry {
                    fault,
                    next: start.checked_add(fault.after),
                    fired: 0,
                })
                .collect(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0xFA17_5EED_0000_0000),
        }
    }

    /// Adds the faults of `plan`, their times counted from `start` (faults given on standard
    /// input while the venue runs).
    pub(crate) fn add(&mut self, plan: &FaultPlan, start: Instant) {
        self.entries
            .extend(plan.faults().iter().map(|&fault| Entry {
                fault,
                next: start.checked_add(fault.after),
                fired: 0,
            }));
    }

    /// When the next fault is due (None: no more).
    pub(crate) fn next_at(&self) -> Option<Instant> {
        self.entries.iter().filter_map(|entry| entry.next).min()
    }

    /// Every firing due at `now`, in plan order, with `chaos` resolved to the fault it picked.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<FaultKind> {
        let mut fired = Vec::new();
        for entry in &mut self.entries {
            let Some(next) = entry.next else { continue };
            if next > now {
                continue;
            }
            entry.fired += 1;
            let exhausted = entry.fault.times.is_some_and(|times| entry.fired >= times);
            entry.next = match entry.fault.every {
                Some(every) if !exhausted => {
                    // A late wake-up fires once, not once per missed period.
                    let mut at = next.checked_add(every);
                    while let Some(due) = at.filter(|due| *due <= now) {
                        at = due.checked_add(every);
                    }
                    at
                }
                _ => None,
            };
            fired.push(match entry.fault.kind {
                FaultKind::Chaos => chaos_pick(&mut self.rng),
                kind => kind,
            });
        }
        fired
    }
}

/// One of chaos's faults at random.
fn chaos_pick(rng: &mut ChaCha8Rng) -> FaultKind {
    match rng.random_range(0..9) {
        0 => FaultKind::Drop,
        1 => FaultKind::Stall {
            period: CHAOS_WINDOW,
        },
        2 => FaultKind::Gap,
        3 => FaultKind::Snapshot,
        4 => FaultKind::Restart,
        5 => FaultKind::Malformed,
        6 => FaultKind::Truncated,
        7 => FaultKind::PongLost {
            period: Some(CHAOS_WINDOW),
        },
        _ => FaultKind::Burst {
            frames: DEFAULT_BURST_FRAMES,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(spec: &str) -> Vec<Fault> {
        spec.parse::<FaultPlan>().unwrap().faults().to_vec()
    }

    #[test]
    fn parses_kinds_keys_and_defaults() {
        let faults = plan("gap,stall:for=2s:after=1s,skew:ms=-250,pong-delay:ms=300:for=1m");
        assert_eq!(
            faults[0],
            Fault {
                kind: FaultKind::Gap,
                after: Duration::ZERO,
                every: None,
                times: None
            }
        );
        assert_eq!(
            faults[1].kind,
            FaultKind::Stall {
                period: Duration::from_secs(2)
            }
        );
        assert_eq!(faults[1].after, Duration::from_secs(1));
        assert_eq!(faults[2].kind, FaultKind::Skew { ms: -250 });
        assert_eq!(
            faults[3].kind,
            FaultKind::PongDelay {
                delay: Duration::from_millis(300),
                period: Some(Duration::from_secs(60))
            }
        );
        // after defaults to every.
        let faults = plan("drop:every=500ms:times=3");
        assert_eq!(faults[0].after, Duration::from_millis(500));
        assert_eq!(faults[0].times, Some(3));
        // subscribe-fail's times counts requests.
        assert_eq!(
            plan("subscribe-fail:times=2")[0],
            Fault {
                kind: FaultKind::SubscribeFail { requests: 2 },
                after: Duration::ZERO,
                every: None,
                times: None
            }
        );
        assert_eq!(
            plan("burst")[0].kind,
            FaultKind::Burst {
                frames: DEFAULT_BURST_FRAMES
            }
        );
    }

    #[test]
    fn rejects_what_it_does_not_know_and_says_what_it_takes() {
        let error = "bogus".parse::<FaultPlan>().unwrap_err().to_string();
        assert!(error.contains("valid kinds: drop, stall"), "{error}");
        let error = "stall:ms=3".parse::<FaultPlan>().unwrap_err().to_string();
        assert!(
            error.contains("valid keys: after, every, times, for"),
            "{error}"
        );
        for bad in [
            "gap,",
            "gap:every",
            "gap:every=soon",
            "gap:every=0s",
            "gap:times=0",
            "skew",
            "skew:ms=1.5",
            "gap:after=1s:after=2s",
        ] {
            assert!(bad.parse::<FaultPlan>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn the_schedule_fires_at_after_then_every_at_most_times() {
        let start = Instant::now();
        let plan: FaultPlan = "gap:after=1s:every=2s:times=2,snapshot".parse().unwrap();
        let mut schedule = FaultSchedule::new(&plan, start, 7);
        assert_eq!(schedule.due(start), [FaultKind::Snapshot]);
        assert_eq!(schedule.next_at(), Some(start + Duration::from_secs(1)));
        assert!(schedule.due(start + Duration::from_millis(999)).is_empty());
        assert_eq!(
            schedule.due(start + Duration::from_secs(1)),
            [FaultKind::Gap]
        );
        assert_eq!(schedule.next_at(), Some(start + Duration::from_secs(3)));
        assert_eq!(
            schedule.due(start + Duration::from_secs(10)),
            [FaultKind::Gap]
        );
        assert_eq!(schedule.next_at(), None);
    }

    #[test]
    fn chaos_is_seeded() {
        let start = Instant::now();
        let plan: FaultPlan = "chaos:every=1s".parse().unwrap();
        let picks = |seed| {
            let mut schedule = FaultSchedule::new(&plan, start, seed);
            (1..=20)
                .flat_map(|s| schedule.due(start + Duration::from_secs(s)))
                .collect::<Vec<_>>()
        };
        assert_eq!(picks(3), picks(3));
        assert_eq!(picks(3).len(), 20);
        assert!(picks(3).iter().all(|kind| *kind != FaultKind::Chaos));
    }
}
