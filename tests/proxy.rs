//! The fault proxy on its own: what reaches the server, what reaches the client.

use bitspec::run::proxy::FaultProxy;
use bitspec::scenario::model::Fault;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const REQUEST: &[u8] = b"BITS_POST /f HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/// An upstream that reads until end of file (or 2 s), answering once it has the request.
async fn upstream() -> (String, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let task = tokio::spawn(async move {
        let Ok((mut s, _)) = listener.accept().await else {
            return Vec::new();
        };
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    got.extend_from_slice(&buf[..n]);
                    if got.len() >= REQUEST.len() {
                        let _ = s.write_all(ANSWER).await;
                    }
                }
                _ => return got,
            }
        }
    });
    (address, task)
}

async fn through(fault: Fault) -> (Vec<u8>, Vec<u8>, Duration) {
    let (address, server) = upstream().await;
    let proxy = FaultProxy::start(&address, None, fault, std::time::Duration::from_secs(5))
        .await
        .expect("proxy");
    let mut client = TcpStream::connect(proxy.address()).await.expect("connect");
    let started = Instant::now();
    let _ = client.write_all(REQUEST).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), client.read_to_end(&mut answer)).await;
    let took = started.elapsed();
    drop(client);
    drop(proxy);
    (server.await.expect("server"), answer, took)
}

#[tokio::test]
async fn a_cut_delivers_exactly_n_bytes_and_closes_both_sides() {
    let fault = Fault {
        cut_after_request_bytes: Some(20),
        ..Fault::default()
    };
    let (server, client, _) = through(fault).await;
    assert_eq!(server, &REQUEST[..20]);
    assert!(client.is_empty(), "the client gets no answer");

    let head = REQUEST.len() - 10;
    let fault = Fault {
        cut_after_body_bytes: Some(4),
        ..Fault::default()
    };
    let (server, client, _) = through(fault).await;
    assert_eq!(server, &REQUEST[..head + 4], "the head and four body bytes");
    assert!(client.is_empty());
}

#[tokio::test]
async fn a_dropped_response_reached_the_server_but_not_the_client() {
    let fault = Fault {
        drop_response: true,
        ..Fault::default()
    };
    let (server, client, _) = through(fault).await;
    assert_eq!(server, REQUEST);
    assert!(client.is_empty());
}

#[tokio::test]
async fn a_delay_holds_the_response() {
    let fault = Fault {
        delay_ms: Some(300),
        ..Fault::default()
    };
    let (server, client, took) = through(fault).await;
    assert_eq!(server, REQUEST);
    assert_eq!(client, ANSWER);
    assert!(took >= Duration::from_millis(300), "{took:?}");
}
