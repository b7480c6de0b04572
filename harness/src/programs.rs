//! Finding programs: on `PATH`, or next to the running executable (where cargo puts raft-node beside
//! faultline). A leaf module: the built-in systems and system files both look binaries up here.

use std::path::PathBuf;

/// `name` in a directory of `$PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// `name` next to the running executable (same target directory). Test binaries live in
/// `target/<profile>/deps`, so one level up is looked at too.
pub fn binary_next_to_exe(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join(name), dir.parent()?.join(name)].into_iter().find(|p| p.is_file())
}
