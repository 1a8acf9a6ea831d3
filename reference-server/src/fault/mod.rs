//! Fault injection, a testing aid compiled only with the `faults` feature:
//! deliberate, realistic protocol bugs, so the bitspec suite can prove it
//! catches them (`bitspec selftest`). Nothing here runs unless a fault is named
//! with `--fault NAME` (repeatable) or `faults = [...]` in the config.
//!
//! Each [`Fault`] (`catalogue.rs`) imitates what a real buggy server does, and
//! declares what it breaks: the header whose value goes wrong, `status`, or
//! `body` (what a catching scenario's failure must name). The faults are one
//! [`PacketLayer`] around the normal handler, installed by [`install`] when the
//! server is built: a request fault answers or rewrites the packet before
//! `packets.rs` sees it (`request.rs`; an overlapping fragment written at its
//! own offset, `overlap.rs`), an Ack fault edits the answer (`answer.rs`), and a
//! fault that amounts to a setting not checked runs the server as if the
//! setting were not there ([`adjusted`]). `packets.rs` has no fault checks. A
//! bug shows only under some configurations ([`Fault::hidden_by`]).

mod answer;
pub mod catalogue;
mod overlap;
mod request;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use http::{Response, request::Parts};
use hyper::body::Incoming;

use crate::ack::Body;
use crate::config::{CommitPoint, Config, IIS_MAX_UPLOAD_SIZE, NotificationType, OverlapPolicy};
use crate::packets::{self, Outcome};
use crate::shared::{PacketLayer, Shared};

pub use catalogue::{Area, Fault, Faults};

/// The server's BITS_POST handling with faults around it.
#[derive(Debug)]
struct FaultLayer {
    faults: Faults,
}

/// What the server is built with for the faults of `config`: the configuration it
/// behaves as, and the layer (`None` without faults: a normal server).
pub(crate) fn install(config: Config) -> (Config, Option<Box<dyn PacketLayer>>) {
    if config.faults.is_empty() {
        return (config, None);
    }
    let faults = Faults::new(&config.faults);
    let config = adjusted(config);
    (config, Some(Box::new(FaultLayer { faults })))
}

/// The configuration a server with these faults behaves as: the faults that amount
/// to a setting never checked.
fn adjusted(mut config: Config) -> Config {
    let on = |f| config.faults.contains(&f);
    if on(Fault::OverwriteIgnoresSetting) {
        config.allow_overwrites = true;
    }
    if on(Fault::AuthNotEnforced) {
        // Accounts configured, never asked for.
        config.users.clear();
    }
    if on(Fault::UserPathsIgnored) {
        for user in &mut config.users {
            user.paths.clear();
        }
    }
    if on(Fault::MaxUploadSizeIgnored) {
        config.max_upload_size = IIS_MAX_UPLOAD_SIZE;
    }
    if on(Fault::DisabledFolderServed) {
        config.uploads_enabled = true;
        config.disabled_paths.clear();
    }
    config
}

impl PacketLayer for FaultLayer {
    fn bits_post<'a>(
        &'a self,
        shared: &'a Shared,
        parts: Parts,
        body: Incoming,
        peer: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>> {
        Box::pin(self.answer(shared, parts, body, peer))
    }
}

impl FaultLayer {
    /// Request faults, the normal handler, Ack faults.
    async fn answer(
        &self,
        shared: &Shared,
        mut parts: Parts,
        body: Incoming,
        peer: SocketAddr,
    ) -> Response<Body> {
        let faults = &self.faults;
        let seen = request::Seen::of(&parts);
        let mut outcome = Outcome::default();
        let ack = match request::before(shared, faults, &seen, &mut parts).await {
            Some(ack) => ack,
            None => match overlap::overwrite(shared, faults, &seen, &parts, body).await {
                Ok(ack) => ack,
                Err(body) => {
                    Box::pin(packets::handle(shared, parts, body, peer, &mut outcome)).await
                }
            },
        };
        let ack = answer::edit_ack(shared, faults, &seen, ack).await;
        tracing::info!(
            %peer,
            path = %seen.path,
            packet = %seen.packet.as_deref().unwrap_or("-"),
            status = ack.status.as_u16(),
            faults = ?faults.names(),
            "BITS packet (faults on)"
        );
        let response = ack.into_response(shared.config.error_header);
        answer::edit_response(shared, faults, &seen, response)
    }
}

impl Fault {
    /// What a server configured as `config` lacks for the bug to show, or `None`
    /// when it can show: a bug in authentication needs accounts, one in the
    /// host id needs a host id (or none), one in publishing needs simple uploads.
    pub fn hidden_by(self, config: &Config) -> Option<&'static str> {
        let simple = config.notification_type == NotificationType::None;
        let limited = config.users.iter().any(|u| !u.paths.is_empty());
        let hidden = |unmet: bool, needs: &'static str| unmet.then_some(needs);
        match self {
            Fault::HostIdWhenUnset => hidden(config.host_id.is_some(), "no host id"),
            Fault::HostIdMissing => hidden(config.host_id.is_none(), "a host id"),
            Fault::AuthNotEnforced => hidden(config.users.is_empty(), "accounts (users)"),
            Fault::UserPathsIgnored => hidden(!limited, "an account limited to some folders"),
            Fault::MaxUploadSizeIgnored => hidden(
                config.max_upload_size >= IIS_MAX_UPLOAD_SIZE,
                "a maximum upload size",
            ),
            Fault::DisabledFolderServed => hidden(
                config.uploads_enabled && config.disabled_paths.is_empty(),
                "a folder with uploads disabled",
            ),
            Fault::ReplyUrlMissing | Fault::ReplyUrlEarly => hidden(simple, "upload-reply"),
            Fault::SessionIdEchoUnbraced => {
                hidden(!config.echo_session_id, "the session id echoed on Acks")
            }
            Fault::OverwriteIgnoresSetting => hidden(config.allow_overwrites, "overwrites off")
                .or_else(|| hidden(!simple, "simple uploads")),
            Fault::OverlapOverwrites => hidden(
                config.overlap == OverlapPolicy::Reject,
                "overlapping fragments trimmed (overlap = trim)",
            )
            .or_else(|| hidden(!simple, "simple uploads")),
            Fault::CloseNoPublish => hidden(
                config.commit_point == CommitPoint::LastFragment,
                "publishing at Close-Session (commit_point = close)",
            )
            .or_else(|| hidden(!simple, "simple uploads")),
            // The uploaded file is published at its URL (and read back there) only
            // in simple uploads.
            Fault::ReplyUrlOnSimpleUpload
            | Fault::DestinationWrittenDirectly
            | Fault::CancelPublishesPartial => hidden(!simple, "simple uploads"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_named_in_toml_and_off_by_default() {
        assert!(Config::default().faults.is_empty());
        let config = Config::from_toml(
            "faults = [\"gap-accepted\", \"ack-chunked\"]",
            std::path::Path::new("t.toml"),
        )
        .expect("valid");
        assert_eq!(config.faults, [Fault::GapAccepted, Fault::AckChunked]);
        let bad = Config::from_toml(
            "faults = [\"no-such-fault\"]",
            std::path::Path::new("t.toml"),
        );
        assert!(bad.is_err());
    }

    #[test]
    fn a_server_without_faults_has_no_layer() {
        let (config, layer) = install(Config::default());
        assert!(layer.is_none());
        assert!(!config.allow_overwrites);
        let (config, layer) = install(Config {
            faults: vec![Fault::OverwriteIgnoresSetting],
            ..Config::default()
        });
        assert!(layer.is_some());
        assert!(config.allow_overwrites);
    }

    #[test]
    fn setting_faults_run_the_server_as_if_the_setting_were_not_there() {
        let user = crate::config::User {
            name: "u".into(),
            password: "p".into(),
            paths: vec!["/mine/".into()],
        };
        let configured = Config {
            users: vec![user],
            max_upload_size: 10,
            uploads_enabled: false,
            ..Config::default()
        };
        let with = |fault| {
            adjusted(Config {
                faults: vec![fault],
                ..configured.clone()
            })
        };
        assert!(with(Fault::AuthNotEnforced).users.is_empty());
        assert!(with(Fault::UserPathsIgnored).users[0].paths.is_empty());
        assert_eq!(
            with(Fault::MaxUploadSizeIgnored).max_upload_size,
            IIS_MAX_UPLOAD_SIZE
        );
        assert!(with(Fault::DisabledFolderServed).uploads_enabled);
        let untouched = with(Fault::GapAccepted);
        assert_eq!(untouched.users, configured.users);
        assert_eq!(untouched.max_upload_size, 10);
        assert!(!untouched.uploads_enabled);
    }
}
