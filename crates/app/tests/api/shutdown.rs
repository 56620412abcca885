//! Stopping the server.

use reqwest::StatusCode;

use crate::helpers::TestApp;

#[tokio::test]
async fn stopping_drains_and_then_refuses_connections() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/api/v1/users").await.status(), StatusCode::OK);
    let addr = app.addr;
    let drain = app.stop().await;
    assert_eq!(drain, handler::server::Drain::Complete);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after the drain"
    );
}
