//! The callers the service grants what only other parts may do: watching the
//! revocation feed (the verifiers) and having their forwarded client address and user
//! agent believed (the gateways). Both are SPIFFE ids, proven by the caller's
//! certificate; by default the library's and the gateway's in the trust domain of the
//! service's own certificate.

use bookshelf_runtime::{
    peer::{Callers, part_id, trust_domain},
    tls::InternalTls,
};

use crate::Config;

/// Why the callers could not be settled.
#[derive(Debug, thiserror::Error)]
#[error(
    "AUTH_TLS_CERT names no SPIFFE id (spiffe://<trust domain>/...) to take the trust \
     domain from: set AUTH_VERIFIER_IDENTITIES and AUTH_FORWARDER_IDENTITIES"
)]
pub struct NoTrustDomain;

/// The verifiers and the forwarders, in that order. Without TLS between the parts
/// no caller can prove an identity, and both are everyone.
pub(crate) fn settle(
    config: &Config,
    tls: Option<&InternalTls>,
) -> Result<(Callers, Callers), NoTrustDomain> {
    let Some(tls) = tls else {
        return Ok((Callers::Anyone, Callers::Anyone));
    };
    let own_id = tls.own_id();
    let domain = own_id.as_deref().and_then(trust_domain);
    let ids = |configured: &[String], part: &str| -> Result<Callers, NoTrustDomain> {
        let ids: Vec<String> = configured
            .iter()
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .collect();
        if !ids.is_empty() {
            return Ok(Callers::Identified(ids));
        }
        let domain = domain.ok_or(NoTrustDomain)?;
        Ok(Callers::Identified(vec![part_id(domain, part)]))
    };
    Ok((
        ids(&config.verifier_identities, "library")?,
        ids(&config.forwarder_identities, "gateway")?,
    ))
}
