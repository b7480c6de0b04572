//! lazyfs: each node's data directory behind a FUSE filesystem that forgets what was not synced.
//!
//! `kill -9` never loses data the kernel already holds in its page cache, so a system that acknowledges
//! a write before it fsyncs passes every kill test and loses acknowledged writes at the first power
//! cut. To cut the power of a node, the harness mounts a filesystem of its own over the node's
//! `data/` directory ([`Disk::mount`]); the node reads and writes there as on any disk, and the
//! filesystem keeps two views of it ([`cache`]): what the node wrote, and what the node made durable
//! with `fsync`/`fdatasync` (and, for names, with an fsync of the directory). A power loss
//! ([`Disk::power_loss`]) unmounts, throws away everything not durable, and mounts again, so the node
//! restarts on what a real disk would hold. Like Jepsen's lazyfs, but ours.
//!
//! Written by hand on the `fuser` crate (the FUSE protocol, mounting through /dev/fuse without
//! libfuse) because no crate offers a crash-consistent page-cache model: passthrough filesystems
//! write through at once, in-memory ones have no notion of durable, and Jepsen's lazyfs is a C++
//! program on libfuse3 to be built and driven through a fifo. The parts, one idea each:
//!
//! - [`cache`]: the pure model of synced versus unsynced state and its contract (what is durable
//!   when); unit-tested without FUSE;
//! - `fs`: the FUSE requests mapped onto the model;
//! - [`image`]: the directory into the model at mount, and the model back into the directory at
//!   unmount (the store keeps `nodes/nN/data/` as usual);
//! - this module: the actuator. Mount, power loss, unmount, each with a typed result; every mount is
//!   recorded in the run's state file before it exists ([`crate::state`]), and unmounted on every exit
//!   path: the cluster's teardown (normal end, errors, Ctrl-C), [`Disk`]'s `Drop`, and
//!   `faultline cleanup` for a harness that died ([`detach`]).
//!
//! The model lives in the harness's memory (data directories of test runs are megabytes; etcd's
//! preallocated WAL segments are holes and cost nothing), so it outlives the remount of a power loss.

pub mod cache;
mod fs;
pub mod image;

pub use cache::Metadata;
use cache::{Cache, Lost};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why lazyfs could not do what it was asked. Each is a harness error.
#[derive(Debug, thiserror::Error)]
pub enum LazyFsError {
    #[error("lazyfs on {path}: {what}: {source}")]
    Io { path: PathBuf, what: &'static str, source: io::Error },
}

fn io_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> LazyFsError + 'a {
    move |source| LazyFsError::Io { path: path.to_path_buf(), what, source }
}

/// The FUSE device.
const DEV_FUSE: &str = "/dev/fuse";

/// Why lazyfs cannot mount on this machine (None when it can): it needs root and /dev/fuse.
pub fn unavailable() -> Option<String> {
    let uid = nix::unistd::geteuid();
    if !uid.is_root() {
        return Some(format!(
            "it mounts a FUSE filesystem over each node's data directory, which needs root (running as uid {uid})"
        ));
    }
    match std::fs::OpenOptions::new().read(true).write(true).open(DEV_FUSE) {
        Ok(_) => None,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(format!(
            "it mounts a FUSE filesystem over each node's data directory and {DEV_FUSE} does not exist \
             (load the fuse module, or give the container --device {DEV_FUSE})"
        )),
        Err(e) => Some(format!(
            "it mounts a FUSE filesystem over each node's data directory and {DEV_FUSE} cannot be opened: {e}"
        )),
    }
}

/// One node's data directory, mounted through lazyfs.
pub struct Disk {
    dir: PathBuf,
    cache: Arc<Mutex<Cache>>,
    session: Option<fuser::BackgroundSession>,
}

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the model: it holds every byte of the node's data.
        f.debug_struct("Disk").field("dir", &self.dir).field("mounted", &self.session.is_some()).finish()
    }
}

fn start(dir: &Path, cache: &Arc<Mutex<Cache>>) -> Result<fuser::BackgroundSession, LazyFsError> {
    let mut config = fuser::Config::default();
    config.mount_options = vec![fuser::MountOption::FSName("lazyfs".into())];
    fuser::spawn_mount(fs::LazyFs::new(cache.clone()), dir, &config).map_err(io_err(dir, "mount"))
}

/// Unmounts `dir` and waits for its server thread to end.
///
/// `MNT_FORCE` makes the kernel abort the FUSE connection (FUSE's `umount_begin`), so every copy of
/// the mount dies with it: a mount namespace made while it existed (each `ip netns exec` of the netns
/// backend, or of anyone else on the host) holds a copy, and where `/` is a private mount (containers)
/// no unmount propagates there, so a plain unmount would leave the connection, and this thread,
/// alive. `MNT_DETACH` takes it out of our namespace even if a file is still open in it; nothing can
/// write into the model any more once the connection is aborted.
fn unmount(dir: &Path, session: fuser::BackgroundSession) -> Result<(), LazyFsError> {
    let flags = nix::mount::MntFlags::MNT_FORCE | nix::mount::MntFlags::MNT_DETACH;
    nix::mount::umount2(dir, flags).map_err(|e| LazyFsError::Io {
        path: dir.to_path_buf(),
        what: "unmount",
        source: e.into(),
    })?;
    // The session's loop ends when the aborted connection answers its read with ENODEV.
    session.join().map_err(io_err(dir, "the filesystem thread"))
}

impl Disk {
    /// Mounts lazyfs over `dir`; what `dir` holds now is durable.
    pub fn mount(dir: &Path, metadata: Metadata) -> Result<Disk, LazyFsError> {
        let cache = image::load(dir, metadata).map_err(io_err(dir, "loading the directory"))?;
        let cache = Arc::new(Mutex::new(cache));
        let session = start(dir, &cache)?;
        tracing::info!(dir = %dir.display(), "lazyfs mounted");
        Ok(Disk { dir: dir.to_path_buf(), cache, session: Some(session) })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The power goes out: everything not durable is gone and the filesystem is mounted again on what
    /// the disk holds. The caller has killed the node; any other process still using the old mount
    /// gets errors from then on (its connection is aborted).
    pub fn power_loss(&mut self) -> Result<Lost, LazyFsError> {
        if let Some(session) = self.session.take() {
            unmount(&self.dir, session)?;
        }
        let lost = self.cache.lock().expect("the lazyfs model lock is poisoned only by a panic").power_loss();
        self.session = Some(start(&self.dir, &self.cache)?);
        tracing::info!(dir = %self.dir.display(), ?lost, "lazyfs power loss");
        Ok(lost)
    }

    /// Unmounts and writes the current view back into the directory (the processes using it are
    /// gone).
    pub fn unmount(mut self) -> Result<(), LazyFsError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), LazyFsError> {
        let Some(session) = self.session.take() else { return Ok(()) };
        unmount(&self.dir, session)?;
        let cache = self.cache.lock().expect("the lazyfs model lock is poisoned only by a panic");
        image::save(&cache, &self.dir).map_err(io_err(&self.dir, "writing the data back"))?;
        tracing::info!(dir = %self.dir.display(), "lazyfs unmounted");
        Ok(())
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::error!(error = %e, "lazyfs unmount failed; run `faultline cleanup`");
        }
    }
}

/// Detaches whatever is mounted at `path` (`umount -l`), for mounts a dead harness left behind: their
/// server is gone, so every access fails until they are removed. Returns whether something was.
pub fn detach(path: &Path) -> bool {
    nix::mount::umount2(path, nix::mount::MntFlags::MNT_FORCE | nix::mount::MntFlags::MNT_DETACH).is_ok()
}

/// Whether a lazyfs filesystem is mounted at `path`.
pub fn is_mounted(path: &Path) -> bool {
    mounts().iter().any(|m| m == path)
}

/// Every lazyfs mount point on this machine, from /proc/self/mountinfo (for tests that check that
/// nothing is left behind).
pub fn mounts() -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return Vec::new() };
    info.lines()
        // After " - " come the type and the source: ours are "fuse lazyfs".
        .filter(|l| l.contains(" - fuse lazyfs "))
        // Field 5 is the mount point, with spaces escaped as \040.
        .filter_map(|l| l.split(' ').nth(4).map(|p| PathBuf::from(p.replace("\\040", " "))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, File, OpenOptions};
    use std::io::Write;

    /// Whether the FUSE test may run: under CI (`CI=true`) a missing capability fails it, elsewhere
    /// it prints why it skipped.
    fn can_mount() -> bool {
        let Some(reason) = unavailable() else { return true };
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("lazyfs cannot mount: {reason} (CI=true, where a test may not skip)");
        }
        eprintln!("skipped: lazyfs cannot mount: {reason}");
        false
    }

    #[test]
    fn a_mounted_directory_forgets_unsynced_writes_at_power_loss_and_keeps_them_at_unmount() {
        if !can_mount() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir(&data).unwrap();
        fs::write(data.join("before"), b"on disk already").unwrap();
        let mut disk = Disk::mount(&data, Metadata::Strict).unwrap();
        assert!(is_mounted(&data), "{:?}", mounts());

        // A WAL that is appended, fdatasynced, appended again; its directory fsynced once.
        fs::create_dir(data.join("wal")).unwrap();
        let mut wal = OpenOptions::new().create(true).append(true).open(data.join("wal/1.log")).unwrap();
        wal.write_all(b"acked;").unwrap();
        wal.sync_data().unwrap();
        File::open(data.join("wal")).unwrap().sync_all().unwrap();
        File::open(&data).unwrap().sync_all().unwrap();
        wal.write_all(b"unsynced;").unwrap();
        drop(wal);
        fs::write(data.join("never-synced"), b"x").unwrap();
        assert_eq!(fs::read(data.join("wal/1.log")).unwrap(), b"acked;unsynced;");

        let lost = disk.power_loss().unwrap();
        assert_eq!(fs::read(data.join("wal/1.log")).unwrap(), b"acked;");
        assert!(!data.join("never-synced").exists());
        assert_eq!(fs::read(data.join("before")).unwrap(), b"on disk already");
        assert_eq!((lost.files, lost.bytes, lost.names), (2, 10, 1), "{lost:?}");

        // An atomic replace (temp file, fsync, rename, directory fsync) survives.
        let mut tmp = File::create(data.join("state.tmp")).unwrap();
        tmp.write_all(b"v2").unwrap();
        tmp.sync_all().unwrap();
        drop(tmp);
        fs::rename(data.join("state.tmp"), data.join("state")).unwrap();
        File::open(&data).unwrap().sync_all().unwrap();
        fs::write(data.join("written-not-synced"), b"kept at unmount").unwrap();
        disk.power_loss().unwrap();
        assert_eq!(fs::read(data.join("state")).unwrap(), b"v2");
        fs::write(data.join("written-not-synced"), b"kept at unmount").unwrap();

        // Unmounting keeps the current view (no power was lost) in the directory itself.
        disk.unmount().unwrap();
        assert!(!is_mounted(&data));
        assert_eq!(fs::read(data.join("written-not-synced")).unwrap(), b"kept at unmount");
        assert_eq!(fs::read(data.join("wal/1.log")).unwrap(), b"acked;");
    }
}
