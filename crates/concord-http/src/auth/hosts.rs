//! The `Host` allow-list, against DNS rebinding: a page on an attacker's domain whose name
//! is made to resolve to 127.0.0.1 reaches this service as *same-origin* in the browser, but
//! its requests still say `Host: attacker.example`. Answering only the names this service is
//! known by makes such requests fail before anything else runs.

use std::net::IpAddr;

/// Which `Host` names a service answers to. Ports are not compared: rebinding is about names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedHosts {
    /// Any name (a service bound to all interfaces, unless configured otherwise).
    Any,
    /// Only these names (lower-case; an IPv6 address in brackets).
    Only(Vec<String>),
}

impl AllowedHosts {
    /// `localhost`, `127.0.0.1` and `[::1]`.
    pub fn loopback() -> Self {
        AllowedHosts::Only(vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()])
    }

    /// The default for a service listening on `bind`: the loopback names and the bind
    /// address itself; any name when bound to every interface (`0.0.0.0`, `::`), where the
    /// names it is reached by are not known here (configure them to restrict).
    pub fn for_bind(bind: IpAddr) -> Self {
        if bind.is_unspecified() {
            return AllowedHosts::Any;
        }
        AllowedHosts::loopback().with(&bind_name(bind))
    }

    /// These names (as configured: `name`, `name:port`, an IP address, `[v6]`).
    pub fn only<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        let mut allowed = AllowedHosts::Only(Vec::new());
        for name in names {
            allowed = allowed.with(name.as_ref());
        }
        allowed
    }

    fn with(self, name: &str) -> Self {
        match self {
            AllowedHosts::Any => AllowedHosts::Any,
            AllowedHosts::Only(mut names) => {
                let name = normalise(name);
                if !name.is_empty() && !names.contains(&name) {
                    names.push(name);
                }
                AllowedHosts::Only(names)
            }
        }
    }

    /// Whether a request's `Host` header value is allowed.
    pub fn allows(&self, host: &str) -> bool {
        match self {
            AllowedHosts::Any => true,
            AllowedHosts::Only(names) => names.contains(&normalise(host)),
        }
    }
}

fn bind_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The name part of a `Host` value: lower-case, without port or a trailing dot.
fn normalise(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6] or [v6]:port
        match rest.split_once(']') {
            Some((inner, _)) => match inner.parse::<std::net::Ipv6Addr>() {
                Ok(ip) => format!("[{ip}]"),
                Err(_) => format!("[{inner}]"),
            },
            None => host.to_owned(),
        }
    } else if host.matches(':').count() > 1 {
        // A bare IPv6 address as configuration may write it.
        match host.parse::<std::net::Ipv6Addr>() {
            Ok(ip) => format!("[{ip}]"),
            Err(_) => host.to_owned(),
        }
    } else {
        host.split(':').next().unwrap_or_default().to_owned()
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_bind_address_and_loopback() {
        let hosts = AllowedHosts::for_bind("127.0.0.1".parse().unwrap());
        for ok in [
            "127.0.0.1:7070",
            "localhost",
            "LOCALHOST:1",
            "[::1]:7070",
            "localhost.",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:7070",
            "127.0.0.2",
            "",
            "localhost.evil",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
        let lan = AllowedHosts::for_bind("10.0.0.5".parse().unwrap());
        assert!(lan.allows("10.0.0.5:7070") && lan.allows("localhost"));
        let v6 = AllowedHosts::for_bind("fe80::1".parse().unwrap());
        assert!(v6.allows("[fe80:0::1]:7070"));
        assert_eq!(
            AllowedHosts::for_bind("0.0.0.0".parse().unwrap()),
            AllowedHosts::Any
        );
        assert_eq!(
            AllowedHosts::for_bind("::".parse().unwrap()),
            AllowedHosts::Any
        );
    }

    #[test]
    fn configured_names_are_normalised() {
        let hosts = AllowedHosts::only(["Concord.Example:8443", "::1", "10.0.0.7"]);
        assert!(hosts.allows("concord.example"));
        assert!(hosts.allows("[::1]:9"));
        assert!(hosts.allows("10.0.0.7:7070"));
        assert!(
            !hosts.allows("localhost"),
            "configured names replace the defaults"
        );
    }
}
