//! Slow and stalled clients on raw TCP sockets: an idle connection, a partial request line,
//! trickled headers and a trickled body are each cut off after their timeout; a long-lived
//! event stream is not; and an early error answer either announces `Connection: close` or
//! leaves the connection usable for the next request; both HTTP versions are told apart.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;
use switchboard::config::HttpTimeouts;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::scripted_mcp::{SLOW_EVENTS, SLOW_GAP, ScriptedMcp};
use crate::support::{TestApp, expect_json};

const HEADER_READ: Duration = Duration::from_millis(1000);
const BODY_IDLE: Duration = Duration::from_millis(1000);
const KEEP_ALIVE_IDLE: Duration = Duration::from_millis(3000);
/// Allowance for scheduling on a busy machine.
const SLACK: Duration = Duration::from_millis(1500);

async fn app(db: PgPool) -> TestApp {
    TestApp::spawn_public(db, |s| {
        s.http = HttpTimeouts {
            header_read: Some(HEADER_READ),
            body_idle: Some(BODY_IDLE),
            keep_alive_idle: Some(KEEP_ALIVE_IDLE),
        }
    })
    .await
}

/// Waits for the server to close the connection; returns how long that took (after `from`)
/// and whatever it sent first.
async fn closed_after(socket: &mut TcpStream, from: Instant, limit: Duration) -> (Duration, String) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((from + limit).into(), socket.read(&mut buf)).await {
            Err(_) => panic!(
                "the connection was still open after {limit:?}; got {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (from.elapsed(), String::from_utf8_lossy(&received).into_owned());
            }
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response head and its `Content-Length` body.
async fn read_response(socket: &mut TcpStream) -> (u16, String, String) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before a response: {:?}", String::from_utf8_lossy(&data));
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
    while data.len() < head_end + length {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0);
        data.extend_from_slice(&buf[..n]);
    }
    (status, head, String::from_utf8_lossy(&data[head_end..head_end + length]).into_owned())
}

#[sqlx::test]
async fn idle_and_half_sent_requests_are_cut_off(db: PgPool) {
    let app = app(db).await;

    // Idle after accept: the keep-alive idle timeout.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    let (took, _) = closed_after(&mut idle, Instant::now(), KEEP_ALIVE_IDLE + SLACK).await;
    assert!(took >= KEEP_ALIVE_IDLE - Duration::from_millis(100), "not before the idle timeout: {took:?}");

    // A partial request line, then nothing: the header timeout, not the longer idle one.
    let mut partial = TcpStream::connect(app.addr).await.unwrap();
    partial.write_all(b"GET /healthz HT").await.unwrap();
    let sent = Instant::now();
    let (took, _) = closed_after(&mut partial, sent, HEADER_READ + SLACK).await;
    assert!(took >= HEADER_READ - Duration::from_millis(100), "{took:?}");

    // Headers trickled a byte every 200 ms: activity does not extend the header timeout.
    let mut trickle = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut = false;
    for byte in request {
        if trickle.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if started.elapsed() > HEADER_READ + SLACK {
            break;
        }
    }
    if !cut {
        let (took, got) = closed_after(&mut trickle, started, HEADER_READ + SLACK * 2).await;
        assert!(!got.contains("200 OK"), "the trickled request was not served: {got}");
        assert!(took < HEADER_READ + SLACK * 2, "{took:?}");
    }
}

#[sqlx::test]
async fn a_stalled_body_is_answered_408_and_a_huge_one_is_answered_at_all(db: PgPool) {
    let app = app(db).await;
    let t = app.tenant("a").await;
    let head = |length: u64| {
        format!(
            "POST /api/v1/connectors HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
            t.key
        )
    };

    // 20 bytes of a 1,000-byte body, then silence: 408 after the body idle timeout, closed.
    let mut stalled = TcpStream::connect(app.addr).await.unwrap();
    stalled.write_all(head(1000).as_bytes()).await.unwrap();
    stalled.write_all(br#"{"url": "https://a.ex"#).await.unwrap();
    let sent = Instant::now();
    let (status, response_head, body) = read_response(&mut stalled).await;
    assert_eq!(status, 408, "{response_head}{body}");
    assert!(sent.elapsed() >= BODY_IDLE - Duration::from_millis(100));
    assert!(response_head.contains("connection: close"), "{response_head}");
    assert!(body.contains("request_timeout"), "{body}");
    closed_after(&mut stalled, Instant::now(), SLACK).await;

    // A 10 GB Content-Length with 1 KB sent gets an answer, not silence.
    let mut huge = TcpStream::connect(app.addr).await.unwrap();
    huge.write_all(head(10_000_000_000).as_bytes()).await.unwrap();
    huge.write_all(&[b' '; 1024]).await.unwrap();
    let (status, response_head, _) = read_response(&mut huge).await;
    assert!([408, 413].contains(&status), "{response_head}");
    assert!(response_head.contains("connection: close"), "{response_head}");
}

#[sqlx::test]
async fn keep_alive_waits_longer_than_the_header_timeout_and_streams_are_never_cut(db: PgPool) {
    let app = app(db).await;
    let t = app.tenant("a").await;

    // A pause between requests longer than the header timeout but shorter than the idle one.
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    for _ in 0..2 {
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        assert_eq!(read_response(&mut conn).await.0, 200);
        tokio::time::sleep(HEADER_READ + Duration::from_millis(500)).await;
    }

    // An event stream that lasts longer than every timeout, with gaps longer than the header
    // and body ones, reaches its end.
    let upstream = ScriptedMcp::spawn().await;
    let c = app.create_connector(&t.key, json!({"url": upstream.url, "auth": {"mode": "none"}})).await;
    let id = c["id"].as_str().unwrap();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
    expect_json(res, 200).await;
    assert!(
        SLOW_GAP > HEADER_READ && SLOW_GAP > BODY_IDLE && SLOW_GAP * SLOW_EVENTS as u32 > KEEP_ALIVE_IDLE
    );
    let res = app
        .request(reqwest::Method::POST, &format!("/api/v1/connectors/{id}/mcp"), Some(&t.key))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "test/slow_stream"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains(r#""events":4"#), "the stream reached its last event: {text}");
}

#[sqlx::test]
async fn an_early_error_announces_the_close_or_keeps_the_connection_usable(db: PgPool) {
    let app = app(db).await;
    for size in [200 * 1024, 100] {
        let mut conn = TcpStream::connect(app.addr).await.unwrap();
        let request = format!(
            "POST /api/v1/connectors HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {size}\r\n\r\n{}",
            " ".repeat(size)
        );
        conn.write_all(request.as_bytes()).await.unwrap();
        let (status, head, _) = read_response(&mut conn).await;
        assert_eq!(status, 401, "{head}");
        if head.contains("connection: close") {
            closed_after(&mut conn, Instant::now(), SLACK).await;
            continue;
        }
        // Not announced: then the connection must still serve the next request.
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let (status, head, _) = read_response(&mut conn).await;
        assert_eq!(status, 200, "the next request on the connection works ({size}-byte body): {head}");
    }
}

/// The listener tells HTTP/1.1 from HTTP/2 by the first bytes (its socket ends hyper-util's
/// sniff early for HTTP/1.1, decision 0072): prior-knowledge HTTP/2 is still served, and so
/// is an HTTP/1.1 request whose first segment is a lone `P` (which could begin the preface).
#[sqlx::test]
async fn http2_prior_knowledge_and_a_split_first_segment_are_both_served(db: PgPool) {
    let app = app(db).await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let res = h2.get(format!("http://{}/healthz", app.addr)).send().await.unwrap();
    assert_eq!((res.status().as_u16(), res.version()), (200, reqwest::Version::HTTP_2));

    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    conn.write_all(b"P").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    conn.write_all(b"OST /api/v1/connectors HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").await.unwrap();
    let (status, head, _) = read_response(&mut conn).await;
    assert_eq!(status, 401, "{head}");
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (status, head, _) = read_response(&mut conn).await;
    assert_eq!(status, 200, "{head}");
}
