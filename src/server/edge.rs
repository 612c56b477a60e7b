//! The edge: what a request must look like before the gateway does any
//! work for it. A web page the user visits can send requests to a local
//! server (a "simple" `text/plain` POST needs no preflight), and with DNS
//! rebinding it can even read the answers, so:
//!
//! - the `Host` must be a loopback address or `localhost` (any port), an IP
//!   address when the gateway listens beyond loopback, or a name listed in
//!   `server.allowed_hosts`: a rebound name is refused;
//! - an `Origin` (sent by browsers) must be listed in `server.cors_origins`;
//! - a body must be declared as JSON, which a page cannot do without a
//!   CORS preflight.
//!
//! The checks are pure functions of the request head and the settings. A
//! request without a `Host` (or with two) is malformed and gets 400.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::settings::{Settings, host_name};
use crate::error::Error;
use crate::state::AppState;

/// Refuses requests from places a local agent gateway must not serve.
pub(super) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let checked = {
        let config = state.config.load();
        check(
            request.method(),
            request.uri().authority().map(|a| a.as_str()),
            request.headers(),
            &config.settings,
            state.local_addr,
        )
    };
    match checked {
        Ok(()) => next.run(request).await,
        Err(error) => {
            tracing::warn!(
                method = %request.method(),
                path = request.uri().path(),
                "refused at the edge: {error}"
            );
            error.into_response()
        }
    }
}

/// Checks `Host`, `Origin` and the body's declared type, in that order.
/// `authority` is the request target's, for an absolute-form target
/// (`POST http://host/… HTTP/1.1`), which then names the host (RFC 9112).
pub(super) fn check(
    method: &Method,
    authority: Option<&str>,
    headers: &HeaderMap,
    settings: &Settings,
    local: SocketAddr,
) -> Result<(), Error> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let (header_host, another) = (hosts.next(), hosts.next());
    if another.is_some() {
        return Err(Error::InvalidRequest(
            "the request has more than one Host header".into(),
        ));
    }
    let header_host = header_host.map(|h| h.to_str().unwrap_or_default());
    let Some(host) = authority.or(header_host) else {
        return Err(Error::InvalidRequest(
            "the request has no Host header".into(),
        ));
    };
    for host in [Some(host), header_host].into_iter().flatten() {
        if !host_allowed(host, &settings.allowed_hosts, local.ip()) {
            return Err(Error::Forbidden(format!(
                "Host {host:?} is not allowed: this gateway answers requests addressed to \
                 localhost or a loopback address{}; add the name to server.allowed_hosts \
                 if it is yours (a web page using DNS rebinding sends its own name)",
                if local.ip().is_loopback() {
                    ""
                } else {
                    " or an IP address"
                }
            )));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !settings.origin_allowed(origin.as_bytes())
    {
        return Err(Error::Forbidden(format!(
            "requests from the web page at {:?} are refused: add its origin to \
             server.cors_origins (CODEX_CORS_ORIGINS) to allow it",
            origin.to_str().unwrap_or("?")
        )));
    }
    if carries_body(method, headers) && !declares_json(headers) {
        let sent = headers.get(header::CONTENT_TYPE).map_or_else(
            || "none".to_owned(),
            |v| format!("{:?}", v.to_str().unwrap_or("?")),
        );
        return Err(Error::UnsupportedMediaType(format!(
            "the request body must be JSON sent with `Content-Type: application/json` \
             (content type sent: {sent}); with curl, add -H 'Content-Type: application/json'"
        )));
    }
    Ok(())
}

/// Whether `host` (a `Host` header: name or address, optional port) may be served.
fn host_allowed(host: &str, allowed: &[String], local: IpAddr) -> bool {
    let name = host_name(host);
    if name == "localhost" {
        return true;
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        // DNS rebinding needs a name; an address names this machine, but on
        // a loopback bind only loopback addresses reach it directly.
        if ip.is_loopback() || !local.is_loopback() {
            return true;
        }
    }
    // Entries were normalised with `host_name` when the config loaded.
    allowed.iter().any(|entry| {
        entry == "*"
            || *entry == name
            || entry
                .strip_prefix("*.")
                .is_some_and(|domain| name.ends_with(&format!(".{domain}")))
    })
}

/// Whether the request has (or, as a POST, must have) a body.
fn carries_body(method: &Method, headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    *method == Method::POST
        || *method == Method::PUT
        || *method == Method::PATCH
        || length.is_some_and(|n| n > 0)
        || headers.contains_key(header::TRANSFER_ENCODING)
}

/// `application/json`, parameters (`; charset=utf-8`) allowed.
fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const ANY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

    #[test]
    fn loopback_names_and_addresses_pass_on_a_loopback_bind() {
        for host in [
            "localhost",
            "LOCALHOST:8000",
            "localhost.:1",
            "127.0.0.1",
            "127.0.0.1:8000",
            "127.1.2.3:9",
            "[::1]:8000",
            "[::1]",
        ] {
            assert!(host_allowed(host, &[], LOOPBACK), "{host}");
        }
    }

    #[test]
    fn other_names_need_allowed_hosts() {
        for host in [
            "evil.example",
            "evil.example:8000",
            "10.0.0.5:8000",
            "localhost.evil.example",
        ] {
            assert!(!host_allowed(host, &[], LOOPBACK), "{host}");
        }
        let allowed = vec!["gw.lan".to_owned(), "*.corp.example".to_owned()];
        assert_eq!(
            host_name("GW.Lan.:8000"),
            "gw.lan",
            "entries load like this"
        );
        assert!(host_allowed("GW.lan:8000", &allowed, LOOPBACK));
        assert!(host_allowed("a.corp.example", &allowed, LOOPBACK));
        assert!(!host_allowed("corp.example.evil", &allowed, LOOPBACK));
        assert!(host_allowed("anything", &["*".to_owned()], LOOPBACK));
    }

    #[test]
    fn a_wider_bind_accepts_addresses_but_not_unlisted_names() {
        assert!(host_allowed("192.168.1.20:8000", &[], ANY));
        assert!(host_allowed("[fe80::1]:8000", &[], ANY));
        assert!(!host_allowed("myhost.lan:8000", &[], ANY));
        assert!(host_allowed(
            "myhost.lan:8000",
            &["myhost.lan".to_owned()],
            ANY
        ));
    }

    #[test]
    fn a_missing_or_doubled_host_and_absolute_form_targets_are_checked() {
        let settings = |hosts: &[&str]| crate::config::settings::Settings {
            allowed_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            ..crate::config::load(&crate::config::LoadOptions::default())
                .unwrap()
                .settings
        };
        let local: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let headers = |hosts: &[&'static str]| {
            let mut map = HeaderMap::new();
            for host in hosts {
                map.append(header::HOST, HeaderValue::from_static(host));
            }
            map
        };
        let get = |authority, hosts: &[&'static str]| {
            check(
                &Method::GET,
                authority,
                &headers(hosts),
                &settings(&[]),
                local,
            )
        };
        assert!(get(None, &["localhost"]).is_ok());
        assert!(matches!(get(None, &[]), Err(Error::InvalidRequest(_))));
        assert!(matches!(
            get(None, &["localhost", "evil.example"]),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            get(Some("evil.example"), &["localhost"]),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            get(Some("localhost:1"), &["evil.example"]),
            Err(Error::Forbidden(_))
        ));
        assert!(get(Some("localhost:1"), &[]).is_ok());
        assert!(
            matches!(get(None, &[":8000"]), Err(Error::Forbidden(_))),
            "an empty name"
        );
    }

    #[test]
    fn bodies_must_be_declared_json() {
        let with_type = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            headers
        };
        assert!(declares_json(&with_type("application/json")));
        assert!(declares_json(&with_type("Application/JSON; charset=utf-8")));
        for other in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        ] {
            assert!(!declares_json(&with_type(other)), "{other}");
        }
        assert!(!declares_json(&HeaderMap::new()));
        assert!(carries_body(&Method::POST, &HeaderMap::new()));
        assert!(!carries_body(&Method::GET, &HeaderMap::new()));
        let mut get_with_body = HeaderMap::new();
        get_with_body.insert(header::CONTENT_LENGTH, HeaderValue::from_static("3"));
        assert!(carries_body(&Method::GET, &get_with_body));
    }
}
