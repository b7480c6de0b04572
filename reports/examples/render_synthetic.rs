//! Writes a synthetic run report and a campaign index to a directory, to look at by hand:
//! `cargo run -p reports --example render_synthetic -- OUT_DIR [OPS]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));
    let ops: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5000);
    let run = reports::synthetic::run(ops, 42);
    let html = reports::render_run(&run);
    std::fs::write(dir.join("report.html"), &html).expect("write report.html");
    println!("{} bytes", html.len());
}
