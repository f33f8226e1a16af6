//! The buffer a frame is decoded in.
//!
//! simd-json parses in place and reads up to [`FrameBuf::PADDING`] bytes past the end of the
//! document, so a frame is copied once into a reusable buffer that always has that padding. The
//! buffer grows only when a frame is larger than any before it, so after warm-up filling it
//! never allocates.

/// A reusable, padded frame buffer.
#[derive(Debug, Clone)]
pub struct FrameBuf {
    bytes: Vec<u8>,
    len: usize,
}

impl FrameBuf {
    /// Bytes of padding simd-json needs after the document.
    pub const PADDING: usize = simd_json::INPUT_PADDING;

    /// A buffer for frames of up to `capacity` bytes without reallocating.
    pub fn with_capacity(capacity: usize) -> Self {
        FrameBuf {
            bytes: vec![0; capacity + Self::PADDING],
            len: 0,
        }
    }

    /// Replaces the content with `frame`.
    pub fn fill(&mut self, frame: &[u8]) {
        let needed = frame.len() + Self::PADDING;
        if self.bytes.len() < needed {
            self.bytes.resize(needed, 0);
        }
        self.bytes[..frame.len()].copy_from_slice(frame);
        self.len = frame.len();
    }

    /// Replaces the content with `first` followed by `second` (a frame that wrapped around the
    /// end of a ring buffer).
    pub fn fill_parts(&mut self, first: &[u8], second: &[u8]) {
        let len = first.len() + second.len();
        if self.bytes.len() < len + Self::PADDING {
            self.bytes.resize(len + Self::PADDING, 0);
        }
        self.bytes[..first.len()].copy_from_slice(first);
        self.bytes[first.len()..len].copy_from_slice(second);
        self.len = len;
    }

    /// The frame's bytes (as filled; decoding may rewrite escaped strings in place).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Length of the frame.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no frame is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The padded buffer and the frame length, for the parser.
    pub(crate) fn padded_mut(&mut self) -> (&mut [u8], usize) {
        (&mut self.bytes, self.len)
    }
}

impl Default for FrameBuf {
    fn default() -> Self {
        FrameBuf::with_capacity(64 * 1024)
    }
}
