//! Every signing vector with a known answer in the shared Bybit fixtures
//! (`sign_vectors.json`: published third-party vectors and the linear order bodies computed
//! with Python's hmac) signs to exactly that answer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;

use feed::bybit::sign::Signer;
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bybit/sign_vectors.json");
    let all: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    ["published", "computed_here"]
        .iter()
        .flat_map(|group| all[group].as_array().unwrap().clone())
        .filter(|vector| vector["expected_signature"].is_string())
        .collect()
}

fn number(value: &Value) -> u64 {
    match value {
        Value::String(text) => text.parse().unwrap(),
        other => other.as_u64().unwrap(),
    }
}

#[test]
fn every_vector_with_an_answer_signs_to_it() {
    let vectors = vectors();
    let (mut rest, mut ws) = (0, 0);
    for vector in &vectors {
        let id = vector["id"].as_str().unwrap();
        let signer = Signer::new(
            vector["api_key"].as_str().unwrap(),
            vector["secret"].as_str().unwrap(),
        )
        .unwrap();
        let signature = match vector["kind"].as_str().unwrap() {
            "rest" => {
                rest += 1;
                signer.sign_rest(
                    number(&vector["timestamp"]),
                    number(&vector["recv_window"]),
                    vector["payload"].as_str().unwrap().as_bytes(),
                )
            }
            "ws_auth" => {
                ws += 1;
                signer.sign_ws_auth(number(&vector["expires"]))
            }
            kind => panic!("{id}: unknown kind {kind}"),
        };
        assert_eq!(
            signature.as_str(),
            vector["expected_signature"].as_str().unwrap(),
            "{id}"
        );
    }
    // Published: four REST and one WebSocket vector; computed here: seven REST and one.
    assert_eq!((rest, ws), (11, 2));
}

#[test]
fn signing_with_no_payload_signs_the_three_prefix_fields() {
    // nautilus_trader's `sign_with_empty_payload_omits_tail` (no published answer): no payload
    // signs `timestamp + api_key + recv_window` alone, checked against ring's one-shot HMAC.
    let signer = Signer::new("test_api_key", "test_secret").unwrap();
    let direct = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"test_secret"),
        b"1700000000000test_api_key5000",
    );
    let hex: String = direct
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(signer.sign_rest(1_700_000_000_000, 5000, b"").as_str(), hex);
}
