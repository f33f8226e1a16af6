//! Coverage-guided fuzzing of the public-stream decoder. From `feed/`, seeded with the fixtures:
//!
//! ```sh
//! cp -r tests/fixtures/bybit fuzz/corpus-seed
//! RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none decode_public fuzz/corpus-seed -- -max_total_time=60
//! ```
//!
//! (`RUSTC_BOOTSTRAP=1 --sanitizer none` runs it on the stable toolchain; with a nightly one,
//! drop both to add AddressSanitizer.) Any panic is a bug; errors are the expected outcome.
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
