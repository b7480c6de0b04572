//! The `faultline` binary.

fn main() {
    eprintln!("faultline: the harness is not built yet; `faultline run` arrives with the harness issue");
    std::process::exit(3);
}
