//! The one module that runs `ip` and `iptables`.
//!
//! Everything the netns backend does to the host goes through [`run`], as an argv vector (never a
//! shell string, so no name can be re-interpreted), with the exact command line in the error when it
//! fails. A failed call is a harness error, not a fault outcome: the run stops and cleans up rather
//! than record a fault that may not have happened. The helpers below build the argv vectors; they are
//! pure and unit-tested.

use std::process::Command;

/// Why a host command failed.
#[derive(Debug, thiserror::Error)]
pub enum NetCmdError {
    #[error(
        "`{program}` is not installed (needed for the netns backend); install it (Debian: apt-get install -y {package}) or run with --net loopback"
    )]
    Missing { program: String, package: &'static str },
    #[error("`{command}` failed with {status}: {stderr}")]
    Failed { command: String, status: String, stderr: String },
    #[error("could not start `{command}`: {source}")]
    Spawn { command: String, source: std::io::Error },
}

/// Runs `argv` and returns its stdout; any non-zero exit is an error naming the command.
pub fn run(argv: &[String]) -> Result<String, NetCmdError> {
    let (program, args) = argv.split_first().expect("argv vectors always name a program");
    tracing::debug!(command = %argv.join(" "), "host command");
    let out = Command::new(program).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            NetCmdError::Missing { program: program.clone(), package: package_of(program) }
        } else {
            NetCmdError::Spawn { command: argv.join(" "), source: e }
        }
    })?;
    if !out.status.success() {
        return Err(NetCmdError::Failed {
            command: argv.join(" "),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `argv` and ignores a failure (used only when removing things that may already be gone).
pub fn run_quiet(argv: &[String]) -> bool {
    match run(argv) {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(error = %e, "cleanup command failed (already gone?)");
            false
        }
    }
}

fn package_of(program: &str) -> &'static str {
    if program.ends_with("iptables") { "iptables" } else { "iproute2" }
}

/// Whether a program can be found on PATH (for choosing the backend).
pub fn available(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

fn v(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// `ip ...` in the root namespace.
pub fn ip(args: &[&str]) -> Vec<String> {
    let mut argv = v(&["ip"]);
    argv.extend(v(args));
    argv
}

/// `ip netns exec NS ip ...`
pub fn ip_in(ns: &str, args: &[&str]) -> Vec<String> {
    let mut argv = v(&["ip", "netns", "exec", ns, "ip"]);
    argv.extend(v(args));
    argv
}

/// `ip netns exec NS iptables -w ...` (`-w` waits for the xtables lock instead of failing).
pub fn iptables_in(ns: &str, args: &[&str]) -> Vec<String> {
    let mut argv = v(&["ip", "netns", "exec", ns, "iptables", "-w"]);
    argv.extend(v(args));
    argv
}

/// Rule that drops what `source` sends into this namespace.
pub fn drop_from(ns: &str, chain: &str, source: &str) -> Vec<String> {
    iptables_in(ns, &["-A", chain, "-s", source, "-j", "DROP"])
}

/// Rule that drops each packet from `source` with `probability` (`-m statistic`).
pub fn drop_some_from(ns: &str, chain: &str, source: &str, probability: f64) -> Vec<String> {
    let p = format!("{probability:.4}");
    iptables_in(
        ns,
        &[
            "-A",
            chain,
            "-s",
            source,
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            &p,
            "-j",
            "DROP",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_argv_vectors_in_our_own_chain() {
        assert_eq!(
            drop_from("fl-ab-n2", "FL-ab", "10.9.8.11").join(" "),
            "ip netns exec fl-ab-n2 iptables -w -A FL-ab -s 10.9.8.11 -j DROP"
        );
        let loss = drop_some_from("ns", "FL-x", "10.0.0.2", 0.3);
        assert!(loss.windows(2).any(|w| w == ["--probability", "0.3000"]));
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let err = run(&["faultline-no-such-program".to_string()]).unwrap_err();
        assert!(err.to_string().contains("is not installed"), "{err}");
    }

    #[test]
    fn a_failing_command_names_itself() {
        if !available("ip") {
            // Under CI a skip would pass while testing nothing (as in the integration tests' `capability`).
            let reason = "`ip` (iproute2) is not installed";
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{reason} (CI=true, where a test may not skip; `.ci/run` installs iproute2)");
            }
            eprintln!("skipped: {reason}");
            return;
        }
        let err = run(&v(&["ip", "link", "show", "fl-no-such-link-x"])).unwrap_err();
        assert!(err.to_string().contains("ip link show fl-no-such-link-x"), "{err}");
    }
}
