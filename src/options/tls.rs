//! How https targets are reached: `--ca-cert` / `--insecure`, and checking target URLs
//! before anything is sent.

use crate::shared::exit;
use clap::Args;
use std::path::PathBuf;

/// How https targets' certificates are checked.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// Trust this CA certificate (PEM) for https targets, besides the system's.
    /// Repeatable (the environment variable holds one file).
    #[arg(long = "ca-cert", value_name = "PEM", env = "BITSPEC_CA_CERT")]
    pub ca_certs: Vec<PathBuf>,
    /// Do not check https targets' certificates (a self-signed test server).
    #[arg(
        long,
        env = "BITSPEC_INSECURE",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub insecure: bool,
}

impl TlsArgs {
    /// The TLS client these options describe; an unreadable CA file is an error.
    pub fn client(&self) -> Result<crate::run::TlsClient, String> {
        crate::run::TlsClient::new(crate::run::TlsOptions {
            ca_certs: self.ca_certs.clone(),
            insecure: self.insecure,
        })
    }
}

/// Checks the target URLs (`(flag, url)`; an unusable one is bad input, exit 2,
/// not an unreachable target, exit 3) and makes the TLS client of `--ca-cert` /
/// `--insecure`: a bad CA file, or a machine with no certificate to trust when a
/// target is https, is exit 2 too, before anything is sent.
pub fn targets_and_tls(
    args: &TlsArgs,
    urls: &[(&str, Option<&str>)],
) -> Result<crate::run::TlsClient, u8> {
    let mut https = false;
    for (flag, url) in urls {
        match url.map(crate::raw::request::endpoint) {
            Some(Err(e)) => {
                eprintln!("error: {flag}: {e}");
                return Err(exit::INVALID);
            }
            Some(Ok(endpoint)) => https |= endpoint.tls.is_some(),
            None => {}
        }
    }
    let client = args.client().map_err(|e| {
        eprintln!("error: {e}");
        exit::INVALID
    })?;
    if https && let Err(e) = client.ready() {
        eprintln!("error: {e}");
        return Err(exit::INVALID);
    }
    if client.is_insecure() {
        eprintln!("warning: --insecure: https targets' certificates are not checked");
    }
    Ok(client)
}
