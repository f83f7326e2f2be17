//! Where crabapple's own outbound requests (notification POSTs, real-time retention message
//! requests) may go (issue 8): never to link-local addresses or a cloud's instance metadata
//! service — a URL like `http://169.254.169.254/latest/meta-data/` set as an app's notification
//! URL would otherwise make crabapple fetch a cloud machine's credentials on an attacker's behalf.
//! Loopback and private networks stay allowed (local receivers are crabapple's point).
//! `crabapple serve --allow-link-local-urls` lifts the rule.
//!
//! Literal addresses are checked before a request ([`refused`]); names are checked on every
//! resolution by [`Resolver`], the HTTP client's DNS resolver, so a name that resolves (or
//! rebinds) to such an address is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Names of cloud metadata services that resolve only inside the cloud.
const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Is `ip` link-local (IPv4 169.254/16, IPv6 fe80::/10) or a metadata service address (AWS's
/// IPv6 `fd00:ec2::254`, Alibaba's `100.100.100.200`)?
pub fn forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => {
                (v6.segments()[0] & 0xffc0) == 0xfe80
                    || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
            }
        },
    }
}

fn forbidden_v4(v4: Ipv4Addr) -> bool {
    v4.is_link_local() || v4 == Ipv4Addr::new(100, 100, 100, 200)
}

/// Whether outbound requests to link-local and metadata addresses are allowed.
#[derive(Clone, Default)]
pub struct Egress(Arc<AtomicBool>);

impl Egress {
    pub fn allow_link_local(&self, allow: bool) {
        self.0.store(allow, Ordering::Relaxed);
    }

    /// An HTTP client that follows no redirects (as Apple's senders) and resolves names with
    /// [`Resolver`].
    pub fn client(&self, user_agent: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Resolver(self.clone()))
            .user_agent(user_agent)
            .build()
            .expect("HTTP client")
    }

    fn allowed(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Why a request to `url` is refused before it is sent (its host is a forbidden literal
    /// address or a metadata name), if it is.
    pub fn refused(&self, url: &str) -> Option<String> {
        if self.allowed() {
            return None;
        }
        let u = reqwest::Url::parse(url).ok()?;
        let host = u.host_str()?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let refused = match bare.parse::<IpAddr>() {
            Ok(ip) => forbidden_ip(ip),
            Err(_) => {
                let d = bare.trim_end_matches('.').to_ascii_lowercase();
                METADATA_NAMES.contains(&d.as_str())
            }
        };
        refused.then(|| {
            format!(
                "{url} is a link-local or cloud metadata address: crabapple does not send \
                 requests there (crabapple serve --allow-link-local-urls allows it)"
            )
        })
    }
}

/// Top-level domains that never resolve (RFC 2606 §2, RFC 6761 §6.4, §6.5): a name under them is
/// answered "not found" without asking DNS. The demo world's notification URLs are such names
/// (`api.crabapple.example`); on a network whose resolver drops queries for them, every attempt
/// would otherwise wait out the system resolver's timeouts (5 s and more each).
const NEVER_RESOLVE: &[&str] = &["example", "invalid"];

/// Whether `host` is under a top-level domain that never resolves ([`NEVER_RESOLVE`]).
pub fn never_resolves(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    NEVER_RESOLVE
        .iter()
        .any(|tld| h == *tld || h.ends_with(&format!(".{tld}")))
}

/// The HTTP client's DNS resolver: the system's answers without forbidden addresses, and no
/// question asked for names that never resolve.
pub struct Resolver(pub Egress);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let egress = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            if never_resolves(&host) {
                return Err(format!(
                    "{host} does not resolve: .example and .invalid names never do (RFC 2606, \
                     RFC 6761)"
                )
                .into());
            }
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| egress.allowed() || !forbidden_ip(a.ip()))
                .collect();
            if kept.is_empty() && !found.is_empty() {
                return Err(format!(
                    "{host} resolves only to link-local or cloud metadata addresses: crabapple \
                     does not send requests there (crabapple serve --allow-link-local-urls)"
                )
                .into());
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_and_metadata_addresses_are_refused_loopback_and_private_are_not() {
        let e = Egress::default();
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/x",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://100.100.100.200/",
            "http://metadata.google.internal/computeMetadata/v1/",
        ] {
            assert!(e.refused(url).is_some(), "{url}");
        }
        for url in [
            "http://127.0.0.1:9000/n",
            "http://localhost/n",
            "http://10.0.0.5/n",
            "https://example.com/n",
        ] {
            assert_eq!(e.refused(url), None, "{url}");
        }
        e.allow_link_local(true);
        assert_eq!(e.refused("http://169.254.169.254/"), None);
    }

    #[tokio::test]
    async fn the_resolver_drops_forbidden_answers() {
        use reqwest::dns::Resolve;
        let r = Resolver(Egress::default());
        let ok: Vec<_> = r
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!ok.is_empty());
        // RFC 2606 / 6761: answered without DNS.
        for name in ["api.crabapple.example", "x.invalid", "example."] {
            let err = r.resolve(name.parse().unwrap()).await.err().unwrap();
            assert!(
                err.to_string().contains("does not resolve"),
                "{name}: {err}"
            );
        }
        assert!(!never_resolves("example.com") && !never_resolves("notexample"));
    }
}
