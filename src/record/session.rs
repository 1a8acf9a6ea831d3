//! Grouping observed exchanges into BITS sessions: a session starts with the
//! Create-Session whose Ack hands out its id (with the requests its connection sent
//! before, such as a Ping), collects every request carrying that id, and ends with the
//! first Close-Session or Cancel-Session the server acknowledges with a 2xx.

use super::relay::Exchange;
use std::collections::HashMap;

/// Requests kept per connection while no session claims them (Pings, refused Creates).
const MAX_PENDING: usize = 16;

/// One observed session, in the order the server answered its requests.
#[derive(Debug, Default)]
pub struct Session {
    /// The id the Create-Session Ack handed out, as the server wrote it.
    pub id: String,
    pub exchanges: Vec<Exchange>,
}

/// The sessions being observed.
#[derive(Debug, Default)]
pub struct Sessions {
    open: Vec<Session>,
    pending: HashMap<u64, Vec<Exchange>>,
}

impl Sessions {
    /// Files one exchange; returns the session it completed, if any.
    pub fn observe(&mut self, exchange: Exchange) -> Option<Session> {
        let packet = exchange
            .header("BITS-Packet-Type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let sent_id = exchange.header("BITS-Session-Id").map(str::to_owned);
        let acked = exchange
            .response
            .as_ref()
            .is_some_and(|r| (200..300).contains(&r.status));
        if let Some(index) = sent_id.and_then(|id| {
            self.open
                .iter()
                .position(|s| s.id.eq_ignore_ascii_case(&id))
        }) {
            // What this connection sent before (a Ping on a new connection) belongs here.
            let before = self
                .pending
                .remove(&exchange.connection)
                .unwrap_or_default();
            self.open[index].exchanges.extend(before);
            self.open[index].exchanges.push(exchange);
            let ends = acked && matches!(packet.as_str(), "close-session" | "cancel-session");
            return ends.then(|| self.open.remove(index));
        }
        let created = exchange.response.as_ref().and_then(|r| {
            let id = r.header("BITS-Session-Id")?;
            (acked && packet == "create-session").then(|| id.to_owned())
        });
        match created {
            Some(id) => {
                let mut exchanges = self
                    .pending
                    .remove(&exchange.connection)
                    .unwrap_or_default();
                exchanges.push(exchange);
                self.open.push(Session { id, exchanges });
            }
            None => {
                let queue = self.pending.entry(exchange.connection).or_default();
                if queue.len() == MAX_PENDING {
                    queue.remove(0);
                }
                queue.push(exchange);
            }
        }
        None
    }

    /// Sessions still open (when recording stops).
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Takes the sessions still open, oldest first.
    pub fn take_open(&mut self) -> Vec<Session> {
        std::mem::take(&mut self.open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::relay::Answer;

    fn exchange(
        connection: u64,
        packet: &str,
        id: Option<&str>,
        status: u16,
        acked_id: Option<&str>,
    ) -> Exchange {
        let mut headers = vec![("BITS-Packet-Type".to_owned(), packet.to_owned())];
        if let Some(id) = id {
            headers.push(("BITS-Session-Id".into(), id.into()));
        }
        let mut answer = vec![("BITS-Packet-Type".to_owned(), "Ack".to_owned())];
        if let Some(id) = acked_id {
            answer.push(("BITS-Session-Id".into(), id.into()));
        }
        Exchange {
            connection,
            method: "BITS_POST".into(),
            target: "/u".into(),
            headers,
            body: Vec::new(),
            response: Some(Answer {
                status,
                headers: answer,
                body: Vec::new(),
            }),
        }
    }

    #[test]
    fn a_session_collects_its_ping_and_ends_with_an_acknowledged_close() {
        let mut s = Sessions::default();
        assert!(s.observe(exchange(1, "Ping", None, 200, None)).is_none());
        assert!(
            s.observe(exchange(1, "Create-Session", None, 200, Some("{A}")))
                .is_none()
        );
        assert!(
            s.observe(exchange(2, "Fragment", Some("{a}"), 200, Some("{A}")))
                .is_none()
        );
        assert!(
            s.observe(exchange(2, "Close-Session", Some("{A}"), 500, None))
                .is_none()
        );
        let done = s
            .observe(exchange(2, "Close-Session", Some("{A}"), 200, None))
            .expect("closed");
        assert_eq!(done.exchanges.len(), 5);
        assert_eq!(s.open_count(), 0);
    }

    #[test]
    fn a_ping_on_a_new_connection_joins_the_session_its_connection_continues() {
        let mut s = Sessions::default();
        assert!(
            s.observe(exchange(1, "Create-Session", None, 200, Some("{A}")))
                .is_none()
        );
        assert!(s.observe(exchange(2, "Ping", None, 200, None)).is_none());
        let done = s
            .observe(exchange(2, "Cancel-Session", Some("{A}"), 200, None))
            .expect("cancelled");
        let packets: Vec<_> = done
            .exchanges
            .iter()
            .filter_map(|e| e.header("BITS-Packet-Type"))
            .collect();
        assert_eq!(packets, ["Create-Session", "Ping", "Cancel-Session"]);
        assert_eq!(s.open_count(), 0);
    }

    #[test]
    fn a_refused_create_opens_nothing() {
        let mut s = Sessions::default();
        assert!(
            s.observe(exchange(1, "Create-Session", None, 400, None))
                .is_none()
        );
        assert_eq!(s.open_count(), 0);
    }
}
