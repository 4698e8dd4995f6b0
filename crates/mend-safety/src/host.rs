//! Hosts and destinations compared the way the network sees them: URLs are
//! parsed by the `url` crate (the WHATWG URL Standard), so case, a trailing
//! dot and the numeric spellings of an IPv4 address (`127.1`,
//! `0x7f.0.0.1`, `2130706433`, `0177.0.0.1`) all come out the same.

use url::{Host, Url};

/// Where a request goes: scheme, normalised host and port (the scheme's
/// default when the URL names none), as RFC 3986 §6 compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Lowercase scheme (`https`).
    pub scheme: String,
    /// Normalised host (see [`normalise_host`]).
    pub host: String,
    /// Port, the scheme's default filled in; `None` for schemes without one.
    pub port: Option<u16>,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}://{}:{p}", self.scheme, self.host),
            None => write!(f, "{}://{}", self.scheme, self.host),
        }
    }
}

/// The destination of a URL; a URL without a scheme (`localhost:8080/x`,
/// as curl accepts) is read as `http://`. `None` if it cannot be parsed.
pub fn destination(url: &str) -> Option<Destination> {
    let u = parse(url)?;
    let host = host_string(u.host()?);
    Some(Destination { scheme: u.scheme().to_owned(), host, port: u.port_or_known_default() })
}

fn parse(url: &str) -> Option<Url> {
    let url = url.trim();
    match Url::parse(url) {
        Ok(u) if u.host().is_some() => Some(u),
        _ => Url::parse(&format!("http://{url}")).ok().filter(|u| u.host().is_some()),
    }
}

fn host_string(h: Host<&str>) -> String {
    match h {
        Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
        Host::Ipv4(a) => a.to_string(),
        Host::Ipv6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => a.to_string(),
        },
    }
}

/// A host as written in `delete_hosts` or a URL, normalised: lowercase,
/// no trailing dot, IPv4 in dotted decimal, IPv6 in its canonical form
/// without brackets (an IPv4-mapped one as its IPv4 address). A `host:port`
/// or a full URL gives its host.
pub fn normalise_host(s: &str) -> String {
    let s = s.trim();
    if s == "*" {
        return "*".into();
    }
    let bracketed = if s.contains(':') && !s.contains('[') && !s.contains("://") && s.matches(':').count() > 1 {
        format!("[{s}]")
    } else {
        s.to_owned()
    };
    match parse(&bracketed) {
        Some(u) => u.host().map(host_string).unwrap_or_else(|| s.to_ascii_lowercase()),
        None => s.trim_end_matches('.').to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_host_are_equal() {
        for h in ["127.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "0177.0.0.1", "http://127.1:8080/x", "[::ffff:127.0.0.1]"] {
            assert_eq!(normalise_host(h), "127.0.0.1", "{h}");
        }
        assert_eq!(normalise_host("API.Example.COM."), "api.example.com");
        assert_eq!(normalise_host("::1"), "::1");
        assert_eq!(normalise_host("[0:0:0:0:0:0:0:1]"), "::1");
    }

    #[test]
    fn destinations_fill_in_default_ports() {
        let a = destination("https://Example.com/x").unwrap();
        let b = destination("https://example.com.:443/y").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, destination("http://example.com/x").unwrap());
        assert_eq!(destination("localhost:8080/x").unwrap().port, Some(8080));
    }
}
