//! Judging one expectation of a client scenario against the requests the scripted
//! server logged: the request after a trigger, every request of the run, or the
//! way the client exited. Each `Err` says what the client did instead.

use super::model::{Exit, Expectation, Invariant, Packet, Trigger};
use super::server::{Seen, matches};

/// The index in `log` of the request `trigger` names.
pub fn position(log: &[Seen], trigger: &Trigger) -> Option<usize> {
    log.iter()
        .enumerate()
        .filter(|(_, s)| matches(trigger, s))
        .nth(trigger.nth.saturating_sub(1) as usize)
        .map(|(i, _)| i)
}

fn what(seen: &Seen) -> &'static str {
    seen.packet.unwrap_or("a non-BITS request")
}

/// Checks `e` against the run: `log`, the uploaded `file`, the client's exit code
/// (`None`: killed at the time limit or not started).
pub fn check(
    log: &[Seen],
    e: &Expectation,
    file: &[u8],
    exit_code: Option<i32>,
) -> Result<(), String> {
    if let Some(exit) = e.exit {
        return check_exit(exit, exit_code);
    }
    if let Some(invariant) = e.every {
        return check_invariant(log, invariant, file);
    }
    if let Some(min) = e.min_fragment {
        return match log.iter().find(|s| {
            s.packet == Some("fragment")
                && s.body_len < min
                && s.range
                    .is_none_or(|(_, last, total)| last.checked_add(1) != Some(total))
        }) {
            Some(s) => Err(format!(
                "a Fragment of {} bytes (Content-Range {:?}) is below the {min}-byte minimum \
                 and does not end the file",
                s.body_len, s.range
            )),
            None => Ok(()),
        };
    }
    let Some(trigger) = &e.after else {
        return Err("the expectation names no request to follow (`after`)".into());
    };
    let name = trigger.describe();
    let Some(i) = position(log, trigger) else {
        return Err(format!("the client never sent {name}"));
    };
    let rest = &log[i + 1..];
    if let Some(packet) = e.never {
        return match rest.iter().find(|s| s.packet == Some(packet.name())) {
            Some(_) => Err(format!(
                "after {name} the client sent {} (it must not)",
                packet.name()
            )),
            None => Ok(()),
        };
    }
    // A Ping opening a new connection may come first, unless the Ping is what is checked.
    let skip_pings = !e.none && e.next != Some(Packet::Ping);
    let found = if let Some(host) = &e.to_host {
        rest.iter()
            .find(|s| s.host_name().eq_ignore_ascii_case(host))
            .ok_or_else(|| format!("after {name} the client sent nothing to host {host}"))
    } else if let Some(packet) = e.later {
        rest.iter()
            .find(|s| s.packet == Some(packet.name()))
            .ok_or_else(|| format!("after {name} the client never sent {}", packet.name()))
    } else {
        rest.iter()
            .find(|s| !(skip_pings && s.packet == Some("ping")))
            .ok_or_else(|| format!("the client sent nothing after {name}"))
    };
    if e.none {
        return match found {
            Ok(n) => Err(format!(
                "after {name} the client should stop, but it sent {}",
                what(n)
            )),
            Err(_) => Ok(()),
        };
    }
    check_next(&log[i], found?, e, &name)
}

fn check_next(trigger: &Seen, next: &Seen, e: &Expectation, name: &str) -> Result<(), String> {
    if let Some(packet) = e.next
        && next.packet != Some(packet.name())
    {
        return Err(format!(
            "after {name} the client sent {} instead of {}",
            what(next),
            packet.name()
        ));
    }
    if let Some(first) = e.first {
        let got = next.range.map(|r| r.0);
        if got != Some(first) {
            let got = got.map_or("no Content-Range".to_owned(), |g| format!("offset {g}"));
            return Err(format!(
                "after {name} the next Fragment starts at {got}, not at {first}"
            ));
        }
    }
    if e.smaller && next.body_len >= trigger.body_len {
        return Err(format!(
            "after {name} the next fragment has {} bytes, not fewer than {}",
            next.body_len, trigger.body_len
        ));
    }
    if let Some(host) = &e.host
        && !next.host_name().eq_ignore_ascii_case(host)
    {
        return Err(format!(
            "after {name} the request went to host {:?}, not {host}",
            next.host
        ));
    }
    let waited = next.at_ms.saturating_sub(trigger.at_ms);
    if let Some(limit) = e.within_ms
        && waited > limit
    {
        return Err(format!(
            "after {name} the client's {} came {waited} ms later, not within {limit} ms",
            what(next)
        ));
    }
    if let Some(least) = e.not_before_ms
        && waited < least
    {
        return Err(format!(
            "after {name} the client's {} came already {waited} ms later, not after {least} ms",
            what(next)
        ));
    }
    if e.new_connection && next.connection == trigger.connection {
        return Err(format!(
            "after {name} the client's {} came on the same connection",
            what(next)
        ));
    }
    if e.same_session && next.session != trigger.session {
        return Err(format!(
            "after {name} the client's {} names session {:?}, not {:?}",
            what(next),
            next.session,
            trigger.session
        ));
    }
    if e.authorization && !next.authorization {
        return Err(format!(
            "after {name} the client's {} has no Authorization header",
            what(next)
        ));
    }
    Ok(())
}

fn check_exit(exit: Exit, exit_code: Option<i32>) -> Result<(), String> {
    match (exit, exit_code) {
        (Exit::Success, Some(0)) => Ok(()),
        (Exit::Failure, Some(code)) if code != 0 => Ok(()),
        (_, None) => Err("the client did not end by itself within the time limit".into()),
        (Exit::Success, Some(code)) => Err(format!("the client exited with {code}, not 0")),
        (Exit::Failure, Some(_)) => {
            Err("the client exited with 0 (success) for an upload that cannot succeed".into())
        }
    }
}

fn check_invariant(log: &[Seen], invariant: Invariant, file: &[u8]) -> Result<(), String> {
    let total = file.len() as u64;
    // The last session a Create-Session Ack issued, and per session the offset the
    // client was last told (what it knows the server has).
    let mut session: Option<&str> = None;
    let mut acknowledged: std::collections::HashMap<&str, u64> = Default::default();
    for (index, seen) in log.iter().enumerate() {
        let n = index + 1;
        let packet = seen.packet.unwrap_or("");
        let own = seen.session.as_deref();
        match invariant {
            Invariant::ContentRange if packet == "fragment" => {
                let Some((first, last, size)) = seen.range else {
                    return Err(format!(
                        "request {n} (fragment) has no Content-Range of the form bytes FIRST-LAST/TOTAL"
                    ));
                };
                let length = last.checked_add(1).and_then(|end| end.checked_sub(first));
                if length != Some(seen.body_len) || size != total {
                    return Err(format!(
                        "request {n} (fragment): Content-Range bytes {first}-{last}/{size} \
                         does not describe its {} body bytes of a {total}-byte file",
                        seen.body_len
                    ));
                }
                let start = usize::try_from(first).unwrap_or(usize::MAX);
                if file.get(start..start.saturating_add(seen.body.len())) != Some(&seen.body[..]) {
                    return Err(format!(
                        "request {n} (fragment): its bytes are not the file's bytes {first}-{last}"
                    ));
                }
            }
            Invariant::AcknowledgedOffset if packet == "fragment" => {
                let known = own
                    .and_then(|id| acknowledged.get(id))
                    .copied()
                    .unwrap_or(0);
                let first = seen.range.map(|r| r.0);
                if first != Some(known) {
                    let first =
                        first.map_or("no Content-Range".to_owned(), |f| format!("offset {f}"));
                    return Err(format!(
                        "request {n} (fragment) starts at {first}, but the server last \
                         acknowledged {known}: the content range must start there"
                    ));
                }
            }
            Invariant::SessionId
                if matches!(packet, "fragment" | "close-session" | "cancel-session")
                    && (own.is_none() || own != session) =>
            {
                return Err(format!(
                    "request {n} ({packet}) names session {own:?}, not {session:?} \
                     of the last Create-Session Ack"
                ));
            }
            Invariant::SupportedProtocols
                if packet == "create-session"
                    && seen.protocols.as_deref().is_none_or(str::is_empty) =>
            {
                return Err(format!(
                    "request {n} (create-session) has no BITS-Supported-Protocols"
                ));
            }
            Invariant::CloseWhenComplete if packet == "close-session" => {
                let known = own
                    .and_then(|id| acknowledged.get(id))
                    .copied()
                    .unwrap_or(0);
                if known != total {
                    return Err(format!(
                        "request {n} (close-session) comes when the server has acknowledged \
                         {known} of {total} bytes"
                    ));
                }
            }
            Invariant::ShrinkAfter413 if packet == "fragment" && seen.status == Some(413) => {
                let next = log[n..].iter().find(|s| s.packet == Some("fragment"));
                if let Some(next) = next
                    && (next.body_len >= seen.body_len
                        || next.range.map(|r| r.0) != seen.range.map(|r| r.0))
                {
                    return Err(format!(
                        "request {n} (fragment, {} bytes at {:?}) was answered 413, but the \
                         next Fragment has {} bytes at {:?}",
                        seen.body_len,
                        seen.range.map(|r| r.0),
                        next.body_len,
                        next.range.map(|r| r.0)
                    ));
                }
            }
            _ => {}
        }
        if let Some(id) = &seen.issued {
            session = Some(id);
            acknowledged.insert(id, 0);
        }
        if packet == "fragment"
            && matches!(seen.status, Some(200 | 416))
            && let (Some(id), Some(offset)) = (own, seen.acked)
        {
            acknowledged.insert(id, offset);
        }
    }
    Ok(())
}
