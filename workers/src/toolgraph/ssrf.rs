//! Where the proxy may connect: server-side request forgery defence for connector URLs.
//!
//! Every URL the proxy fetches (the registered one and every redirect hop, re-checked before it
//! is followed) must be `https` to a public host. Refused: IP literals in private, loopback,
//! link-local, CGNAT, unique-local, multicast, reserved or documentation ranges (IPv4-mapped
//! and NAT64 IPv6 forms included), cloud metadata addresses, `localhost` and other
//! non-public names (single labels, `.local`, `.internal`, `.localhost`, `.home.arpa`), and
//! credentials in the URL. The one exception is an explicit local-development allowance
//! (`CONNECTORS_DEV_ALLOW`: exact `host:port` pairs), which also permits plain `http` there.
//!
//! Names are checked as names: a Worker cannot resolve DNS itself, and in production
//! Cloudflare's egress does not route to private networks, so a public name that resolves to a
//! private address still cannot reach one.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not `https` (and not an allowed development address).
    #[error("connector URLs must use https")]
    Scheme,
    /// User name or password inside the URL.
    #[error("connector URLs may not carry credentials; use the connector's auth settings")]
    Userinfo,
    /// A private, loopback, link-local or otherwise non-public address.
    #[error("the address {0} is not public")]
    Address(String),
    /// A name that only resolves inside a network (`localhost`, `.internal`, single labels).
    #[error("the host name {0} is not public")]
    Name(String),
    /// No host at all.
    #[error("the URL has no host")]
    NoHost,
}

/// The local-development allowance: exact `host:port` pairs that may be reached although they
/// are loopback or private, over `http` or `https`.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allowed: Vec<(String, u16)>,
}

impl Policy {
    /// Parses `CONNECTORS_DEV_ALLOW` (comma-separated `host:port`, e.g. `127.0.0.1:8787`);
    /// entries without an explicit port are ignored, so an allowance never covers a whole host.
    pub fn from_allowance(raw: Option<&str>) -> Self {
        let allowed = raw
            .unwrap_or("")
            .split(',')
            .filter_map(|entry| {
                let entry = entry.trim();
                let (host, port) = entry.rsplit_once(':')?;
                let port = port.parse::<u16>().ok()?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
            })
            .collect();
        Self { allowed }
    }

    fn allows(&self, url: &Url) -> bool {
        let host = match url.host() {
            Some(Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string().to_ascii_lowercase(),
            None => return false,
        };
        let Some(port) = url.port_or_known_default() else {
            return false;
        };
        self.allowed.iter().any(|(h, p)| *h == host && *p == port)
    }

    /// Whether the proxy may fetch `url`.
    pub fn check(&self, url: &Url) -> Result<(), Refusal> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Userinfo);
        }
        if self.allows(url) && matches!(url.scheme(), "http" | "https") {
            return Ok(());
        }
        if url.scheme() != "https" {
            return Err(Refusal::Scheme);
        }
        match url.host() {
            None => Err(Refusal::NoHost),
            Some(Host::Ipv4(ip)) => public_v4(ip),
            Some(Host::Ipv6(ip)) => public_v6(ip),
            Some(Host::Domain(name)) => public_name(name),
        }
    }
}

fn public_v4(ip: Ipv4Addr) -> Result<(), Refusal> {
    let [a, b, c, _] = ip.octets();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16: cloud metadata lives here
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240 // reserved
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)); // benchmarking
    if refused {
        Err(Refusal::Address(ip.to_string()))
    } else {
        Ok(())
    }
}

fn public_v6(ip: Ipv6Addr) -> Result<(), Refusal> {
    let refuse = || Err(Refusal::Address(format!("[{ip}]")));
    let segments = ip.segments();
    // IPv4 inside IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4).or_else(|_| refuse());
    }
    if segments[..6] == [0, 0, 0, 0, 0, 0] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        if ip.is_unspecified() || ip.is_loopback() {
            return refuse();
        }
        let v4 = Ipv4Addr::new(
            (segments[6] >> 8) as u8,
            segments[6] as u8,
            (segments[7] >> 8) as u8,
            segments[7] as u8,
        );
        return public_v4(v4).or_else(|_| refuse());
    }
    let first = segments[0];
    let refused = ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (first == 0x2001 && segments[1] == 0x0db8) // documentation
        || first == 0x0100; // discard-only 100::/64
    if refused {
        refuse()
    } else {
        Ok(())
    }
}

fn public_name(name: &str) -> Result<(), Refusal> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let refused = !lower.contains('.')
        || [
            ".localhost",
            ".local",
            ".internal",
            ".home.arpa",
            ".lan",
            ".intranet",
        ]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
        || lower == "metadata.google.internal";
    if refused {
        Err(Refusal::Name(lower))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: &Policy, raw: &str) -> Result<(), Refusal> {
        policy.check(&Url::parse(raw).unwrap())
    }

    #[test]
    fn public_https_passes() {
        let policy = Policy::default();
        for url in [
            "https://mcp.example.com/mcp",
            "https://8.8.8.8/x",
            "https://[2606:4700::1111]/mcp",
        ] {
            assert_eq!(check(&policy, url), Ok(()), "{url}");
        }
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        let policy = Policy::default();
        for url in [
            "https://10.0.0.1/",
            "https://172.16.5.4/",
            "https://192.168.1.1/",
            "https://127.0.0.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://2130706433/", // 127.0.0.1 as one number
            "https://0x7f.0.0.1/", // hexadecimal
            "https://0177.0.0.1/", // octal
            "https://localhost/",
            "https://api.localhost/",
            "https://metadata.google.internal/",
            "https://printer.local/",
            "https://intranet/",
        ] {
            assert!(check(&policy, url).is_err(), "{url}");
        }
    }

    #[test]
    fn plain_http_and_credentials_are_refused() {
        let policy = Policy::default();
        assert_eq!(
            check(&policy, "http://mcp.example.com/"),
            Err(Refusal::Scheme)
        );
        assert_eq!(
            check(&policy, "ftp://mcp.example.com/"),
            Err(Refusal::Scheme)
        );
        assert_eq!(
            check(&policy, "https://user:pw@mcp.example.com/"),
            Err(Refusal::Userinfo)
        );
    }

    #[test]
    fn the_development_allowance_is_exact() {
        let policy = Policy::from_allowance(Some("127.0.0.1:8123, [::1]:9000, localhost"));
        assert_eq!(check(&policy, "http://127.0.0.1:8123/mcp"), Ok(()));
        assert_eq!(check(&policy, "http://[::1]:9000/mcp"), Ok(()));
        assert!(check(&policy, "http://127.0.0.1:8124/mcp").is_err());
        assert!(check(&policy, "http://localhost:8123/mcp").is_err());
        assert!(check(&policy, "http://localhost/").is_err());
        assert!(check(&policy, "http://10.0.0.1:8123/").is_err());
    }
}
