//! Optional HTTP Basic authentication.
//!
//! Applied to every request, Ping included, because the Windows client uses
//! Ping to settle authentication (MC-BUP §2.2.4). A missing or wrong password
//! gets a 401 challenge; a valid user writing outside their prefixes gets
//! 403 E_ACCESSDENIED (MC-BUP §3.2.5.2.3, step 2). Use it behind TLS.
//! With NTLM or Negotiate (`windows_auth.rs`), the connection's handshake puts
//! an [`Authenticated`] user on the request, which counts like a Basic user.

use base64::Engine;
use http::{HeaderMap, StatusCode};

use crate::ack::{Ack, CONTEXT_SERVER, E_ACCESSDENIED};
use crate::config::{AuthScheme, User};

/// The user a connection's NTLM or Negotiate handshake authenticated, as a
/// request extension.
#[derive(Debug, Clone)]
pub struct Authenticated(pub String);

/// The accounts, or none when authentication is off.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    users: Vec<User>,
    basic: bool,
    /// The `WWW-Authenticate` values of a challenge.
    offers: Vec<&'static str>,
}

impl Auth {
    pub fn new(users: Vec<User>, schemes: &[AuthScheme]) -> Self {
        let basic = schemes.contains(&AuthScheme::Basic);
        let windows = crate::windows_auth::WindowsAuth::new(users.clone(), schemes);
        let mut offers = windows.offers();
        if basic {
            offers.push("Basic realm=\"bitspec\"");
        }
        Self {
            users,
            basic,
            offers,
        }
    }

    /// True when requests must authenticate.
    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }

    /// Who sent the request: 401 when authentication is on and the
    /// credentials are missing or wrong; `Ok(None)` when it is off.
    pub fn authenticate(&self, parts: &http::request::Parts) -> Result<Option<Principal>, Ack> {
        if !self.enabled() {
            return Ok(None);
        }
        let user = self.identify(parts).ok_or_else(|| self.challenge())?;
        Ok(Some(Principal {
            name: user.name.clone(),
            paths: user.paths.clone(),
        }))
    }

    /// Authenticates a read (GET/HEAD): any valid user may read.
    pub fn check_read(&self, parts: &http::request::Parts) -> Result<(), Ack> {
        if self.enabled() && self.identify(parts).is_none() {
            return Err(self.challenge());
        }
        Ok(())
    }

    /// 401 with a challenge for every scheme offered.
    pub fn challenge(&self) -> Ack {
        self.offers
            .iter()
            .fold(Ack::status(StatusCode::UNAUTHORIZED), |ack, offer| {
                ack.with("WWW-Authenticate", *offer)
            })
    }

    /// The user the connection's handshake authenticated, else the Basic one.
    fn identify(&self, parts: &http::request::Parts) -> Option<&User> {
        if let Some(Authenticated(name)) = parts.extensions.get::<Authenticated>() {
            return self.users.iter().find(|u| &u.name == name);
        }
        self.basic_user(&parts.headers)
    }

    fn basic_user(&self, headers: &HeaderMap) -> Option<&User> {
        if !self.basic {
            return None;
        }
        let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (name, password) = decoded.split_once(':')?;
        self.users
            .iter()
            .find(|u| u.name == name && same(u.password.as_bytes(), password.as_bytes()))
    }
}

/// An authenticated account, whatever the scheme that proved it (Basic, or
/// the connection-bound NTLM and Negotiate, which yield the same): its name
/// owns the sessions it creates, its prefixes bound where it may upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    /// URL path prefixes this account may write; empty means everywhere.
    paths: Vec<String>,
}

impl Principal {
    pub fn may_write(&self, path: &str) -> bool {
        self.paths.is_empty() || self.paths.iter().any(|p| path.starts_with(p))
    }
}

/// 403 E_ACCESSDENIED when `principal` may not upload to the URL `path`
/// (MC-BUP §3.2.5.2.3); anyone may when authentication is off.
pub fn authorise(principal: Option<&Principal>, path: &str) -> Result<(), Ack> {
    match principal {
        Some(principal) if !principal.may_write(path) => Err(Ack::error(
            StatusCode::FORBIDDEN,
            E_ACCESSDENIED,
            CONTEXT_SERVER,
        )),
        _ => Ok(()),
    }
}

/// Compares secrets without an early exit on the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
