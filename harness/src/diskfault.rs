//! The `corrupt` fault's actuator: the only module that damages a node's files.
//!
//! # The contract
//!
//! The caller has stopped the node. [`plan`] (pure) draws, from the run's seeded generator, one file
//! among the node's data files that hold at least one byte and match the system's globs (a system
//! file's `corrupt`; any file by default), in path order, so a seed always picks the same one from
//! the same files, and an offset among its bytes; [`apply`] does it:
//!
//! - [`Damage::FlipBits`]: one bit flipped in each of up to [`FLIP_BYTES`] bytes from the offset on;
//! - [`Damage::Truncate`]: the file cut at the offset;
//! - [`Damage::Zero`]: up to [`ZERO_BYTES`] bytes from the offset overwritten with zeros.
//!
//! The damaged file is fsynced, so it is what the disk holds (through lazyfs, a later power loss does
//! not undo it). The result names the file (relative to the data directory) and the byte range, which
//! the history records: a node that then refuses to start must name the same file and offset.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use workloads::Damage;

/// Bytes a bit flip touches at most.
pub const FLIP_BYTES: u64 = 8;
/// Bytes a zeroed range covers at most (a sector).
pub const ZERO_BYTES: u64 = 512;

/// One damage to one file, decided before it is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Relative to the data directory.
    pub file: PathBuf,
    pub damage: Damage,
    pub offset: u64,
    /// Bytes changed (for a truncation: cut off).
    pub len: u64,
    /// The file's size before.
    pub size: u64,
    /// For bit flips: the mask XORed into each byte.
    pub masks: Vec<u8>,
}

/// What was done, as the history records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Corruption {
    pub file: String,
    pub damage: Damage,
    pub offset: u64,
    pub bytes: u64,
    pub size_before: u64,
}

/// Why the damage could not be done (a harness error).
#[derive(Debug, thiserror::Error)]
#[error("corrupting {path}: {source}")]
pub struct DiskFaultError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// Chooses the file, the offset and the bytes to damage among `files` (relative path and size) that
/// match one of `globs` (`*` and `?`, over the whole relative path; none: every file); None when no
/// such file holds a byte.
pub fn plan(
    files: &[(PathBuf, u64)],
    globs: &[String],
    damage: Damage,
    rng: &mut ChaCha8Rng,
) -> Option<Plan> {
    let wanted = |p: &Path| {
        let p = p.display().to_string();
        globs.is_empty() || globs.iter().any(|g| crate::systemfile::wildcard(g, &p))
    };
    let mut candidates: Vec<&(PathBuf, u64)> =
        files.iter().filter(|(path, size)| *size > 0 && wanted(path)).collect();
    candidates.sort();
    let (file, size) = candidates.get(rng.random_range(0..candidates.len().max(1)))?;
    let offset = rng.random_range(0..*size);
    let rest = size - offset;
    let (len, masks) = match damage {
        Damage::FlipBits => {
            let len = rest.min(FLIP_BYTES);
            (len, (0..len).map(|_| 1u8 << rng.random_range(0..8)).collect())
        }
        Damage::Truncate => (rest, Vec::new()),
        Damage::Zero => (rest.min(ZERO_BYTES), Vec::new()),
    };
    Some(Plan { file: file.clone(), damage, offset, len, size: *size, masks })
}

/// Every regular file below `dir`, relative to it, with its size.
pub fn files(dir: &Path) -> io::Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        for entry in std::fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let path = rel.join(entry.file_name());
            if meta.is_dir() {
                todo.push(path);
            } else if meta.is_file() {
                out.push((path, meta.len()));
            }
        }
    }
    Ok(out)
}

/// Damages `dir/plan.file` as planned and fsyncs it.
pub fn apply(dir: &Path, plan: &Plan) -> Result<Corruption, DiskFaultError> {
    let path = dir.join(&plan.file);
    let err = |source| DiskFaultError { path: path.clone(), source };
    let f = OpenOptions::new().read(true).write(true).open(&path).map_err(err)?;
    match plan.damage {
        Damage::FlipBits => {
            let mut buf = vec![0u8; plan.len as usize];
            f.read_exact_at(&mut buf, plan.offset).map_err(err)?;
            for (b, m) in buf.iter_mut().zip(&plan.masks) {
                *b ^= m;
            }
            f.write_all_at(&buf, plan.offset).map_err(err)?;
        }
        Damage::Truncate => f.set_len(plan.offset).map_err(err)?,
        Damage::Zero => f.write_all_at(&vec![0u8; plan.len as usize], plan.offset).map_err(err)?,
    }
    f.sync_all().map_err(err)?;
    tracing::info!(file = %path.display(), damage = ?plan.damage, offset = plan.offset, bytes = plan.len, "corrupted");
    Ok(Corruption {
        file: plan.file.display().to_string(),
        damage: plan.damage,
        offset: plan.offset,
        bytes: plan.len,
        size_before: plan.size,
    })
}

/// Plans and applies one damage to a file of `dir` matching `globs`; None when none holds a byte.
pub fn corrupt(
    dir: &Path,
    globs: &[String],
    damage: Damage,
    rng: &mut ChaCha8Rng,
) -> Result<Option<Corruption>, DiskFaultError> {
    let list = match files(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(DiskFaultError { path: dir.to_path_buf(), source }),
    };
    match plan(&list, globs, damage, rng) {
        Some(p) => apply(dir, &p).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    #[test]
    fn plans_are_seeded_stay_inside_the_file_and_skip_empty_files() {
        let files =
            vec![(PathBuf::from("wal/2.log"), 100), (PathBuf::from("empty"), 0), ("hardstate".into(), 30)];
        for seed in 0..50 {
            for damage in Damage::ALL {
                let p = plan(&files, &[], damage, &mut rng(seed)).unwrap();
                assert_eq!(Some(&p), plan(&files, &[], damage, &mut rng(seed)).as_ref());
                assert_ne!(p.file, PathBuf::from("empty"));
                assert!(p.offset < p.size && p.offset + p.len <= p.size && p.len >= 1, "{p:?}");
                match damage {
                    Damage::FlipBits => assert!(p.masks.iter().all(|m| m.count_ones() == 1) && p.len <= 8),
                    Damage::Truncate => assert_eq!(p.offset + p.len, p.size),
                    Damage::Zero => assert!(p.len <= ZERO_BYTES),
                }
            }
        }
        assert_eq!(plan(&[("empty".into(), 0)], &[], Damage::Zero, &mut rng(1)), None);
        // A system's globs narrow the draw.
        let wal = ["wal/*.log".to_string()];
        for seed in 0..20 {
            let p = plan(&files, &wal, Damage::Zero, &mut rng(seed)).unwrap();
            assert_eq!(p.file, PathBuf::from("wal/2.log"));
        }
        assert_eq!(plan(&files, &["*.db".to_string()], Damage::Zero, &mut rng(1)), None);
    }

    #[test]
    fn each_damage_changes_exactly_the_planned_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("wal")).unwrap();
        let original: Vec<u8> = (0..200u8).collect();
        let write = || std::fs::write(dir.path().join("wal/1.log"), &original).unwrap();
        let read = || std::fs::read(dir.path().join("wal/1.log")).unwrap();
        for damage in Damage::ALL {
            write();
            let rec = corrupt(dir.path(), &[], damage, &mut rng(9)).unwrap().unwrap();
            assert_eq!(rec.file, "wal/1.log");
            let (o, n) = (rec.offset as usize, rec.bytes as usize);
            let now = read();
            match damage {
                Damage::Truncate => assert_eq!(now, original[..o]),
                Damage::Zero => {
                    assert!(now[o..o + n].iter().all(|&b| b == 0));
                    assert_eq!((&now[..o], &now[o + n..]), (&original[..o], &original[o + n..]));
                }
                Damage::FlipBits => {
                    for i in 0..now.len() {
                        let flipped = (now[i] ^ original[i]).count_ones();
                        assert_eq!(flipped, u32::from((o..o + n).contains(&i)), "byte {i}");
                    }
                }
            }
        }
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(corrupt(empty.path(), &[], Damage::Zero, &mut rng(1)).unwrap(), None);
        assert_eq!(corrupt(&empty.path().join("missing"), &[], Damage::Zero, &mut rng(1)).unwrap(), None);
    }
}
