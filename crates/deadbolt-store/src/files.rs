//! Private files: Deadbolt's directories are readable by their owner only (0700) and its files
//! (the database with its WAL and shared-memory files, the master key, written mail and texts)
//! are 0600, because they hold what must not leak to other local users: undelivered codes in
//! the outbox, sealed secrets, the key that opens them.
//!
//! A directory Deadbolt creates is made 0700. An existing one that others can read is tightened
//! only when it is Deadbolt's own (its name contains `deadbolt`, as the default
//! `./deadbolt-data` does): a database configured at `/var/lib/app.db` must not make Deadbolt
//! change the modes of `/var/lib`. Other loose directories are reported, not changed.

use std::io::Write as _;
use std::path::Path;

/// The mode bits that let anyone but the owner in.
#[cfg(unix)]
const OTHERS: u32 = 0o077;

/// Creates `dir` (and missing parents) with mode 0700, or tightens an existing directory of
/// Deadbolt's own that others can read or enter.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        return set_mode(dir, 0o700);
    }
    #[cfg(unix)]
    {
        let mode = mode_of(dir)?;
        if mode & OTHERS != 0 {
            let ours = dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("deadbolt"));
            if ours {
                tighten(dir, mode, 0o700);
            } else {
                tracing::warn!(
                    dir = %dir.display(),
                    mode = format_args!("{:o}", mode & 0o777),
                    "a directory holding Deadbolt's files can be listed by other users; \
                     run: chmod 700 {}",
                    dir.display()
                );
            }
        }
    }
    Ok(())
}

/// Creates `path` empty with mode 0600 if it does not exist; tightens it to 0600 (with a log
/// line) if others can read it.
pub fn private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tighten_file(path),
        Err(e) => Err(e),
    }
}

/// Tightens an existing file others can read to 0600, with a log line; a missing file is fine.
pub fn tighten_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mode = match mode_of(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if mode & OTHERS != 0 {
            tighten(path, mode, 0o600);
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes `bytes` to `path` as a whole, mode 0600: written to a temporary name beside it,
/// synced, then renamed, so that a reader never sees half a file and a crash leaves none.
/// Writing the same path again replaces it.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    // created afresh, never opened through a name someone else put there first (a symlink
    // planted in a shared directory would otherwise point the write elsewhere)
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(&tmp) {
        Ok(f) => f,
        // left by a crash (or planted): removing a name removes the link, not its target
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&tmp)?;
            options.open(&tmp)?
        }
        Err(e) => return Err(e),
    };
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    // the rename itself survives a crash only once the directory is synced
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Sets `path` to `to`, saying so. Where that is not ours to do (a directory owned by root
/// with the service in its group, a read-only mount), it is reported and the start goes on:
/// an existing deployment keeps working, and its operator reads why the modes stayed.
#[cfg(unix)]
fn tighten(path: &Path, was: u32, to: u32) {
    match set_mode(path, to) {
        Ok(()) => tracing::warn!(
            path = %path.display(),
            was = format_args!("{:o}", was & 0o777),
            now = format_args!("{to:o}"),
            "tightened what others could read"
        ),
        Err(e) => tracing::warn!(
            path = %path.display(),
            mode = format_args!("{:o}", was & 0o777),
            error = %e,
            "others can read this, and its mode cannot be changed here; run: chmod {:o} {}",
            to,
            path.display()
        ),
    }
}

#[cfg(unix)]
fn mode_of(path: &Path) -> std::io::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(path)?.permissions().mode())
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a panic in a test is a failed test")]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_private_directories_and_files() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("deadbolt-data").join("mail");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(dir.parent().unwrap()), 0o700);
        let file = dir.join("a.db");
        private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        let written = dir.join("m.eml");
        write_private_file(&written, b"hello").unwrap();
        assert_eq!(mode(&written), 0o600);
        assert_eq!(std::fs::read(&written).unwrap(), b"hello");
        assert!(!dir.join("m.eml.tmp").exists());
    }

    #[test]
    fn tightens_its_own_directory_and_files_but_not_a_stranger() {
        let root = tempfile::tempdir().unwrap();
        let ours = root.path().join("deadbolt-data");
        let theirs = root.path().join("var-lib");
        for d in [&ours, &theirs] {
            std::fs::create_dir(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
            private_dir(d).unwrap();
        }
        assert_eq!(mode(&ours), 0o700);
        assert_eq!(mode(&theirs), 0o755);
        let db = ours.join("deadbolt.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
    }
}
