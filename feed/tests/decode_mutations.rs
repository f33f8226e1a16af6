//! Thousands of mutated fixtures through the decoder: whatever the bytes, it returns a value or
//! a typed error and never panics. (The coverage-guided version of this is the cargo-fuzz target
//! in feed/fuzz.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::Path;

use feed::FrameBuf;
use feed::bybit::PublicDecoder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MUTATIONS_PER_FIXTURE: usize = 400;

fn fixtures() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bybit");
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("ws_public_")
        })
        .collect();
    names.sort();
    names.iter().map(|path| fs::read(path).unwrap()).collect()
}

/// One random mutation of `frame`.
fn mutate(rng: &mut ChaCha8Rng, frame: &[u8]) -> Vec<u8> {
    let mut bytes = frame.to_vec();
    let at = rng.random_range(0..bytes.len().max(1));
    match rng.random_range(0..8) {
        // Truncation anywhere.
        0 => bytes.truncate(at),
        // Byte flip.
        1 => {
            if let Some(byte) = bytes.get_mut(at) {
                *byte ^= 1 << rng.random_range(0..8);
            }
        }
        // Random byte, including structural characters.
        2 => {
            const CHARS: &[u8] = b"{}[]\",:0123456789-.eE \\tfn\x00\xff";
            if let Some(byte) = bytes.get_mut(at) {
                *byte = CHARS[rng.random_range(0..CHARS.len())];
            }
        }
        // A string value turned into a number, an object or null.
        3 => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let replacement = ["123", "{}", "null", "[]", "true", "-1e999"][rng.random_range(0..6)];
            let quoted: Vec<usize> = text.match_indices('"').map(|(i, _)| i).collect();
            if quoted.len() >= 2 {
                let pick = rng.random_range(0..quoted.len() / 2) * 2;
                let (start, end) = (quoted[pick], quoted[pick + 1]);
                bytes =
                    format!("{}{}{}", &text[..start], replacement, &text[end + 1..]).into_bytes();
            }
        }
        // Huge numbers in place of digits.
        4 => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let huge = [
                "99999999999999999999999999",
                "184467440737095516160",
                "1.000000000000001",
            ][rng.random_range(0..3)];
            if let Some(position) = text[at.min(text.len())..].find(|c: char| c.is_ascii_digit()) {
                let start = at.min(text.len()) + position;
                let end = text[start..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(text.len(), |offset| start + offset);
                bytes = format!("{}{}{}", &text[..start], huge, &text[end..]).into_bytes();
            }
        }
        // A slice deleted.
        5 => {
            let end = (at + rng.random_range(1..16)).min(bytes.len());
            bytes.drain(at..end);
        }
        // A slice duplicated.
        6 => {
            let end = (at + rng.random_range(1..64)).min(bytes.len());
            let copy = bytes[at..end].to_vec();
            bytes.splice(at..at, copy);
        }
        // Deep nesting.
        _ => {
            let depth = rng.random_range(1..2000);
            let nested = "[".repeat(depth) + &"]".repeat(depth);
            bytes.splice(at..at, nested.into_bytes());
        }
    }
    bytes
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_f00d);
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::default();
    let mut attempts = 0_u64;
    let mut decoded = 0_u64;
    for fixture in fixtures() {
        for _ in 0..MUTATIONS_PER_FIXTURE {
            let mutated = mutate(&mut rng, &fixture);
            frame.fill(&mutated);
            attempts += 1;
            if decoder.decode(&mut frame).is_ok() {
                decoded += 1;
            }
        }
    }
    assert_eq!(attempts, 13 * MUTATIONS_PER_FIXTURE as u64);
    // Every attempt was either decoded or counted as an error.
    let stats = decoder.stats();
    let counted: u64 = feed::bybit::MessageKind::ALL
        .iter()
        .map(|&kind| stats.decoded(kind) + stats.errors(kind))
        .sum();
    assert_eq!(counted, attempts);
    assert_eq!(stats.total_errors(), attempts - decoded);
    // Some mutations (a flipped digit in a size, say) still decode; most do not.
    assert!(
        decoded > 0 && decoded < attempts,
        "decoded {decoded} of {attempts}"
    );
}
