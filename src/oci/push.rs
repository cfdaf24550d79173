//! Pushing an image [`Layout`] to a registry over the distribution (v2) HTTP API — to a
//! registry on a **loopback address only**, over plain HTTP.
//!
//! A tiny HTTP/1.1 client over `std::net::TcpStream`, one connection per request
//! (`Connection: close`): blobs are uploaded monolithically (`POST /v2/<repo>/blobs/uploads/`,
//! then `PUT <location>&digest=…` with the bytes), blobs the registry has are skipped (`HEAD`),
//! the platform manifests are put by digest and the index by tag. Any other host is refused:
//! kiln makes no network connection except to this machine. To publish elsewhere, push to a
//! local registry or copy the `oci-archive` with a registry client of your choice.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::oci::layout::Layout;

/// A parsed `HOST:PORT/REPO[:TAG]` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host:port` as given (sent as the `Host` header).
    pub host: String,
    /// Repository path, e.g. `team/app`.
    pub repo: String,
    /// Tag, if given.
    pub tag: Option<String>,
}

impl Reference {
    /// Parses `HOST[:PORT]/REPO[:TAG]` (no scheme, no digest).
    pub fn parse(s: &str) -> Result<Reference> {
        let (host, rest) = s
            .split_once('/')
            .ok_or_else(|| anyhow!("--push {s}: expected HOST:PORT/REPO[:TAG]"))?;
        let (repo, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_owned())),
            _ => (rest, None),
        };
        let repo_ok = !repo.is_empty()
            && repo.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            });
        if !repo_ok {
            bail!("--push {s}: repository `{repo}` must be lowercase letters, digits, `._-` and `/`");
        }
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                bail!("--push {s}: invalid tag `{t}`");
            }
        }
        if host.is_empty() || host.contains('@') {
            bail!("--push {s}: expected HOST:PORT/REPO[:TAG]");
        }
        Ok(Reference {
            host: host.to_owned(),
            repo: repo.to_owned(),
            tag,
        })
    }

    /// The registry's address: an IP literal or `localhost`, never resolved through DNS, and
    /// refused unless it is a loopback address.
    pub fn loopback_addr(&self) -> Result<SocketAddr> {
        let refuse = || {
            anyhow!(
                "--push {}: kiln pushes only to a registry on a loopback address (127.0.0.0/8, [::1], \
                 localhost); copy the oci-archive with a registry client for other hosts",
                self.host
            )
        };
        let (host, port) = match self.host.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h, p.parse::<u16>().map_err(|_| refuse())?),
            _ => (self.host.as_str(), 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::from([127, 0, 0, 1])
        } else {
            host.parse().map_err(|_| refuse())?
        };
        if !is_loopback(ip) {
            return Err(refuse());
        }
        Ok(SocketAddr::new(ip, port))
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

/// A response: status, headers (lowercased names), body.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let body = body.trim();
        let short: String = body.chars().take(300).collect();
        format!(
            "HTTP {}{}{short}",
            self.status,
            if short.is_empty() { "" } else { ": " }
        )
    }
}

struct Client {
    addr: SocketAddr,
    host: String,
}

impl Client {
    fn request(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Result<Response> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10))
            .with_context(|| format!("connecting to {}", self.host))?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        stream.set_write_timeout(Some(Duration::from_secs(120)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: kiln/{}\r\nConnection: close\r\n\
             Accept: */*\r\nContent-Length: {}\r\n",
            self.host,
            env!("CARGO_PKG_VERSION"),
            body.len()
        );
        if let Some(ct) = content_type {
            let _ = write!(head, "Content-Type: {ct}\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .with_context(|| format!("{method} {path}: reading the response"))?;
        parse_response(&raw, method == "HEAD").with_context(|| format!("{method} {path}"))
    }
}

fn parse_response(raw: &[u8], head_only: bool) -> Result<Response> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed HTTP response"))?;
    let head = std::str::from_utf8(&raw[..end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("malformed status line `{status_line}`"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if head_only {
        body.clear();
    } else if chunked {
        body = dechunk(&body)?;
    } else if let Some(len) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("malformed chunked body"))?;
        let size_text = std::str::from_utf8(&data[..eol])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            bail!("truncated chunked body");
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// The path-and-query to `PUT` a finished upload to, from a `Location` header.
fn upload_target(location: &str, digest: &str) -> String {
    let path = match location.find("://") {
        Some(i) => location[i + 3..]
            .find('/')
            .map_or("/", |j| &location[i + 3 + j..]),
        None => location,
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}digest={}", digest.replace(':', "%3A"))
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `host/repo:tag`.
    pub reference: String,
    /// The index digest.
    pub digest: String,
    /// Blobs uploaded (not already present).
    pub uploaded: usize,
}

/// Pushes every blob, the platform manifests (by digest) and the index (by tag: the
/// reference's, else the layout's).
pub fn push(layout: &Layout, reference: &Reference) -> Result<Pushed> {
    let addr = reference.loopback_addr()?;
    let client = Client {
        addr,
        host: reference.host.clone(),
    };
    let repo = &reference.repo;
    let is_manifest = |media: &str| media.contains("manifest") || media.contains("index");
    let mut uploaded = 0;
    for (digest, (media, bytes)) in &layout.blobs {
        if is_manifest(media) {
            continue;
        }
        let head = client.request("HEAD", &format!("/v2/{repo}/blobs/{digest}"), None, &[])?;
        if head.status == 200 {
            continue;
        }
        let start = client.request("POST", &format!("/v2/{repo}/blobs/uploads/"), None, &[])?;
        if start.status != 202 {
            bail!("starting the upload of {digest}: {}", start.describe());
        }
        let location = start
            .header("location")
            .ok_or_else(|| anyhow!("starting the upload of {digest}: no Location header"))?;
        let put = client.request(
            "PUT",
            &upload_target(location, digest),
            Some("application/octet-stream"),
            bytes,
        )?;
        if put.status != 201 {
            bail!("uploading {digest}: {}", put.describe());
        }
        uploaded += 1;
    }
    let put_manifest = |target: &str, digest: &str| -> Result<()> {
        let (media, bytes) = &layout.blobs[digest];
        let r = client.request(
            "PUT",
            &format!("/v2/{repo}/manifests/{target}"),
            Some(media),
            bytes,
        )?;
        if r.status != 201 {
            bail!("putting manifest {digest} as {target}: {}", r.describe());
        }
        if let Some(got) = r.header("docker-content-digest")
            && got != digest
        {
            bail!("registry stored manifest {digest} as {got}");
        }
        Ok(())
    };
    for p in &layout.platforms {
        put_manifest(&p.manifest, &p.manifest)?;
    }
    let tag = reference.tag.clone().unwrap_or_else(|| layout.tag.clone());
    put_manifest(&tag, &layout.index.digest)?;
    Ok(Pushed {
        reference: format!("{}/{repo}:{tag}", reference.host),
        digest: layout.index.digest.clone(),
        uploaded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = Reference::parse("127.0.0.1:5000/team/app:1.0").unwrap();
        assert_eq!(r.host, "127.0.0.1:5000");
        assert_eq!(r.repo, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        let r = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!(r.tag, None);
        assert!(Reference::parse("app").is_err());
        assert!(Reference::parse("127.0.0.1:5000/App").is_err());
        assert!(Reference::parse("127.0.0.1:5000/app:bad tag").is_err());
    }

    #[test]
    fn refuses_non_loopback() {
        let r = Reference::parse("192.0.2.1:5000/app:1").unwrap();
        let e = r.loopback_addr().unwrap_err().to_string();
        assert!(e.contains("loopback"), "{e}");
        assert!(
            Reference::parse("127.0.0.1:5000/app")
                .unwrap()
                .loopback_addr()
                .is_ok()
        );
        assert!(
            Reference::parse("[::1]:5000/app")
                .unwrap()
                .loopback_addr()
                .is_ok()
        );
    }

    #[test]
    fn upload_targets() {
        assert_eq!(
            upload_target("/v2/a/blobs/uploads/u?_state=x", "sha256:ab"),
            "/v2/a/blobs/uploads/u?_state=x&digest=sha256%3Aab"
        );
        assert_eq!(
            upload_target("http://127.0.0.1:5000/v2/a/blobs/uploads/u", "sha256:ab"),
            "/v2/a/blobs/uploads/u?digest=sha256%3Aab"
        );
    }

    #[test]
    fn parses_responses() {
        let r = parse_response(
            b"HTTP/1.1 201 Created\r\nLocation: /x\r\nContent-Length: 2\r\n\r\nokextra",
            false,
        )
        .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.header("location"), Some("/x"));
        assert_eq!(r.body, b"ok");
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!(r.body, b"abc");
    }
}
