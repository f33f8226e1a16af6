//! Recording the live public stream into a journal (`engine collect --feed bybit`).
//!
//! The stream is kept alive as the engine keeps it ([`PublicFeed`]): every frame is appended
//! as received, each symbol's book is kept so that a gap or a crossed book asks for a fresh
//! snapshot (recorded too), and a lost connection is recorded as a [`StreamId::LINK`] record.
//! A replay of the journal (`engine run --feed replay:DIR`) therefore sees the market exactly
//! as a live engine did: the same frames, the same snapshots, the same losses where they were.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use feed::bybit::live::{FeedError, FeedPoll, FeedSettings, FeedStats, PublicFeed};
use feed::bybit::{PublicDecoder, PublicMessage};
use feed::journal::{JournalError, JournalWriter, StreamId, monotonic_ns};
use feed::{FrameBuf, OrderBook};

/// Why recording stopped early.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The connecting thread could not start.
    #[error("starting the connecting thread: {0}")]
    Thread(std::io::Error),
    /// The stream cannot go on (a refused subscription at start).
    #[error("bybit public stream: {0}")]
    Feed(#[from] FeedError),
    /// The journal could not be written.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
}

/// What was recorded.
pub struct Recorded {
    /// Data frames appended.
    pub frames: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Connection losses appended.
    pub losses: u64,
    /// The decoder that counted the frames by kind.
    pub decoder: PublicDecoder,
    /// The connection's counters.
    pub feed: FeedStats,
}

/// Records the stream of `settings` into `journal` (stamped with `clock`, the journal's
/// clock) until `stop` is set or `until` passes; flushes the journal before returning.
pub fn live(
    settings: FeedSettings,
    mut journal: JournalWriter,
    clock: &quanta::Clock,
    stop: &AtomicBool,
    until: Option<Instant>,
) -> Result<Recorded, CollectError> {
    let depth = usize::from(settings.depth);
    let mut books: Vec<OrderBook> = settings
        .symbols
        .iter()
        .map(|&symbol| OrderBook::new(symbol, depth))
        .collect();
    let mut feed = PublicFeed::new(settings).map_err(CollectError::Thread)?;
    let mut decoder = PublicDecoder::new();
    let (mut frame, mut scratch) = (FrameBuf::default(), FrameBuf::default());
    let (mut frames, mut bytes, mut losses) = (0_u64, 0_u64, 0_u64);
    while !stop.load(Ordering::Relaxed) && until.is_none_or(|until| Instant::now() < until) {
        match feed.poll(&mut frame)? {
            FeedPoll::Frame { .. } => {
                let received = frame.as_bytes();
                journal.append(monotonic_ns(clock), StreamId::PUBLIC_LINEAR, received)?;
                frames += 1;
                bytes += received.len() as u64;
                scratch.fill(received);
                if let Ok(PublicMessage::Book(update)) = decoder.decode(&mut scratch)
                    && let Some(book) = books.iter_mut().find(|book| book.symbol() == update.symbol)
                {
                    book.apply(&update);
                    if book.take_resync_request() {
                        feed.resync(book.symbol());
                    }
                }
            }
            FeedPoll::Lost(reason) => {
                journal.append(
                    monotonic_ns(clock),
                    StreamId::LINK,
                    reason.label().as_bytes(),
                )?;
                losses += 1;
                books
                    .iter_mut()
                    .for_each(OrderBook::invalidate_disconnected);
                eprintln!(
                    "bybit public stream: connection lost ({}); reconnecting",
                    reason.label()
                );
            }
            FeedPoll::Idle => std::thread::sleep(Duration::from_micros(100)),
        }
    }
    journal.flush()?;
    Ok(Recorded {
        frames,
        bytes,
        losses,
        decoder,
        feed: *feed.stats(),
    })
}
