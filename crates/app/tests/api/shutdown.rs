//! Stopping the server.

use reqwest::StatusCode;

use crate::helpers::TestApp;

#[tokio::test]
async fn stopping_drains_and_then_refuses_connections() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/openapi.json").await.status(), StatusCode::OK);
    let addr = app.addr;
    let stopped = app.stop().await;
    assert_eq!(stopped.drain, handler::server::Drain::Complete);
    assert!(stopped.is_clean());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after the drain"
    );
}
