//! Each process's scratch folder under `<data_dir>/scratch`: job folders, serving children's
//! folders and handed-over caches live in `scratch/p<pid>-<n>/`, which the process holds for its
//! whole life by an exclusive `flock` on `scratch/p<pid>-<n>.lock`. The kernel drops that lock
//! when the process ends, however it ends (SIGKILL included). The first time a process uses the
//! scratch folder of a data dir (at start-up for `arena up`, `serve` and `worker`), it removes
//! every other process folder whose lock it can take: what a killed process left behind. A
//! process that runs keeps its lock, so several processes on one data dir (`arena serve` beside
//! `arena worker`, the tests) never remove each other's files.
//!
//! Written here on `std::fs::File::try_lock` rather than with a crate: the whole mechanism is a
//! lock file per process and one sweep.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// This process's folder in each data dir's scratch folder, with the lock that holds it.
static HELD: Mutex<Option<HashMap<PathBuf, Held>>> = Mutex::new(None);

struct Held {
    dir: PathBuf,
    /// Never read: holding the open file holds the lock.
    _lock: File,
}

/// This process's scratch folder for `data_dir`, made (and the folders of processes that are
/// gone removed) on first use.
pub fn dir(data_dir: &Path) -> io::Result<PathBuf> {
    let root = data_dir.join("scratch");
    let mut held = HELD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let held = held.get_or_insert_with(HashMap::new);
    if let Some(h) = held.get(&root)
        && h.dir.is_dir()
    {
        return Ok(h.dir.clone());
    }
    let h = claim(&root)?;
    let dir = h.dir.clone();
    held.insert(root, h);
    Ok(dir)
}

/// Makes and locks a folder of this process's own under `root`, then sweeps the others.
fn claim(root: &Path) -> io::Result<Held> {
    std::fs::create_dir_all(root)?;
    let pid = std::process::id();
    for n in 0u32.. {
        let name = format!("p{pid}-{n}");
        let lock_path = root.join(format!("{name}.lock"));
        let lock = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock_path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        match lock.try_lock() {
            Ok(()) => {}
            // Another process swept the fresh file before it was locked: try another name.
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(e)) => return Err(e),
        }
        // A sweeper may have removed the file between its creation and the lock (it found it
        // unlocked): then the lock holds nothing, and another name is taken.
        if !same_file(&lock, &lock_path) {
            continue;
        }
        let dir = root.join(&name);
        std::fs::create_dir_all(&dir)?;
        sweep(root, &name);
        return Ok(Held { dir, _lock: lock });
    }
    Err(io::Error::other("no free scratch folder name"))
}

fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Removes the folder of every process under `root` but `own` whose lock is free: its process
/// has ended. Files of an older layout (folders straight under `scratch/`) are left alone: no
/// lock says whose they are.
fn sweep(root: &Path, own: &str) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".lock")) else {
            continue;
        };
        if name == own || !name.starts_with('p') {
            continue;
        }
        let lock_path = entry.path();
        let Ok(lock) = OpenOptions::new().write(true).open(&lock_path) else {
            continue;
        };
        if lock.try_lock().is_err() {
            // Its process runs.
            continue;
        }
        let dir = root.join(name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                tracing::info!(folder = %dir.display(), "removed a scratch folder left by an ended process")
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(folder = %dir.display(), error = %e, "cannot remove an ended process's scratch folder");
                continue;
            }
        }
        // Under our lock: the folder is gone before its lock file, so a folder is never left
        // without the lock file that lets the next sweep find it.
        let _ = std::fs::remove_file(&lock_path);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_process_gets_its_own_folder_and_removes_only_those_of_ended_processes() {
        let data = tempfile::tempdir().unwrap();
        let root = data.path().join("scratch");
        // An ended process: its lock file is there and free, its folder holds a job's files.
        std::fs::create_dir_all(root.join("p1-0/job-x")).unwrap();
        std::fs::write(root.join("p1-0/job-x/input.video"), b"left").unwrap();
        std::fs::write(root.join("p1-0.lock"), b"").unwrap();
        // A running process: its lock is held (a lock on another open file conflicts, in this
        // process as in another).
        std::fs::create_dir_all(root.join("p2-0/serve-y")).unwrap();
        let live = File::create(root.join("p2-0.lock")).unwrap();
        live.try_lock().unwrap();
        // An older layout's folder: nobody's lock says whose it is.
        std::fs::create_dir_all(root.join("job-old")).unwrap();

        let own = dir(data.path()).unwrap();
        assert!(own.is_dir() && own.starts_with(&root), "{}", own.display());
        assert_eq!(
            dir(data.path()).unwrap(),
            own,
            "one folder per process and data dir"
        );
        assert!(!root.join("p1-0").exists() && !root.join("p1-0.lock").exists());
        assert!(root.join("p2-0/serve-y").is_dir() && root.join("p2-0.lock").exists());
        assert!(root.join("job-old").is_dir());
        // Its own lock is held: another sweep (another process) leaves it alone.
        let other = File::open(own.with_extension("lock")).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        // The running process ends: the next process to start sweeps its folder too.
        drop(live);
        let next = claim(&root).unwrap();
        assert!(!root.join("p2-0").exists() && !root.join("p2-0.lock").exists());
        assert!(own.is_dir(), "a folder whose lock is held stays");
        assert_ne!(next.dir, own);
    }

    #[test]
    fn a_folder_removed_under_it_is_made_again() {
        let data = tempfile::tempdir().unwrap();
        let own = dir(data.path()).unwrap();
        std::fs::remove_dir_all(data.path().join("scratch")).unwrap();
        assert!(!own.exists());
        let again = dir(data.path()).unwrap();
        assert!(again.is_dir());
    }
}
