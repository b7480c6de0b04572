//! `reports`: results in, one self-contained HTML file out.
//!
//! Given a run's history, its checker results and its metadata, this crate renders a single HTML file
//! with its CSS, script and data inside, so it opens from `file://` with no network. It depends only on
//! `checker` for the history and result types; the harness writes the file.
