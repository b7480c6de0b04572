//! `workloads`: pure, seeded generators of client operations and fault schedules.
//!
//! A generator is a value with explicit time: asked for its next operation at a given (simulated or
//! real) instant, it answers without touching a clock, a socket or a thread, so the same seed always
//! yields the same stream and the generators are tested with a simulated clock and no cluster. It
//! depends only on `checker` (for the history vocabulary its operations are written in).
