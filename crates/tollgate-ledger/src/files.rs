//! The two ways the ledger writes a file outside its database: a new file that must not exist
//! yet (keys), and a whole file replaced at once (checkpoint copies), so that a reader, or a
//! crash, never sees half of one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::LedgerError;

/// Distinguishes the temporary files of writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut os = path.as_os_str().to_owned();
    os.push(suffix);
    PathBuf::from(os)
}

/// Writes `contents` and a newline to a new file that must not exist yet, readable only by its
/// owner (`private`, mode 0600) or by all (0644), where the platform has modes.
pub(crate) fn write_new(path: &Path, contents: &str, private: bool) -> Result<(), LedgerError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let io_err = |source| LedgerError::Io { path: path.to_owned(), source };
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            LedgerError::AlreadyInitialised { path: path.to_owned() }
        } else {
            io_err(e)
        }
    })?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(io_err)
}

/// Replaces `target` with `contents` atomically: written to a temporary file beside it (synced
/// first when `sync`), then renamed over it.
pub fn replace(target: &Path, contents: &[u8], sync: bool) -> io::Result<()> {
    let tmp = write_temp(target, contents, sync)?;
    fs::rename(&tmp, target).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Writes `contents` to `target`, which must not exist (else `AlreadyExists`), so that a reader
/// sees all of it or nothing: a synced temporary file is linked into place, and a link, unlike
/// a rename, never replaces a file.
pub fn write_once(target: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = write_temp(target, contents, true)?;
    let linked = fs::hard_link(&tmp, target);
    let _ = fs::remove_file(&tmp);
    linked
}

fn write_temp(target: &Path, contents: &[u8], sync: bool) -> io::Result<PathBuf> {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = with_suffix(target, &format!(".{}.{n}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(contents)?;
        if sync {
            file.sync_all()?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_file_written_once_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("7.checkpoint");
        super::write_once(&path, b"first").unwrap();
        let again = super::write_once(&path, b"second").unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        super::replace(&dir.path().join("latest"), b"x", false).unwrap();
        super::replace(&dir.path().join("latest"), b"y", false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(std::fs::read(dir.path().join("latest")).unwrap(), b"y");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file left");
    }
}
