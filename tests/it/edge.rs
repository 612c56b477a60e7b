//! The edge: what a web page, a rebound DNS name, a slow or idle socket can
//! and cannot do to a gateway on this machine, through the real binary.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{FAKE_ROUTE, Gateway, fake_backend_with, user};

/// A config whose fake CLI leaves a file behind when it runs, so a test
/// can tell whether a request reached it.
fn witnessed(server: &str, witness: &Path) -> String {
    format!(
        "use = []\n[server]\n{server}\n\n{}\n{FAKE_ROUTE}",
        fake_backend_with(&format!(
            "extra_args = [\"--pidfile\", \"{}\"]",
            witness.display()
        ))
    )
}

/// A gateway with `server` settings, and the scratch directory its CLI's
/// witness file goes to.
fn gateway(server: &str) -> (Gateway, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let gw = Gateway::builder(&witnessed(server, &scratch.path().join("ran"))).start();
    (gw, scratch)
}

fn chat_body() -> String {
    json!({"model": "fake:", "messages": user("run something")}).to_string()
}

/// A raw HTTP/1.1 request with `headers` (each ending in \r\n) and `body`.
fn request(method: &str, path: &str, headers: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

fn body_of(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {answer:?}"))
}

#[tokio::test]
async fn a_web_page_cannot_make_the_gateway_run_a_cli() {
    let scratch = tempfile::tempdir().unwrap();
    let witness = scratch.path().join("ran");
    let gw = Gateway::builder(&witnessed("", &witness)).start();
    let host = format!("Host: {}\r\n", gw.address());
    // The "simple" requests a page may send without a CORS preflight.
    for content_type in [
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let answer = gw
            .raw(&request(
                "POST",
                "/v1/chat/completions",
                &format!("{host}Content-Type: {content_type}\r\n"),
                &chat_body(),
            ))
            .await;
        assert_eq!(status_of(&answer), 415, "{content_type}: {answer}");
        let error = &body_of(&answer)["error"];
        assert_eq!(error["code"], "unsupported_media_type", "{answer}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("Content-Type: application/json"),
            "the message says which header to send: {answer}"
        );
    }
    // What `curl -d` sends by default, and no type at all.
    for headers in [
        format!("{host}Content-Type: application/x-www-form-urlencoded\r\n"),
        host.clone(),
    ] {
        let answer = gw
            .raw(&request(
                "POST",
                "/v1/chat/completions",
                &headers,
                &chat_body(),
            ))
            .await;
        assert_eq!(status_of(&answer), 415, "{answer}");
    }
    // A page on another origin, even with a JSON body.
    let answer = gw
        .raw(&request(
            "POST",
            "/v1/chat/completions",
            &format!("{host}Origin: https://evil.example\r\nContent-Type: application/json\r\n"),
            &chat_body(),
        ))
        .await;
    assert_eq!(status_of(&answer), 403, "{answer}");
    assert_eq!(body_of(&answer)["error"]["type"], "permission_error");
    assert!(answer.contains("cors_origins"), "{answer}");
    // DNS rebinding: the page's own name in Host, same origin, JSON body.
    let answer = gw
        .raw(&request(
            "POST",
            "/v1/chat/completions",
            "Host: rebind.evil.example:8000\r\nContent-Type: application/json\r\n",
            &chat_body(),
        ))
        .await;
    assert_eq!(status_of(&answer), 403, "{answer}");
    assert!(answer.contains("allowed_hosts"), "{answer}");
    // Reading is refused too.
    let answer = gw
        .raw(&request(
            "GET",
            "/v1/models",
            "Host: rebind.evil.example\r\n",
            "",
        ))
        .await;
    assert_eq!(status_of(&answer), 403, "{answer}");
    assert!(!witness.exists(), "a refused request reached the CLI");

    // The same request, as an SDK sends it, runs the CLI.
    for host in [
        gw.address().to_owned(),
        "localhost:1234".to_owned(),
        "[::1]".to_owned(),
    ] {
        let answer = gw
            .raw(&request(
                "POST",
                "/v1/chat/completions",
                &format!("Host: {host}\r\nContent-Type: application/json; charset=utf-8\r\n"),
                &chat_body(),
            ))
            .await;
        assert_eq!(status_of(&answer), 200, "{host}: {answer}");
    }
    assert!(witness.exists(), "the CLI ran for the accepted request");
}

#[tokio::test]
async fn listed_hosts_and_origins_are_served() {
    let scratch = tempfile::tempdir().unwrap();
    let gw = Gateway::builder(&witnessed(
        "allowed_hosts = [\"gateway.lan\"]\ncors_origins = [\"http://app.example\"]",
        &scratch.path().join("ran"),
    ))
    .start();
    let answer = gw
        .raw(&request(
            "POST",
            "/v1/chat/completions",
            "Host: Gateway.LAN:8000\r\nOrigin: http://app.example\r\nContent-Type: application/json\r\n",
            &chat_body(),
        ))
        .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("access-control-allow-origin: http://app.example"),
        "{answer}"
    );
    let answer = gw
        .raw(&request("GET", "/healthz", "Host: other.lan\r\n", ""))
        .await;
    assert_eq!(status_of(&answer), 403, "{answer}");
}

#[tokio::test]
async fn unknown_paths_and_trailing_garbage() {
    let (gw, _scratch) = gateway("token = \"edge-secret-1\"");
    let client = reqwest::Client::new();
    let anonymous = client
        .get(gw.url("/v1/no-such-thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "the token is checked before a 404");
    let known = client
        .get(gw.url("/v1/no-such-thing"))
        .bearer_auth("edge-secret-1")
        .send()
        .await
        .unwrap();
    assert_eq!(known.status(), 404);
    let body: Value = known.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let wrong_method = client
        .get(gw.url("/v1/chat/completions"))
        .bearer_auth("edge-secret-1")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);

    let garbage = client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("edge-secret-1")
        .header("content-type", "application/json")
        .body(format!("{} trailing", chat_body()))
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let body: Value = garbage.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("after the JSON"),
        "{body}"
    );
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let (gw, _scratch) = gateway("header_timeout_seconds = 2");
    let started = Instant::now();
    // `raw` fails the test if the gateway keeps the connection beyond 10 s.
    let answer = gw
        .raw("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: appl")
        .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "closed too early: {took:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // The default keeps a half-sent request under a minute.
    let debug = gw.get_json("/debug/config").await;
    assert_eq!(debug["effective"]["server"]["header_timeout_seconds"], 2);
    let (defaults, _defaults_scratch) = gateway("");
    let seconds =
        defaults.get_json("/debug/config").await["effective"]["server"]["header_timeout_seconds"]
            .as_u64()
            .unwrap();
    assert!(seconds <= 60, "default header timeout {seconds}s");
}

#[tokio::test]
async fn a_slow_body_gets_408() {
    let (gw, _scratch) = gateway("body_timeout_seconds = 1");
    let answer = gw
        .raw(&format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: 500\r\n\r\n{}",
            &chat_body()[..10]
        ))
        .await;
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(answer.contains("body_timeout_seconds"), "{answer}");
}

#[tokio::test]
async fn idle_connections_cannot_starve_the_gateway() {
    // The test process holds 500 sockets too.
    let _ = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).map(
        |(_, hard)| {
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard)
        },
    );
    // Started with a soft limit of 256 descriptors: the gateway raises it.
    let scratch = tempfile::tempdir().unwrap();
    let gw = Gateway::builder(&witnessed("", &scratch.path().join("ran")))
        .soft_nofile(256)
        .start();
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(tokio::net::TcpStream::connect(gw.address()).await.unwrap());
    }
    for _ in 0..3 {
        let health = tokio::time::timeout(Duration::from_secs(5), reqwest::get(gw.url("/healthz")))
            .await
            .expect("/healthz did not answer while 500 connections were idle")
            .unwrap();
        assert_eq!(health.status(), 200);
        let (status, _, body) = gw
            .chat(json!({"model": "fake:", "messages": user("still here?")}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    drop(idle);
}

/// Whether the gateway closed `socket` within `limit` (it reads the end).
async fn closed_by_gateway(socket: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buffer = [0u8; 64];
    matches!(
        tokio::time::timeout(limit, socket.read(&mut buffer)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn at_the_cap_a_new_connection_takes_the_place_of_the_oldest_waiting_one() {
    let (gw, _scratch) = gateway("max_connections = 3\nheader_timeout_seconds = 30");
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(tokio::net::TcpStream::connect(gw.address()).await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Slow senders: their headers never end.
    for socket in &mut idle {
        use tokio::io::AsyncWriteExt as _;
        socket
            .write_all(b"GET /healthz HTTP/1.1\r\nHo")
            .await
            .unwrap();
    }
    let health = tokio::time::timeout(Duration::from_secs(3), reqwest::get(gw.url("/healthz")))
        .await
        .expect("a new connection waited for the slow ones to time out")
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        closed_by_gateway(&mut idle[0], Duration::from_secs(2)).await,
        "the oldest slow connection made room"
    );
    for socket in &mut idle[1..] {
        assert!(
            !closed_by_gateway(socket, Duration::from_secs(1)).await,
            "only one connection is closed for one new one"
        );
    }
}

#[tokio::test]
async fn a_connection_answering_a_request_is_never_closed_to_make_room() {
    let (gw, _scratch) =
        gateway("max_connections = 2\nheader_timeout_seconds = 30\nbody_timeout_seconds = 2");
    // Two requests whose bodies never finish arriving: both are being answered.
    let mut busy = Vec::new();
    for _ in 0..2 {
        use tokio::io::AsyncWriteExt as _;
        let mut socket = tokio::net::TcpStream::connect(gw.address()).await.unwrap();
        let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                    Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
        socket.write_all(head.as_bytes()).await.unwrap();
        busy.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let health = tokio::time::timeout(Duration::from_secs(10), reqwest::get(gw.url("/healthz")))
        .await
        .expect("the waiting connection was never served")
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "served at once ({:?}): a busy connection was closed for it",
        started.elapsed()
    );
    for socket in &mut busy {
        use tokio::io::AsyncReadExt as _;
        let mut answer = String::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), socket.read_to_string(&mut answer)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    }
}
