//! Who signs the checkpoints. The ledger asks a [`CheckpointSigner`] for one signature per
//! append and never learns where the key is: a key file ([`KeyFile`]) today, an external signer
//! (a hardware module, a cloud KMS, a signing service) behind the same trait later.
//!
//! Where the key is matters: whoever holds it can rewrite the log and sign the result, and a
//! copy of the store taken with its key can be rewritten anywhere. An embedded store keeps its
//! key beside it (`PATH.key`); a server should keep it where only the service's user can read
//! it, which [`KeyFile::check_private`] checks.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::files;
use crate::note::{Checkpoint, NoteSigner, NoteVerifier};
use crate::store::LedgerError;

/// Signs checkpoint notes for one log.
pub trait CheckpointSigner: fmt::Debug + Send {
    /// The key the signatures verify with; its name is the log's origin.
    fn verifier(&self) -> NoteVerifier;
    /// Where the key is, for messages: "key file /etc/tollgate/signing.key".
    fn describe(&self) -> String;
    /// The signature line (`— <name> <base64>\n`) of a note text that ends in a newline.
    fn sign(&self, text: &str) -> Result<String, LedgerError>;
}

impl CheckpointSigner for NoteSigner {
    fn verifier(&self) -> NoteVerifier {
        NoteSigner::verifier(self)
    }

    fn describe(&self) -> String {
        format!("signing key {}+{:08x}", self.name(), self.key_id())
    }

    fn sign(&self, text: &str) -> Result<String, LedgerError> {
        Ok(self.signature_line(text)?)
    }
}

/// Signs `checkpoint` with `signer` and checks the result with `verifier` before anyone stores
/// it: a signer outside this process (or a key file swapped underneath) that answers with
/// another key's signature, or garbage, fails the append instead of committing a checkpoint
/// nobody can verify.
pub(crate) fn sign_checkpoint(
    signer: &dyn CheckpointSigner,
    verifier: &NoteVerifier,
    checkpoint: &Checkpoint,
) -> Result<String, LedgerError> {
    let text = checkpoint.body()?;
    let note = format!("{text}\n{}", signer.sign(&text)?);
    verifier.open_checkpoint(&note).map_err(|e| LedgerError::Signer {
        signer: signer.describe(),
        detail: format!("its signature does not verify with the log's key ({e})"),
    })?;
    Ok(note)
}

/// A private key string (`PRIVATE+KEY+<name>+<id>+<key>`) in a file.
pub struct KeyFile {
    path: PathBuf,
    key: NoteSigner,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile").field("path", &self.path).field("key", &self.key).finish()
    }
}

impl KeyFile {
    /// Reads the key in `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|source| LedgerError::Io { path: path.to_owned(), source })?;
        let key =
            NoteSigner::parse(text.trim_end()).map_err(|source| LedgerError::Key { path: path.to_owned(), source })?;
        Ok(Self { path: path.to_owned(), key })
    }

    /// A new key for the log `origin` in `path`, which must not exist: created exclusively
    /// (of two creators only one succeeds) and readable by its owner only.
    pub fn create(path: impl AsRef<Path>, origin: &str) -> Result<Self, LedgerError> {
        let path = path.as_ref();
        let key = NoteSigner::generate(origin)?;
        files::write_new(path, &key.to_private_key_string(), true)?;
        Ok(Self { path: path.to_owned(), key })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Refuses a key file that its group or others may read or write (mode & 077): anyone who
    /// can read it can sign as the log. Windows has no such modes; nothing is checked there.
    pub fn check_private(&self) -> Result<(), LedgerError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&self.path)
                .map_err(|source| LedgerError::Io { path: self.path.clone(), source })?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(LedgerError::KeyExposed { path: self.path.clone(), mode: mode & 0o777 });
            }
        }
        Ok(())
    }
}

impl CheckpointSigner for KeyFile {
    fn verifier(&self) -> NoteVerifier {
        self.key.verifier()
    }

    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }

    fn sign(&self, text: &str) -> Result<String, LedgerError> {
        Ok(self.key.signature_line(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle;

    /// A signer that answers with another key's signature.
    #[derive(Debug)]
    struct Impostor(NoteSigner, NoteSigner);

    impl CheckpointSigner for Impostor {
        fn verifier(&self) -> NoteVerifier {
            self.0.verifier()
        }
        fn describe(&self) -> String {
            "an impostor".into()
        }
        fn sign(&self, text: &str) -> Result<String, LedgerError> {
            Ok(self.1.signature_line(text)?)
        }
    }

    #[test]
    fn a_signature_that_does_not_verify_is_never_returned() {
        let (log, other) =
            (NoteSigner::generate("a.example/log").unwrap(), NoteSigner::generate("a.example/log").unwrap());
        let cp = Checkpoint { origin: "a.example/log".into(), size: 0, root: merkle::EMPTY_ROOT };
        let note = sign_checkpoint(&log, &log.verifier(), &cp).unwrap();
        assert_eq!(log.verifier().open_checkpoint(&note).unwrap(), cp);
        let impostor = Impostor(log, other);
        let err = sign_checkpoint(&impostor, &impostor.verifier(), &cp).unwrap_err();
        assert!(err.to_string().contains("an impostor: its signature does not verify"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let key = KeyFile::create(&path, "a.example/log").unwrap();
        key.check_private().unwrap();
        assert!(matches!(KeyFile::create(&path, "a.example/log"), Err(LedgerError::AlreadyInitialised { .. })));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = key.check_private().unwrap_err().to_string();
        assert!(err.contains("signing.key") && err.contains("0640") && err.contains("chmod 600"), "{err}");
        assert_eq!(KeyFile::load(&path).unwrap().verifier(), key.verifier());
    }
}
