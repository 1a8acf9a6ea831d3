//! NTLM and Negotiate (NTLM inside SPNEGO) on the client side, as Windows
//! clients speak them to IIS; the messages are made by `sspi`.
//!
//! Transport-free: a [`Handshake`] gives the `Authorization` value of each round
//! and reads the server's `WWW-Authenticate` answer; the caller sends both rounds
//! on one kept-alive connection, since NTLM authenticates the connection.

use base64::Engine;
use sspi::credssp::SspiContext;
use sspi::ntlm::NtlmConfig;
use sspi::{
    AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, Credentials, CredentialsBuffers,
    DataRepresentation, Negotiate, NegotiateConfig, Ntlm, Secret, SecurityBuffer, SecurityStatus,
    Sspi, SspiImpl, Username,
};

/// Which `Authorization` scheme carries the NTLM messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// `Authorization: NTLM`, raw NTLM messages (MS-NTHT).
    Ntlm,
    /// `Authorization: Negotiate`, NTLM wrapped in SPNEGO (RFC 4559, MS-SPNG).
    Negotiate,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Ntlm => "NTLM",
            Scheme::Negotiate => "Negotiate",
        }
    }
}

/// An account to authenticate as. `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub scheme: Scheme,
    /// The NetBIOS domain (or the server's name for a local account); may be empty.
    pub domain: String,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("scheme", &self.scheme)
            .field("domain", &self.domain)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The name the client gives as its workstation.
const WORKSTATION: &str = "BITSPEC";

/// One handshake in progress.
pub struct Handshake {
    scheme: Scheme,
    context: SspiContext,
    handle: Option<CredentialsBuffers>,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// Starts a handshake as `account`: the `Authorization` value of the first
    /// round (the NTLM Negotiate message).
    pub fn start(account: &Account) -> Result<(Handshake, String), String> {
        let config = NtlmConfig::new(WORKSTATION.to_owned());
        let mut context = match account.scheme {
            Scheme::Ntlm => SspiContext::Ntlm(Ntlm::with_config(config)),
            Scheme::Negotiate => SspiContext::Negotiate(
                Negotiate::new_client(NegotiateConfig::new(
                    Box::new(config),
                    Some("ntlm,!kerberos,!pku2u".to_owned()),
                    WORKSTATION.to_owned(),
                ))
                .map_err(|e| format!("cannot start Negotiate: {e}"))?,
            ),
        };
        let username = if account.domain.is_empty() {
            Username::new(&account.user, None)
        } else {
            Username::new(&account.user, Some(&account.domain))
        }
        .map_err(|e| format!("invalid user name {:?}: {e}", account.user))?;
        let data = Credentials::AuthIdentity(AuthIdentity {
            username,
            password: Secret::from(account.password.clone()),
        });
        let handle = context
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Outbound)
            .with_auth_data(&data)
            .execute(&mut context)
            .map_err(|e| format!("cannot use the credentials: {e}"))?
            .credentials_handle;
        let mut handshake = Handshake {
            scheme: account.scheme,
            context,
            handle,
        };
        let first = handshake.step(None)?;
        Ok((handshake, first))
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Reads the challenge in the server's `WWW-Authenticate` values (of a 401)
    /// and gives the `Authorization` value of the next round.
    pub fn answer(&mut self, www_authenticate: &[&str]) -> Result<String, String> {
        let token = self.token_in(www_authenticate).ok_or_else(|| {
            format!(
                "the 401 carries no {} challenge (WWW-Authenticate: {})",
                self.scheme.name(),
                www_authenticate.join(", ")
            )
        })?;
        self.step(Some(token))
    }

    /// Reads the server's last token (Negotiate: SPNEGO's accept-completed with
    /// its mechListMIC), which must verify.
    pub fn finish(&mut self, token: Vec<u8>) -> Result<(), String> {
        self.step(Some(token)).map(|_| ())
    }

    /// The token of this scheme in `WWW-Authenticate` values, if one has a token.
    pub fn token_in(&self, www_authenticate: &[&str]) -> Option<Vec<u8>> {
        www_authenticate.iter().find_map(|value| {
            let (name, token) = value.trim().split_once(' ')?;
            if !name.eq_ignore_ascii_case(self.scheme.name()) {
                return None;
            }
            base64::engine::general_purpose::STANDARD
                .decode(token.trim())
                .ok()
        })
    }

    /// One InitializeSecurityContext call: `Scheme token` for the next request.
    fn step(&mut self, input: Option<Vec<u8>>) -> Result<String, String> {
        let mut input = [SecurityBuffer::new(
            input.unwrap_or_default(),
            BufferType::Token,
        )];
        let mut output = [SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut builder = self
            .context
            .initialize_security_context()
            .with_credentials_handle(&mut self.handle)
            .with_context_requirements(ClientRequestFlags::empty())
            .with_target_data_representation(DataRepresentation::Native)
            .with_input(&mut input)
            .with_output(&mut output);
        // NTLM never asks for the network (no KDC), so the generator resolves at once.
        let result = self
            .context
            .initialize_security_context_impl(&mut builder)
            .and_then(|mut generator| generator.resolve_to_result())
            .map_err(|e| format!("{} handshake failed: {e}", self.scheme.name()))?;
        if !matches!(
            result.status,
            SecurityStatus::ContinueNeeded | SecurityStatus::Ok | SecurityStatus::CompleteNeeded
        ) {
            return Err(format!(
                "{} handshake stopped: {:?}",
                self.scheme.name(),
                result.status
            ));
        }
        let [output] = output;
        Ok(format!(
            "{} {}",
            self.scheme.name(),
            base64::engine::general_purpose::STANDARD.encode(output.buffer)
        ))
    }
}
