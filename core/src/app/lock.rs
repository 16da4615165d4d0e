//! One [`super::HomeVisit`] per data directory per process: `open` takes an exclusive lock on a
//! file in the directory (`std::fs::File::try_lock`), a second open of the same directory gets
//! [`AppError::AlreadyOpen`], and the lock goes with the app (released when the file closes).

use super::AppError;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "homevisit.lock";

/// Holds the data directory's lock until dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Creates `dir` if needed and locks it; [`AppError::AlreadyOpen`] when another open app (of
    /// this process or another) holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, AppError> {
        let io = |e: std::io::Error| {
            tracing::warn!(target: "homevisit::app", error = %e, "the data directory's lock file failed");
            AppError::Storage
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(AppError::AlreadyOpen),
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_of_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        assert_eq!(DirLock::acquire(dir.path()).unwrap_err(), AppError::AlreadyOpen);
        let other = tempfile::tempdir().unwrap();
        let _elsewhere = DirLock::acquire(other.path()).unwrap();
        drop(first);
        let _again = DirLock::acquire(dir.path()).unwrap();
    }
}
