//! The one outbound HTTP client. Every request to a URL that a tenant or an upstream gave
//! us goes through [`Outbound`], which:
//! - refuses non-public destinations (loopback, private, link-local, CGNAT, unique-local,
//!   multicast, unspecified, documentation, cloud metadata...), checking IP literals before
//!   connecting and host names inside the DNS resolver, so a name cannot resolve to a public
//!   address at check time and a private one at connect time (DNS rebinding);
//! - follows no redirects and ignores proxy environment variables (a proxy would resolve
//!   names itself, out of our sight);
//! - caps response bodies and bounds every control-plane call with timeouts.
//!
//! `SWITCHBOARD_ALLOW_PRIVATE_NETWORKS=true` lifts the address rule for development and tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Method, RequestBuilder, StatusCode, header::HeaderMap};
use url::{Host, Url};

/// Connecting to any upstream must succeed within this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole control-plane exchange (discovery, registration, token calls, probes).
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest control-plane response we read (metadata, tokens, registration, initialize).
pub const MAX_CONTROL_BODY: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("destination not allowed: {0}")]
    DestinationNotAllowed(String),
    #[error("timed out")]
    Timeout,
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("response body larger than {0} bytes")]
    TooLarge(usize),
}

/// Raised inside the resolver; found again in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to non-public addresses")]
struct BlockedName(String);

/// A response read in full (within the cap).
#[derive(Debug)]
pub struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Longest silence on a proxied stream before it is closed (servers send keep-alives).
pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct Outbound {
    control: reqwest::Client,
    /// For proxied MCP traffic: pooled, HTTP/1.1 keep-alive and HTTP/2, no total timeout
    /// (streams may last hours), only connect and idle timeouts.
    streaming: reqwest::Client,
    allow_private: bool,
}

impl Outbound {
    pub fn new(allow_private: bool) -> Self {
        let base = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .dns_resolver(Arc::new(GuardedResolver { allow_private }))
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_nodelay(true)
                .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        };
        let control = base().timeout(CONTROL_TIMEOUT).build().expect("the outbound HTTP client builds");
        let streaming = base()
            .read_timeout(STREAM_IDLE_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .expect("the streaming HTTP client builds");
        Self { control, streaming, allow_private }
    }

    /// A request builder for proxied traffic to `url` (no total timeout), after the checks.
    pub fn stream_request(&self, method: Method, url: &Url) -> Result<RequestBuilder, NetError> {
        self.check_url(url)?;
        Ok(self.streaming.request(method, url.clone()))
    }

    /// Checks what can be checked before connecting: scheme, IP literals, local names.
    pub fn check_url(&self, url: &Url) -> Result<(), NetError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NetError::DestinationNotAllowed(format!("scheme {} is not http(s)", url.scheme())));
        }
        if self.allow_private {
            return Ok(());
        }
        match url.host() {
            None => Err(NetError::DestinationNotAllowed("URL has no host".into())),
            Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    Err(NetError::DestinationNotAllowed(format!("{name} is a loopback name")))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// A control-plane request builder for `url`, after the pre-connect checks.
    pub fn request(&self, method: Method, url: &Url) -> Result<RequestBuilder, NetError> {
        self.check_url(url)?;
        Ok(self.control.request(method, url.clone()))
    }

    /// Sends and returns the response with its body unread, for callers that stream it.
    pub async fn send(&self, request: RequestBuilder) -> Result<reqwest::Response, NetError> {
        request.send().await.map_err(classify)
    }

    /// Sends and reads the whole body, refusing bodies over `max_body` bytes.
    pub async fn fetch(&self, request: RequestBuilder, max_body: usize) -> Result<Fetched, NetError> {
        let response = self.send(request).await?;
        let (status, headers) = (response.status(), response.headers().clone());
        let body = read_capped(response, max_body).await?;
        Ok(Fetched { status, headers, body })
    }
}

/// Reads a response body, refusing one over `max_body` bytes.
pub async fn read_capped(mut response: reqwest::Response, max_body: usize) -> Result<Bytes, NetError> {
    if response.content_length().is_some_and(|len| len > max_body as u64) {
        return Err(NetError::TooLarge(max_body));
    }
    let mut body = Vec::new();
    while let Some(chunk) = next_chunk(&mut response).await? {
        if body.len() + chunk.len() > max_body {
            return Err(NetError::TooLarge(max_body));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

/// The next piece of a streamed body, with errors classified like every other call.
pub async fn next_chunk(response: &mut reqwest::Response) -> Result<Option<Bytes>, NetError> {
    response.chunk().await.map_err(classify)
}

fn classify(err: reqwest::Error) -> NetError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<BlockedName>() {
            return NetError::DestinationNotAllowed(blocked.to_string());
        }
        source = e.source();
    }
    if err.is_timeout() {
        NetError::Timeout
    } else {
        // The reqwest error names the URL; the innermost cause says what went wrong.
        let mut cause = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(e) = source {
            cause = e.to_string();
            source = e.source();
        }
        NetError::Unreachable(cause)
    }
}

/// Resolves with the system resolver, then keeps only addresses the policy allows. The
/// connection is made to what this returns, so the check and the use see the same answer.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                addrs.into_iter().filter(|a| allow_private || is_public(a.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(BlockedName(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

fn check_ip(ip: IpAddr) -> Result<(), NetError> {
    if is_public(ip) {
        Ok(())
    } else {
        Err(NetError::DestinationNotAllowed(format!("{ip} is not a public address")))
    }
}

/// True for addresses on the public internet. Everything special-purpose (RFC 6890 and
/// friends) is refused; IPv6 forms that embed an IPv4 address are judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0                                  // "this network", unspecified
        || a == 10                                        // private
        || a == 127                                       // loopback
        || (a == 100 && (64..128).contains(&b))           // CGNAT 100.64/10
        || (a == 169 && b == 254)                         // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))            // private
        || (a == 192 && b == 0 && c == 0)                 // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                 // documentation
        || (a == 192 && b == 88 && c == 99)               // 6to4 relay anycast
        || (a == 192 && b == 168)                         // private
        || (a == 198 && (18..20).contains(&b))            // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100)              // documentation
        || (a == 203 && b == 0 && c == 113)               // documentation
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00                      // unique local fc00::/7 (incl. fd00:ec2::254)
        || (s[0] & 0xffc0) == 0xfe80                      // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0                      // site-local (deprecated) fec0::/10
        || (s[0] & 0xff00) == 0xff00                      // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8)             // documentation
        || (s[0] == 0x2001 && s[1] < 0x0200)              // IETF protocol assignments, Teredo
        || s[0] == 0x2002                                 // 6to4
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]); // discard-only 100::/64
    !special
}

/// The IPv4 address inside IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and
/// NAT64 (64:ff9b::a.b.c.d) IPv6 addresses.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let compatible = s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified();
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4];
    (compatible || nat64).then_some(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (URL, allowed with the private-network rule in force)
    const TARGETS: &[(&str, bool)] = &[
        ("https://93.184.215.14/mcp", true),
        ("https://[2606:4700::6810:84e5]/", true),
        ("https://mcp.example.com/mcp", true), // names are judged at resolution time
        ("http://127.0.0.1/", false),
        ("http://127.1/", false),        // short form
        ("http://2130706433/", false),   // decimal
        ("http://0x7f000001/", false),   // hex
        ("http://0x7f.0.0.1/", false),   // hex octet
        ("http://0177.0.0.1/", false),   // octal
        ("http://017700000001/", false), // octal, one number
        ("http://0.0.0.0/", false),
        ("http://10.1.2.3/", false),
        ("http://172.16.0.1/", false),
        ("http://172.31.255.255/", false),
        ("http://192.168.1.1/", false),
        ("http://169.254.169.254/latest/meta-data/", false), // cloud metadata
        ("http://100.64.0.1/", false),                       // CGNAT
        ("http://198.18.0.1/", false),
        ("http://224.0.0.1/", false),
        ("http://255.255.255.255/", false),
        ("http://[::1]/", false),
        ("http://[::]/", false),
        ("http://[::ffff:127.0.0.1]/", false), // IPv4-mapped
        ("http://[::ffff:7f00:1]/", false),
        ("http://[::127.0.0.1]/", false),    // IPv4-compatible
        ("http://[64:ff9b::a00:1]/", false), // NAT64 of 10.0.0.1
        ("http://[fc00::1]/", false),
        ("http://[fd00:ec2::254]/", false), // AWS metadata over IPv6
        ("http://[fe80::1]/", false),
        ("http://[ff02::1]/", false),
        ("http://[2002:7f00:1::]/", false), // 6to4
        ("http://localhost/", false),
        ("http://LOCALHOST./", false),
        ("http://api.localhost/", false),
        ("ftp://93.184.215.14/", false),
        ("file:///etc/passwd", false),
    ];

    #[test]
    fn the_address_rule_refuses_every_non_public_form() {
        let guarded = Outbound::new(false);
        for (raw, allowed) in TARGETS {
            let url = Url::parse(raw).unwrap();
            assert_eq!(guarded.check_url(&url).is_ok(), *allowed, "{raw} (parsed host {:?})", url.host());
        }
    }

    #[test]
    fn allowing_private_networks_lifts_only_the_address_rule() {
        let open = Outbound::new(true);
        for (raw, _) in TARGETS {
            let url = Url::parse(raw).unwrap();
            let http = matches!(url.scheme(), "http" | "https");
            assert_eq!(open.check_url(&url).is_ok(), http, "{raw}");
        }
    }

    #[tokio::test]
    async fn names_that_resolve_to_loopback_are_refused_at_resolution_time() {
        // A name that is not caught by the pre-connect check but resolves to 127.0.0.1.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let guarded = Outbound::new(false);
        let resolver = GuardedResolver { allow_private: false };
        let refused = resolver.resolve("ip6-localhost".parse().unwrap()).await;
        assert!(refused.is_err() || refused.unwrap().next().is_none());
        let refused = resolver.resolve("localhost".parse().unwrap()).await;
        assert!(refused.is_err());

        // Through the client: bypass the pre-connect check to prove the resolver holds.
        let url = format!("http://localhost:{port}/");
        let err = guarded.fetch(guarded.control.get(&url), 1024).await.unwrap_err();
        assert!(matches!(err, NetError::DestinationNotAllowed(_)), "{err:?}");
    }

    /// A one-line HTTP server: `/big` answers 2048 bytes, `/redirect` a 307 to `/big`.
    async fn tiny_server() -> SocketAddr {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 1024];
                let read = socket.read(&mut request).await.unwrap_or(0);
                let answer = if request[..read].starts_with(b"GET /big ") {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: 2048\r\nconnection: close\r\n\r\n{}",
                        "x".repeat(2048)
                    )
                } else {
                    "HTTP/1.1 307 Temporary Redirect\r\nlocation: /big\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        .to_owned()
                };
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_refused_and_redirects_not_followed() {
        let addr = tiny_server().await;
        let open = Outbound::new(true);
        let url = |p: &str| Url::parse(&format!("http://{addr}{p}")).unwrap();
        let big = open.fetch(open.request(Method::GET, &url("/big")).unwrap(), 1024).await;
        assert!(matches!(big, Err(NetError::TooLarge(1024))));
        let fits = open.fetch(open.request(Method::GET, &url("/big")).unwrap(), 4096).await.unwrap();
        assert_eq!(fits.body.len(), 2048);
        let redirect = open.fetch(open.request(Method::GET, &url("/redirect")).unwrap(), 4096).await.unwrap();
        assert_eq!(redirect.status, StatusCode::TEMPORARY_REDIRECT);
        // And a guarded client refuses the loopback literal before connecting.
        let guarded = Outbound::new(false);
        assert!(matches!(
            guarded.request(Method::GET, &url("/big")),
            Err(NetError::DestinationNotAllowed(_))
        ));
    }

    #[tokio::test]
    async fn closed_ports_are_unreachable_not_a_panic() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let open = Outbound::new(true);
        let url = Url::parse(&format!("http://{addr}/")).unwrap();
        let err = open.fetch(open.request(Method::GET, &url).unwrap(), 1024).await.unwrap_err();
        assert!(matches!(err, NetError::Unreachable(_)), "{err:?}");
    }
}
