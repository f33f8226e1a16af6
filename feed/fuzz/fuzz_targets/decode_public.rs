//! Coverage-guided fuzzing of the public-stream decoder:
//! `cargo fuzz run decode_public feed/tests/fixtures/bybit` from `feed/` (nightly, or
//! `RUSTC_BOOTSTRAP=1` on stable). Any panic is a bug; errors are the expected outcome.
#![no_main]

use feed::FrameBuf;
use feed::bybit::PublicDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::with_capacity(data.len());
    frame.fill(data);
    let _ = decoder.decode(&mut frame);
});
