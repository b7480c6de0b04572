//! Golden tests of what a report shows for a fixture run and a fixture campaign.
//!
//! They snapshot the data embedded for the page's script and the server-rendered sections (header,
//! checks, counterexample with its SVG, durability, logs; the campaign's comparison, groups and runs),
//! not the whole file: the inline stylesheet and script would churn every snapshot on a style change
//! without saying anything about the run.

use reports::campaign::{self, CampaignIndex};
use reports::{RunReport, render_campaign, render_run};

fn fixture_run() -> RunReport {
    serde_json::from_str(include_str!("fixtures/run.json")).expect("fixture run parses")
}

fn fixture_campaign() -> CampaignIndex {
    serde_json::from_str(include_str!("fixtures/campaign.json")).expect("fixture campaign parses")
}

/// One `name: compact json` line per field, nested objects one level down: readable diffs.
fn lines(value: &serde_json::Value, prefix: &str, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if v.is_object() {
                    lines(v, &format!("{prefix}{k}."), out);
                } else {
                    out.push_str(&format!("{prefix}{k}: {v}\n"));
                }
            }
        }
        other => out.push_str(&format!("{prefix}: {other}\n")),
    }
}

/// The element that starts with `open` (e.g. `<section id="checks"`) up to its closing `close`, with a
/// line break between adjacent tags.
fn element(html: &str, open: &str, close: &str) -> String {
    let start = html.find(open).unwrap_or_else(|| panic!("{open} is in the page"));
    let end = start + html[start..].find(close).unwrap_or_else(|| panic!("{open} is closed")) + close.len();
    html[start..end].replace("><", ">\n<")
}

#[test]
fn fixture_run_embedded_data() {
    let data = reports::data::page_data(&fixture_run());
    let mut out = String::new();
    lines(&serde_json::to_value(&data).unwrap(), "", &mut out);
    insta::assert_snapshot!(out);
}

#[test]
fn fixture_run_sections() {
    let html = render_run(&fixture_run());
    for (name, open, close) in [
        ("header", "<header", "</header>"),
        ("checks", "<section id=\"checks\"", "</section>"),
        ("counterexamples", "<section id=\"counterexamples\"", "</section>"),
        ("durability", "<section id=\"durability\"", "</section>"),
        ("logs", "<section id=\"logs\"", "</section>"),
        ("faults", "<details class=\"faults\"", "</details>"),
    ] {
        insta::assert_snapshot!(format!("run_{name}"), element(&html, open, close));
    }
}

#[test]
fn fixture_run_sentence_names_the_stale_read_and_the_acknowledged_write() {
    let html = render_run(&fixture_run());
    assert!(
        html.contains("read of key k1 at node n3 returned 1, but 2 had been acknowledged (process 0, at 1.050 s) before the read began at 2.100 s."),
        "{}",
        element(&html, "<p class=\"sentence\"", "</p>")
    );
}

#[test]
fn text_from_the_run_cannot_break_out_of_the_page() {
    let mut run = fixture_run();
    run.history[0].value = serde_json::json!("</script><script>alert(1)</script>");
    run.meta.test_name = "<b>bold</b>".to_owned();
    let html = render_run(&run);
    let data_start = html.find("id=\"faultline-data\"").unwrap();
    let data_end = data_start + html[data_start..].find("</script>").unwrap();
    let data = &html[data_start..data_end];
    assert!(!data.contains("<script"), "the embedded JSON escapes '<'");
    assert!(data.contains("\\u003c/script>\\u003cscript>alert(1)"), "and keeps the value");
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"));
    assert!(!html.contains("<b>bold</b>"));
    // The log line with a script tag in the fixture is shown as text.
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; not escaped?"));
}

#[test]
fn the_report_is_self_contained() {
    for html in [render_run(&fixture_run()), render_campaign(&fixture_campaign())] {
        for needle in ["http://", "https://", "<link", "src=\"", "@import", "url(http"] {
            let hits: Vec<&str> = html
                .match_indices(needle)
                .map(|(i, _)| &html[i.saturating_sub(40)..(i + 60).min(html.len())])
                .collect();
            // The one allowed URL is the SVG namespace, an identifier that is never fetched.
            let fetches: Vec<&&str> = hits.iter().filter(|h| !h.contains("www.w3.org/2000/svg")).collect();
            assert!(fetches.is_empty(), "{needle} would reach outside the file: {fetches:?}");
        }
    }
}

#[test]
fn fixture_campaign_sections() {
    let index = fixture_campaign();
    let html = render_campaign(&index);
    for (name, open) in [
        ("comparison", "<section id=\"comparison\""),
        ("failures", "<section id=\"failures\""),
        ("trend", "<section id=\"trend\""),
        ("runs", "<section id=\"runs\""),
    ] {
        insta::assert_snapshot!(format!("campaign_{name}"), element(&html, open, "</section>"));
    }
    assert_eq!(campaign::exit_code(&index.current), 1);
}

#[test]
fn a_run_that_recorded_nothing_still_renders() {
    let run: RunReport = serde_json::from_str(
        r#"{"meta": {"test_name": "t", "system": "raft-node", "workload": "register", "seed": 1, "reproduce": "faultline run --seed 1"},
            "history": []}"#,
    )
    .unwrap();
    let html = render_run(&run);
    assert!(html.contains("data-verdict=\"unknown\""), "an unchecked run is not valid");
    assert!(html.contains("No checker results were recorded for this run."));
    assert!(html.contains("No status samples were recorded for this run."));
    let data = reports::data::page_data(&run);
    assert_eq!((data.end, data.ops.p.len(), data.faults.len()), (1, 0, 0));
}
