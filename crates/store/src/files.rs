//! Files of a data directory that hold secrets or the whole store: created readable by their
//! owner only (issue 8: keys and the database were created 0644). The directory itself is made
//! 0700 when crabapple creates it.

use std::io::Write;
use std::path::Path;

/// Creates `dir` (and its parents) when missing; a directory crabapple creates is 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    restrict(dir, 0o700)
}

/// Writes a new file readable by its owner only (0600), failing if it exists, and syncs it.
pub fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if written.is_err() {
        // A full disk leaves no partial secret behind (issue 8).
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Sets a file's or directory's Unix mode (a no-op elsewhere).
pub fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Writes `bytes` to `path` (owner-only, 0600), replacing what is there: written to a temporary
/// file beside it and renamed, so a reader never sees half a file. Missing parent directories
/// are created private (0700). For uploaded assets, kept as files instead of SQL rows.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    write_secret(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
