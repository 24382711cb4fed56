//! The SQLite database's files are readable and writable by the service's own user only: they
//! hold personnummer, emergency reasons and who read whose care.
//!
//! SQLite creates a missing database file with mode 0644 (less the umask), and gives the
//! `-wal`, `-shm` and `-journal` files it creates later the database file's own mode. So the
//! database file is created here, 0600, before sqlx opens it, and the others follow it.
//!
//! Files that already exist with any group or other permission (made by an earlier version, a
//! copy or a restore) are tightened to owner-only, with a warning naming the file, rather than
//! only warned about: every start that leaves them open leaves the log readable by every local
//! user, and a warning alone is easily missed. An operator who meant to share the file (with a
//! backup group, say) learns it from the warning; such sharing belongs in a copy made for it.
//! Where the mode cannot be changed (the file belongs to another user), the warning says so and
//! the service starts anyway: the database itself decides whether it can be used.
//!
//! Unix only: elsewhere files have no such modes.

use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The files SQLite keeps beside the database, by suffix.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// The database file a `sqlite:` URL names, read as sqlx reads it.
pub(super) fn database_path(url: &str) -> Option<PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_owned())
}

/// The database file and the files SQLite keeps beside it.
pub(super) fn files(database: &Path) -> Vec<PathBuf> {
    let mut all = vec![database.to_owned()];
    for suffix in COMPANIONS {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        all.push(PathBuf::from(name));
    }
    all
}

/// Before the store opens `url`: creates the database file owner-only where sqlx would create
/// it (`mode=rwc`), and tightens the files that already exist.
pub(super) fn keep_private(url: &str) {
    use std::os::unix::fs::OpenOptionsExt;

    let Some(database) = database_path(url) else {
        // sqlx will refuse the URL with its own message.
        return;
    };
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if query.split('&').any(|p| p == "mode=rwc") {
        // `create_new`: an existing file is left as it is (and tightened below). Any other
        // failure (a missing folder, no permission) is sqlx's to report when it opens the file.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&database);
    }
    for file in files(&database) {
        tighten(&file);
    }
}

/// Removes every group and other permission from `file`, if it exists.
fn tighten(file: &Path) {
    use std::os::unix::fs::PermissionsExt;

    let Ok(metadata) = std::fs::metadata(file) else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return;
    }
    let tight = mode & 0o700;
    match std::fs::set_permissions(file, std::fs::Permissions::from_mode(tight)) {
        Ok(()) => tracing::warn!(
            file = %file.display(),
            "the database file was readable by others (mode {mode:o}); made owner-only ({tight:o})"
        ),
        Err(e) => tracing::warn!(
            file = %file.display(),
            error = %e,
            "the database file is readable by others (mode {mode:o}) and could not be made owner-only; restrict it (chmod 600)"
        ),
    }
}
