//! skiff's temporary files and directories: named so that they are recognisable, and swept
//! when a killed copy left them behind.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::transport::{Result, TransportError};

/// What skiff creates as temporaries, and whether each is a file or a directory. A name
/// only counts as skiff's when it has one of these labels and the matching type, so the
/// sweep never touches a user's `skiff-release-2019-notes`.
const TEMP_FILES: &[&str] = &["blob", "tmp", "archive", "daemon"];
const TEMP_DIRS: &[&str] = &["stage", "ociarchive", "dockerarchive", "precompute"];
/// The random part tempfile appends.
const RANDOM_LEN: usize = 6;

/// Temp names carry the writer's PID (`.skiff-blob-PID-XXXXXX`), so a later run can tell
/// the leftovers of a killed copy from the work of a copy still running.
fn temp_prefix(hidden: &str, label: &str) -> String {
    debug_assert!(TEMP_FILES.contains(&label) || TEMP_DIRS.contains(&label));
    format!("{hidden}skiff-{label}-{}-", std::process::id())
}

/// A temp file in `dir`, mode 0644 (less the umask) like the files skopeo writes.
pub fn temp_file_in(dir: &Path, label: &str) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&temp_prefix(".", label))
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| {
            TransportError::io(format!("creating a temporary file in {}", dir.display()), e)
        })
}

/// A temp directory in `dir`, mode 0755 (less the umask); `hidden` is a name prefix.
pub fn temp_dir_in(dir: &Path, hidden: &str, label: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&temp_prefix(hidden, label))
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempdir_in(dir)
        .map_err(|e| {
            TransportError::io(
                format!("creating a temporary directory in {}", dir.display()),
                e,
            )
        })
}

/// Removes temp files and directories in `dir` left by skiff processes that no longer run
/// (a copy killed with SIGKILL cannot clean up after itself).
pub fn sweep_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, is_dir)) = stale_owner(&name.to_string_lossy()) else {
            continue;
        };
        // The type skiff would have made, not following links.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() != is_dir || kind.is_symlink() || process_alive(pid) {
            continue;
        }
        let path = entry.path();
        let _ = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

/// For a name made by `temp_prefix` plus tempfile's random part: the PID, and whether it
/// names a directory. `HIDDEN` is "", "." or ".TARGET." (a staging directory).
fn stale_owner(name: &str) -> Option<(u32, bool)> {
    let at = name.find("skiff-")?;
    let hidden = &name[..at];
    if !(hidden.is_empty()
        || hidden == "."
        || (hidden.len() > 2 && hidden.starts_with('.') && hidden.ends_with('.')))
    {
        return None;
    }
    let mut parts = name[at + "skiff-".len()..].splitn(3, '-');
    let label = parts.next()?;
    let pid_text = parts.next()?;
    let random = parts.next()?;
    // Only a staging directory carries its target's name in front.
    if hidden.len() > 1 && label != "stage" {
        return None;
    }
    let is_dir = if TEMP_DIRS.contains(&label) {
        true
    } else if TEMP_FILES.contains(&label) {
        false
    } else {
        return None;
    };
    if pid_text.is_empty()
        || !pid_text.bytes().all(|b| b.is_ascii_digit())
        || random.len() != RANDOM_LEN
        || !random.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    Some((pid_text.parse().ok()?, is_dir))
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Entries of `dir` that are not skiff's own temporaries (which a killed copy may leave).
pub fn visible_entries(dir: &Path) -> io::Result<usize> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| stale_owner(&e.file_name().to_string_lossy()).is_none())
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_carry_their_owner() {
        assert_eq!(stale_owner(".skiff-blob-1234-abCD12"), Some((1234, false)));
        assert_eq!(stale_owner(".dest.skiff-stage-77-x1Y2z3"), Some((77, true)));
        assert_eq!(stale_owner("skiff-ociarchive-9-zzzzzz"), Some((9, true)));
        assert_eq!(stale_owner("manifest.json"), None);
        assert_eq!(stale_owner(".skiff-blob-notapid-abcdef"), None);
        // Names of the same shape that skiff does not make are a user's, never swept.
        assert_eq!(stale_owner("skiff-release-2019-notes"), None);
        assert_eq!(stale_owner("old-skiff-cache-4242-data12"), None);
        assert_eq!(stale_owner("backup.skiff-blob-999998-abcdef.txt"), None);
        assert_eq!(stale_owner(".skiff-blob-12-abc"), None);
        assert_eq!(stale_owner(".skiff-blob--abcdef"), None);
        assert_eq!(stale_owner(".notes.skiff-blob-42-abcdef"), None);
        assert!(process_alive(std::process::id()));
    }

    #[test]
    fn sweep_removes_only_dead_owners() {
        let dir = tempfile::tempdir().unwrap();
        let mine = temp_file_in(dir.path(), "blob").unwrap();
        // PID 0x7fff_fff0 is above pid_max on Linux, so it cannot be running.
        let dead = dir.path().join(".skiff-blob-2147483632-abcdef");
        std::fs::write(&dead, b"partial").unwrap();
        let dead_stage = dir.path().join(".img.skiff-stage-2147483632-Ab12Cd");
        std::fs::create_dir_all(dead_stage.join("blobs")).unwrap();
        let keep = dir.path().join("sha-looking-file");
        std::fs::write(&keep, b"x").unwrap();
        // A user's directory that merely looks like a temp name, and a directory where
        // skiff would only ever leave a file: both kept.
        let user = dir.path().join("skiff-release-2019-notes");
        std::fs::create_dir_all(&user).unwrap();
        std::fs::write(user.join("todo.txt"), b"precious").unwrap();
        let wrong_type = dir.path().join(".skiff-blob-2147483632-zzzzzz");
        std::fs::create_dir_all(&wrong_type).unwrap();
        sweep_stale(dir.path());
        assert!(mine.path().exists());
        assert!(!dead.exists());
        assert!(!dead_stage.exists());
        assert!(keep.exists());
        assert!(user.join("todo.txt").exists());
        assert!(wrong_type.exists());
    }
}
