//! Target profiles: what a target is configured to do, so scenarios that need a
//! capability (a host id, a maximum upload size, GET of uploads...) run only where it
//! exists, and are reported as skipped, never failed, elsewhere.

use crate::auth::windows::{Account, Scheme};
use crate::scenario::error::ScenarioError;
use crate::scenario::template::Vars;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Every capability a scenario may `require`.
pub const CAPABILITIES: &[&str] = &[
    "get-uploads",
    "overwrite-allowed",
    "overwrite-denied",
    "max-upload-size",
    "host-id",
    "no-host-id",
    "upload-reply",
    "simple-upload",
    "auth",
    "uploads-disabled",
    "session-timeout",
    "restricted-user",
    "farm",
    "farm-host-id",
];

/// A profile file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileDoc {
    name: String,
    #[serde(default)]
    description: String,
    /// Published uploads can be fetched with GET at their upload URL.
    #[serde(default)]
    get_uploads: bool,
    /// What happens when the destination already exists.
    #[serde(default)]
    overwrite: Option<Overwrite>,
    /// BITSMaximumUploadSize, when the target sets one.
    #[serde(default)]
    max_upload_size: Option<u64>,
    /// BITSHostId, when configured (`host_id_known_unset` says it is configured off).
    #[serde(default)]
    host_id: Option<String>,
    /// BITSHostIdFallbackTimeout sent with the host id.
    #[serde(default)]
    host_id_fallback_timeout: Option<u64>,
    /// Whether the target was told host id is off (enables `no-host-id`).
    #[serde(default)]
    host_id_known_unset: bool,
    /// Upload-reply mode of the target.
    #[serde(default)]
    upload_reply: Option<UploadReply>,
    /// How `credentials` authenticate: HTTP Basic (the default), NTLM or Negotiate.
    #[serde(default)]
    auth: Option<AuthKind>,
    /// The account's credentials.
    #[serde(default)]
    credentials: Option<CredentialsDoc>,
    /// A second account that authenticates but may not upload under the target
    /// (to test 403 for an authenticated user without permission).
    #[serde(default)]
    restricted_credentials: Option<CredentialsDoc>,
    /// Appended to the target URL: where uploads are allowed.
    #[serde(default)]
    url_prefix: String,
    /// A path under the target where BITS uploads are disabled.
    #[serde(default)]
    uploads_disabled_path: Option<String>,
    /// BITSSessionTimeout in seconds, when short enough to test.
    #[serde(default)]
    session_timeout: Option<u64>,
    /// For the bundled server only: its TOML configuration, relative to this file.
    #[serde(default)]
    reference_server_config: Option<PathBuf>,
    /// For the bundled server only: start its example server application and point
    /// the notification URL at it (upload-reply).
    #[serde(default)]
    reference_example_app: bool,
    /// The nodes of a farm, when the target is one: each node's own URL (what the
    /// farm's shared name, the target, balances over), so steps can say `node: N`.
    #[serde(default)]
    nodes: Vec<NodeDoc>,
}

/// One node of a farm, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeDoc {
    /// The node's own base URL (where uploads are allowed on that node).
    url: String,
    /// The BITSHostId this node is configured with: what its Create-Session Acks carry,
    /// and the name the client replaces the URL's host with (MC-BUP 2.2.3.2).
    #[serde(default)]
    host_id: Option<String>,
    /// A shell command that stops this node (for the node-stopped scenarios).
    #[serde(default)]
    stop: Option<String>,
    /// A shell command that starts it again once such a scenario is over.
    #[serde(default)]
    start: Option<String>,
}

/// BITSServerNotificationType: who gets the upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum UploadReply {
    None,
    ByReference,
    ByValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Overwrite {
    Allow,
    Deny,
}

/// How the profile's credentials authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum AuthKind {
    Basic,
    Ntlm,
    Negotiate,
}

/// Credentials as written: each value literal or `{ env: NAME }`, so real
/// passwords stay out of profile files (and out of reports).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsDoc {
    username: Setting,
    password: Setting,
    /// NTLM only: the NetBIOS domain (or the server's name for a local account).
    #[serde(default)]
    domain: Option<Setting>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Setting {
    Text(String),
    Env { env: String },
}

impl Setting {
    fn resolve(&self, what: &str) -> Result<String, String> {
        match self {
            Setting::Text(text) => Ok(text.clone()),
            Setting::Env { env } => std::env::var(env).map_err(|_| {
                format!("{what} comes from the environment variable {env}, which is not set")
            }),
        }
    }
}

impl CredentialsDoc {
    fn resolve(&self, key: &str) -> Result<Credentials, String> {
        Ok(Credentials {
            username: self.username.resolve(&format!("{key}.username"))?,
            password: self.password.resolve(&format!("{key}.password"))?,
            domain: match &self.domain {
                Some(d) => d.resolve(&format!("{key}.domain"))?,
                None => String::new(),
            },
        })
    }
}

/// Credentials for the target. `Debug` leaves the password out.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// NTLM's domain; empty for Basic.
    pub domain: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// NTLM or Negotiate accounts: requests that carry the profile's credentials
/// authenticate their connection with a handshake instead of a Basic header.
#[derive(Debug, Clone)]
pub struct WindowsAccounts {
    pub primary: Account,
    pub restricted: Option<Account>,
}

/// The `Authorization` value that stands for "the profile's account, by
/// handshake" in requests (the runner replaces it; it never goes on the wire).
pub const HANDSHAKE_PRIMARY: &str = "bitspec-handshake primary";
/// Likewise for the restricted account (`${restricted_authorization}`).
pub const HANDSHAKE_RESTRICTED: &str = "bitspec-handshake restricted";

/// A loaded profile: its capabilities and the values scenarios can use.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub capabilities: Vec<String>,
    /// `${max_upload_size}`, `${host_id}`, ... for scenarios.
    pub vars: Vars,
    pub credentials: Option<Credentials>,
    /// Set when `auth` is `ntlm` or `negotiate`.
    pub windows: Option<WindowsAccounts>,
    pub url_prefix: String,
    pub reference_server_config: Option<PathBuf>,
    pub reference_example_app: bool,
    /// The farm's nodes (empty for a single-URL target); `node: N` steps go to `nodes[N-1]`.
    pub nodes: Vec<FarmNode>,
}

/// One node of a farm target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FarmNode {
    /// Its URL as written, with one trailing slash (the profile's `url_prefix` not added).
    pub url: String,
    pub host_id: Option<String>,
    pub stop: Option<String>,
    pub start: Option<String>,
}

impl Profile {
    /// The profile of a target nobody described: no optional capability.
    pub fn minimal() -> Profile {
        Profile {
            name: "minimal".into(),
            description: "no optional capability is assumed".into(),
            capabilities: vec!["simple-upload".into()],
            ..Profile::default()
        }
    }

    pub fn has(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    /// The first of `required` this profile lacks.
    pub fn lacks<'a>(&self, required: &'a [String]) -> Option<&'a str> {
        required.iter().map(String::as_str).find(|r| !self.has(r))
    }

    /// Reads a profile file; errors are located like scenario errors.
    pub fn load(path: &Path) -> Result<Profile, ScenarioError> {
        let doc: ProfileDoc = crate::scenario::load::load_yaml(path, "profile")?;
        // The session-timeout scenarios wait one and a half timeouts; a step may wait an hour.
        if let Some(t) = doc
            .session_timeout
            .filter(|t| *t > MAX_TESTABLE_SESSION_TIMEOUT)
        {
            return Err(ScenarioError::new(
                format!(
                    "profile {}: session_timeout {t} is too long to wait out in a test (at most {MAX_TESTABLE_SESSION_TIMEOUT} s); leave it out to skip those scenarios",
                    path.display()
                ),
                None,
            ));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        Profile::from_doc(doc, base).map_err(|message| {
            ScenarioError::new(format!("profile {}: {message}", path.display()), None)
        })
    }

    fn from_doc(doc: ProfileDoc, base: &Path) -> Result<Profile, String> {
        let credentials = doc
            .credentials
            .as_ref()
            .map(|c| c.resolve("credentials"))
            .transpose()?;
        let restricted = doc
            .restricted_credentials
            .as_ref()
            .map(|c| c.resolve("restricted_credentials"))
            .transpose()?;
        let scheme = match doc.auth {
            None | Some(AuthKind::Basic) => None,
            Some(AuthKind::Ntlm) => Some(Scheme::Ntlm),
            Some(AuthKind::Negotiate) => Some(Scheme::Negotiate),
        };
        let account = |c: &Credentials, scheme| Account {
            scheme,
            domain: c.domain.clone(),
            user: c.username.clone(),
            password: c.password.clone(),
        };
        let windows = match (scheme, &credentials) {
            (Some(scheme), Some(c)) => Some(WindowsAccounts {
                primary: account(c, scheme),
                restricted: restricted.as_ref().map(|r| account(r, scheme)),
            }),
            (Some(_), None) => return Err(format!("auth: {:?} needs credentials", doc.auth)),
            _ => None,
        };
        let mut capabilities = Vec::new();
        let mut vars = Vars::new();
        let mut add = |c: &str| capabilities.push(c.to_owned());
        if doc.get_uploads {
            add("get-uploads");
        }
        match doc.overwrite {
            Some(Overwrite::Allow) => add("overwrite-allowed"),
            Some(Overwrite::Deny) => add("overwrite-denied"),
            None => {}
        }
        if let Some(max) = doc.max_upload_size {
            add("max-upload-size");
            vars.insert("max_upload_size".into(), max.to_string());
            vars.insert(
                "over_max_upload_size".into(),
                max.saturating_add(1).to_string(),
            );
        }
        if let Some(host) = &doc.host_id {
            add("host-id");
            vars.insert("host_id".into(), host.clone());
        } else if doc.host_id_known_unset {
            add("no-host-id");
        }
        if let Some(timeout) = doc.host_id_fallback_timeout {
            vars.insert("host_id_fallback_timeout".into(), timeout.to_string());
        }
        if doc.upload_reply.is_some_and(|m| m != UploadReply::None) {
            add("upload-reply");
        } else {
            // A plain upload target: the file lands at its URL and no reply is involved.
            add("simple-upload");
        }
        if let Some(c) = &credentials {
            add("auth");
            vars.insert("username".into(), c.username.clone());
            vars.insert("password".into(), c.password.clone());
        }
        if let Some(c) = &restricted {
            add("restricted-user");
            let value = match &windows {
                Some(_) => HANDSHAKE_RESTRICTED.to_owned(),
                None => basic_authorization(c),
            };
            vars.insert("restricted_authorization".into(), value);
        }
        if let Some(path) = &doc.uploads_disabled_path {
            add("uploads-disabled");
            vars.insert(
                "uploads_disabled_path".into(),
                path.trim_start_matches('/').to_owned(),
            );
        }
        if let Some(timeout) = doc.session_timeout {
            add("session-timeout");
            vars.insert("session_timeout".into(), timeout.to_string());
            // Templates have no arithmetic: the usual waits come ready-made.
            vars.insert(
                "session_timeout_half".into(),
                format!("{}", timeout as f64 / 2.0),
            );
            vars.insert(
                "session_timeout_expired".into(),
                format!("{}", timeout as f64 * 1.5 + 1.0),
            );
        }
        let nodes = farm_nodes(&doc.nodes)?;
        if nodes.len() >= 2 {
            add("farm");
            if nodes.iter().all(|n| n.host_id.is_some()) {
                add("farm-host-id");
            }
        }
        for (index, node) in nodes.iter().enumerate() {
            let n = index + 1;
            vars.insert(format!("node_{n}_url"), node.base(&doc.url_prefix));
            if let Some(host) = &node.host_id {
                vars.insert(format!("node_{n}_host_id"), host.clone());
            }
        }
        Ok(Profile {
            name: doc.name,
            description: doc.description,
            capabilities,
            vars,
            credentials,
            windows,
            url_prefix: doc.url_prefix,
            reference_server_config: doc.reference_server_config.map(|p| base.join(p)),
            reference_example_app: doc.reference_example_app,
            nodes,
        })
    }

    /// Node `n`'s base URL (1-based), with the profile's `url_prefix`, as `${target}` is.
    pub fn node_base(&self, n: usize) -> Option<String> {
        let node = self.nodes.get(n.checked_sub(1)?)?;
        Some(node.base(&self.url_prefix))
    }

    /// Whether this profile describes a farm (at least two node URLs).
    pub fn is_farm(&self) -> bool {
        self.nodes.len() >= 2
    }
}

impl FarmNode {
    fn base(&self, url_prefix: &str) -> String {
        let prefix = url_prefix.trim_start_matches('/');
        if prefix.is_empty() {
            return self.url.clone();
        }
        format!("{}/", format!("{}{prefix}", self.url).trim_end_matches('/'))
    }
}

/// The farm nodes as written, checked: http(s) URLs, host ids of at most 300
/// characters without blanks (bits-iis-extension-properties.md, BITSHostId).
fn farm_nodes(docs: &[NodeDoc]) -> Result<Vec<FarmNode>, String> {
    let mut nodes: Vec<FarmNode> = Vec::new();
    for (index, doc) in docs.iter().enumerate() {
        let n = index + 1;
        let url = doc.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "nodes[{n}].url {url:?} must be an http:// or https:// URL"
            ));
        }
        let base = format!("{}/", url.trim_end_matches('/'));
        if let Some(host) = &doc.host_id
            && (host.is_empty() || host.len() > 300 || host.contains(char::is_whitespace))
        {
            return Err(format!(
                "nodes[{n}].host_id {host:?} must be a host name or address of 1 to 300 characters without blanks"
            ));
        }
        if let Some(other) = nodes.iter().position(|o| o.url == base) {
            return Err(format!(
                "nodes[{n}] has the URL of nodes[{}]: every node needs its own URL",
                other + 1
            ));
        }
        let command = |c: &Option<String>| {
            c.as_ref()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
        };
        nodes.push(FarmNode {
            url: base,
            host_id: doc.host_id.clone(),
            stop: command(&doc.stop),
            start: command(&doc.start),
        });
    }
    Ok(nodes)
}

/// The longest session timeout a profile may declare (its scenarios wait 1.5 x + 1 s).
const MAX_TESTABLE_SESSION_TIMEOUT: u64 = 2399;

/// Profile variables and the capability that guarantees each: a scenario may use
/// one only if it `requires` that capability.
pub const PROFILE_VAR_CAPABILITIES: &[(&str, &str)] = &[
    ("max_upload_size", "max-upload-size"),
    ("over_max_upload_size", "max-upload-size"),
    ("host_id", "host-id"),
    ("host_id_fallback_timeout", "host-id"),
    ("username", "auth"),
    ("password", "auth"),
    ("uploads_disabled_path", "uploads-disabled"),
    ("session_timeout", "session-timeout"),
    ("session_timeout_half", "session-timeout"),
    ("session_timeout_expired", "session-timeout"),
    ("restricted_authorization", "restricted-user"),
    ("node_1_url", "farm"),
    ("node_2_url", "farm"),
    ("node_1_host_id", "farm-host-id"),
    ("node_2_host_id", "farm-host-id"),
];

/// The `Authorization` value for HTTP Basic with these credentials.
pub fn basic_authorization(c: &Credentials) -> String {
    use base64::Engine as _;
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
    format!("Basic {token}")
}
