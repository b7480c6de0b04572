//! The FUSE face of the model: each kernel request becomes one call on the [`Cache`], each
//! [`FsError`] its errno. Nothing here decides what is durable; [`super::cache`] does.
//!
//! Kernel caching is left on where it is coherent: every change to the files goes through this mount
//! (the nodes write here, the `corrupt` fault writes here), so attributes and entries are cached for
//! [`TTL`], and the page cache is dropped at each open (no `FOPEN_KEEP_CACHE`). A power loss unmounts
//! and mounts again ([`super::Disk::power_loss`]), so nothing the kernel cached outlives it.

use super::cache::{Attr, Cache, FsError, Ino, Kind, Owner};
use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// How long the kernel may trust an attribute or a name.
const TTL: Duration = Duration::from_secs(1);

/// The filesystem one mount serves; the model outlives the mount (a power loss remounts it).
#[derive(Debug)]
pub struct LazyFs {
    cache: Arc<Mutex<Cache>>,
}

impl LazyFs {
    pub fn new(cache: Arc<Mutex<Cache>>) -> LazyFs {
        LazyFs { cache }
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        // A panic while holding the lock left the model mid-change; nothing can trust it any more.
        self.cache.lock().expect("the lazyfs model lock is poisoned only by a panic")
    }
}

fn errno(e: FsError) -> Errno {
    match e {
        FsError::NotFound => Errno::ENOENT,
        FsError::Exists => Errno::EEXIST,
        FsError::NotDir => Errno::ENOTDIR,
        FsError::IsDir => Errno::EISDIR,
        FsError::NotEmpty => Errno::ENOTEMPTY,
        FsError::Invalid => Errno::EINVAL,
    }
}

fn file_type(k: Kind) -> FileType {
    match k {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
    }
}

fn file_attr(a: Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.mtime,
        mtime: a.mtime,
        ctime: a.ctime,
        crtime: a.ctime,
        kind: file_type(a.kind),
        perm: (a.mode & 0o7777) as u16,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: super::cache::PAGE as u32,
        flags: 0,
    }
}

fn owner(req: &Request, mode: u32, umask: u32) -> Owner {
    Owner { mode: mode & !umask & 0o7777, uid: req.uid(), gid: req.gid(), now: SystemTime::now() }
}

impl LazyFs {
    fn entry(&self, reply: ReplyEntry, r: Result<Ino, FsError>) {
        let cache = self.cache();
        match r.and_then(|ino| cache.attr(ino)) {
            Ok(a) => reply.entry(&TTL, &file_attr(a), Generation(0)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn empty(reply: ReplyEmpty, r: Result<(), FsError>) {
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }
}

impl Filesystem for LazyFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let r = self.cache().lookup(parent.0, name);
        self.entry(reply, r);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.cache().attr(ino.0) {
            Ok(a) => reply.attr(&TTL, &file_attr(a)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let now = SystemTime::now();
        let mut cache = self.cache();
        let mut r = Ok(());
        if let Some(m) = mode {
            r = r.and_then(|()| cache.set_mode(ino.0, m, now));
        }
        if let Some(s) = size {
            r = r.and_then(|()| cache.set_size(ino.0, s, now));
        }
        if let Some(t) = mtime {
            let t = match t {
                TimeOrNow::SpecificTime(t) => t,
                TimeOrNow::Now => now,
            };
            r = r.and_then(|()| cache.set_mtime(ino.0, t));
        }
        match r.and_then(|()| cache.attr(ino.0)) {
            Ok(a) => reply.attr(&TTL, &file_attr(a)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn mkdir(&self, req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        let r = self.cache().create(parent.0, name, Kind::Dir, owner(req, mode, umask));
        self.entry(reply, r);
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc_s_ifmt() != libc_s_ifreg() {
            reply.error(Errno::EPERM);
            return;
        }
        let r = self.cache().create(parent.0, name, Kind::File, owner(req, mode, umask));
        self.entry(reply, r);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(reply, self.cache().unlink(parent.0, name));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(reply, self.cache().rmdir(parent.0, name));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.contains(RenameFlags::RENAME_EXCHANGE) || flags.contains(RenameFlags::RENAME_WHITEOUT) {
            reply.error(Errno::EINVAL);
            return;
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        Self::empty(reply, self.cache().rename(parent.0, name, newparent.0, newname, no_replace));
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.cache().open(ino.0) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let mut cache = self.cache();
        let r = cache.create(parent.0, name, Kind::File, owner(req, mode, umask)).and_then(|ino| {
            cache.open(ino)?;
            cache.attr(ino)
        });
        match r {
            Ok(a) => reply.created(&TTL, &file_attr(a), Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.cache().read(ino.0, offset, size as usize) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.cache().write(ino.0, offset, data, SystemTime::now()) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lock: LockOwner, reply: ReplyEmpty) {
        // close(2) makes nothing durable.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.cache().release(ino.0);
        reply.ok();
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        Self::empty(reply, self.cache().sync(ino.0));
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let listing = self.cache().entries(ino.0);
        let (parent, list) = match listing {
            Ok(l) => l,
            Err(e) => {
                reply.error(errno(e));
                return;
            }
        };
        let dots = [(".".into(), ino.0, Kind::Dir), ("..".into(), parent, Kind::Dir)];
        for (i, (name, child, kind)) in dots.into_iter().chain(list).enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), i as u64 + 1, file_type(kind), &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        Self::empty(reply, self.cache().sync_dir(ino.0));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // A roomy disk: 64 GiB in 4 KiB blocks, a million inodes.
        let blocks = 16 << 20;
        reply.statfs(blocks, blocks, blocks, 1 << 20, 1 << 20, super::cache::PAGE as u32, 255, 4096);
    }

    fn getxattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, _size: u32, reply: fuser::ReplyXattr) {
        // No extended attributes: ENOSYS tells the kernel never to ask again on this mount (it asks
        // for `security.capability` before the first write).
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: fuser::ReplyXattr) {
        reply.error(Errno::ENOSYS);
    }

    fn poll(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _ph: fuser::PollNotifier,
        _events: fuser::PollEvents,
        _flags: fuser::PollFlags,
        reply: fuser::ReplyPoll,
    ) {
        // Files are always ready; ENOSYS tells the kernel so for good (Go's runtime polls files).
        reply.error(Errno::ENOSYS);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // The nodes run as root; permissions are not what this filesystem tests.
        reply.ok();
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode != 0 {
            // Punching holes or keeping the size: callers fall back (etcd truncates instead).
            reply.error(Errno::EOPNOTSUPP);
            return;
        }
        Self::empty(reply, self.cache().allocate(ino.0, offset, length, SystemTime::now()));
    }
}

const fn libc_s_ifmt() -> u32 {
    0o170000
}

const fn libc_s_ifreg() -> u32 {
    0o100000
}
