//! `overlap-overwrites`: a fragment that overlaps stored bytes is written at its
//! own offset, replacing them, instead of having its old part skipped. The fault
//! takes such a fragment over from the handler; any other packet goes on to it.

use std::io::SeekFrom;
use std::path::Path;
use std::time::Duration;

use http::request::Parts;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::catalogue::{Fault, Faults};
use super::request::{Seen, active};
use crate::ack::Ack;
use crate::packets::header;
use crate::protocol::PacketType;
use crate::session;
use crate::shared::Shared;

/// Writes an overlapping fragment at its offset and answers it; gives the body back
/// for any other packet.
pub(super) async fn overwrite(
    shared: &Shared,
    faults: &Faults,
    seen: &Seen,
    parts: &Parts,
    body: Incoming,
) -> Result<Ack, Incoming> {
    if !faults.on(Fault::OverlapOverwrites) || seen.kind != Some(PacketType::Fragment) {
        return Err(body);
    }
    let (Some(range), Some(raw_id)) = (seen.range, seen.session.as_deref()) else {
        return Err(body);
    };
    let length = header(&parts.headers, "Content-Length").and_then(|l| l.trim().parse().ok());
    let Some(id) = session::normalise_id(raw_id).filter(|_| length == Some(range.len())) else {
        return Err(body);
    };
    let _guard = shared.sessions.lock(&id).await;
    let Some((mut record, expected)) = active(shared, &id).await else {
        return Err(body);
    };
    if range.first >= expected || record.total != Some(range.total) {
        return Err(body);
    }
    let data = shared.sessions.data_path(&record.id);
    shared.sessions.forget_entity(&record.id);
    let ack = match write_at(body, range.first, &data, shared.body_idle()).await {
        Ok(next) if next == range.total => {
            Box::pin(crate::packets::complete(shared, &mut record, parts)).await
        }
        Ok(next) => Ack::ok().with("BITS-Received-Content-Range", next.to_string()),
        Err(ack) => return Ok(ack),
    };
    Ok(if shared.config.echo_session_id {
        ack.with("BITS-Session-Id", raw_id.to_string())
    } else {
        ack
    })
}

/// `overlap-overwrites`: writes a fragment at its own offset (a positional write),
/// replacing stored bytes. Returns the next expected byte.
async fn write_at(mut body: Incoming, first: u64, data: &Path, idle: Duration) -> Result<u64, Ack> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(data)
        .await
        .map_err(|e| Ack::from_io(&e))?;
    let stored = file.metadata().await.map_err(|e| Ack::from_io(&e))?.len();
    file.seek(SeekFrom::Start(first))
        .await
        .map_err(|e| Ack::from_io(&e))?;
    let mut end = first;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => break,
            _ => return Err(Ack::invalid()),
        };
        if let Ok(data) = frame.into_data() {
            file.write_all(&data).await.map_err(|e| Ack::from_io(&e))?;
            end += data.len() as u64;
        }
    }
    file.flush().await.map_err(|e| Ack::from_io(&e))?;
    Ok(stored.max(end))
}
