//! What the client's next request must be: each expectation of a client scenario
//! against the requests the scripted server logged.

use super::model::{Expectation, Packet, Trigger};
use super::server::Seen;

/// The index in `log` of the request `trigger` names.
pub fn position(log: &[Seen], trigger: Trigger) -> Option<usize> {
    log.iter()
        .enumerate()
        .filter(|(_, s)| s.packet == Some(trigger.packet.name()))
        .nth(trigger.nth.saturating_sub(1) as usize)
        .map(|(i, _)| i)
}

/// Whether the request after `e`'s trigger is what it expects; why not, in words.
pub fn check(log: &[Seen], e: &Expectation) -> Result<(), String> {
    let trigger = format!("{} #{}", e.after.packet.name(), e.after.nth);
    let Some(i) = position(log, e.after) else {
        return Err(format!("the client never sent {trigger}"));
    };
    // A Ping opening a new connection may come first, unless the Ping is what is checked.
    let skip_pings = !e.none && e.next != Some(Packet::Ping);
    let next = log[i + 1..]
        .iter()
        .find(|s| !(skip_pings && s.packet == Some("ping")));
    if e.none {
        return match next {
            Some(n) => Err(format!(
                "after {trigger} the client should stop, but it sent {}",
                n.packet.unwrap_or("a non-BITS request")
            )),
            None => Ok(()),
        };
    }
    let Some(next) = next else {
        return Err(format!("the client sent nothing after {trigger}"));
    };
    if let Some(packet) = e.next
        && next.packet != Some(packet.name())
    {
        return Err(format!(
            "after {trigger} the client sent {} instead of {}",
            next.packet.unwrap_or("a non-BITS request"),
            packet.name()
        ));
    }
    if let Some(first) = e.first {
        let got = next.range.map(|r| r.0);
        if got != Some(first) {
            let got = got.map_or("no Content-Range".to_owned(), |g| format!("offset {g}"));
            return Err(format!(
                "after {trigger} the next Fragment starts at {got}, not at {first}"
            ));
        }
    }
    if e.smaller && next.body_len >= log[i].body_len {
        return Err(format!(
            "after {trigger} the next fragment has {} bytes, not fewer than {}",
            next.body_len, log[i].body_len
        ));
    }
    if let Some(host) = &e.host {
        let name = next
            .host
            .rsplit_once(':')
            .map_or(next.host.as_str(), |(h, _)| h);
        if !name.eq_ignore_ascii_case(host) {
            return Err(format!(
                "after {trigger} the request went to host {:?}, not {host}",
                next.host
            ));
        }
    }
    Ok(())
}
