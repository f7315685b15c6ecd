//! The master keys: 256-bit keys in a file only its owner can read, one base64 key per line,
//! the current one first. The current key seals the service keys kept in the database and every
//! TOTP secret with XChaCha20-Poly1305; the row's identity is the associated data, so a sealed
//! value cannot be moved to another row. Older keys stay in the file during a rotation so that
//! rows not yet re-sealed can still be opened; an instance that meets a key id it does not know
//! reads the file again, so rotation needs no restart.

use anyhow::{bail, Context};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use deadbolt_core::random::{Random, RandomExt};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

#[derive(Clone)]
pub struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A sealed value: the nonce and the ciphertext with its tag.
pub struct Sealed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl MasterKey {
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        // The id names the key without revealing it: rows say which key sealed them.
        let id = Sha256::digest(key)[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            id,
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8], rng: &dyn Random) -> anyhow::Result<Sealed> {
        let nonce = rng.bytes::<24>();
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        Ok(Sealed {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        if sealed.nonce.len() != 24 {
            bail!("sealed value has a bad nonce");
        }
        self.cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                anyhow::anyhow!("cannot open a sealed value: wrong master key, or tampered data")
            })
    }
}

/// The keys from the file, current first.
pub struct MasterKeys {
    path: Option<PathBuf>,
    keys: RwLock<Arc<Vec<MasterKey>>>,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKeys")
            .field("current", &self.current().id())
            .finish_non_exhaustive()
    }
}

impl MasterKeys {
    /// Fixed keys, current first (tests and tools).
    pub fn from_keys(keys: Vec<MasterKey>) -> anyhow::Result<Self> {
        if keys.is_empty() {
            bail!("no master key");
        }
        Ok(Self {
            path: None,
            keys: RwLock::new(Arc::new(keys)),
        })
    }

    /// Reads the key file, or creates it (mode 0600, in a private directory created as needed)
    /// with one new key when it does not exist. Refuses a file that others can read.
    pub fn load_or_create(path: &Path, rng: &dyn Random) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            create_private_dir(dir)?;
        }
        if !path.exists() {
            let key = Zeroizing::new(rng.bytes::<32>());
            match write_new_file(path, &[STANDARD.encode(*key)]) {
                Ok(()) => tracing::info!(path = %path.display(), "created a new master key"),
                // another process created it first: use theirs
                Err(e)
                    if e.downcast_ref::<std::io::Error>()
                        .is_some_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists) => {}
                Err(e) => return Err(e),
            }
        }
        let keys = read_key_file(path)?;
        Ok(Self {
            path: Some(path.to_owned()),
            keys: RwLock::new(Arc::new(keys)),
        })
    }

    fn reload_if_changed(&self) -> anyhow::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let fresh = read_key_file(path)?;
        let changed = {
            let held = self.snapshot();
            fresh.len() != held.len()
                || fresh.iter().zip(held.iter()).any(|(a, b)| a.id() != b.id())
        };
        if changed {
            *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<Vec<MasterKey>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn current(&self) -> MasterKey {
        let keys = self.snapshot();
        // never empty: both constructors refuse an empty list
        keys.first()
            .cloned()
            .unwrap_or_else(|| MasterKey::from_bytes(&[0; 32]))
    }

    /// Seals under the current key; returns that key's id with the sealed value. The key file
    /// is read again first when it changed since it was loaded: after `deadbolt keys rotate` on
    /// this host, new secrets must be sealed with the new key, not the one being retired.
    pub fn seal(
        &self,
        plaintext: &[u8],
        aad: &[u8],
        rng: &dyn Random,
    ) -> anyhow::Result<(String, Sealed)> {
        self.reload_if_changed()?;
        let key = self.current();
        Ok((key.id().to_owned(), key.seal(plaintext, aad, rng)?))
    }

    /// Opens a value sealed by the key `key_id`, reading the key file again if that key is new
    /// to this instance (another process rotated).
    pub fn open(
        &self,
        key_id: &str,
        sealed: &Sealed,
        aad: &[u8],
    ) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        if let Some(k) = self.snapshot().iter().find(|k| k.id() == key_id) {
            return k.open(sealed, aad);
        }
        if let Some(path) = &self.path {
            let fresh = read_key_file(path)?;
            *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
            if let Some(k) = self.snapshot().iter().find(|k| k.id() == key_id) {
                return k.open(sealed, aad);
            }
        }
        bail!("value sealed by master key {key_id}, which is not in the master key file")
    }

    /// Puts a new key first in the file (keeping the others, so rows not yet re-sealed stay
    /// readable) and returns it. The file is replaced atomically.
    pub fn rotate_file(path: &Path, rng: &dyn Random) -> anyhow::Result<MasterKey> {
        let old =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        read_key_file(path)?;
        let key = Zeroizing::new(rng.bytes::<32>());
        let mut lines = vec![STANDARD.encode(*key)];
        lines.extend(
            old.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
        let tmp = path.with_extension("key.new");
        let _ = std::fs::remove_file(&tmp);
        write_new_file(&tmp, &lines)?;
        std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
        Ok(MasterKey::from_bytes(&key))
    }

    /// Keeps only the keys whose ids are listed (after every row was re-sealed).
    pub fn prune_file(path: &Path, keep: &[String]) -> anyhow::Result<usize> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        );
        let keys = read_key_file(path)?;
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let kept: Vec<String> = lines
            .iter()
            .zip(&keys)
            .enumerate()
            .filter(|(i, (_, k))| *i == 0 || keep.iter().any(|id| id == k.id()))
            .map(|(_, (l, _))| l.clone())
            .collect();
        let removed = lines.len() - kept.len();
        let tmp = path.with_extension("key.new");
        let _ = std::fs::remove_file(&tmp);
        write_new_file(&tmp, &kept)?;
        std::fs::rename(&tmp, path)?;
        Ok(removed)
    }
}

/// The words of outbox messages, sealed under the current master key while they wait and
/// opened by any key of the file (a message may outlive a rotation).
pub struct OutboxBodyKeys {
    pub master: Arc<MasterKeys>,
    pub rng: Arc<dyn Random>,
}

impl deadbolt_store::BodyKeys for OutboxBodyKeys {
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<deadbolt_store::SealedBody, String> {
        let (master_key_id, sealed) = self
            .master
            .seal(plaintext, aad, self.rng.as_ref())
            .map_err(|e| e.to_string())?;
        Ok(deadbolt_store::SealedBody {
            master_key_id,
            nonce: sealed.nonce,
            ciphertext: sealed.ciphertext,
        })
    }

    fn open(&self, sealed: &deadbolt_store::SealedBody, aad: &[u8]) -> Result<Vec<u8>, String> {
        let opened = self
            .master
            .open(
                &sealed.master_key_id,
                &Sealed {
                    nonce: sealed.nonce.clone(),
                    ciphertext: sealed.ciphertext.clone(),
                },
                aad,
            )
            .map_err(|e| e.to_string())?;
        Ok(opened.to_vec())
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    deadbolt_store::files::private_dir(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Creates `path` (failing if it exists) readable only by its owner, with one key per line.
fn write_new_file(path: &Path, lines: &[String]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(anyhow::Error::new)?;
    for l in lines {
        writeln!(f, "{l}").with_context(|| format!("writing {}", path.display()))?;
    }
    f.sync_all()?;
    Ok(())
}

fn read_key_file(path: &Path) -> anyhow::Result<Vec<MasterKey>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} can be read by others (mode {:o}); run: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(line)
                .map_err(|_| anyhow::anyhow!("{} is not base64", path.display()))?,
        );
        let key: &[u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!(
                "{}: each line must hold 32 bytes, base64-encoded",
                path.display()
            )
        })?;
        keys.push(MasterKey::from_bytes(key));
    }
    if keys.is_empty() {
        bail!("{} holds no key", path.display());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deadbolt_core::random::SeededRandom;

    #[test]
    fn creates_an_owner_only_file_and_reloads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let rng = SeededRandom::new(11);
        let a = MasterKeys::load_or_create(&path, &rng).unwrap();
        let b = MasterKeys::load_or_create(&path, &rng).unwrap();
        assert_eq!(a.current().id(), b.current().id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(MasterKeys::load_or_create(&path, &rng)
                .unwrap_err()
                .to_string()
                .contains("chmod 600"));
        }
    }

    #[test]
    fn rotation_keeps_old_rows_readable_and_reloads_on_a_new_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let rng = SeededRandom::new(13);
        let running = MasterKeys::load_or_create(&path, &rng).unwrap();
        let (old_id, sealed) = running.seal(b"totp secret", b"row", &rng).unwrap();
        let new = MasterKeys::rotate_file(&path, &rng).unwrap();
        assert_ne!(new.id(), old_id);
        let after = MasterKeys::load_or_create(&path, &rng).unwrap();
        assert_eq!(after.current().id(), new.id());
        assert_eq!(
            after.open(&old_id, &sealed, b"row").unwrap().as_slice(),
            b"totp secret"
        );
        // the instance started before the rotation seals with the new key from now on
        let (sealed_by, _) = running.seal(b"new secret", b"row2", &rng).unwrap();
        assert_eq!(sealed_by, new.id());
        // and reads values sealed by it
        let resealed = new.seal(b"totp secret", b"row", &rng).unwrap();
        assert_eq!(
            running
                .open(new.id(), &resealed, b"row")
                .unwrap()
                .as_slice(),
            b"totp secret"
        );
        assert_eq!(MasterKeys::prune_file(&path, &[]).unwrap(), 1);
        assert!(MasterKeys::load_or_create(&path, &rng)
            .unwrap()
            .open(&old_id, &sealed, b"row")
            .is_err());
    }

    #[test]
    fn seal_binds_the_associated_data() {
        let rng = SeededRandom::new(12);
        let k = MasterKey::from_bytes(&[7; 32]);
        let sealed = k.seal(b"secret", b"row-1", &rng).unwrap();
        assert_eq!(k.open(&sealed, b"row-1").unwrap().as_slice(), b"secret");
        assert!(k.open(&sealed, b"row-2").is_err());
        assert!(MasterKey::from_bytes(&[8; 32])
            .open(&sealed, b"row-1")
            .is_err());
        assert!(!format!("{k:?}").contains("cipher"));
    }
}
