//! NTLM and Negotiate authentication (IIS's "Windows authentication").
//!
//! NTLM authenticates a connection, not a request: the client sends a Negotiate
//! message, the server answers 401 with a challenge, the client's Authenticate
//! message rides on the next request of the same connection, and once it verifies
//! the connection belongs to that user; later requests on it need no
//! `Authorization` (as on IIS). A new connection starts unauthenticated.
//! `Negotiate` is the same NTLM exchange wrapped in SPNEGO (RFC 4178), as IIS offers
//! it; Kerberos is not accepted. The messages are read and written by `sspi`; the
//! NTLMv2 proof is checked here as well (see [`proof_holds`]), because sspi's
//! acceptor trusts an Authenticate message that carries no MIC. The identity is the
//! account's name, the same string Basic authentication yields.

use std::sync::Mutex;

use base64::Engine;
use hmac::{KeyInit, Mac};
use http::HeaderMap;
use md4::Digest;
use sspi::credssp::SspiContext;
use sspi::ntlm::NtlmConfig;
use sspi::{
    AuthIdentity, BufferType, CredentialUse, Credentials, CredentialsBuffers, DataRepresentation,
    Negotiate, NegotiateConfig, Ntlm, Secret, SecurityBuffer, SecurityStatus, ServerRequestFlags,
    Sspi, SspiImpl, Username,
};

use crate::config::{AuthScheme, User};

/// The name the server gives itself in challenges, and the one domain its
/// accounts may be named with (`BITSPEC\\user`), besides none (a standalone
/// server's local accounts).
const SERVER_NAME: &str = "BITSPEC";

/// The NTLM message signature (MS-NLMP 2.2.1).
const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// Handshake state of one connection.
#[derive(Debug, Default)]
pub struct ConnectionAuth {
    state: Mutex<State>,
}

#[derive(Default)]
enum State {
    #[default]
    None,
    /// A challenge was sent; the Authenticate message is awaited.
    Challenged {
        scheme: AuthScheme,
        context: Box<SspiContext>,
        server_challenge: [u8; 8],
    },
    /// The handshake succeeded: the connection is this user's.
    Authenticated(String),
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::None => f.write_str("None"),
            State::Challenged { scheme, .. } => write!(f, "Challenged({scheme:?})"),
            State::Authenticated(user) => write!(f, "Authenticated({user})"),
        }
    }
}

/// What a request's credentials amount to, as far as NTLM and Negotiate go.
#[derive(Debug)]
pub enum Outcome {
    /// Not an NTLM or Negotiate request, on a connection not authenticated by one.
    NotWindows,
    /// A handshake round: answer 401 with this `WWW-Authenticate` value.
    Continue(String),
    /// The handshake failed: answer 401 with the usual challenge.
    Rejected,
    /// The connection is this user's; with Negotiate, the final token to send back.
    User { name: String, reply: Option<String> },
}

/// The accounts and the schemes the server accepts for them.
#[derive(Debug, Clone, Default)]
pub struct WindowsAuth {
    users: Vec<User>,
    ntlm: bool,
    negotiate: bool,
}

impl WindowsAuth {
    pub fn new(users: Vec<User>, schemes: &[AuthScheme]) -> Self {
        let on = !users.is_empty();
        Self {
            ntlm: on && schemes.contains(&AuthScheme::Ntlm),
            negotiate: on && schemes.contains(&AuthScheme::Negotiate),
            users,
        }
    }

    pub fn enabled(&self) -> bool {
        self.ntlm || self.negotiate
    }

    /// The `WWW-Authenticate` values that offer these schemes (IIS order).
    pub fn offers(&self) -> Vec<&'static str> {
        let mut offers = Vec::new();
        if self.negotiate {
            offers.push("Negotiate");
        }
        if self.ntlm {
            offers.push("NTLM");
        }
        offers
    }

    /// Runs one round of the handshake for a request on `connection`.
    pub fn authenticate(&self, connection: &ConnectionAuth, headers: &HeaderMap) -> Outcome {
        if !self.enabled() {
            return Outcome::NotWindows;
        }
        let Ok(mut state) = connection.state.lock() else {
            return Outcome::Rejected;
        };
        let Some((scheme, token)) = self.windows_token(headers) else {
            if headers.contains_key(http::header::AUTHORIZATION) {
                // Other credentials (Basic) speak for this request alone.
                return Outcome::NotWindows;
            }
            return match &*state {
                State::Authenticated(name) => Outcome::User {
                    name: name.clone(),
                    reply: None,
                },
                _ => Outcome::NotWindows,
            };
        };
        let Some(token) = token else {
            *state = State::None;
            return Outcome::Rejected;
        };
        let previous = std::mem::take(&mut *state);
        let result = match previous {
            State::Challenged {
                scheme: started,
                context,
                server_challenge,
            } if started == scheme && find_message(&token, 3).is_some() => {
                self.finish(scheme, context, server_challenge, &token)
            }
            _ => start(scheme, &self.users, &token).map(|(context, challenge, reply)| {
                *state = State::Challenged {
                    scheme,
                    context: Box::new(context),
                    server_challenge: challenge,
                };
                Outcome::Continue(format!("{} {reply}", scheme_name(scheme)))
            }),
        };
        match result {
            Ok(Outcome::User { name, reply }) => {
                *state = State::Authenticated(name.clone());
                Outcome::User { name, reply }
            }
            Ok(outcome) => outcome,
            Err(why) => {
                tracing::debug!(%why, "Windows authentication failed");
                *state = State::None;
                Outcome::Rejected
            }
        }
    }

    /// `(scheme, token)` when the request carries an NTLM or Negotiate header
    /// this server accepts; the token is `None` when it is not base64.
    fn windows_token(&self, headers: &HeaderMap) -> Option<(AuthScheme, Option<Vec<u8>>)> {
        let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let (name, token) = value.trim().split_once(' ')?;
        let scheme = if name.eq_ignore_ascii_case("NTLM") && self.ntlm {
            AuthScheme::Ntlm
        } else if name.eq_ignore_ascii_case("Negotiate") && self.negotiate {
            AuthScheme::Negotiate
        } else {
            return None;
        };
        let token = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok();
        Some((scheme, token))
    }

    /// The Authenticate round: sspi's verdict, then the proof checked for the
    /// account the message names.
    fn finish(
        &self,
        scheme: AuthScheme,
        mut context: Box<SspiContext>,
        server_challenge: [u8; 8],
        token: &[u8],
    ) -> Result<Outcome, String> {
        let message = find_message(token, 3).ok_or("no Authenticate message")?;
        let fields = AuthenticateFields::parse(message).ok_or("malformed Authenticate message")?;
        // Local accounts, as on a standalone server: no domain, or this server's name.
        if !(fields.domain.is_empty() || fields.domain.eq_ignore_ascii_case(SERVER_NAME)) {
            return Err(format!("unknown domain {:?}", fields.domain));
        }
        let user = self
            .users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(&fields.user))
            .ok_or_else(|| format!("unknown user {:?}", fields.user))?;
        let mut handle = credentials(&mut context, user)?;
        let (status, reply) = accept(&mut context, &mut handle, token)?;
        let status = match status {
            SecurityStatus::CompleteNeeded | SecurityStatus::CompleteAndContinue => context
                .complete_auth_token(&mut [])
                .map_err(|e| e.to_string())?,
            other => other,
        };
        if status != SecurityStatus::Ok {
            return Err(format!("handshake not complete: {status:?}"));
        }
        if !proof_holds(user, &fields, &server_challenge) {
            return Err(format!("wrong NTLMv2 proof for {:?}", fields.user));
        }
        let reply = (scheme == AuthScheme::Negotiate && !reply.is_empty())
            .then(|| format!("Negotiate {}", b64(&reply)));
        Ok(Outcome::User {
            name: user.name.clone(),
            reply,
        })
    }
}

/// The first round: a fresh context answers the client's Negotiate message.
fn start(
    scheme: AuthScheme,
    users: &[User],
    token: &[u8],
) -> Result<(SspiContext, [u8; 8], String), String> {
    let config = NtlmConfig::new(SERVER_NAME.to_owned());
    let mut context = match scheme {
        AuthScheme::Negotiate => {
            // sspi's Negotiate matches the name with its domain: both forms.
            let mut identities = Vec::new();
            for user in users {
                identities.push(identity(user, None)?);
                identities.push(identity(user, Some(SERVER_NAME))?);
            }
            let config = NegotiateConfig::new(
                Box::new(config),
                Some("ntlm,!kerberos,!pku2u".to_owned()),
                SERVER_NAME.to_owned(),
            );
            SspiContext::Negotiate(
                Negotiate::new_server(config, identities).map_err(|e| e.to_string())?,
            )
        }
        _ => SspiContext::Ntlm(Ntlm::with_config(config)),
    };
    let first = users.first().ok_or("no accounts")?;
    let mut handle = credentials(&mut context, first)?;
    let (_, reply) = accept(&mut context, &mut handle, token)?;
    let challenge = find_message(&reply, 2)
        .and_then(|m| m.get(24..32))
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
        .ok_or("no challenge in the reply")?;
    Ok((context, challenge, b64(&reply)))
}

/// One AcceptSecurityContext call: the client's token in, the reply token out.
fn accept(
    context: &mut SspiContext,
    handle: &mut Option<CredentialsBuffers>,
    token: &[u8],
) -> Result<(SecurityStatus, Vec<u8>), String> {
    let mut input = [SecurityBuffer::new(token.to_vec(), BufferType::Token)];
    let mut output = [SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let builder = context
        .accept_security_context()
        .with_credentials_handle(handle)
        .with_context_requirements(ServerRequestFlags::empty())
        .with_target_data_representation(DataRepresentation::Native)
        .with_input(&mut input)
        .with_output(&mut output);
    // NTLM never asks for the network (no KDC), so the generator resolves at once.
    let result = context
        .accept_security_context_impl(builder)
        .and_then(|mut generator| generator.resolve_to_result())
        .map_err(|e| e.to_string())?;
    let [output] = output;
    Ok((result.status, output.buffer))
}

fn identity(user: &User, domain: Option<&str>) -> Result<AuthIdentity, String> {
    Ok(AuthIdentity {
        username: Username::new(&user.name, domain).map_err(|e| e.to_string())?,
        password: Secret::from(user.password.clone()),
    })
}

/// An inbound credentials handle for `user`.
fn credentials(
    context: &mut SspiContext,
    user: &User,
) -> Result<Option<CredentialsBuffers>, String> {
    let data = Credentials::AuthIdentity(identity(user, None)?);
    let result = context
        .acquire_credentials_handle()
        .with_credential_use(CredentialUse::Inbound)
        .with_auth_data(&data)
        .execute(context)
        .map_err(|e| e.to_string())?;
    Ok(result.credentials_handle)
}

fn scheme_name(scheme: AuthScheme) -> &'static str {
    match scheme {
        AuthScheme::Negotiate => "Negotiate",
        _ => "NTLM",
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The NTLM message of `kind` in `token`: the token itself, or (SPNEGO) the
/// message inside it, which runs to the end of its DER octet string; fields past
/// the message are never read, since every field is found by offset.
fn find_message(token: &[u8], kind: u32) -> Option<&[u8]> {
    let mut header = SIGNATURE.to_vec();
    header.extend_from_slice(&kind.to_le_bytes());
    let at = token.windows(header.len()).position(|w| w == header)?;
    token.get(at..)
}

/// What the proof check needs from an Authenticate message (MS-NLMP 2.2.1.3).
#[derive(Debug)]
struct AuthenticateFields {
    user: String,
    domain: String,
    nt_response: Vec<u8>,
}

impl AuthenticateFields {
    fn parse(message: &[u8]) -> Option<Self> {
        let field = |at: usize| -> Option<&[u8]> {
            let len = u16::from_le_bytes(message.get(at..at + 2)?.try_into().ok()?) as usize;
            let offset = u32::from_le_bytes(message.get(at + 4..at + 8)?.try_into().ok()?) as usize;
            message.get(offset..offset.checked_add(len)?)
        };
        Some(Self {
            nt_response: field(20)?.to_vec(),
            domain: utf16(field(28)?)?,
            user: utf16(field(36)?)?,
        })
    }
}

fn utf16(bytes: &[u8]) -> Option<String> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

fn utf16_bytes(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// The NTLMv2 proof (MS-NLMP 3.3.2): NTProofStr = HMAC-MD5(NTOWFv2, server
/// challenge + the client's blob), NTOWFv2 = HMAC-MD5(MD4(password), upper(user) +
/// domain). NTLMv1 responses (24 bytes) fail it.
fn proof_holds(user: &User, fields: &AuthenticateFields, server_challenge: &[u8; 8]) -> bool {
    type HmacMd5 = hmac::Hmac<md5::Md5>;
    let response = &fields.nt_response;
    if response.len() <= 16 + 28 {
        return false;
    }
    let nt_hash = md4::Md4::digest(utf16_bytes(&user.password));
    let Ok(mut mac) = HmacMd5::new_from_slice(&nt_hash) else {
        return false;
    };
    mac.update(&utf16_bytes(&fields.user.to_uppercase()));
    mac.update(&utf16_bytes(&fields.domain));
    let owf = mac.finalize().into_bytes();
    let Ok(mut mac) = HmacMd5::new_from_slice(&owf) else {
        return false;
    };
    mac.update(server_challenge);
    mac.update(&response[16..]);
    mac.verify_slice(&response[..16]).is_ok()
}
