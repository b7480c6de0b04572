//! A data directory into the model and back out.
//!
//! [`load`] reads the directory lazyfs is about to mount over: what it holds is on the disk already,
//! so it all starts durable. [`save`] writes the model's current view back into that directory after
//! the unmount, so a run's store keeps each node's data in the usual place (`nodes/nN/data/`): the
//! state a disk and its page cache would hold once the kernel had written everything back (the
//! processes were killed, the machine kept its power).

use super::cache::{Cache, Kind, Metadata, Owner, ROOT};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Bytes read or written at a time.
const CHUNK: usize = 1 << 20;

fn owner_of(meta: &fs::Metadata) -> Owner {
    Owner {
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
        now: meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH),
    }
}

/// The model of what `dir` holds, all of it durable. Only files and directories can be loaded.
pub fn load(dir: &Path, metadata: Metadata) -> io::Result<Cache> {
    let mut cache = Cache::new(owner_of(&fs::metadata(dir)?), metadata);
    let mut todo = vec![(dir.to_path_buf(), ROOT)];
    while let Some((path, parent)) = todo.pop() {
        for entry in fs::read_dir(&path)? {
            let entry = entry?;
            let meta = fs::symlink_metadata(entry.path())?;
            let name = entry.file_name();
            let invalid =
                |e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", entry.path().display()));
            if meta.is_dir() {
                let ino = cache.create(parent, &name, Kind::Dir, owner_of(&meta)).map_err(invalid)?;
                todo.push((entry.path(), ino));
            } else if meta.is_file() {
                let ino = cache.create(parent, &name, Kind::File, owner_of(&meta)).map_err(invalid)?;
                let mut f = fs::File::open(entry.path())?;
                let mut buf = vec![0u8; CHUNK];
                let mut at = 0u64;
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    // Zeros stay holes.
                    if buf[..n].iter().any(|&b| b != 0) {
                        cache.write(ino, at, &buf[..n], owner_of(&meta).now).map_err(invalid)?;
                    }
                    at += n as u64;
                }
                cache.set_size(ino, at, owner_of(&meta).now).map_err(invalid)?;
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: lazyfs holds only files and directories", entry.path().display()),
                ));
            }
        }
    }
    cache.sync_all();
    Ok(cache)
}

/// Replaces what `dir` holds with the model's current view.
pub fn save(cache: &Cache, dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if fs::symlink_metadata(&path)?.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    let missing = |e: super::cache::FsError| io::Error::other(e.to_string());
    for (rel, ino, kind) in cache.walk() {
        let path = dir.join(&rel);
        let attr = cache.attr(ino).map_err(missing)?;
        match kind {
            Kind::Dir => fs::create_dir(&path)?,
            Kind::File => {
                let mut f = fs::File::create(&path)?;
                f.set_len(attr.size)?;
                let mut at = 0u64;
                while at < attr.size {
                    let data = cache.read(ino, at, CHUNK).map_err(missing)?;
                    if data.iter().any(|&b| b != 0) {
                        std::os::unix::fs::FileExt::write_all_at(&f, &data, at)?;
                    }
                    at += data.len() as u64;
                }
                f.flush()?;
            }
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(attr.mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn a_directory_survives_load_and_save_with_holes_and_modes() {
        let src = tempfile::tempdir().unwrap();
        fs::create_dir(src.path().join("wal")).unwrap();
        fs::write(src.path().join("wal/1.log"), b"entries").unwrap();
        let f = fs::File::create(src.path().join("sparse")).unwrap();
        f.set_len(5 << 20).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, b"end", (5 << 20) - 3).unwrap();
        fs::set_permissions(src.path().join("wal"), fs::Permissions::from_mode(0o700)).unwrap();

        let mut cache = load(src.path(), Metadata::Strict).unwrap();
        assert!(cache.is_synced(), "what was on disk is durable");
        cache.power_loss();
        let wal = cache.lookup(ROOT, OsStr::new("wal")).unwrap();
        let log = cache.lookup(wal, OsStr::new("1.log")).unwrap();
        assert_eq!(cache.read(log, 0, 100).unwrap(), b"entries");

        let dst = tempfile::tempdir().unwrap();
        fs::write(dst.path().join("stale"), b"x").unwrap();
        save(&cache, dst.path()).unwrap();
        assert!(!dst.path().join("stale").exists());
        assert_eq!(fs::read(dst.path().join("wal/1.log")).unwrap(), b"entries");
        let sparse = fs::read(dst.path().join("sparse")).unwrap();
        assert_eq!(sparse.len(), 5 << 20);
        assert_eq!(&sparse[sparse.len() - 3..], b"end");
        let mode = fs::metadata(dst.path().join("wal")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
