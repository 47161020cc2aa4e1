//! Taking a decode child's cache files without writing their bytes again (docs/SANDBOX.md,
//! "How a job runs", step 5).
//!
//! A decode child writes ~25 MB of images per video into its own folder. Writing them again
//! into the store was ~30 % of the server process's CPU (a profile of `platform-bench`'s short
//! workload, docs/BENCHMARKS.md). Instead, the server moves the
//! files into a folder of its own, out of the child's reach (Landlock lets the child open only
//! its own folder, and its system calls include no `link` or `rename`), and keeps them only when
//! nothing of the child can still change them: no descriptor of the file in any of the child's
//! threads' tables, no mapping of it, and one link. From then on only the server can reach the
//! bytes, so the bytes it checks are the bytes the store keeps, and a local store adopts the
//! file by a rename ([`arena::storage::Storage::adopt`]). When any of that cannot be shown (the
//! child's `/proc` entries unreadable, a descriptor still open, another file system), the files
//! go back where they were and the caller reads and stores a copy as before.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// Files moved out of a child's reach, in a folder removed with this value.
#[derive(Debug)]
pub struct Handed {
    pub paths: Vec<PathBuf>,
    pub dir: tempfile::TempDir,
}

/// Moves `files` (written by the live child `pid`, or by a child that has exited when `None`)
/// into a new folder under `parent` and keeps them there when nothing of the child holds them
/// (see the module docs); else puts them back and answers `None`.
pub async fn take(files: Vec<PathBuf>, pid: Option<u32>, parent: PathBuf) -> Option<Handed> {
    let taken = tokio::task::spawn_blocking(move || take_blocking(&files, pid, &parent)).await;
    match taken {
        Ok(Ok(handed)) => Some(handed),
        Ok(Err(why)) => {
            tracing::debug!(why, "cache files left with the child: copying them");
            None
        }
        Err(_) => None,
    }
}

fn take_blocking(
    files: &[PathBuf],
    pid: Option<u32>,
    parent: &Path,
) -> Result<Handed, &'static str> {
    let dir = tempfile::Builder::new()
        .prefix("handed-")
        .tempdir_in(parent)
        .map_err(|_| "no folder for them")?;
    let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
    let put_back = |moved: &[(PathBuf, PathBuf)]| {
        for (from, to) in moved {
            let _ = std::fs::rename(to, from);
        }
    };
    for (i, from) in files.iter().enumerate() {
        let to = dir.path().join(format!("{i}.bin"));
        if std::fs::rename(from, &to).is_err() {
            put_back(&moved);
            return Err("not movable");
        }
        moved.push((from.clone(), to));
    }
    let mut ids = Vec::new();
    for (_, to) in &moved {
        match std::fs::symlink_metadata(to) {
            Ok(m) if m.is_file() && m.nlink() == 1 => ids.push((m.dev(), m.ino())),
            _ => {
                put_back(&moved);
                return Err("not one plain file each");
            }
        }
    }
    let held = match pid {
        Some(pid) => holds_any(pid, &ids).unwrap_or(true),
        None => false,
    };
    if held {
        put_back(&moved);
        return Err("the child may hold them");
    }
    Ok(Handed {
        paths: moved.into_iter().map(|(_, to)| to).collect(),
        dir,
    })
}

/// Whether process `pid` holds a file of `ids` (device, inode): a descriptor in any thread's
/// table (a thread made without `CLONE_FILES` has its own) or a mapping. An error when its
/// `/proc` entries cannot be read (then it may).
fn holds_any(pid: u32, ids: &[(u64, u64)]) -> std::io::Result<bool> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    for task in std::fs::read_dir(proc.join("task"))? {
        for fd in std::fs::read_dir(task?.path().join("fd"))? {
            // A descriptor closed meanwhile cannot be stat-ed; pipes and sockets stat as
            // inodes of their own file systems and never match a cache file.
            if let Ok(m) = std::fs::metadata(fd?.path())
                && ids.contains(&(m.dev(), m.ino()))
            {
                return Ok(true);
            }
        }
    }
    let maps = std::fs::read_to_string(proc.join("maps"))?;
    Ok(maps.lines().any(|line| {
        mapped_file(line).is_some_and(|(major, minor, ino)| {
            ids.iter().any(|&(dev, i)| {
                i == ino
                    && nix::sys::stat::major(dev) == major
                    && nix::sys::stat::minor(dev) == minor
            })
        })
    }))
}

/// The (major, minor, inode) of a `/proc/<pid>/maps` line's file (`addr perms offset MM:mm inode
/// path`), `None` for an anonymous mapping.
fn mapped_file(line: &str) -> Option<(u64, u64, u64)> {
    let mut fields = line.split_whitespace().skip(3);
    let (major, minor) = fields.next()?.split_once(':')?;
    let ino: u64 = fields.next()?.parse().ok()?;
    if ino == 0 {
        return None;
    }
    Some((
        u64::from_str_radix(major, 16).ok()?,
        u64::from_str_radix(minor, 16).ok()?,
        ino,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn maps_lines_name_their_files() {
        assert_eq!(
            mapped_file("7f0000-7f1000 rw-s 00000000 fd:01 1234   /tmp/x/frames.bin"),
            Some((0xfd, 1, 1234))
        );
        assert_eq!(mapped_file("7f0000-7f1000 rw-p 00000000 00:00 0"), None);
        assert_eq!(mapped_file("garbage"), None);
    }

    fn two_files(dir: &Path) -> Vec<PathBuf> {
        let files: Vec<PathBuf> = ["faces.bin", "frames.bin"]
            .iter()
            .map(|n| dir.join(n))
            .collect();
        for f in &files {
            std::fs::write(f, b"cache").unwrap();
        }
        files
    }

    #[tokio::test]
    async fn files_nobody_holds_are_moved_out() {
        let (scratch, child) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let files = two_files(child.path());
        // An exited child (None), and a live process holding nothing of them (a `sleep`).
        let mut sleep = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        for pid in [None, Some(sleep.id())] {
            let handed = take(files.clone(), pid, scratch.path().to_owned())
                .await
                .expect("moved out");
            assert!(files.iter().all(|f| !f.exists()));
            for p in &handed.paths {
                assert!(p.starts_with(scratch.path()));
                assert_eq!(std::fs::read(p).unwrap(), b"cache");
            }
            for (p, f) in handed.paths.iter().zip(&files) {
                std::fs::rename(p, f).unwrap();
            }
        }
        sleep.kill().unwrap();
        sleep.wait().unwrap();
    }

    #[tokio::test]
    async fn files_a_process_still_holds_stay_where_they_were() {
        let (scratch, child) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let files = two_files(child.path());
        let me = std::process::id();
        // This process holds a writable descriptor of the second file: it could still change it.
        let mut open = std::fs::OpenOptions::new()
            .append(true)
            .open(&files[1])
            .unwrap();
        assert!(
            take(files.clone(), Some(me), scratch.path().to_owned())
                .await
                .is_none()
        );
        assert!(files.iter().all(|f| f.exists()), "put back");
        open.write_all(b"!").unwrap();
        drop(open);
        // A second link (the child could reopen the file through it).
        let link = child.path().join("again.bin");
        std::fs::hard_link(&files[0], &link).unwrap();
        assert!(
            take(files.clone(), None, scratch.path().to_owned())
                .await
                .is_none()
        );
        assert!(files.iter().all(|f| f.exists()), "put back");
        std::fs::remove_file(&link).unwrap();
        let handed = take(files.clone(), Some(me), scratch.path().to_owned())
            .await
            .expect("nothing holds them now");
        assert_eq!(std::fs::read(&handed.paths[1]).unwrap(), b"cache!");
        // A process whose /proc entries do not exist (or cannot be read): it may hold them.
        let files = two_files(child.path());
        assert!(
            take(files.clone(), Some(u32::MAX - 1), scratch.path().to_owned())
                .await
                .is_none()
        );
    }
}
