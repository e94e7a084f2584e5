//! The binary leaf format: the exact bytes of one event that are hashed into
//! the Merkle tree.
//!
//! Everything a reader relies on — position in the log, stream, version
//! within the stream, time and payload — lives inside the hashed bytes, so
//! none of it can be altered without changing the leaf hash. Database columns
//! that repeat these fields are conveniences for indexing; the verifier
//! checks them against the frame.
//!
//! Layout (all integers big-endian):
//!
//! ```text
//! u8  format = 1
//! u64 seq              0-based position in the log
//! u64 stream_version   1-based position within the stream
//! i64 recorded_at      unix microseconds
//! u16 stream length, then the stream name (UTF-8)
//! u32 payload length, then the payload bytes
//! ```

use thiserror::Error;

/// The only frame format so far.
pub const FORMAT_V1: u8 = 1;

/// Bytes of a frame that are not stream name or payload.
const FIXED_LEN: usize = 1 + 8 + 8 + 8 + 2 + 4;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The input ends before the field that starts at `offset`.
    #[error("frame truncated: {field} at byte {offset} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where the field starts.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// A format byte this version does not know.
    #[error("unknown frame format {0}")]
    UnknownFormat(u8),
    /// The stream name is not UTF-8.
    #[error("stream name is not valid UTF-8")]
    StreamNotUtf8,
    /// Bytes follow the payload.
    #[error("{0} trailing bytes after the payload")]
    TrailingBytes(usize),
    /// A stream name longer than the length field can express.
    #[error("stream name of {0} bytes does not fit the frame (max 65535)")]
    StreamTooLong(usize),
    /// A payload longer than the length field can express.
    #[error("payload of {0} bytes does not fit the frame (max 4 GiB - 1)")]
    PayloadTooLarge(usize),
}

/// One decoded leaf, borrowing stream name and payload from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// 0-based position in the log.
    pub seq: u64,
    /// 1-based position within the stream.
    pub stream_version: u64,
    /// Unix microseconds, as supplied by the appender.
    pub recorded_at: i64,
    /// The stream name.
    pub stream: &'a str,
    /// The opaque payload.
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// Exact length of the encoding.
    pub fn encoded_len(&self) -> usize {
        FIXED_LEN + self.stream.len() + self.payload.len()
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        let stream_len = u16::try_from(self.stream.len()).map_err(|_| FrameError::StreamTooLong(self.stream.len()))?;
        let payload_len =
            u32::try_from(self.payload.len()).map_err(|_| FrameError::PayloadTooLarge(self.payload.len()))?;
        out.reserve(self.encoded_len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.stream_version.to_be_bytes());
        out.extend_from_slice(&self.recorded_at.to_be_bytes());
        out.extend_from_slice(&stream_len.to_be_bytes());
        out.extend_from_slice(self.stream.as_bytes());
        out.extend_from_slice(&payload_len.to_be_bytes());
        out.extend_from_slice(self.payload);
        Ok(())
    }

    /// The encoding as a new vector.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out)
    }
}

/// A cursor that refuses to read past the end of the input.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, needed: usize) -> Result<&'a [u8], FrameError> {
        let available = self.bytes.len() - self.offset;
        if needed > available {
            return Err(FrameError::Truncated { field, offset: self.offset, needed, available });
        }
        let out = &self.bytes[self.offset..self.offset + needed];
        self.offset += needed;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], FrameError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }
}

/// Decodes one frame that must span all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    let mut r = Reader { bytes, offset: 0 };
    let [format] = r.array::<1>("format")?;
    if format != FORMAT_V1 {
        return Err(FrameError::UnknownFormat(format));
    }
    let seq = u64::from_be_bytes(r.array("seq")?);
    let stream_version = u64::from_be_bytes(r.array("stream_version")?);
    let recorded_at = i64::from_be_bytes(r.array("recorded_at")?);
    let stream_len = u16::from_be_bytes(r.array("stream length")?);
    let stream = r.take("stream", usize::from(stream_len))?;
    let stream = std::str::from_utf8(stream).map_err(|_| FrameError::StreamNotUtf8)?;
    let payload_len = u32::from_be_bytes(r.array("payload length")?);
    let payload_len = usize::try_from(payload_len).map_err(|_| FrameError::Truncated {
        field: "payload",
        offset: r.offset,
        needed: usize::MAX,
        available: bytes.len() - r.offset,
    })?;
    let payload = r.take("payload", payload_len)?;
    let trailing = bytes.len() - r.offset;
    if trailing != 0 {
        return Err(FrameError::TrailingBytes(trailing));
    }
    Ok(Frame { seq, stream_version, recorded_at, stream, payload })
}
