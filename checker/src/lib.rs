//! `checker`: histories in, verdicts out.
//!
//! A pure library (no files, no async runtime): callers hand it the text of a history or parsed
//! [`history::Event`]s and get back verdicts with explanations. [`history`] is the event model the whole
//! workspace shares: the harness records it, the workloads generate the operations in it, the reports
//! crate draws it. The linearizability search, the models and the durability checks build on it.

pub mod history;
