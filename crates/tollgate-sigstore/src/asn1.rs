//! A minimal DER tag-length-value walker, for the places where the exact bytes matter more
//! than the decoded value: the to-be-signed part of a certificate, CMS signed attributes, and
//! the precertificate a CT log signed (the certificate minus its SCT extension). Only
//! low-tag-number, definite-length DER is accepted.

use crate::error::{Result, SigError};

pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const GENERALIZED_TIME: u8 = 0x18;

/// One element: its tag, its content, and all of its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads one element from the front of `input`; returns it and what follows.
pub fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8])> {
    let bad = |why: &str| SigError::malformed(format!("DER: {why}"));
    let (&tag, rest) = input.split_first().ok_or_else(|| bad("unexpected end of data"))?;
    if tag & 0x1f == 0x1f {
        return Err(bad("high tag numbers are not supported"));
    }
    let (&first, rest) = rest.split_first().ok_or_else(|| bad("missing length"))?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(bad("indefinite or oversized length"));
        }
        let bytes = rest.get(..n).ok_or_else(|| bad("truncated length"))?;
        if bytes.first() == Some(&0) || (n == 1 && bytes[0] < 0x80) {
            return Err(bad("length not minimally encoded"));
        }
        let len = bytes.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, rest.get(n..).ok_or_else(|| bad("truncated length"))?)
    };
    let content = rest.get(..len).ok_or_else(|| bad("element longer than its container"))?;
    let header = input.len() - rest.len();
    let raw = input.get(..header + len).ok_or_else(|| bad("element longer than its container"))?;
    Ok((Tlv { tag, content, raw }, rest.get(len..).unwrap_or_default()))
}

/// Reads exactly one element spanning all of `input`, with tag `tag`.
pub fn read_only(input: &[u8], tag: u8) -> Result<Tlv<'_>> {
    let (tlv, rest) = read(input)?;
    if !rest.is_empty() {
        return Err(SigError::malformed("DER: trailing data after the element"));
    }
    expect_tag(&tlv, tag)?;
    Ok(tlv)
}

pub fn expect_tag(tlv: &Tlv<'_>, tag: u8) -> Result<()> {
    if tlv.tag == tag {
        Ok(())
    } else {
        Err(SigError::malformed(format!("DER: expected tag {tag:#04x}, found {:#04x}", tlv.tag)))
    }
}

/// The elements inside a constructed element's content; at most `max`.
pub fn children(content: &[u8], max: usize) -> Result<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        if out.len() == max {
            return Err(SigError::malformed(format!("DER: more than {max} elements")));
        }
        let (tlv, next) = read(rest)?;
        out.push(tlv);
        rest = next;
    }
    Ok(out)
}

/// Encodes `content` under `tag` with a definite DER length.
pub fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let encoded = encode(OCTET_STRING, &content);
            let tlv = read_only(&encoded, OCTET_STRING).unwrap();
            assert_eq!(tlv.content.len(), len);
            assert_eq!(tlv.raw, &encoded[..]);
        }
    }

    #[test]
    fn refuses_non_der_lengths_and_truncation() {
        assert!(read(&[0x04, 0x81, 0x05, 0, 0, 0, 0, 0]).is_err(), "long form for a short length");
        assert!(read(&[0x04, 0x80]).is_err(), "indefinite length");
        assert!(read(&[0x04, 0x05, 0, 0]).is_err(), "truncated");
        assert!(read(&[]).is_err());
        assert!(read_only(&[0x04, 0x00, 0x00], OCTET_STRING).is_err(), "trailing data");
    }

    #[test]
    fn children_are_bounded() {
        let seq = encode(SEQUENCE, &[encode(INTEGER, &[1]), encode(INTEGER, &[2])].concat());
        let tlv = read_only(&seq, SEQUENCE).unwrap();
        assert_eq!(children(tlv.content, 2).unwrap().len(), 2);
        assert!(children(tlv.content, 1).is_err());
    }
}
