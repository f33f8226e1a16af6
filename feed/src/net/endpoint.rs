//! Where a connection goes: a `ws://`, `wss://`, `http://` or `https://` URL taken apart into
//! scheme, host, port and path, with the one policy every connection obeys: plain (unencrypted)
//! schemes only to a loopback host.

use std::fmt;
use std::net::IpAddr;

/// The scheme of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `ws://`: WebSocket, plain.
    Ws,
    /// `wss://`: WebSocket over TLS.
    Wss,
    /// `http://`: HTTP, plain.
    Http,
    /// `https://`: HTTP over TLS.
    Https,
}

impl Scheme {
    /// The scheme as written in a URL.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// True for the TLS schemes.
    pub const fn is_tls(self) -> bool {
        matches!(self, Scheme::Wss | Scheme::Https)
    }

    /// True for the WebSocket schemes.
    pub const fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }

    const fn default_port(self) -> u16 {
        if self.is_tls() { 443 } else { 80 }
    }
}

/// A parsed endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The scheme.
    pub scheme: Scheme,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// Why a URL is not a usable endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not one of the four schemes.
    #[error("{url:?}: expected a ws://, wss://, http:// or https:// URL")]
    Scheme {
        /// The URL.
        url: String,
    },
    /// No host, or a malformed one.
    #[error("{url:?}: no host")]
    Host {
        /// The URL.
        url: String,
    },
    /// A port that is not a number from 1 to 65535.
    #[error("{url:?}: bad port")]
    Port {
        /// The URL.
        url: String,
    },
    /// A plain scheme to a host that is not loopback.
    #[error(
        "{url:?}: {scheme}:// is accepted for loopback hosts only (localhost, 127.0.0.0/8, ::1); \
         use {tls}://"
    )]
    PlainToRemote {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: &'static str,
        /// The TLS scheme to use instead.
        tls: &'static str,
    },
}

impl Endpoint {
    /// Parses `url`, applying the loopback rule for plain schemes.
    pub fn parse(url: &str) -> Result<Endpoint, EndpointError> {
        let (scheme, rest) = [
            ("wss://", Scheme::Wss),
            ("ws://", Scheme::Ws),
            ("https://", Scheme::Https),
            ("http://", Scheme::Http),
        ]
        .into_iter()
        .find_map(|(prefix, scheme)| {
            let head = url.get(..prefix.len())?;
            head.eq_ignore_ascii_case(prefix)
                .then(|| (scheme, &url[prefix.len()..]))
        })
        .ok_or_else(|| EndpointError::Scheme {
            url: url.to_owned(),
        })?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) if rest.as_bytes()[at] == b'?' => (&rest[..at], format!("/{}", &rest[at..])),
            Some(at) => (&rest[..at], rest[at..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        let host_error = || EndpointError::Host {
            url: url.to_owned(),
        };
        if authority.contains('@') {
            return Err(host_error());
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(host_error)?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.contains(['[', ']', ' ']) {
            return Err(host_error());
        }
        let port = match port {
            None => scheme.default_port(),
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => {
                    return Err(EndpointError::Port {
                        url: url.to_owned(),
                    });
                }
            },
        };
        let endpoint = Endpoint {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path,
        };
        if !scheme.is_tls() && !endpoint.is_loopback() {
            let tls = if scheme.is_websocket() {
                "wss"
            } else {
                "https"
            };
            return Err(EndpointError::PlainToRemote {
                url: url.to_owned(),
                scheme: scheme.as_str(),
                tls,
            });
        }
        Ok(endpoint)
    }

    /// True when the host is `localhost` or a loopback address.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<IpAddr>()
                .is_ok_and(|address| address.is_loopback())
    }

    /// `host:port`, with brackets around an IPv6 address (the HTTP `Host` header's form).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority(),
            self.path
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bybit_urls_parse_with_default_ports() {
        let public = Endpoint::parse("wss://stream.bybit.com/v5/public/linear").unwrap();
        assert_eq!(public.scheme, Scheme::Wss);
        assert_eq!(public.host, "stream.bybit.com");
        assert_eq!(public.port, 443);
        assert_eq!(public.path, "/v5/public/linear");
        assert_eq!(
            public.to_string(),
            "wss://stream.bybit.com:443/v5/public/linear"
        );
        let rest = Endpoint::parse("https://api.bybit.com").unwrap();
        assert_eq!((rest.port, rest.path.as_str()), (443, "/"));
    }

    #[test]
    fn plain_schemes_reach_loopback_hosts_only() {
        for url in [
            "ws://127.0.0.1:9000/v5/public/linear",
            "ws://127.3.2.1:1/x",
            "ws://localhost:8080/v5/public/linear",
            "ws://[::1]:9000/v5/public/linear",
            "http://127.0.0.1:9000",
        ] {
            let endpoint = Endpoint::parse(url).unwrap();
            assert!(endpoint.is_loopback(), "{url}");
        }
        let ipv6 = Endpoint::parse("ws://[::1]:9000/a").unwrap();
        assert_eq!(
            (ipv6.host.as_str(), ipv6.authority()),
            ("::1", "[::1]:9000".to_owned())
        );
        for url in [
            "ws://stream.bybit.com/v5/public/linear",
            "ws://10.0.0.1:9000/x",
            "http://api.bybit.com",
        ] {
            assert!(
                matches!(
                    Endpoint::parse(url),
                    Err(EndpointError::PlainToRemote { .. })
                ),
                "{url}"
            );
        }
        let message = Endpoint::parse("ws://stream.bybit.com/v5")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "\"ws://stream.bybit.com/v5\": ws:// is accepted for loopback hosts only \
             (localhost, 127.0.0.0/8, ::1); use wss://"
        );
    }

    #[test]
    fn malformed_urls_are_refused_with_their_reason() {
        assert!(matches!(
            Endpoint::parse("ftp://x"),
            Err(EndpointError::Scheme { .. })
        ));
        assert!(matches!(
            Endpoint::parse("wss:///path"),
            Err(EndpointError::Host { .. })
        ));
        assert!(matches!(
            Endpoint::parse("wss://u@h/p"),
            Err(EndpointError::Host { .. })
        ));
        assert!(matches!(
            Endpoint::parse("wss://h:0/p"),
            Err(EndpointError::Port { .. })
        ));
        assert!(matches!(
            Endpoint::parse("wss://h:99999/p"),
            Err(EndpointError::Port { .. })
        ));
        assert!(matches!(
            Endpoint::parse("wss://h:x/p"),
            Err(EndpointError::Port { .. })
        ));
        let query = Endpoint::parse("wss://h?max_active_time=1m").unwrap();
        assert_eq!(query.path, "/?max_active_time=1m");
    }
}
