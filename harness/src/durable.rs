//! Files written whole: a temporary file next to the target, fsynced, renamed over it, and the
//! directory fsynced so the rename itself survives a crash. A reader sees the old file or the new
//! one, never half of one, and after a power cut the new one is there if the call returned.
//!
//! The one writer of every JSON and HTML file the harness keeps (`test.json`, `results.json`,
//! `report.html`, campaign pages, the cleanup state files). A leaf module: the store, the state
//! files and the campaign use it without depending on each other.

use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically and durably; an error names the file it concerns.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    let at = |p: &Path| {
        let p = p.to_path_buf();
        move |e| (p, e)
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&tmp).map_err(at(&tmp))?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        let _ = std::fs::remove_file(&tmp);
        return Err((tmp, e));
    }
    drop(file);
    std::fs::rename(&tmp, path).map_err(at(path))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(at(dir))
}

/// Writes `value` as pretty JSON to `path` atomically and durably.
pub fn write_json<T: Serialize + ?Sized>(
    path: &Path,
    value: &T,
) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    let text =
        serde_json::to_vec_pretty(value).map_err(|e| (path.to_path_buf(), std::io::Error::other(e)))?;
    write(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        write_json(&path, &serde_json::json!({"a": 1})).unwrap();
        write_json(&path, &serde_json::json!({"a": 2})).unwrap();
        let back: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back["a"], 2);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_names_the_file_and_leaves_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("x.json");
        let (p, _) = write(&path, b"{}").unwrap_err();
        assert!(p.starts_with(dir.path().join("missing-dir")), "{}", p.display());
    }
}
