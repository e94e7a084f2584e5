//! The binary leaf format: exact layout, round trips and rejection of every
//! kind of malformed input.

use tollgate_ledger::frame::{Frame, FrameError, decode};

fn sample() -> Frame<'static> {
    Frame {
        seq: 0x0102_0304_0506_0708,
        stream_version: 9,
        recorded_at: -1_700_000_000_000_000,
        stream: "release/ünïcode",
        payload: b"{\"k\":1}",
    }
}

#[test]
fn layout_is_exact() {
    let f = Frame { seq: 1, stream_version: 2, recorded_at: 3, stream: "ab", payload: b"xyz" };
    let bytes = f.encode().unwrap();
    let want: Vec<u8> = [
        &[1u8][..],
        &1u64.to_be_bytes(),
        &2u64.to_be_bytes(),
        &3i64.to_be_bytes(),
        &[0, 2],
        b"ab",
        &[0, 0, 0, 3],
        b"xyz",
    ]
    .concat();
    assert_eq!(bytes, want);
    assert_eq!(f.encoded_len(), want.len());
}

#[test]
fn round_trips_and_borrows() {
    let f = sample();
    let bytes = f.encode().unwrap();
    let back = decode(&bytes).unwrap();
    assert_eq!(back, f);
    // Zero-copy: the payload points into the input.
    let start = bytes.as_ptr() as usize;
    let p = back.payload.as_ptr() as usize;
    assert!(p >= start && p < start + bytes.len());

    let empty = Frame { payload: b"", ..f };
    assert_eq!(decode(&empty.encode().unwrap()).unwrap(), empty);
    let mut buf = b"prefix".to_vec();
    f.encode_into(&mut buf).unwrap();
    assert_eq!(decode(&buf[6..]).unwrap(), f);
}

#[test]
fn every_truncation_is_rejected() {
    let bytes = sample().encode().unwrap();
    for len in 0..bytes.len() {
        assert!(matches!(decode(&bytes[..len]), Err(FrameError::Truncated { .. })), "length {len}");
    }
}

#[test]
fn malformed_frames_are_rejected() {
    let bytes = sample().encode().unwrap();

    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(decode(&trailing), Err(FrameError::TrailingBytes(1)));

    for format in [0u8, 2, 255] {
        let mut unknown = bytes.clone();
        unknown[0] = format;
        assert_eq!(decode(&unknown), Err(FrameError::UnknownFormat(format)));
    }

    let bad_utf8 = Frame { stream: "ab", ..sample() }.encode().unwrap();
    let mut bad_utf8 = bad_utf8;
    bad_utf8[27] = 0xff;
    assert_eq!(decode(&bad_utf8), Err(FrameError::StreamNotUtf8));

    // Length fields that claim more than is there.
    let mut long_stream = bytes.clone();
    long_stream[25..27].copy_from_slice(&u16::MAX.to_be_bytes());
    assert!(matches!(decode(&long_stream), Err(FrameError::Truncated { field: "stream", .. })));
    let payload_len_at = 27 + sample().stream.len();
    let mut long_payload = bytes.clone();
    long_payload[payload_len_at..payload_len_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(decode(&long_payload), Err(FrameError::Truncated { field: "payload", .. })));
    // A shorter claimed length leaves bytes over.
    let mut short_payload = bytes.clone();
    short_payload[payload_len_at + 3] -= 1;
    assert_eq!(decode(&short_payload), Err(FrameError::TrailingBytes(1)));
}

#[test]
fn oversized_fields_cannot_be_encoded() {
    let long = "s".repeat(65_536);
    let f = Frame { stream: &long, ..sample() };
    assert_eq!(f.encode(), Err(FrameError::StreamTooLong(65_536)));
    let max = "s".repeat(65_535);
    let f = Frame { stream: &max, ..sample() };
    assert_eq!(decode(&f.encode().unwrap()).unwrap().stream.len(), 65_535);
}
