//! Who the upload authenticates as, and the NTLM/Negotiate handshake on one of its
//! connections.
//!
//! Basic speaks for each request and is sent once the server has challenged. NTLM
//! and Negotiate (NTLM inside SPNEGO, as IIS offers it) authenticate a connection:
//! the uploader runs the handshake (the runner's [`Handshake`]) with two Pings at
//! the start of every new connection, so a Fragment's body is never sent to draw a
//! challenge, and the Ping doubles as the one MC-BUP wants on a new connection.

use super::conn::{Ack, Conn, TransportError};
use crate::auth::windows::{Account, Handshake, Scheme};
use base64::Engine;
use bytes::Bytes;

/// The credentials of `--user`, as `--auth` says they are used. `Debug` leaves
/// the password out.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic: `Authorization` on every request once the server asked for it.
    Basic { user: String, password: String },
    /// NTLM or Negotiate: every connection authenticated by a handshake.
    Windows(Account),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { user, .. } => f
                .debug_struct("Basic")
                .field("user", user)
                .finish_non_exhaustive(),
            Credentials::Windows(account) => account.fmt(f),
        }
    }
}

/// `--auth`: how `--user` authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AuthScheme {
    /// HTTP Basic (use it over HTTPS only).
    #[default]
    Basic,
    /// NTLM (MS-NTHT): IIS with Windows authentication, NTLM provider.
    Ntlm,
    /// Negotiate with NTLM inside SPNEGO: IIS's default Windows authentication.
    Negotiate,
}

impl Credentials {
    /// `[DOMAIN\]USER[:PASSWORD]` with the password, when the text has none, from
    /// `password` (BITSPEC_PASSWORD). A domain is for NTLM and Negotiate only.
    pub fn parse(
        scheme: AuthScheme,
        user: &str,
        password: Option<String>,
    ) -> Result<Credentials, String> {
        let (name, password) = match user.split_once(':') {
            Some((name, password)) => (name, password.to_owned()),
            None => (user, password.unwrap_or_default()),
        };
        let (domain, name) = match name.split_once('\\') {
            Some((domain, name)) => (domain, name),
            None => ("", name),
        };
        if name.is_empty() {
            return Err("--user: the user name is empty".into());
        }
        let windows = |scheme| {
            Credentials::Windows(Account {
                scheme,
                domain: domain.to_owned(),
                user: name.to_owned(),
                password: password.clone(),
            })
        };
        match scheme {
            AuthScheme::Basic if !domain.is_empty() => Err(format!(
                "--user: a domain ({domain}\\) is for --auth ntlm or negotiate; Basic sends the \
                 user name as written: pass it without the backslash or choose --auth"
            )),
            AuthScheme::Basic => Ok(Credentials::Basic {
                user: name.to_owned(),
                password,
            }),
            AuthScheme::Ntlm => Ok(windows(Scheme::Ntlm)),
            AuthScheme::Negotiate => Ok(windows(Scheme::Negotiate)),
        }
    }

    /// The `Authorization` value for Basic; `None` for NTLM and Negotiate.
    pub fn basic(&self) -> Option<String> {
        match self {
            Credentials::Basic { user, password } => {
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                Some(format!("Basic {token}"))
            }
            Credentials::Windows(_) => None,
        }
    }
}

/// Why a handshake did not authenticate the connection.
#[derive(Debug)]
pub enum HandshakeError {
    /// The connection broke: try again on a new one.
    Transport(TransportError),
    /// The credentials were refused, or the server's answer makes no sense.
    Refused(String),
}

impl From<TransportError> for HandshakeError {
    fn from(e: TransportError) -> Self {
        HandshakeError::Transport(e)
    }
}

/// Authenticates `conn` as `account` with two rounds of an empty-bodied `method`
/// request to `target` (a BITS Ping, or the reply's GET): the first carries the
/// Negotiate message, the second the Authenticate message. The value is the
/// second round's answer (or the first's, when the server asked for nothing); a
/// GET's body goes to `sink`. The connection is marked authenticated.
pub async fn handshake(
    conn: &mut Conn,
    account: &Account,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    sink: Option<&mut tokio::fs::File>,
) -> Result<Ack, HandshakeError> {
    let name = account.scheme.name();
    let (mut handshake, negotiate) = Handshake::start(account).map_err(HandshakeError::Refused)?;
    let round = |authorization: String| {
        let mut all: Vec<(&str, String)> = headers.to_vec();
        all.push(("Authorization", authorization));
        all
    };
    let first = conn
        .exchange(method, target, &round(negotiate), Bytes::new(), None)
        .await?;
    if first.status != 401 {
        // The server wants no authentication here: the connection is as good as it gets.
        conn.authenticated = true;
        if sink.is_some() {
            return Ok(conn
                .exchange(method, target, headers, Bytes::new(), sink)
                .await?);
        }
        return Ok(first);
    }
    let challenge: Vec<&str> = first
        .headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let authenticate = handshake
        .answer(&challenge)
        .map_err(HandshakeError::Refused)?;
    let second = conn
        .exchange(method, target, &round(authenticate), Bytes::new(), sink)
        .await?;
    if second.status == 401 {
        return Err(HandshakeError::Refused(format!(
            "{name} authentication as {} failed: the server refused the credentials",
            account.user
        )));
    }
    // Negotiate's last token (SPNEGO's mechListMIC) proves the server knew the
    // password too: a server that cannot show it is not the one we mean to trust.
    let tokens: Vec<&str> = second
        .headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if let Some(token) = handshake.token_in(&tokens) {
        handshake.finish(token).map_err(HandshakeError::Refused)?;
    }
    conn.authenticated = true;
    Ok(second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_reads_domain_name_and_password() {
        let c = Credentials::parse(AuthScheme::Ntlm, "CORP\\alice:pw", None).expect("ntlm");
        assert_eq!(
            c,
            Credentials::Windows(Account {
                scheme: Scheme::Ntlm,
                domain: "CORP".into(),
                user: "alice".into(),
                password: "pw".into(),
            })
        );
        let c = Credentials::parse(AuthScheme::Basic, "bob", Some("env".into())).expect("basic");
        assert_eq!(
            c,
            Credentials::Basic {
                user: "bob".into(),
                password: "env".into()
            }
        );
        assert_eq!(c.basic().as_deref(), Some("Basic Ym9iOmVudg=="));
        assert!(Credentials::parse(AuthScheme::Basic, "CORP\\bob", None).is_err());
        assert!(Credentials::parse(AuthScheme::Negotiate, ":pw", None).is_err());
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        for scheme in [AuthScheme::Basic, AuthScheme::Ntlm, AuthScheme::Negotiate] {
            let c = Credentials::parse(scheme, "u:hunter2", None).expect("parse");
            assert!(!format!("{c:?}").contains("hunter2"), "{scheme:?}");
        }
    }
}
