//! Reading an event stream on a second thread: the reader takes the input in large blocks,
//! hashes them (the digest the ledger records), cuts lines and parses them into batches, while
//! the importer applies the previous batch. Parsing is most of the work of an import, so the two
//! threads roughly halve its time on a two-core machine.

use std::io::{ErrorKind, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use sha2::{Digest as _, Sha256};
use tollgate_metrics::cdevents::Parsed;

/// Lines longer than this are refused (a CDEvent is a few kilobytes).
pub const MAX_LINE: usize = 1 << 20;
/// Input is read in blocks of this size; it must exceed `MAX_LINE`.
const BLOCK: usize = 4 << 20;
/// Batches in flight between the threads.
const IN_FLIGHT: usize = 4;

/// A batch of parsed lines and how many input bytes had been read when it was cut.
pub struct Batch {
    pub lines: Parsed,
    pub bytes_read: u64,
}

/// Why reading stopped early: the input failed, or a line is too long (its 1-based number).
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    LineTooLong(u64),
}

/// Runs `consume` on each batch of `input` in order, parsing ahead on another thread. Returns
/// the SHA-256 of everything read, or the first error of either side (`consume`'s first).
pub fn read<E>(
    input: impl Read + Send,
    mut consume: impl FnMut(&Batch) -> Result<(), E>,
) -> Result<Result<[u8; 32], ReadError>, E> {
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = sync_channel::<Batch>(IN_FLIGHT);
        let (empty_tx, empty_rx) = sync_channel::<Parsed>(IN_FLIGHT + 2);
        let reader = scope.spawn(move || parse_ahead(input, &full_tx, &empty_rx));
        for batch in full_rx.iter() {
            consume(&batch)?;
            let mut lines = batch.lines;
            lines.clear();
            // The reader may have stopped; a batch it will not reuse is simply dropped.
            let _ = empty_tx.try_send(lines);
        }
        // The channel closes when the reader is done, successfully or not.
        Ok(reader.join().unwrap_or_else(|_| Err(ReadError::Io(std::io::Error::other("the reader thread panicked")))))
    })
}

fn parse_ahead(
    mut input: impl Read,
    full: &SyncSender<Batch>,
    empty: &Receiver<Parsed>,
) -> Result<[u8; 32], ReadError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BLOCK];
    let mut filled = 0;
    let mut bytes_read = 0u64;
    let mut line_no = 0u64;
    let mut batch = Parsed::default();
    loop {
        let n = match input.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        hasher.update(&buf[filled..filled + n]);
        bytes_read += n as u64;
        filled += n;
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &buf[..filled]) {
            line_no += 1;
            let line = &buf[start..end];
            if line.len() > MAX_LINE {
                return Err(ReadError::LineTooLong(line_no));
            }
            batch.push(line.strip_suffix(b"\r").unwrap_or(line));
            start = end + 1;
            if batch.is_full() {
                batch = send(batch, bytes_read, full, empty)?;
            }
        }
        if n == 0 {
            if start < filled {
                line_no += 1;
                let line = &buf[start..filled];
                if line.len() > MAX_LINE {
                    return Err(ReadError::LineTooLong(line_no));
                }
                batch.push(line.strip_suffix(b"\r").unwrap_or(line));
            }
            if !batch.is_empty() {
                send(batch, bytes_read, full, empty)?;
            }
            return Ok(hasher.finalize().into());
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if filled > MAX_LINE {
            return Err(ReadError::LineTooLong(line_no + 1));
        }
    }
}

/// Hands a full batch over and returns an empty one to fill (a used one when there is one).
fn send(
    batch: Parsed,
    bytes_read: u64,
    full: &SyncSender<Batch>,
    empty: &Receiver<Parsed>,
) -> Result<Parsed, ReadError> {
    // The importer stopped (it failed): end quietly, its error is the one reported.
    full.send(Batch { lines: batch, bytes_read })
        .map_err(|_| ReadError::Io(std::io::Error::other("import stopped")))?;
    Ok(empty.try_recv().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Result<[u8; 32], ReadError>, Vec<usize>) {
        let mut sizes = Vec::new();
        let digest = read(input, |b: &Batch| -> Result<(), ()> {
            sizes.push(b.lines.len());
            Ok(())
        })
        .unwrap();
        (digest, sizes)
    }

    #[test]
    fn every_line_is_read_with_or_without_a_final_newline_and_hashed() {
        let (digest, sizes) = run(b"a\n\nb\r\nc");
        assert_eq!(sizes.iter().sum::<usize>(), 4);
        assert_eq!(digest.unwrap(), <[u8; 32]>::from(Sha256::digest(b"a\n\nb\r\nc")));
        let (digest, sizes) = run(b"");
        assert_eq!(sizes.iter().sum::<usize>(), 0);
        assert_eq!(digest.unwrap(), <[u8; 32]>::from(Sha256::digest(b"")));
    }

    #[test]
    fn a_long_input_is_cut_into_batches_and_an_overlong_line_is_refused_by_number() {
        let line = [b'x'; 1_000];
        let mut input = Vec::new();
        for _ in 0..10_000 {
            input.extend_from_slice(&line);
            input.push(b'\n');
        }
        let (digest, sizes) = run(&input);
        assert!(digest.is_ok());
        assert!(sizes.len() > 1, "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 10_000);

        let mut input = b"{}\n{}\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 1));
        input.extend_from_slice(b"\n{}\n");
        assert!(matches!(run(&input).0, Err(ReadError::LineTooLong(3))));
        input.truncate(6 + MAX_LINE + 1);
        assert!(matches!(run(&input).0, Err(ReadError::LineTooLong(3))));
    }

    #[test]
    fn the_importers_error_stops_the_reader() {
        let input = vec![b'\n'; 20 << 20];
        let got = read(&input[..], |_: &Batch| Err("store failed"));
        assert_eq!(got.err(), Some("store failed"));
    }
}
