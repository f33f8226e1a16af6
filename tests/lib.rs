//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};

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
    //! and wraps the code under test in [`count`].

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    static COUNTING: AtomicBool = AtomicBool::new(false);
    static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
    static DEALLOCATIONS: AtomicU64 = AtomicU64::new(0);

    /// Forwards to the system allocator, counting calls while [`count`] runs.
    pub struct CountingAllocator;

    // SAFETY: every call is forwarded unchanged to the system allocator; the counters are
    // atomics.
    unsafe impl GlobalAlloc for CountingAllocator {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if COUNTING.load(Ordering::Relaxed) {
                ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if COUNTING.load(Ordering::Relaxed) {
                DEALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: forwarded with the pointer and layout the caller got from `alloc`.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if COUNTING.load(Ordering::Relaxed) {
                ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: forwarded unchanged.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// Runs `work` and returns its result with the allocations and deallocations it made
    /// (counted process-wide: keep other threads quiet meanwhile).
    pub fn count<T>(work: impl FnOnce() -> T) -> (T, u64, u64) {
        let (allocations, deallocations) = (
            ALLOCATIONS.load(Ordering::SeqCst),
            DEALLOCATIONS.load(Ordering::SeqCst),
        );
        COUNTING.store(true, Ordering::SeqCst);
        let result = work();
        COUNTING.store(false, Ordering::SeqCst);
        (
            result,
            ALLOCATIONS.load(Ordering::SeqCst) - allocations,
            DEALLOCATIONS.load(Ordering::SeqCst) - deallocations,
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
