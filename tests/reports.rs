//! The report files, checked the way their readers see them: junit.xml against the
//! Jenkins/GitLab JUnit schema (xmllint), report.md as text, report.html in headless
//! Chromium. Without xmllint or Chromium those checks are announced as not run (and
//! fail under `BITSPEC_REQUIRE_TOOLS=1`, which `.ci/run` sets after installing them).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use support::{bitspec, double, text, validate_junit};

const DIFF_LINE: &str = "    -BITS-Received-Content-Range: 1000";

/// Chromium's serialised DOM of a file, after parsing (or a screenshot into `png`);
/// `None`, announced, when Chromium is not installed.
fn chromium(html: &Path, screenshot: Option<&Path>) -> Option<String> {
    support::chromium(html, screenshot, "report.html as Chromium parses it")
}

/// The part of `dom` from the element opening with `start` to the next `end`.
fn element<'a>(dom: &'a str, start: &str, end: &str) -> &'a str {
    let at = dom
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the DOM:\n{dom}"));
    let len = dom[at..].find(end).unwrap_or(dom.len() - at);
    &dom[at..at + len]
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_failure_reaches_every_report() {
    let server = double::start(double::Bug::NoReceivedRange);
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path();
    let out = bitspec(
        &[
            "run",
            "--target",
            &server.url,
            "--filter",
            "fragment-upload-three-fragments",
        ],
        dir,
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    for name in ["results.json", "junit.xml", "report.md", "report.html"] {
        let path = dir.join(name);
        assert!(path.is_file(), "{name} not written:\n{all}");
        assert!(
            all.contains(&format!("report: {}", path.display())),
            "console names {name}:\n{all}"
        );
    }

    let junit_path = dir.join("junit.xml");
    if let Err(e) = validate_junit(&junit_path) {
        panic!("junit.xml is not valid JUnit:\n{e}\n{}", read(&junit_path));
    }
    let junit = read(&junit_path);
    assert!(
        junit.contains("<testsuite name=\"fragment\" tests=\"1\""),
        "{junit}"
    );
    assert!(
        junit.contains(
            "<testcase name=\"fragment::001-upload-three-fragments\" classname=\"fragment\""
        ),
        "{junit}"
    );
    assert!(
        junit.contains("<failure message=\"header BITS-Received-Content-Range: expected &quot;1000&quot;, got nothing (header absent) [MUST mcbup-3.2.5.2.6-response-per-2.2.7]\" type=\"fail\">"),
        "{junit}"
    );
    assert!(
        junit.contains(DIFF_LINE),
        "failure body has the diff:\n{junit}"
    );

    let md = read(&dir.join("report.md"));
    assert!(
        md.contains("| Packet type | pass | fail | warn | skip | error | total |"),
        "{md}"
    );
    assert!(md.contains("| fragment | 0 | 1 | 0 | 0 | 0 | 1 |"), "{md}");
    assert!(md.contains("| must | 0 | 1 | 0 | 0 | 0 | 1 |"), "{md}");
    let failure = md
        .split("### FAIL fragment::001-upload-three-fragments")
        .nth(1)
        .unwrap_or_else(|| panic!("no failure heading:\n{md}"));
    let block = failure.split("```").nth(1).expect("a fenced block");
    assert!(block.contains(DIFF_LINE), "{md}");
    assert!(md.contains("## Requirements coverage"), "{md}");

    let html = dir.join("report.html");
    let Some(dom) = chromium(&html, None) else {
        return;
    };
    let section = element(&dom, "<section id=\"failures\">", "</section>");
    let problem = element(section, "<details class=\"problem fail\"", "</details>");
    assert!(
        problem.contains(" open=\"\""),
        "failures are open:\n{problem}"
    );
    let pre = element(problem, "<pre class=\"failure-text\">", "</pre>");
    assert!(
        pre.contains(&format!("<span class=\"del\">{DIFF_LINE}</span>")),
        "the diff line is marked in the failure text:\n{pre}"
    );
    assert!(
        dom.find("id=\"failures\"") < dom.find("id=\"by-packet-type\""),
        "failures come first"
    );
    // A look at the page itself, for people: BITSPEC_SCREENSHOT=/path/to.png.
    if let Some(png) = std::env::var_os("BITSPEC_SCREENSHOT") {
        chromium(&html, Some(Path::new(&png)));
    }
}

#[test]
fn a_passing_run_writes_valid_reports_with_skips() {
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path();
    let out = bitspec(&["run", "--filter", "ping::"], dir);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");

    let junit_path = dir.join("junit.xml");
    if let Err(e) = validate_junit(&junit_path) {
        panic!("junit.xml is not valid JUnit:\n{e}\n{}", read(&junit_path));
    }
    let junit = read(&junit_path);
    assert!(junit.contains("<testsuite name=\"ping\""), "{junit}");
    assert!(
        junit.contains("<skipped message=\"needs capability `uploads-disabled`"),
        "a skip carries its reason:\n{junit}"
    );
    assert!(!junit.contains("<failure"), "{junit}");

    let md = read(&dir.join("report.md"));
    assert!(md.contains("## Failures\n\nNone."), "{md}");
    assert!(md.contains("| **total** |"), "{md}");
    assert!(md.contains("## Readings the target followed"), "{md}");
    assert!(md.contains("uncovered."), "coverage counts:\n{md}");

    let Some(dom) = chromium(&dir.join("report.html"), None) else {
        return;
    };
    assert!(dom.contains("<section id=\"coverage\">"), "{dom}");
    assert!(
        dom.contains("<details class=\"step\">"),
        "transcripts:\n{dom}"
    );
}

/// A server whose every answer carries markup in a header value.
fn hostile_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(mut writer) = stream.try_clone() else {
                    return;
                };
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end().to_ascii_lowercase();
                        if line.is_empty() {
                            break;
                        }
                        if let Some(v) = line.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let reply = "HTTP/1.1 200 OK\r\nBITS-Packet-Type: Ack\r\nX-Evil: <script>document.title='owned'</script><b id=\"evil\">x</b>\r\nContent-Length: 0\r\n\r\n";
                    if writer.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[test]
fn markup_sent_by_a_server_stays_text_in_the_html_report() {
    let url = hostile_server();
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path();
    let out = bitspec(&["run", "--target", &url, "--filter", "ping::"], dir);
    let all = text(&out);
    assert!(dir.join("report.html").is_file(), "{all}");

    // Without a browser, the file itself: the server's markup only ever escaped.
    let raw = read(&dir.join("report.html"));
    assert!(!raw.contains("<b id=\"evil\">"), "unescaped markup:\n{raw}");
    assert!(
        raw.contains("&lt;script&gt;document.title="),
        "escaped markup:\n{raw}"
    );
    if let Err(e) = validate_junit(&dir.join("junit.xml")) {
        panic!("junit.xml is not valid JUnit:\n{e}");
    }
    let Some(dom) = chromium(&dir.join("report.html"), None) else {
        return;
    };
    assert!(
        !dom.contains("<script"),
        "a script element was created:\n{dom}"
    );
    assert!(
        !dom.contains("<b id="),
        "server markup became an element:\n{dom}"
    );
    assert!(
        dom.contains("X-Evil: &lt;script&gt;document.title='owned'&lt;/script&gt;"),
        "the header is shown as text:\n{dom}"
    );
}

#[test]
fn known_deviations_and_stale_baseline_entries_are_reported_apart() {
    let server = double::start(double::Bug::NoReceivedRange);
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path();
    let baseline = dir.join("baseline.yaml");
    std::fs::write(
        &baseline,
        "deviations:\n  - id: fragment-upload-three-fragments\n    reason: omits <the> range\n  - id: ping-ack\n    reason: stale entry\n",
    )
    .expect("write baseline");
    let out = bitspec(
        &[
            "run",
            "--target",
            &server.url,
            "--id",
            "fragment-upload-three-fragments",
            "--id",
            "ping-ack",
            "--baseline",
            &baseline.to_string_lossy(),
        ],
        dir,
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");

    let junit_path = dir.join("junit.xml");
    if let Err(e) = validate_junit(&junit_path) {
        panic!("junit.xml is not valid JUnit:\n{e}\n{}", read(&junit_path));
    }
    let junit = read(&junit_path);
    assert!(
        junit.contains("<skipped message=\"known deviation (baseline): omits &lt;the&gt; range\" type=\"baselined\">"),
        "{junit}"
    );
    assert!(!junit.contains("<failure"), "{junit}");
    assert!(junit.contains("NOW PASSES"), "{junit}");

    let md = read(&dir.join("report.md"));
    assert!(md.contains("## Failures\n\nNone."), "{md}");
    assert!(md.contains("## Known deviations (baseline)"), "{md}");
    assert!(md.contains("omits \\<the\\> range"), "{md}");
    assert!(
        md.contains("## Now passing: remove from the baseline\n\n- ping-ack"),
        "{md}"
    );

    let Some(dom) = chromium(&dir.join("report.html"), None) else {
        return;
    };
    let known = element(&dom, "<section id=\"baselined\">", "</section>");
    assert!(known.contains(DIFF_LINE), "{known}");
    assert!(dom.contains("<section id=\"now-passing\">"), "{dom}");
}
