//! Real mode's start against `toolkit venue`: the account checks over signed REST, with exact
//! values; rules that differ from symbols.yml; a wrong key or secret; and the REST client's
//! answers to the venue's faults: clock skew (10002), a 10006 storm, an HTTP 403.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{Venue, WAIT, rest_client};
use engine::account::{AccountError, Setting, check_account, prepare_account};
use feed::bybit::codes::Outcome;
use feed::bybit::limits::Endpoint;
use feed::bybit::rest::replies::ApiKeyInfo;
use feed::bybit::rest::{RestClient, RestError};
use feed::{Fixed, Instrument};

const KEY: &str = "venuekey01";
const SECRET: &str = "venue-secret-7f3a9c";

fn fx(text: &str) -> Fixed {
    text.parse().unwrap()
}

fn query_api(client: &RestClient) -> Result<ApiKeyInfo, RestError> {
    client.get("/v5/user/query-api", "", Endpoint::Query)
}

#[test]
fn the_account_checks_pass_with_the_venues_exact_values_and_set_what_differs() {
    let venue = Venue::start_with_credentials(&["--position-mode", "hedge"], Some((KEY, SECRET)));
    let client = rest_client(&venue, KEY, SECRET);
    let btcusdt = feed::fixtures::btcusdt();
    let check = check_account(&client, "BTCUSDT", &btcusdt).unwrap();
    assert_eq!(check.venue, venue.rest_url());
    assert_eq!(check.key_shown, "venu…");
    assert_eq!(check.user_id, 1001);
    assert_eq!(
        (check.maker_fee_rate, check.taker_fee_rate),
        (fx("0.0002"), fx("0.00055"))
    );
    assert!(check.fee_differences.is_empty());
    assert_eq!(
        (check.available_balance, check.wallet_balance),
        (fx("10000"), fx("10000"))
    );
    assert_eq!((check.position, check.open_orders), (Fixed::ZERO, 0));
    assert!(check.clock.offset_ms.abs() < 1000, "{:?}", check.clock);
    // Reading changed nothing: the venue saw no POST.
    assert!(venue.history(" POST ").is_empty());

    // Hedge mode switched to one-way; leverage 10 set to 5.
    let settings = prepare_account(&client, "BTCUSDT", fx("5")).unwrap();
    assert_eq!(
        (settings.one_way, settings.leverage_set),
        (Setting::Changed, Setting::Changed)
    );
    // Again: both already so (110025 and 110043 are success).
    let again = prepare_account(&client, "BTCUSDT", fx("5")).unwrap();
    assert_eq!(
        (again.one_way, again.leverage_set),
        (Setting::AlreadySo, Setting::AlreadySo)
    );
    assert_eq!(
        again.to_string(),
        "account: one-way mode (already so); leverage 5 (already so)\n"
    );
    let shown = check.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "REAL MONEY: account 1001 at {} (API key venu…)",
            venue.rest_url()
        )
    );
    assert!(
        lines[1].ends_with("free balance 10000 USD (wallet 10000 USD); position 0; 0 open orders"),
        "{shown}"
    );
    assert_eq!(
        lines[2],
        "account: rules match symbols.yml; fees maker 0.0002 taker 0.00055"
    );
    assert_eq!(lines.len(), 3);
    assert!(!shown.contains(SECRET) && !shown.contains(KEY));
}

#[test]
fn rules_that_differ_from_the_venue_refuse_to_start_and_name_each_field() {
    let venue = Venue::start_with_credentials(&[], Some((KEY, SECRET)));
    let client = rest_client(&venue, KEY, SECRET);
    let configured = Instrument {
        tick_size: fx("0.5"),
        min_qty: fx("0.01"),
        maker_fee_rate: fx("0.0001"),
        ..feed::fixtures::btcusdt()
    };
    let err = check_account(&client, "BTCUSDT", &configured).unwrap_err();
    assert_eq!(
        err.to_string(),
        "BTCUSDT: symbols.yml disagrees with the venue: tick_size is 0.5 in symbols.yml but 0.1 \
         at the venue; min_qty is 0.01 in symbols.yml but 0.001 at the venue; update \
         config/symbols.yml"
    );
    // A different fee is no reason to refuse: the venue's is used, and the difference said.
    let fees_only = Instrument {
        maker_fee_rate: fx("0.0001"),
        ..feed::fixtures::btcusdt()
    };
    let check = check_account(&client, "BTCUSDT", &fees_only).unwrap();
    assert_eq!(check.maker_fee_rate, fx("0.0002"));
    assert_eq!(
        check.to_string().lines().last().unwrap(),
        "account: note: maker_fee_rate is 0.0001 in symbols.yml but 0.0002 at the venue; the \
         venue's rate is used"
    );
    let err = check_account(&client, "ETHUSDT", &configured).unwrap_err();
    assert!(
        matches!(
            err,
            AccountError::Rest {
                step: "instrument rules",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_wrong_secret_or_key_is_fatal_and_the_secret_is_never_shown() {
    let venue = Venue::start_with_credentials(&[], Some((KEY, SECRET)));
    let wrong_secret = "not-the-secret-91d2";
    let err = check_account(
        &rest_client(&venue, KEY, wrong_secret),
        "BTCUSDT",
        &feed::fixtures::btcusdt(),
    )
    .unwrap_err();
    let AccountError::Rest { step, error } = &err else {
        panic!("{err}")
    };
    assert_eq!(*step, "API key");
    assert_eq!(
        (error.code(), error.outcome()),
        (Some(10004), Outcome::Fatal)
    );
    let shown = format!("{err} {err:?} {:?}", rest_client(&venue, KEY, wrong_secret));
    assert!(
        !shown.contains(wrong_secret) && !shown.contains(SECRET),
        "{shown}"
    );
    assert!(shown.contains("error sign! origin_string["), "{shown}");
    // The venue echoes the string it signed; the API key in it is masked.
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("venu…"), "{shown}");

    let err = query_api(&rest_client(&venue, "otherkey", SECRET)).unwrap_err();
    assert_eq!((err.code(), err.outcome()), (Some(10003), Outcome::Fatal));
    assert_eq!(
        err.to_string(),
        "GET /v5/user/query-api: retCode 10003 \"API key is invalid.\" (fatal)"
    );
}

#[test]
fn a_skewed_venue_clock_is_measured_again_and_the_request_sent_once_more() {
    let venue = Venue::start_with_credentials(
        &["--faults", "skew:ms=-20000:after=1s"],
        Some((KEY, SECRET)),
    );
    let client = rest_client(&venue, KEY, SECRET);
    let first = client.sync_clock().unwrap();
    assert!(first.offset_ms.abs() < 1000, "{first:?}");
    venue.wait_log("fault skew fired", WAIT);
    // Stamped 20 s ahead of the venue's clock: 10002, a new sync, and the request again.
    assert_eq!(query_api(&client).unwrap().user_id, 1001);
    venue.wait_log("refused: 10002 invalid request", WAIT);
    let offset = client.clock_offset_ms();
    assert!((-21_000..=-19_000).contains(&offset), "{offset}");
}

#[test]
fn a_10006_storm_is_waited_out_at_the_venues_reset_then_given_up_after_three_retries() {
    // Two refusals: each waited out until the reset the venue sent, then the answer.
    let venue =
        Venue::start_with_credentials(&["--faults", "rate-limit:times=2"], Some((KEY, SECRET)));
    venue.wait_log("fault rate-limit fired", WAIT);
    let client = rest_client(&venue, KEY, SECRET);
    assert_eq!(query_api(&client).unwrap().user_id, 1001);
    for _ in 0..2 {
        venue.wait_log("GET /v5/user/query-api answered 10006 (fault)", WAIT);
    }
    assert_eq!(venue.logged("answered 10006"), None);

    // Four: the first try and three retries are refused, and the call gives up, no storm.
    let venue =
        Venue::start_with_credentials(&["--faults", "rate-limit:times=4"], Some((KEY, SECRET)));
    venue.wait_log("fault rate-limit fired", WAIT);
    let client = rest_client(&venue, KEY, SECRET);
    let err = query_api(&client).unwrap_err();
    assert_eq!(
        (err.code(), err.outcome()),
        (Some(10006), Outcome::RateLimited)
    );
    for _ in 0..4 {
        venue.wait_log("GET /v5/user/query-api answered 10006 (fault)", WAIT);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(venue.logged("/v5/user/query-api"), None);
}

#[test]
fn an_http_403_silences_rest_for_the_cool_down_without_sending_more() {
    let venue = Venue::start_with_credentials(&["--faults", "ip-ban"], Some((KEY, SECRET)));
    venue.wait_log("fault ip-ban fired", WAIT);
    let client = rest_client(&venue, KEY, SECRET);
    let err = query_api(&client).unwrap_err();
    assert_eq!(
        err,
        RestError::Http {
            method: "GET",
            path: "/v5/user/query-api".to_owned(),
            status: 403,
            outcome: Outcome::IpBanned,
        }
    );
    venue.wait_log("answered HTTP 403 (fault)", WAIT);
    let err = query_api(&client).unwrap_err();
    assert_eq!(err.outcome(), Outcome::IpBanned);
    assert!(
        err.to_string().starts_with(
            "GET /v5/user/query-api: not sent: REST is cooling down after an HTTP 403 for"
        ),
        "{err}"
    );
    // Nothing more reached the venue.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(venue.logged("/v5/user/query-api"), None);
}
