//! Short strings stored inline: symbols, request ids and trade ids in events, without a heap
//! allocation per message.

use std::fmt;

/// A UTF-8 string of at most `N` bytes stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InlineStr<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

/// A contract symbol (`BTCUSDT`, `BTC-26DEC25`).
pub type Symbol = InlineStr<24>;

/// The longest text [`InlineStr::new`] was asked to hold did not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("text of {len} bytes does not fit in {capacity}")]
pub struct TooLong {
    /// Length of the text.
    pub len: usize,
    /// Capacity of the inline string.
    pub capacity: usize,
}

impl<const N: usize> InlineStr<N> {
    /// The empty string.
    pub const EMPTY: Self = InlineStr {
        len: 0,
        bytes: [0; N],
    };

    /// Copies `text`, or fails when it is longer than `N` bytes.
    pub fn new(text: &str) -> Result<Self, TooLong> {
        let len = text.len();
        if len > N || len > usize::from(u8::MAX) {
            return Err(TooLong { len, capacity: N });
        }
        let mut bytes = [0; N];
        bytes[..len].copy_from_slice(text.as_bytes());
        Ok(InlineStr {
            len: len as u8,
            bytes,
        })
    }

    /// Copies at most `N` bytes of `text`, cut back to a character boundary.
    pub fn truncated(text: &str) -> Self {
        let mut end = text.len().min(N).min(usize::from(u8::MAX));
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        match Self::new(&text[..end]) {
            Ok(inline) => inline,
            Err(_) => Self::EMPTY,
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // The bytes were copied from a `&str` cut at a character boundary.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    /// True when empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Default for InlineStr<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> fmt::Display for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> PartialEq<str> for InlineStr<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for InlineStr<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_text_up_to_capacity() {
        let symbol = Symbol::new("BTCUSDT").unwrap();
        assert_eq!(symbol, "BTCUSDT");
        assert_eq!(symbol.to_string(), "BTCUSDT");
        assert_eq!(
            Symbol::new("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            Err(TooLong {
                len: 26,
                capacity: 24
            })
        );
        assert_eq!(InlineStr::<4>::truncated("abcdef"), "abcd");
        assert_eq!(InlineStr::<4>::truncated("abcé"), "abc");
        assert!(Symbol::EMPTY.is_empty());
    }
}
