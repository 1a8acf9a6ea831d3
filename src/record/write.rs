//! A recorded session as a scenario: each request a step, each Ack its expectation.
//!
//! What is kept is what the protocol defines and a replay can reproduce: the packet
//! type, the BITS request headers, the status and the BITS Ack headers. The session id
//! is captured from the Create-Session Ack and sent as `${session}`; volatile values
//! (Date, Server, the unique parts of a reply URL or host id) are left out or checked
//! for presence only. A fragment whose bytes are a range of a generated upload file
//! (`file: { size, seed }`) becomes a `range:`; any other body is written next to the
//! scenario and sent with `body_file:`.

use super::relay::{Answer, Exchange};
use super::session::Session;
use crate::shared::upload_data;
use std::fmt::Write as _;
use std::ops::RangeInclusive;

/// Request headers a replay sets itself or that belong to one connection or client.
const NOT_REPLAYED: &[&str] = &[
    "host",
    "user-agent",
    "content-length",
    "bits-packet-type",
    "connection",
    "keep-alive",
    "proxy-connection",
    "authorization",
    "proxy-authorization",
    "cookie",
    "accept-encoding",
    "te",
    "transfer-encoding",
    "expect",
];

/// Ack headers compared by value (the others are checked for presence, or not at all).
const COMPARED: &[&str] = &[
    "bits-packet-type",
    "bits-protocol",
    "bits-received-content-range",
    "bits-host-id-fallback-timeout",
];

/// BITS Ack headers whose value is unique to one exchange: checked for presence only.
const PRESENT_ONLY: &[&str] = &["bits-reply-url", "bits-host-id"];

/// The error headers, checked through `error:`.
const ERROR_HEADERS: &[&str] = &["bits-error-code", "bits-error", "bits-error-context"];

/// A scenario file and the data files it refers to (name, bytes).
pub struct Written {
    pub yaml: String,
    pub data_files: Vec<(String, Vec<u8>)>,
}

/// The scenario for `session`, whose files are named after `stem`.
pub fn scenario(
    session: &Session,
    id: &str,
    stem: &str,
    seeds: &RangeInclusive<u64>,
    upstream: &str,
) -> Written {
    let url = session
        .exchanges
        .iter()
        .find(|e| is_packet(e, "create-session"))
        .map(|e| e.target.clone())
        .unwrap_or_default();
    let file = upload_file(&session.exchanges, seeds);
    let mut data_files = Vec::new();
    let packets: Vec<String> = session
        .exchanges
        .iter()
        .map(|e| e.header("BITS-Packet-Type").unwrap_or(&e.method).to_owned())
        .collect();

    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Recorded by `bitspec record` from {upstream} (upload URL {url})."
    );
    let _ = writeln!(y, "id: {id}");
    let _ = writeln!(
        y,
        "title: {}",
        quote(&format!("Recorded session: {}", summary(&packets)))
    );
    let _ = writeln!(
        y,
        "spec: {}",
        quote("recorded exchange (bitspec record); MC-BUP 2.2")
    );
    // A recording shows what one server answered, not what the documents require, so a
    // difference on replay is a regression to look at (a warning), not a MUST failure.
    let _ = writeln!(y, "level: should");
    let _ = writeln!(y, "tags: [recorded]");
    if let Some((size, seed)) = file {
        let _ = writeln!(y, "file: {{ size: {size}, seed: {seed} }}");
    }
    let _ = writeln!(y, "steps:");
    let mut previous_connection = None;
    for (index, exchange) in session.exchanges.iter().enumerate() {
        let number = index + 1;
        let packet = exchange.header("BITS-Packet-Type");
        let _ = writeln!(
            y,
            "  - name: {}",
            quote(&format!(
                "{} (recorded)",
                packet.unwrap_or(&exchange.method)
            ))
        );
        match packet {
            Some(p) => {
                let _ = writeln!(y, "    packet: {}", quote(p));
            }
            None => {
                let _ = writeln!(y, "    omit: [BITS-Packet-Type]");
            }
        }
        if !exchange.method.eq_ignore_ascii_case("BITS_POST") {
            let _ = writeln!(y, "    method: {}", quote(&exchange.method));
        }
        if exchange.target != url {
            let path = exchange.target.trim_start_matches('/');
            let _ = writeln!(
                y,
                "    url: {}",
                quote(&format!("${{target}}{}", escape(path)))
            );
        }
        if previous_connection.is_some_and(|c| c != exchange.connection) {
            let _ = writeln!(y, "    connection: new");
        }
        previous_connection = Some(exchange.connection);

        let range = file.and_then(|(size, seed)| file_range(exchange, size, seed));
        let mut headers = Vec::new();
        for (name, value) in &exchange.headers {
            let lower = name.to_ascii_lowercase();
            if NOT_REPLAYED.contains(&lower.as_str())
                || (range.is_some() && lower == "content-range")
            {
                continue;
            }
            let value = if lower == "bits-session-id" && value.eq_ignore_ascii_case(&session.id) {
                "${session}".to_owned()
            } else {
                escape(value)
            };
            headers.push((name.clone(), value));
        }
        if !headers.is_empty() {
            let _ = writeln!(y, "    headers:");
            for (name, value) in headers {
                let _ = writeln!(y, "      {}: {}", key(&name), quote(&value));
            }
        }
        if let Some((first, last)) = range {
            let _ = writeln!(y, "    range: {first}-{last}");
        } else if !exchange.body.is_empty() {
            let name = format!("{stem}.step{number}.bin");
            let _ = writeln!(y, "    body_file: {}", quote(&name));
            data_files.push((name, exchange.body.clone()));
        }
        expect(
            &mut y,
            exchange.response.as_ref(),
            &session.id,
            is_packet(exchange, "create-session"),
        );
    }
    Written {
        yaml: y,
        data_files,
    }
}

/// The `expect:` (and `capture:`) of one step.
fn expect(y: &mut String, answer: Option<&Answer>, session: &str, creates: bool) {
    let _ = writeln!(y, "    expect:");
    let Some(answer) = answer else {
        let _ = writeln!(y, "      response: none");
        return;
    };
    let _ = writeln!(y, "      status: {}", answer.status);
    let mut checks = Vec::new();
    let mut seen = Vec::new();
    for (name, value) in &answer.headers {
        let lower = name.to_ascii_lowercase();
        if !lower.starts_with("bits-")
            || ERROR_HEADERS.contains(&lower.as_str())
            || seen.contains(&lower)
        {
            continue;
        }
        seen.push(lower.clone());
        let check = if lower == "bits-session-id" {
            if !creates && value.eq_ignore_ascii_case(session) {
                format!("{{ equals_ignore_case: {} }}", quote("${session}"))
            } else {
                "present".to_owned()
            }
        } else if COMPARED.contains(&lower.as_str()) {
            format!("{{ equals_ignore_case: {} }}", quote(&escape(value)))
        } else if PRESENT_ONLY.contains(&lower.as_str()) {
            "present".to_owned()
        } else {
            format!("{{ equals_ignore_case: {} }}", quote(&escape(value)))
        };
        checks.push((name.clone(), check));
    }
    if !checks.is_empty() {
        let _ = writeln!(y, "      headers:");
        for (name, check) in checks {
            let _ = writeln!(y, "        {}: {check}", key(&name));
        }
    }
    let code = answer
        .header("BITS-Error-Code")
        .or_else(|| answer.header("BITS-Error"));
    let context = answer.header("BITS-Error-Context");
    match (code, context) {
        (None, None) => {
            let _ = writeln!(y, "      error: none");
        }
        _ => {
            let mut parts = Vec::new();
            if let Some(code) = code {
                parts.push(format!("code: {}", quote(code.trim())));
            }
            if let Some(context) = context {
                parts.push(format!("context: {}", quote(context.trim())));
            }
            let _ = writeln!(y, "      error: {{ {} }}", parts.join(", "));
        }
    }
    if creates && answer.header("BITS-Session-Id").is_some() {
        let _ = writeln!(y, "    capture:");
        let _ = writeln!(y, "      BITS-Session-Id: session");
    }
}

fn is_packet(exchange: &Exchange, packet: &str) -> bool {
    exchange
        .header("BITS-Packet-Type")
        .is_some_and(|p| p.eq_ignore_ascii_case(packet))
}

/// "Ping, Create-Session, 3 x Fragment, Close-Session".
fn summary(packets: &[String]) -> String {
    let mut parts: Vec<(String, usize)> = Vec::new();
    for p in packets {
        match parts.last_mut() {
            Some((last, n)) if last == p => *n += 1,
            _ => parts.push((p.clone(), 1)),
        }
    }
    parts
        .into_iter()
        .map(|(p, n)| if n == 1 { p } else { format!("{n} x {p}") })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `bytes first-last/total` of a fragment whose body has exactly that length.
fn content_range(exchange: &Exchange) -> Option<(u64, u64, u64)> {
    let value = exchange.header("Content-Range")?.trim();
    let rest = value.strip_prefix("bytes ")?.trim();
    let (span, total) = rest.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let (first, last, total) = (
        first.trim().parse().ok()?,
        last.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (first <= last && last < total && exchange.body.len() as u64 == last - first + 1)
        .then_some((first, last, total))
}

/// The generated file (size, seed) the first matching fragment is a range of.
fn upload_file(exchanges: &[Exchange], seeds: &RangeInclusive<u64>) -> Option<(u64, u64)> {
    exchanges.iter().find_map(|e| {
        let (first, _, total) = content_range(e)?;
        let probe = e.body.len().min(64);
        let seed = seeds.clone().find(|&seed| {
            upload_data::range(seed, first, first + probe as u64 - 1) == e.body[..probe]
        })?;
        (upload_data::range(seed, first, first + e.body.len() as u64 - 1) == e.body)
            .then_some((total, seed))
    })
}

/// The step's `range` when its body is exactly that range of the generated file.
fn file_range(exchange: &Exchange, size: u64, seed: u64) -> Option<(u64, u64)> {
    let (first, last, total) = content_range(exchange)?;
    (total == size && upload_data::range(seed, first, last) == exchange.body)
        .then_some((first, last))
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// A header name as a YAML key: bare when it is a plain token.
fn key(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        name.to_owned()
    } else {
        quote(name)
    }
}

/// A recorded value as a template that renders to itself (`${` is written `$${`).
fn escape(text: &str) -> String {
    text.replace("${", "$${")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_packets_are_counted_in_the_title() {
        let p = [
            "Ping",
            "Create-Session",
            "Fragment",
            "Fragment",
            "Close-Session",
        ]
        .map(String::from);
        assert_eq!(
            summary(&p),
            "Ping, Create-Session, 2 x Fragment, Close-Session"
        );
    }

    #[test]
    fn recorded_values_render_to_themselves() {
        assert_eq!(escape("a${b}"), "a$${b}");
        assert_eq!(quote("x\"y"), "\"x\\\"y\"");
    }
}
