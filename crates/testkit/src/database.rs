//! [`Database`]: an empty PostgreSQL database of its own for one test or
//! scenario, dropped (connections and all) when the value is dropped.

use std::net::SocketAddr;

use anyhow::Context as _;
use sqlx::{Connection as _, PgConnection};
use url::Url;
use uuid::Uuid;

/// A database named `{prefix}_{uuid}` on the server of an admin URL.
#[derive(Debug)]
pub struct Database {
    name: String,
    admin: Url,
    url: Url,
}

impl Database {
    /// Creates an empty database on the server that `admin_url` (a URL
    /// with an existing database, such as `postgres`) points at. `prefix`
    /// is lower-case letters, digits and underscores.
    ///
    /// # Errors
    /// When the URL does not parse, the prefix is not a plain identifier,
    /// or the server refuses.
    pub async fn create(admin_url: &str, prefix: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !prefix.is_empty()
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "a database prefix is lower-case letters, digits and underscores"
        );
        let admin = Url::parse(admin_url).context("the admin database URL does not parse")?;
        let name = format!("{prefix}_{}", Uuid::now_v7().simple());
        let mut url = admin.clone();
        url.set_path(&name);
        let mut conn = PgConnection::connect(admin.as_str())
            .await
            .context("connecting to PostgreSQL")?;
        // The name is the checked prefix and a UUID's hex digits.
        let sql = format!(r#"CREATE DATABASE "{name}""#);
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
        let _ = conn.close().await;
        Ok(Self { name, admin, url })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its URL, or the URL through another address (a proxy in front of
    /// the server).
    pub fn url(&self, via: Option<SocketAddr>) -> String {
        let mut url = self.url.clone();
        if let Some(addr) = via {
            // An IP address is always a valid host, and a port too.
            let _ = url.set_ip_host(addr.ip());
            let _ = url.set_port(Some(addr.port()));
        }
        url.to_string()
    }

    /// Where the server listens (for a proxy in front of it).
    ///
    /// # Errors
    /// When the URL names no host.
    pub fn server_addr(&self) -> anyhow::Result<SocketAddr> {
        let host = match self.url.host_str() {
            None | Some("localhost") => "127.0.0.1",
            Some(host) => host,
        };
        format!("{host}:{}", self.url.port().unwrap_or(5432))
            .parse()
            .context("the database host is not an IP address")
    }

    /// A connection of its own, for checks behind the service's back.
    ///
    /// # Errors
    /// When PostgreSQL is unreachable.
    pub async fn connect(&self) -> anyhow::Result<PgConnection> {
        PgConnection::connect(self.url.as_str())
            .await
            .with_context(|| format!("connecting to {}", self.name))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = self.admin.to_string();
        // Drop may run inside or outside a runtime: a runtime of its own on
        // a thread of its own works in both. FORCE ends other connections.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
