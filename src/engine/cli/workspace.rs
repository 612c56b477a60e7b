//! Private per-request directories: the CLI's working directory (unless one
//! is configured) and the decoded image files. Both are removed when the
//! request ends; temporary directories are created mode 0700, files 0600.
//! Fresh working directories are made ahead of time by a [`WorkspacePool`]
//! on a blocking thread, so a request only takes one.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tempfile::TempDir;

/// Where a CLI runs.
#[derive(Debug)]
pub(crate) enum Workspace {
    /// A configured directory, kept.
    Fixed(PathBuf),
    /// A fresh directory, removed on drop.
    Temp(TempDir),
}

impl Workspace {
    /// The configured directory (created if missing), or a fresh one from `pool`.
    pub(crate) fn prepare(
        fixed: Option<&Path>,
        pool: &WorkspacePool,
    ) -> std::io::Result<Workspace> {
        match fixed {
            Some(dir) if dir.is_dir() => Ok(Workspace::Fixed(dir.to_path_buf())),
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                Ok(Workspace::Fixed(dir.to_path_buf()))
            }
            None => pool.take().map(Workspace::Temp),
        }
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Workspace::Fixed(dir) => dir,
            Workspace::Temp(dir) => dir.path(),
        }
    }
}

/// Fresh private working directories, made ahead of time.
#[derive(Debug)]
pub struct WorkspacePool {
    ready: Mutex<Ready>,
    /// How many to keep ready.
    target: usize,
    /// A refill is running (or claimed): one at a time.
    refilling: AtomicBool,
}

#[derive(Debug, Default)]
struct Ready {
    dirs: Vec<TempDir>,
    /// Drained at exit: nothing more is kept.
    closed: bool,
}

impl Default for WorkspacePool {
    fn default() -> WorkspacePool {
        WorkspacePool {
            ready: Mutex::new(Ready::default()),
            target: 8,
            refilling: AtomicBool::new(false),
        }
    }
}

impl WorkspacePool {
    fn ready(&self) -> std::sync::MutexGuard<'_, Ready> {
        self.ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh directory: a ready one that still exists (a temp cleaner may
    /// have removed one that waited long), else one made now. Blocks.
    pub(crate) fn take(&self) -> std::io::Result<TempDir> {
        loop {
            let Some(dir) = self.ready().dirs.pop() else {
                return private_tempdir(WORKSPACE_PREFIX);
            };
            if dir.path().is_dir() {
                return Ok(dir);
            }
        }
    }

    /// Claims the next refill if fewer than `target` directories are ready
    /// and no refill is running; the claimer must call [`Self::refill`].
    pub fn claim_refill(&self) -> bool {
        let low = {
            let ready = self.ready();
            !ready.closed && ready.dirs.len() < self.target
        };
        low && self
            .refilling
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Makes directories until `target` are ready (on the calling thread,
    /// which blocks), then ends the claim. Also fills the pool at start-up.
    pub fn refill(&self) {
        loop {
            {
                let ready = self.ready();
                if ready.closed || ready.dirs.len() >= self.target {
                    break;
                }
            }
            match private_tempdir(WORKSPACE_PREFIX) {
                Ok(dir) => {
                    let mut ready = self.ready();
                    if ready.closed {
                        break;
                    }
                    ready.dirs.push(dir);
                }
                Err(error) => {
                    tracing::warn!("cannot make a workspace ahead of time: {error}");
                    break;
                }
            }
        }
        self.refilling.store(false, Ordering::Release);
    }

    /// Removes the directories made ahead of time, and makes no more (at exit).
    pub fn drain(&self) {
        let dirs = {
            let mut ready = self.ready();
            ready.closed = true;
            std::mem::take(&mut ready.dirs)
        };
        drop(dirs);
    }
}

/// How fresh working directories are named.
const WORKSPACE_PREFIX: &str = "agent-cli-to-api-ws-";

/// Decoded images written to private files for the CLI to read.
#[derive(Debug, Default)]
pub(crate) struct ImageFiles {
    _dir: Option<TempDir>,
    /// The files, in request order.
    pub(crate) paths: Vec<String>,
}

impl ImageFiles {
    /// Writes each `(media type, bytes)` to its own file.
    pub(crate) fn write(images: &[(String, Vec<u8>)]) -> std::io::Result<ImageFiles> {
        if images.is_empty() {
            return Ok(ImageFiles::default());
        }
        let dir = private_tempdir("agent-cli-to-api-img-")?;
        let mut paths = Vec::with_capacity(images.len());
        for (i, (media_type, data)) in images.iter().enumerate() {
            let path = dir
                .path()
                .join(format!("image-{}.{}", i + 1, extension(media_type)));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)?;
            file.write_all(data)?;
            paths.push(path.to_string_lossy().into_owned());
        }
        Ok(ImageFiles {
            _dir: Some(dir),
            paths,
        })
    }
}

/// A fresh directory only the gateway's user can enter (created 0700).
fn private_tempdir(prefix: &str) -> std::io::Result<TempDir> {
    use std::os::unix::fs::PermissionsExt as _;
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

fn extension(media_type: &str) -> &'static str {
    match media_type {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_workspace_is_kept_and_a_fresh_one_is_private_and_removed() {
        use std::os::unix::fs::PermissionsExt as _;
        let outer = tempfile::tempdir().unwrap();
        let configured = outer.path().join("mine");
        let pool = WorkspacePool::default();
        let workspace = Workspace::prepare(Some(&configured), &pool).unwrap();
        std::fs::write(configured.join("keep.txt"), "x").unwrap();
        drop(workspace);
        assert!(
            configured.join("keep.txt").exists(),
            "the user's directory stays"
        );

        let fresh = Workspace::prepare(None, &pool).unwrap();
        let path = fresh.path().to_path_buf();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        drop(fresh);
        assert!(!path.exists());
    }

    #[test]
    fn the_pool_hands_out_directories_made_ahead_and_removes_the_rest() {
        let pool = WorkspacePool::default();
        assert!(pool.claim_refill());
        assert!(!pool.claim_refill(), "one refill at a time");
        pool.refill();
        assert!(!pool.claim_refill(), "full");
        let ready: Vec<PathBuf> = pool
            .ready()
            .dirs
            .iter()
            .map(|d| d.path().to_path_buf())
            .collect();
        assert_eq!(ready.len(), 8);
        let taken = pool.take().unwrap();
        assert!(ready.contains(&taken.path().to_path_buf()));
        assert!(pool.claim_refill());
        pool.drain();
        assert!(ready.iter().all(|p| *p == taken.path() || !p.exists()));
        pool.refill();
        assert!(
            pool.ready().dirs.is_empty(),
            "nothing is made after the drain"
        );
        assert!(!pool.claim_refill());
    }

    #[test]
    fn a_ready_directory_removed_by_a_temp_cleaner_is_skipped() {
        let pool = WorkspacePool::default();
        pool.refill();
        let last = pool.ready().dirs.last().unwrap().path().to_path_buf();
        std::fs::remove_dir(&last).unwrap();
        let taken = pool.take().unwrap();
        assert_ne!(taken.path(), last);
        assert!(taken.path().is_dir());
        assert_eq!(pool.ready().dirs.len(), 6);
    }
}
