//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};

/// The hot loop of BTCUSDT on `source`, with the paper venue of the default configuration and
/// a synthetic 200 x 31 model (native) at `tau_entry` / `tau_hold`, its rings `rings`; with
/// `busy_poll` it spins (and keeps the hot path warm) when idle, else it sleeps 50 us.
pub fn paper_hot_loop(
    source: engine::runtime::source::Source,
    rings: engine::runtime::hot::HotRings,
    (tau_entry, tau_hold): (f32, f32),
    busy_poll: bool,
) -> engine::runtime::hot::HotLoop<feed::paper::PaperVenue> {
    use engine::features::FEATURE_COUNT;
    use engine::model::NativeModel;
    use engine::model::synthetic::generate;
    use engine::runtime::rings::{ModelSwap, Route};

    let model = ModelSwap {
        route: Route::Active,
        id: "synthetic".to_owned(),
        scorer: Box::new(NativeModel::compile(&generate(200, 31, FEATURE_COUNT, 42))),
        tau_entry,
        tau_hold,
    };
    let mut config = engine::config::Config::default();
    config.engine.busy_poll = busy_poll;
    let instrument = shipped_instrument("BTCUSDT");
    let venue = engine::venues::paper(&config, &instrument).unwrap_or_else(|err| panic!("{err}"));
    let symbol = feed::Symbol::new("BTCUSDT").unwrap_or_else(|err| panic!("{err}"));
    engine::runtime::hot::HotLoop::from_config(
        &config, symbol, instrument, source, venue, model, None, rings, None,
    )
    .unwrap_or_else(|err| panic!("{err}"))
}

/// Pinned outcomes of seeded end-to-end runs: `tests/pins/NAME.json` holds what run NAME
/// produced (its decision log's SHA-256 and key counts), and [`pins::check`] requires the same,
/// exactly. A change meant to alter decisions refreshes them in one line:
///
/// ```text
/// UPDATE_PINS=1 cargo test -p tests --test engine_run
/// ```
///
/// and the diff of `tests/pins/` shows what changed.
pub mod pins {
    use std::path::PathBuf;

    fn path(name: &str) -> PathBuf {
        super::workspace_root()
            .join("tests/pins")
            .join(format!("{name}.json"))
    }

    /// Fails unless `outcome` equals pin `name` (with `UPDATE_PINS=1`: writes it).
    pub fn check(name: &str, outcome: &serde_json::Value) {
        let path = path(name);
        let text = serde_json::to_string_pretty(outcome).unwrap_or_else(|err| panic!("{err}"));
        if std::env::var_os("UPDATE_PINS").is_some() {
            std::fs::write(&path, text + "\n")
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            return;
        }
        let pinned = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err} (UPDATE_PINS=1 writes it)", path.display()));
        let pinned: serde_json::Value =
            serde_json::from_str(&pinned).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        assert_eq!(
            outcome,
            &pinned,
            "run {name} no longer gives its pinned outcome ({}); if the change is meant to alter \
             decisions: UPDATE_PINS=1 cargo test -p tests --test engine_run",
            path.display()
        );
    }
}

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shipped configuration file.
pub fn shipped_config() -> PathBuf {
    workspace_root().join("config/app.yml")
}

/// The shipped reference data of `symbol` (from config/symbols.yml).
pub fn shipped_instrument(symbol: &str) -> feed::Instrument {
    let loaded = engine::config::load_with_env(&shipped_config(), None, &|_| None)
        .unwrap_or_else(|err| panic!("{err}"));
    loaded
        .symbols
        .symbols
        .get(symbol)
        .copied()
        .unwrap_or_else(|| panic!("{symbol} is not in symbols.yml"))
}

pub mod allocations {
    //! A global allocator that counts, for tests that prove a path allocates nothing.
    //!
    //! A test binary installs it with
    //! `#[global_allocator] static GLOBAL: CountingAllocator = CountingAllocator;`
    //! and wraps the code under test in [`count`], which counts the allocations of the calling
    //! thread only: other threads of the process (a simulator feeding the code under test, the
    //! test harness) do not disturb the count.

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        /// Whether this thread is counting, and its counts.
        static COUNTING: Cell<bool> = const { Cell::new(false) };
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
        static DEALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    fn tally(counter: &'static std::thread::LocalKey<Cell<u64>>) {
        // `try_with`: a thread being torn down has no locals left, and counts nothing.
        let _ = COUNTING.try_with(|counting| {
            if counting.get() {
                let _ = counter.try_with(|count| count.set(count.get() + 1));
            }
        });
    }

    /// Forwards to the system allocator, counting calls while [`count`] runs on this thread.
    pub struct CountingAllocator;

    // SAFETY: every call is forwarded unchanged to the system allocator; the counters are
    // const-initialized thread locals, which never allocate.
    unsafe impl GlobalAlloc for CountingAllocator {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            tally(&ALLOCATIONS);
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            tally(&DEALLOCATIONS);
            // SAFETY: forwarded with the pointer and layout the caller got from `alloc`.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            tally(&ALLOCATIONS);
            // SAFETY: forwarded unchanged.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// Runs `work` and returns its result with the allocations and deallocations this thread
    /// made meanwhile.
    pub fn count<T>(work: impl FnOnce() -> T) -> (T, u64, u64) {
        let before = (ALLOCATIONS.with(Cell::get), DEALLOCATIONS.with(Cell::get));
        COUNTING.with(|counting| counting.set(true));
        let result = work();
        COUNTING.with(|counting| counting.set(false));
        (
            result,
            ALLOCATIONS.with(Cell::get) - before.0,
            DEALLOCATIONS.with(Cell::get) - before.1,
        )
    }
}

/// The ONNX Runtime library scripts/setup.sh installs (or ORT_DYLIB_PATH).
pub fn onnxruntime_library() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH").map_or_else(
        || workspace_root().join(".runtime/onnxruntime-1.31.1/libonnxruntime.so.1.31.1"),
        PathBuf::from,
    )
}
