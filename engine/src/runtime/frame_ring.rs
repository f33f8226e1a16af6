//! Frames on a byte ring: each frame is its receive time (u64), its journal stream (u16) and
//! its length (u32), little-endian, then its bytes, written in one commit so that a reader
//! sees whole frames only. The writer and the reader are single-threaded ends of an `rtrb`
//! ring; neither allocates.

use feed::journal::StreamId;
use rtrb::{Consumer, Producer, RingBuffer};

/// Bytes of a frame's header.
const HEADER: usize = 14;

/// The writing end.
pub struct FrameWriter {
    ring: Producer<u8>,
}

/// The reading end.
pub struct FrameReader {
    ring: Consumer<u8>,
}

/// A ring of `bytes` bytes. With `resident`, every byte is written through once so that the
/// ring's pages are resident before the first frame (no page fault on a hot path).
pub fn frame_ring(bytes: usize, resident: bool) -> (FrameWriter, FrameReader) {
    let (mut producer, mut consumer) = RingBuffer::new(bytes.max(HEADER));
    if resident {
        if let Ok(chunk) = producer.write_chunk_uninit(producer.slots()) {
            chunk.fill_from_iter(std::iter::repeat(0));
        }
        if let Ok(chunk) = consumer.read_chunk(consumer.slots()) {
            chunk.commit_all();
        }
    }
    (
        FrameWriter { ring: producer },
        FrameReader { ring: consumer },
    )
}

impl FrameWriter {
    /// True when a frame of `len` bytes fits now.
    pub fn has_room(&self, len: usize) -> bool {
        self.ring.slots() >= HEADER + len
    }

    /// True when a frame of `len` bytes can never fit.
    pub fn too_large(&self, len: usize) -> bool {
        HEADER + len > self.ring.buffer().capacity()
    }

    /// Writes `frame` of the public stream, received at `recv_ns`; false when it does not fit
    /// now.
    pub fn write(&mut self, recv_ns: u64, frame: &[u8]) -> bool {
        self.write_stream(recv_ns, StreamId::PUBLIC_LINEAR, frame)
    }

    /// Writes `frame` of `stream`, received at `recv_ns`; false when the ring has no room.
    pub fn write_stream(&mut self, recv_ns: u64, stream: StreamId, frame: &[u8]) -> bool {
        let Ok(chunk) = self.ring.write_chunk_uninit(HEADER + frame.len()) else {
            return false;
        };
        let header = recv_ns
            .to_le_bytes()
            .into_iter()
            .chain(stream.0.to_le_bytes())
            .chain((frame.len() as u32).to_le_bytes());
        chunk.fill_from_iter(header.chain(frame.iter().copied()));
        true
    }
}

impl FrameReader {
    /// Hands the next frame to `take` (its receive time and its bytes, in two parts where it
    /// wraps around the ring's end) and returns true, or returns false when the ring is empty.
    pub fn read(&mut self, take: impl FnOnce(u64, StreamId, &[u8], &[u8])) -> bool {
        if self.ring.slots() < HEADER {
            return false;
        }
        let mut header = [0_u8; HEADER];
        if let Ok(chunk) = self.ring.read_chunk(HEADER) {
            let (first, second) = chunk.as_slices();
            header[..first.len()].copy_from_slice(first);
            header[first.len()..].copy_from_slice(second);
            chunk.commit_all();
        }
        let (time, rest) = header.split_at(8);
        let (stream, len) = rest.split_at(2);
        let recv_ns = u64::from_le_bytes(time.try_into().unwrap_or_default());
        let stream = StreamId(u16::from_le_bytes(stream.try_into().unwrap_or_default()));
        let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
        // Header and body were committed together: the body is there.
        match self.ring.read_chunk(len) {
            Ok(chunk) => {
                let (first, second) = chunk.as_slices();
                take(recv_ns, stream, first, second);
                chunk.commit_all();
            }
            Err(_) => take(recv_ns, stream, &[], &[]),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_out_whole_and_in_order_across_the_wrap() {
        let (mut writer, mut reader) = frame_ring(64, true);
        let mut read = Vec::new();
        for round in 0..10_u64 {
            let frame: Vec<u8> = (0..20).map(|byte| byte + round as u8).collect();
            assert!(writer.has_room(frame.len()));
            assert!(writer.write(round, &frame));
            assert!(reader.read(|recv_ns, stream, first, second| {
                read.push((recv_ns, stream, [first, second].concat()));
            }));
            assert_eq!(read.last(), Some(&(round, StreamId::PUBLIC_LINEAR, frame)));
        }
        assert!(!reader.read(|_, _, _, _| unreachable!("empty")));
        assert!(writer.write_stream(1, StreamId::LINK, &[0; 28]));
        assert!(!writer.has_room(28));
        assert!(!writer.write(2, &[0; 28]));
        assert!(reader.read(|recv_ns, stream, first, second| {
            assert_eq!(
                (recv_ns, stream, first.len() + second.len()),
                (1, StreamId::LINK, 28)
            );
        }));
        assert!(writer.too_large(51) && !writer.too_large(50));
    }
}
