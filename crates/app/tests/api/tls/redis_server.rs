//! A `redis-server` of the test's own that speaks only TLS, with the test
//! CA's server certificate, optionally requiring a client certificate
//! signed by that CA; killed when dropped.

use std::process::Stdio;
use std::time::{Duration, Instant};

use redis::{ClientTlsConfig, TlsCertificates};

use super::certs::Certs;
use crate::binary::free_addr;

pub struct TlsRedis {
    child: std::process::Child,
    pub url: String,
    /// A client that trusts the test CA and carries the client
    /// certificate: what the test itself reads and writes with.
    client: redis::Client,
}

/// Whether the server asks for a client certificate.
#[derive(Clone, Copy)]
pub enum ClientAuth {
    No,
    Required,
}

impl TlsRedis {
    pub async fn start(certs: &Certs, auth: ClientAuth) -> Self {
        let port = free_addr().await.port().to_string();
        let auth = match auth {
            ClientAuth::No => "no",
            ClientAuth::Required => "yes",
        };
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", "0", "--tls-port", &port])
            .arg("--tls-cert-file")
            .arg(certs.path("server.crt"))
            .arg("--tls-key-file")
            .arg(certs.path("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(certs.path("ca.crt"))
            .args([
                "--tls-auth-clients",
                auth,
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let url = format!("rediss://127.0.0.1:{port}");
        let client = redis::Client::build_with_tls(
            url.as_str(),
            TlsCertificates {
                client_tls: Some(ClientTlsConfig {
                    client_cert: std::fs::read(certs.path("client.crt")).unwrap(),
                    client_key: std::fs::read(certs.path("client.key")).unwrap(),
                }),
                root_cert: Some(std::fs::read(certs.path("ca.crt")).unwrap()),
            },
        )
        .unwrap();
        let mut redis = Self { child, url, client };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.get("ping-before-start").await.is_err() {
            if let Some(status) = redis.child.try_wait().unwrap() {
                panic!("redis-server exited: {status} (built without TLS?)");
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        redis
    }

    /// `GET key` over TLS, as the test's own client.
    pub async fn get(&self, key: &str) -> redis::RedisResult<Option<String>> {
        let mut conn = self.client.get_multiplexed_async_connection().await?;
        redis::cmd("GET").arg(key).query_async(&mut conn).await
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
