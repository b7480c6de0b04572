//! `bench`: benchmark commands that print tables.
//!
//! Speed and memory targets live here, never as timed assertions in tests. Each binary in `src/bin/`
//! measures one part (the Raft core in simulation, raft-node over loopback, the checker on the reference
//! histories, the harness, report rendering) and prints its figures as a table; compare runs as ratios
//! taken in one run, since the machines are shared and noisy.
