//! The model behind lazyfs: one filesystem seen twice, as the processes on it see it (everything
//! written) and as its disk holds it (everything synced). Pure: no FUSE, no files, no clock (callers
//! pass the time), so every rule below is unit-tested directly.
//!
//! # The contract: what is durable when
//!
//! - **File data** (writes, truncations, a `fallocate` that grows the file) is durable when that file
//!   is `fsync`ed or `fdatasync`ed. Both write the file's whole contents and size through (no file
//!   system keeps less on fdatasync that a recovery could read); nothing else does: not `close`, not
//!   time passing, not a `fsync` of another file.
//! - **Names** (create, mkdir, unlink, rmdir, rename) are durable when the directory that holds the
//!   name is `fsync`ed. A file's own fsync does not make its name durable (POSIX and fsync(2) say so;
//!   ext4 happens to, xfs not always, and software that relies on it has lost data). A rename between
//!   two directories is two changes: the new name becomes durable with the target's fsync, the old
//!   name's removal with the source's, so a power loss in between leaves the file under both names or
//!   under neither. A directory whose entries were fsynced but whose own name never was is lost with
//!   everything in it.
//! - **Attributes** (mode, owner, times) are durable at once: a simplification, since no system we test
//!   depends on losing a chmod.
//! - `syncfs(2)` and `sync(2)` make nothing durable: Linux passes `FUSE_SYNCFS` only to virtiofs, so a
//!   FUSE server never hears of them. Neither raft-node nor etcd calls them.
//!
//! That is POSIX's contract ([`Metadata::Strict`], the default). Journaling filesystems (ext4, xfs)
//! give more: their metadata changes are committed in order, and any fsync commits the journal, so
//! every name change made before an fsync of anything is durable with it. [`Metadata::Ordered`]
//! models that: software that forgets a directory fsync loses data under `Strict` and survives under
//! `Ordered`, which tells a POSIX bug from one that bites on ext4 too.
//!
//! A **power loss** ([`Cache::power_loss`]) puts every file's contents and every directory's entries
//! back to their durable state and forgets every inode that is then reachable from the root by no
//! name: what a real disk holds after the page cache is gone. A SIGKILL changes nothing here (the page
//! cache belongs to the kernel, not to the killed process), which is exactly the difference between
//! the `kill` and `power-loss` faults.
//!
//! File contents are pages of [`PAGE`] bytes shared between the two views (`Arc`), so an fsync copies
//! pointers, a write copies only the pages it touches, and holes (etcd preallocates 64 MiB WAL
//! segments) cost nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::sync::Arc;
use std::time::SystemTime;

/// The size of a page of file contents.
pub const PAGE: usize = 4096;
/// The root directory's inode number (FUSE's).
pub const ROOT: Ino = 1;

/// An inode number.
pub type Ino = u64;

/// A directory entry: name, inode, kind.
pub type DirEntry = (OsString, Ino, Kind);

/// When name changes (create, unlink, rename) become durable. See the module documentation.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Metadata {
    /// POSIX: with an fsync of the directory that holds the name.
    #[default]
    Strict,
    /// A journaling filesystem (ext4, xfs): with any fsync, of a file or a directory.
    Ordered,
}

type Page = Arc<[u8; PAGE]>;

/// Why an operation was refused; the FUSE layer turns each into its errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("file exists")]
    Exists,
    #[error("not a directory")]
    NotDir,
    #[error("is a directory")]
    IsDir,
    #[error("directory not empty")]
    NotEmpty,
    #[error("invalid argument")]
    Invalid,
}

/// File or directory (lazyfs keeps no other kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// What `stat` says about an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: Ino,
    pub kind: Kind,
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    pub nlink: u32,
}

/// What a power loss threw away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Lost {
    /// Files whose contents went back to an older state.
    pub files: u64,
    /// Bytes written to them (or sizes changed by truncation and allocation) since their last sync.
    pub bytes: u64,
    /// Directory entries created, removed or renamed since their directory's last sync.
    pub names: u64,
}

/// File contents: a size and the pages that are not all zero (a missing page reads as zeros).
#[derive(Clone, Debug, Default, PartialEq)]
struct Content {
    size: u64,
    pages: BTreeMap<u64, Page>,
}

impl Content {
    fn read(&self, offset: u64, len: usize) -> Vec<u8> {
        let end = self.size.min(offset.saturating_add(len as u64));
        if offset >= end {
            return Vec::new();
        }
        let mut out = vec![0u8; (end - offset) as usize];
        let first = offset / PAGE as u64;
        let last = (end - 1) / PAGE as u64;
        for (&no, page) in self.pages.range(first..=last) {
            let page_start = no * PAGE as u64;
            let from = offset.max(page_start);
            let to = end.min(page_start + PAGE as u64);
            out[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&page[(from - page_start) as usize..(to - page_start) as usize]);
        }
        out
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let mut at = 0usize;
        while at < data.len() {
            let pos = offset + at as u64;
            let no = pos / PAGE as u64;
            let within = (pos % PAGE as u64) as usize;
            let n = (PAGE - within).min(data.len() - at);
            let page = self.pages.entry(no).or_insert_with(|| Arc::new([0u8; PAGE]));
            Arc::make_mut(page)[within..within + n].copy_from_slice(&data[at..at + n]);
            at += n;
        }
        self.size = self.size.max(offset + data.len() as u64);
    }

    /// Sets the size; bytes past a shrink are gone (a later growth reads zeros there).
    fn truncate(&mut self, size: u64) {
        if size < self.size {
            let keep = size.div_ceil(PAGE as u64);
            self.pages.split_off(&keep);
            let within = (size % PAGE as u64) as usize;
            if within != 0
                && let Some(page) = self.pages.get_mut(&(size / PAGE as u64))
            {
                Arc::make_mut(page)[within..].fill(0);
            }
        }
        self.size = size;
    }
}

#[derive(Clone, Debug)]
enum Body {
    File {
        current: Content,
        durable: Content,
        /// Bytes changed since the last sync (for [`Lost`]).
        unsynced: u64,
    },
    Dir {
        current: BTreeMap<OsString, Ino>,
        durable: BTreeMap<OsString, Ino>,
        /// The directory holding this one (the root's is itself), for `..`.
        parent: Ino,
    },
}

#[derive(Clone, Debug)]
struct Inode {
    body: Body,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: SystemTime,
    ctime: SystemTime,
    /// Names in the current view.
    links: u32,
    /// Open file handles (an unlinked file lives while it is open).
    open: u32,
}

impl Inode {
    fn kind(&self) -> Kind {
        match self.body {
            Body::File { .. } => Kind::File,
            Body::Dir { .. } => Kind::Dir,
        }
    }
}

/// The filesystem model. See the module documentation for its contract.
#[derive(Clone, Debug)]
pub struct Cache {
    inodes: HashMap<Ino, Inode>,
    next: Ino,
    metadata: Metadata,
}

/// Who creates an inode, with what permission bits, when.
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub now: SystemTime,
}

impl Cache {
    /// An empty filesystem whose root directory has `root`'s mode and owner.
    pub fn new(root: Owner, metadata: Metadata) -> Cache {
        let mut inodes = HashMap::new();
        let body = Body::Dir { current: BTreeMap::new(), durable: BTreeMap::new(), parent: ROOT };
        inodes.insert(ROOT, new_inode(body, root, 1));
        Cache { inodes, next: ROOT + 1, metadata }
    }

    fn get(&self, ino: Ino) -> Result<&Inode, FsError> {
        self.inodes.get(&ino).ok_or(FsError::NotFound)
    }

    fn get_mut(&mut self, ino: Ino) -> Result<&mut Inode, FsError> {
        self.inodes.get_mut(&ino).ok_or(FsError::NotFound)
    }

    fn dir(&self, ino: Ino) -> Result<&BTreeMap<OsString, Ino>, FsError> {
        match &self.get(ino)?.body {
            Body::Dir { current, .. } => Ok(current),
            Body::File { .. } => Err(FsError::NotDir),
        }
    }

    fn dir_mut(&mut self, ino: Ino) -> Result<&mut BTreeMap<OsString, Ino>, FsError> {
        match &mut self.get_mut(ino)?.body {
            Body::Dir { current, .. } => Ok(current),
            Body::File { .. } => Err(FsError::NotDir),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> Result<(&mut Content, &mut u64), FsError> {
        match &mut self.get_mut(ino)?.body {
            Body::File { current, unsynced, .. } => Ok((current, unsynced)),
            Body::Dir { .. } => Err(FsError::IsDir),
        }
    }

    pub fn attr(&self, ino: Ino) -> Result<Attr, FsError> {
        let i = self.get(ino)?;
        let size = match &i.body {
            Body::File { current, .. } => current.size,
            Body::Dir { current, .. } => current.len() as u64,
        };
        let nlink = match i.kind() {
            Kind::Dir => 2,
            Kind::File => i.links,
        };
        Ok(Attr {
            ino,
            kind: i.kind(),
            size,
            mode: i.mode,
            uid: i.uid,
            gid: i.gid,
            mtime: i.mtime,
            ctime: i.ctime,
            nlink,
        })
    }

    pub fn lookup(&self, parent: Ino, name: &OsStr) -> Result<Ino, FsError> {
        self.dir(parent)?.get(name).copied().ok_or(FsError::NotFound)
    }

    /// Creates `name` in `parent` (not yet durable: see the contract).
    pub fn create(&mut self, parent: Ino, name: &OsStr, kind: Kind, owner: Owner) -> Result<Ino, FsError> {
        if self.dir(parent)?.contains_key(name) {
            return Err(FsError::Exists);
        }
        let ino = self.next;
        self.next += 1;
        let body = match kind {
            Kind::File => {
                Body::File { current: Content::default(), durable: Content::default(), unsynced: 0 }
            }
            Kind::Dir => Body::Dir { current: BTreeMap::new(), durable: BTreeMap::new(), parent },
        };
        self.inodes.insert(ino, new_inode(body, owner, 1));
        self.dir_mut(parent)?.insert(name.to_os_string(), ino);
        Ok(ino)
    }

    /// Removes the file `name` from `parent`.
    pub fn unlink(&mut self, parent: Ino, name: &OsStr) -> Result<(), FsError> {
        let ino = self.lookup(parent, name)?;
        if self.get(ino)?.kind() == Kind::Dir {
            return Err(FsError::IsDir);
        }
        self.dir_mut(parent)?.remove(name);
        let i = self.get_mut(ino)?;
        i.links = i.links.saturating_sub(1);
        self.collect_garbage();
        Ok(())
    }

    /// Removes the empty directory `name` from `parent`.
    pub fn rmdir(&mut self, parent: Ino, name: &OsStr) -> Result<(), FsError> {
        let ino = self.lookup(parent, name)?;
        if !self.dir(ino)?.is_empty() {
            return Err(FsError::NotEmpty);
        }
        self.dir_mut(parent)?.remove(name);
        self.get_mut(ino)?.links = 0;
        self.collect_garbage();
        Ok(())
    }

    /// `rename(2)`: moves `name` of `parent` to `new_name` of `new_parent`, replacing what is there
    /// (unless `no_replace`) under rename's rules.
    pub fn rename(
        &mut self,
        parent: Ino,
        name: &OsStr,
        new_parent: Ino,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Result<(), FsError> {
        let ino = self.lookup(parent, name)?;
        let kind = self.get(ino)?.kind();
        self.dir(new_parent)?;
        if kind == Kind::Dir {
            // A directory cannot move into itself or below itself.
            let mut up = new_parent;
            loop {
                if up == ino {
                    return Err(FsError::Invalid);
                }
                let Body::Dir { parent: next, .. } = self.get(up)?.body else { return Err(FsError::NotDir) };
                if up == ROOT {
                    break;
                }
                up = next;
            }
        }
        if let Ok(old) = self.lookup(new_parent, new_name) {
            if old == ino {
                return Ok(());
            }
            if no_replace {
                return Err(FsError::Exists);
            }
            match (kind, self.get(old)?.kind()) {
                (Kind::Dir, Kind::File) => return Err(FsError::NotDir),
                (Kind::File, Kind::Dir) => return Err(FsError::IsDir),
                (Kind::Dir, Kind::Dir) if !self.dir(old)?.is_empty() => return Err(FsError::NotEmpty),
                _ => {}
            }
            let o = self.get_mut(old)?;
            o.links = o.links.saturating_sub(1);
        }
        self.dir_mut(parent)?.remove(name);
        self.dir_mut(new_parent)?.insert(new_name.to_os_string(), ino);
        if let Body::Dir { parent: p, .. } = &mut self.get_mut(ino)?.body {
            *p = new_parent;
        }
        self.collect_garbage();
        Ok(())
    }

    /// The current entries of a directory, with its parent (for `..`).
    pub fn entries(&self, dir: Ino) -> Result<(Ino, Vec<DirEntry>), FsError> {
        let Body::Dir { current, parent, .. } = &self.get(dir)?.body else { return Err(FsError::NotDir) };
        let list = current
            .iter()
            .map(|(name, &ino)| (name.clone(), ino, self.inodes.get(&ino).map_or(Kind::File, Inode::kind)))
            .collect();
        Ok((*parent, list))
    }

    pub fn read(&self, ino: Ino, offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        match &self.get(ino)?.body {
            Body::File { current, .. } => Ok(current.read(offset, len)),
            Body::Dir { .. } => Err(FsError::IsDir),
        }
    }

    pub fn write(&mut self, ino: Ino, offset: u64, data: &[u8], now: SystemTime) -> Result<(), FsError> {
        let (content, unsynced) = self.file_mut(ino)?;
        content.write(offset, data);
        *unsynced += data.len() as u64;
        self.touch(ino, now)
    }

    /// `truncate(2)` / `ftruncate(2)`.
    pub fn set_size(&mut self, ino: Ino, size: u64, now: SystemTime) -> Result<(), FsError> {
        let (content, unsynced) = self.file_mut(ino)?;
        *unsynced += content.size.abs_diff(size);
        content.truncate(size);
        self.touch(ino, now)
    }

    /// `fallocate(2)` with mode 0: the file grows to cover the range (the new bytes read as zeros).
    pub fn allocate(&mut self, ino: Ino, offset: u64, len: u64, now: SystemTime) -> Result<(), FsError> {
        let (content, unsynced) = self.file_mut(ino)?;
        let end = offset.saturating_add(len);
        if end > content.size {
            *unsynced += end - content.size;
            content.size = end;
        }
        self.touch(ino, now)
    }

    fn touch(&mut self, ino: Ino, now: SystemTime) -> Result<(), FsError> {
        let i = self.get_mut(ino)?;
        i.mtime = now;
        i.ctime = now;
        Ok(())
    }

    pub fn set_mode(&mut self, ino: Ino, mode: u32, now: SystemTime) -> Result<(), FsError> {
        let i = self.get_mut(ino)?;
        i.mode = mode & 0o7777;
        i.ctime = now;
        Ok(())
    }

    pub fn set_mtime(&mut self, ino: Ino, mtime: SystemTime) -> Result<(), FsError> {
        self.get_mut(ino)?.mtime = mtime;
        Ok(())
    }

    /// `fsync` / `fdatasync` of a file: its contents and size become durable (and under
    /// [`Metadata::Ordered`] every name change so far). On a directory: [`Cache::sync_dir`].
    pub fn sync(&mut self, ino: Ino) -> Result<(), FsError> {
        match &mut self.get_mut(ino)?.body {
            Body::File { current, durable, unsynced } => {
                if *unsynced > 0 || current != durable {
                    *durable = current.clone();
                    *unsynced = 0;
                }
                if self.metadata == Metadata::Ordered {
                    self.commit_names();
                }
                Ok(())
            }
            Body::Dir { .. } => self.sync_dir(ino),
        }
    }

    /// Every directory's entries become durable (a journal commit).
    fn commit_names(&mut self) {
        for i in self.inodes.values_mut() {
            if let Body::Dir { current, durable, .. } = &mut i.body {
                durable.clone_from(current);
            }
        }
        self.collect_garbage();
    }

    /// `fsync` of a directory: its entries become durable (not its subdirectories' entries, and not
    /// its own name in its parent; under [`Metadata::Ordered`], every name change so far).
    pub fn sync_dir(&mut self, ino: Ino) -> Result<(), FsError> {
        match &mut self.get_mut(ino)?.body {
            Body::Dir { current, durable, .. } => {
                *durable = current.clone();
                if self.metadata == Metadata::Ordered {
                    self.commit_names();
                } else {
                    self.collect_garbage();
                }
                Ok(())
            }
            Body::File { .. } => Err(FsError::NotDir),
        }
    }

    /// Everything becomes durable (for loading a directory that is already on disk).
    pub fn sync_all(&mut self) {
        let all: Vec<Ino> = self.inodes.keys().copied().collect();
        for ino in all {
            let _ = self.sync(ino);
        }
    }

    pub fn open(&mut self, ino: Ino) -> Result<(), FsError> {
        self.get_mut(ino)?.open += 1;
        Ok(())
    }

    pub fn release(&mut self, ino: Ino) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.open = i.open.saturating_sub(1);
            if i.open == 0 && i.links == 0 {
                self.collect_garbage();
            }
        }
    }

    /// Whether anything written is not durable yet.
    pub fn is_synced(&self) -> bool {
        self.inodes.values().all(|i| match &i.body {
            Body::File { current, durable, .. } => current == durable,
            Body::Dir { current, durable, .. } => current == durable,
        })
    }

    /// The power goes out: see the module documentation. Every process on the filesystem is gone
    /// (open handles are forgotten).
    pub fn power_loss(&mut self) -> Lost {
        let mut lost = Lost::default();
        for i in self.inodes.values_mut() {
            i.open = 0;
            match &mut i.body {
                Body::File { current, durable, unsynced } => {
                    if *unsynced > 0 || current != durable {
                        lost.files += 1;
                        lost.bytes += *unsynced;
                        *current = durable.clone();
                        *unsynced = 0;
                    }
                }
                Body::Dir { current, durable, .. } => {
                    let names: BTreeSet<&OsString> = current.keys().chain(durable.keys()).collect();
                    lost.names +=
                        names.into_iter().filter(|n| current.get(*n) != durable.get(*n)).count() as u64;
                    *current = durable.clone();
                }
            }
        }
        // Links and parents follow the restored directories.
        let mut links: HashMap<Ino, u32> = HashMap::new();
        let mut parents: Vec<(Ino, Ino)> = Vec::new();
        for (&dir, i) in &self.inodes {
            if let Body::Dir { current, .. } = &i.body {
                for &child in current.values() {
                    *links.entry(child).or_default() += 1;
                    parents.push((child, dir));
                }
            }
        }
        for (&ino, i) in &mut self.inodes {
            i.links = if ino == ROOT { 1 } else { links.get(&ino).copied().unwrap_or(0) };
        }
        for (child, dir) in parents {
            if let Some(Inode { body: Body::Dir { parent, .. }, .. }) = self.inodes.get_mut(&child) {
                *parent = dir;
            }
        }
        self.collect_garbage();
        lost
    }

    /// Forgets inodes that neither view can reach from the root and that no handle holds open.
    fn collect_garbage(&mut self) {
        let mut keep: BTreeSet<Ino> = BTreeSet::new();
        let mut todo: Vec<Ino> = vec![ROOT];
        todo.extend(self.inodes.iter().filter(|(_, i)| i.open > 0).map(|(&ino, _)| ino));
        while let Some(ino) = todo.pop() {
            if !keep.insert(ino) {
                continue;
            }
            if let Some(Inode { body: Body::Dir { current, durable, .. }, .. }) = self.inodes.get(&ino) {
                todo.extend(current.values().chain(durable.values()).copied());
            }
        }
        self.inodes.retain(|ino, _| keep.contains(ino));
    }

    /// Every path of the current view below the root, parents before children, with its inode.
    pub fn walk(&self) -> Vec<(std::path::PathBuf, Ino, Kind)> {
        let mut out = Vec::new();
        let mut todo = vec![(std::path::PathBuf::new(), ROOT)];
        while let Some((path, dir)) = todo.pop() {
            let Ok((_, list)) = self.entries(dir) else { continue };
            for (name, ino, kind) in list {
                let p = path.join(&name);
                out.push((p.clone(), ino, kind));
                if kind == Kind::Dir {
                    todo.push((p, ino));
                }
            }
        }
        out
    }

    /// The inodes this model holds (for tests of garbage collection).
    pub fn inode_count(&self) -> usize {
        self.inodes.len()
    }
}

fn new_inode(body: Body, owner: Owner, links: u32) -> Inode {
    Inode {
        body,
        mode: owner.mode & 0o7777,
        uid: owner.uid,
        gid: owner.gid,
        mtime: owner.now,
        ctime: owner.now,
        links,
        open: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner { mode: 0o755, uid: 0, gid: 0, now: SystemTime::UNIX_EPOCH }
    }

    impl Cache {
        fn strict(root: Owner) -> Cache {
            Cache::new(root, Metadata::Strict)
        }
    }

    fn name(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    fn t() -> SystemTime {
        SystemTime::UNIX_EPOCH
    }

    /// A file `f` in the root whose name is durable.
    fn with_durable_file() -> (Cache, Ino) {
        let mut c = Cache::strict(owner());
        let f = c.create(ROOT, name("f"), Kind::File, owner()).unwrap();
        c.sync_dir(ROOT).unwrap();
        (c, f)
    }

    fn contents(c: &Cache, ino: Ino) -> Vec<u8> {
        c.read(ino, 0, 1 << 20).unwrap()
    }

    #[test]
    fn unsynced_writes_survive_a_kill_but_not_a_power_loss() {
        let (mut c, f) = with_durable_file();
        c.write(f, 0, b"synced", t()).unwrap();
        c.sync(f).unwrap();
        c.write(f, 6, b"+lost", t()).unwrap();
        // A killed process leaves its writes in the page cache: the model is unchanged by it.
        assert_eq!(contents(&c, f), b"synced+lost");
        assert!(!c.is_synced());
        let lost = c.power_loss();
        assert_eq!(contents(&c, f), b"synced");
        assert_eq!(lost, Lost { files: 1, bytes: 5, names: 0 });
        assert!(c.is_synced());
    }

    #[test]
    fn an_overwrite_goes_back_to_the_synced_bytes_and_pages_are_independent() {
        let (mut c, f) = with_durable_file();
        let old = vec![7u8; 3 * PAGE];
        c.write(f, 0, &old, t()).unwrap();
        c.sync(f).unwrap();
        c.write(f, PAGE as u64 - 2, &[1, 2, 3, 4], t()).unwrap();
        let mut seen = old.clone();
        seen[PAGE - 2..PAGE + 2].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(contents(&c, f), seen);
        c.power_loss();
        assert_eq!(contents(&c, f), old);
    }

    #[test]
    fn a_new_file_needs_its_directory_synced_to_survive() {
        let mut c = Cache::strict(owner());
        let f = c.create(ROOT, name("wal"), Kind::File, owner()).unwrap();
        c.write(f, 0, b"data", t()).unwrap();
        c.sync(f).unwrap(); // data durable, name not
        let lost = c.power_loss();
        assert_eq!(c.lookup(ROOT, name("wal")), Err(FsError::NotFound));
        assert_eq!(lost.names, 1);
        assert_eq!(c.inode_count(), 1, "the unreachable file is forgotten");

        let f = c.create(ROOT, name("wal"), Kind::File, owner()).unwrap();
        c.write(f, 0, b"data", t()).unwrap();
        c.sync_dir(ROOT).unwrap(); // name durable, data not: the file comes back empty
        c.power_loss();
        let f = c.lookup(ROOT, name("wal")).unwrap();
        assert_eq!(contents(&c, f), b"");
    }

    #[test]
    fn an_atomic_replace_is_atomic_only_after_the_directory_sync() {
        let (mut c, f) = with_durable_file();
        c.write(f, 0, b"old", t()).unwrap();
        c.sync(f).unwrap();
        let tmp = c.create(ROOT, name("f.tmp"), Kind::File, owner()).unwrap();
        c.write(tmp, 0, b"new", t()).unwrap();
        c.sync(tmp).unwrap();
        c.rename(ROOT, name("f.tmp"), ROOT, name("f"), false).unwrap();
        assert_eq!(contents(&c, c.lookup(ROOT, name("f")).unwrap()), b"new");
        // Power lost before the directory sync: the old file, and no temp file.
        let mut before = c.clone();
        before.power_loss();
        assert_eq!(contents(&before, before.lookup(ROOT, name("f")).unwrap()), b"old");
        assert_eq!(before.lookup(ROOT, name("f.tmp")), Err(FsError::NotFound));
        // After it: the new one.
        c.sync_dir(ROOT).unwrap();
        c.power_loss();
        assert_eq!(contents(&c, c.lookup(ROOT, name("f")).unwrap()), b"new");
    }

    #[test]
    fn a_directory_whose_own_name_is_not_durable_is_lost_with_its_synced_entries() {
        let mut c = Cache::strict(owner());
        let wal = c.create(ROOT, name("wal"), Kind::Dir, owner()).unwrap();
        let seg = c.create(wal, name("1.log"), Kind::File, owner()).unwrap();
        c.write(seg, 0, b"entry", t()).unwrap();
        c.sync(seg).unwrap();
        c.sync_dir(wal).unwrap();
        let mut early = c.clone();
        early.power_loss();
        assert_eq!(early.lookup(ROOT, name("wal")), Err(FsError::NotFound));
        // Once the root is synced, the directory comes back with what was synced inside it.
        c.sync_dir(ROOT).unwrap();
        c.power_loss();
        let wal = c.lookup(ROOT, name("wal")).unwrap();
        assert_eq!(contents(&c, c.lookup(wal, name("1.log")).unwrap()), b"entry");
    }

    #[test]
    fn under_ordered_metadata_any_fsync_commits_every_earlier_name_change() {
        // etcd's pattern: mkdir member (never fsynced in its parent), a WAL inside it, fsynced.
        let mut c = Cache::new(owner(), Metadata::Ordered);
        let member = c.create(ROOT, name("member"), Kind::Dir, owner()).unwrap();
        let wal = c.create(member, name("0.wal"), Kind::File, owner()).unwrap();
        c.write(wal, 0, b"record", t()).unwrap();
        let mut strict = c.clone();
        strict.metadata = Metadata::Strict;
        c.sync(wal).unwrap();
        strict.sync(wal).unwrap();
        strict.sync_dir(member).unwrap();
        c.power_loss();
        strict.power_loss();
        let member = c.lookup(ROOT, name("member")).unwrap();
        assert_eq!(contents(&c, c.lookup(member, name("0.wal")).unwrap()), b"record");
        assert_eq!(strict.lookup(ROOT, name("member")), Err(FsError::NotFound), "POSIX loses it");
        // Data still needs its own file's fsync.
        let f = c.create(ROOT, name("other"), Kind::File, owner()).unwrap();
        c.write(f, 0, b"unsynced", t()).unwrap();
        c.sync_dir(ROOT).unwrap();
        c.power_loss();
        assert_eq!(contents(&c, c.lookup(ROOT, name("other")).unwrap()), b"");
    }

    #[test]
    fn an_unlink_not_yet_synced_comes_back() {
        let (mut c, f) = with_durable_file();
        c.write(f, 0, b"keep", t()).unwrap();
        c.sync(f).unwrap();
        c.unlink(ROOT, name("f")).unwrap();
        assert_eq!(c.lookup(ROOT, name("f")), Err(FsError::NotFound));
        c.power_loss();
        assert_eq!(contents(&c, c.lookup(ROOT, name("f")).unwrap()), b"keep");
        c.unlink(ROOT, name("f")).unwrap();
        c.sync_dir(ROOT).unwrap();
        c.power_loss();
        assert_eq!(c.lookup(ROOT, name("f")), Err(FsError::NotFound));
        assert_eq!(c.inode_count(), 1);
    }

    #[test]
    fn a_rename_between_directories_is_durable_per_directory() {
        let mut c = Cache::strict(owner());
        let a = c.create(ROOT, name("a"), Kind::Dir, owner()).unwrap();
        let b = c.create(ROOT, name("b"), Kind::Dir, owner()).unwrap();
        let f = c.create(a, name("f"), Kind::File, owner()).unwrap();
        c.sync_dir(a).unwrap();
        c.sync_dir(ROOT).unwrap();
        c.rename(a, name("f"), b, name("g"), false).unwrap();
        c.sync_dir(b).unwrap();
        let mut both = c.clone();
        both.power_loss();
        assert_eq!(both.lookup(a, name("f")), Ok(f));
        assert_eq!(both.lookup(b, name("g")), Ok(f));
        assert_eq!(both.attr(f).unwrap().nlink, 2);
        c.sync_dir(a).unwrap();
        c.power_loss();
        assert_eq!(c.lookup(a, name("f")), Err(FsError::NotFound));
        assert_eq!(c.lookup(b, name("g")), Ok(f));
    }

    #[test]
    fn truncation_and_growth_read_zeros_and_allocation_is_sparse() {
        let (mut c, f) = with_durable_file();
        c.write(f, 0, &[9u8; 100], t()).unwrap();
        c.set_size(f, 10, t()).unwrap();
        c.set_size(f, 20, t()).unwrap();
        let mut want = vec![9u8; 10];
        want.extend([0u8; 10]);
        assert_eq!(contents(&c, f), want);
        c.allocate(f, 0, 64 << 20, t()).unwrap();
        assert_eq!(c.attr(f).unwrap().size, 64 << 20);
        assert_eq!(c.read(f, (64 << 20) - 4, 100).unwrap(), vec![0u8; 4]);
        c.sync(f).unwrap();
        c.power_loss();
        assert_eq!(c.attr(f).unwrap().size, 64 << 20);
        assert_eq!(c.read(f, 0, 12).unwrap(), [&[9u8; 10][..], &[0, 0]].concat());
    }

    #[test]
    fn rename_follows_the_rules_of_rename_2() {
        let mut c = Cache::strict(owner());
        let d = c.create(ROOT, name("d"), Kind::Dir, owner()).unwrap();
        let sub = c.create(d, name("sub"), Kind::Dir, owner()).unwrap();
        c.create(ROOT, name("f"), Kind::File, owner()).unwrap();
        assert_eq!(c.rename(ROOT, name("d"), sub, name("x"), false), Err(FsError::Invalid));
        assert_eq!(c.rename(ROOT, name("f"), ROOT, name("d"), false), Err(FsError::IsDir));
        assert_eq!(c.rename(ROOT, name("d"), ROOT, name("f"), false), Err(FsError::NotDir));
        c.create(ROOT, name("g"), Kind::File, owner()).unwrap();
        assert_eq!(c.rename(ROOT, name("f"), ROOT, name("g"), true), Err(FsError::Exists));
        c.rename(ROOT, name("f"), ROOT, name("g"), false).unwrap();
        assert_eq!(c.entries(ROOT).unwrap().1.len(), 2);
        assert_eq!(c.rmdir(ROOT, name("d")), Err(FsError::NotEmpty));
        assert_eq!(c.unlink(ROOT, name("d")), Err(FsError::IsDir));
        assert_eq!(c.create(ROOT, name("g"), Kind::File, owner()), Err(FsError::Exists));
        // A directory moved keeps `..` right.
        let e = c.create(ROOT, name("e"), Kind::Dir, owner()).unwrap();
        c.rename(d, name("sub"), e, name("sub"), false).unwrap();
        assert_eq!(c.entries(sub).unwrap().0, e);
    }

    #[test]
    fn an_open_unlinked_file_lives_until_released() {
        let (mut c, f) = with_durable_file();
        c.open(f).unwrap();
        c.unlink(ROOT, name("f")).unwrap();
        c.sync_dir(ROOT).unwrap();
        c.write(f, 0, b"still here", t()).unwrap();
        assert_eq!(contents(&c, f), b"still here");
        assert_eq!(c.attr(f).unwrap().nlink, 0);
        c.release(f);
        assert_eq!(c.attr(f), Err(FsError::NotFound));
    }
}
