//! Files named on the command line. Embedded, they are read from the disk; when the server runs
//! a client's command, only the bytes the client uploaded under that name exist: a request can
//! never make the server read (or write) a file of its own.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::run::{Failure, error};

thread_local! {
    static UPLOADED: RefCell<Option<HashMap<String, Vec<u8>>>> = const { RefCell::new(None) };
}

/// Runs `f` with `uploads` (name as the client gave it → bytes) as the only files there are.
pub fn with_uploads<T>(uploads: HashMap<String, Vec<u8>>, f: impl FnOnce() -> T) -> T {
    UPLOADED.with(|u| *u.borrow_mut() = Some(uploads));
    let result = f();
    UPLOADED.with(|u| *u.borrow_mut() = None);
    result
}

/// True while a server thread runs a client's command.
pub fn remote() -> bool {
    UPLOADED.with(|u| u.borrow().is_some())
}

fn uploaded(path: &Path) -> Option<Result<Vec<u8>, Failure>> {
    UPLOADED.with(|u| {
        u.borrow().as_ref().map(|files| {
            files.get(&path.to_string_lossy().into_owned()).cloned().ok_or_else(|| {
                error(format!(
                    "{}: not uploaded with the request (the server reads no files of its own)",
                    path.display()
                ))
            })
        })
    })
}

/// The file's contents as a stream; `-` is standard input.
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, Failure> {
    if let Some(bytes) = uploaded(path) {
        return Ok(Box::new(std::io::Cursor::new(bytes?)));
    }
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let f = std::fs::File::open(path).map_err(|e| error(format!("{}: {e}", path.display())))?;
    Ok(Box::new(f))
}

/// The file's contents, refused when larger than `limit` bytes (`what` says what such a file is).
pub fn read(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    open(path)?.take(limit + 1).read_to_end(&mut bytes).map_err(|e| error(format!("{}: {e}", path.display())))?;
    if bytes.len() as u64 > limit {
        return Err(error(format!("{}: larger than {} MiB; {what}", path.display(), limit >> 20)));
    }
    Ok(bytes)
}

/// A text file of at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64, what: &str) -> Result<String, Failure> {
    String::from_utf8(read(path, limit, what)?)
        .map_err(|e| error(format!("{}: not UTF-8 text (byte {})", path.display(), e.utf8_error().valid_up_to())))
}

/// Its size when known before reading (for a progress bar).
pub fn size(path: &Path) -> Option<u64> {
    match uploaded(path) {
        Some(bytes) => bytes.ok().map(|b| b.len() as u64),
        None => std::fs::metadata(path).ok().map(|m| m.len()),
    }
}
