//! The master key: a 256-bit key in a file only its owner can read. It seals the service keys
//! kept in the database (and, later, TOTP secrets) with XChaCha20-Poly1305; the row's identity is
//! the associated data, so a sealed value cannot be moved to another row.

use anyhow::{bail, Context};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use deadbolt_core::random::{Random, RandomExt};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

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

    /// Reads the key file, or creates it (mode 0600, in a directory created as needed) when it
    /// does not exist. Refuses a file that others can read.
    pub fn load_or_create(path: &Path, rng: &dyn Random) -> anyhow::Result<Self> {
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let key = Zeroizing::new(rng.bytes::<32>());
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut f) => {
                    let encoded = Zeroizing::new(STANDARD.encode(*key));
                    writeln!(f, "{}", encoded.as_str())
                        .with_context(|| format!("writing {}", path.display()))?;
                    f.sync_all()?;
                    tracing::info!(path = %path.display(), "created a new master key");
                }
                // another process created it first: use theirs
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        Self::load(path)
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
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
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| anyhow::anyhow!("{} is not base64", path.display()))?,
        );
        let key: &[u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!("{} must hold 32 bytes, base64-encoded", path.display())
        })?;
        Ok(Self::from_bytes(key))
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

#[cfg(test)]
mod tests {
    use super::*;
    use deadbolt_core::random::SeededRandom;

    #[test]
    fn creates_an_owner_only_file_and_reloads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let rng = SeededRandom::new(11);
        let a = MasterKey::load_or_create(&path, &rng).unwrap();
        let b = MasterKey::load_or_create(&path, &rng).unwrap();
        assert_eq!(a.id(), b.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(MasterKey::load(&path)
                .unwrap_err()
                .to_string()
                .contains("chmod 600"));
        }
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
