//! The `raft-node` binary.

fn main() {
    eprintln!("raft-node: the server is not built yet");
    std::process::exit(3);
}
