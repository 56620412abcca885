//! The proxy's three modes against a real echo server.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::{FaultProxy, Mode};

/// An echo server on a loopback port.
async fn echo() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn round_trip(stream: &mut TcpStream, text: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(text).await?;
    let mut buf = vec![0; text.len()];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Reads until the peer ends the connection; `true` when it did.
async fn ended(stream: &mut TcpStream) -> bool {
    let mut buf = [0; 16];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn pass_forwards_both_ways() {
    let proxy = FaultProxy::start(echo().await).await.unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut stream, b"ping").await.unwrap(), b"ping");
    assert_eq!(proxy.accepted(), 1);
}

#[tokio::test]
async fn refuse_resets_existing_and_new_connections() {
    let proxy = FaultProxy::start(echo().await).await.unwrap();
    let mut existing = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut existing, b"a").await.unwrap(), b"a");

    proxy.set(Mode::Refuse);
    assert!(
        ended(&mut existing).await,
        "the open connection was not cut"
    );
    let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(ended(&mut new).await, "a new connection was not reset");

    proxy.set(Mode::Pass);
    let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut again, b"b").await.unwrap(), b"b");
    assert!(proxy.reset() >= 2);
}

#[tokio::test]
async fn a_black_hole_holds_bytes_without_closing_and_delivers_them_after() {
    let proxy = FaultProxy::start(echo().await).await.unwrap();
    let mut existing = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut existing, b"a").await.unwrap(), b"a");

    proxy.set(Mode::BlackHole);
    let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
    for stream in [&mut existing, &mut new] {
        let held =
            tokio::time::timeout(Duration::from_millis(200), round_trip(stream, b"held")).await;
        assert!(held.is_err(), "an answer came out of the black hole");
    }

    // What was sent into the hole arrives once it closes.
    proxy.set(Mode::Pass);
    for stream in [&mut existing, &mut new] {
        let mut buf = [0; 4];
        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"held");
    }
}
