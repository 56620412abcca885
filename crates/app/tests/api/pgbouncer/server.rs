//! A real PgBouncer in `pool_mode = transaction` in front of the test
//! server, on a free port, stopped when dropped (a failed test too).
//!
//! Its `[pgbouncer]` settings are those of `deploy/pgbouncer/pgbouncer.ini`,
//! so the tests prove the shipped file; only addresses, files,
//! authentication and TLS to the server are replaced. `PGBOUNCER` names the
//! program (`make test` sets it: the system's, or Debian's package unpacked
//! into `.tools/`). PgBouncer refuses to run as root: as root it is told
//! to switch to the `postgres` account (`-u`), in a folder it owns.

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use tokio::process::{Child, Command};
use url::Url;
use uuid::Uuid;

use crate::binary::free_addr;
use crate::helpers::admin_database_url;

/// The shipped configuration the tests start PgBouncer with.
const SHIPPED: &str = include_str!("../../../../../deploy/pgbouncer/pgbouncer.ini");
/// Keys of the shipped `[pgbouncer]` section a test replaces.
const REPLACED: [&str; 10] = [
    "listen_addr",
    "listen_port",
    "auth_type",
    "auth_file",
    "default_pool_size",
    "server_tls_sslmode",
    "server_tls_ca_file",
    "logfile",
    "pidfile",
    "unix_socket_dir",
];

pub struct PgBouncer {
    pub addr: SocketAddr,
    dir: PathBuf,
    child: Child,
}

impl PgBouncer {
    /// PgBouncer lending at most `pool_size` server connections per
    /// database.
    pub async fn start(pool_size: u32) -> Self {
        let dir = std::env::temp_dir().join(format!("bulkhead-pgb-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let addr = free_addr().await;
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(&ini, config(addr, &dir, pool_size)).unwrap();
        let mut command = Command::new(program());
        command
            .arg(&ini)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        if std::fs::metadata(&dir).unwrap().uid() == 0 {
            let (uid, gid) = (id("-u"), id("-g"));
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
            std::os::unix::fs::chown(&ini, Some(uid), Some(gid)).unwrap();
            // Started as root and switching itself: the program may lie
            // where only root can reach it (a clone in a private folder).
            command.arg("-u").arg("postgres");
        }
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("starting {}: {err}", program().display()));
        let bouncer = Self { addr, dir, child };
        bouncer.until_accepting().await;
        bouncer
    }

    /// A URL for `database` through this PgBouncer.
    pub fn url(&self, database: &str) -> String {
        let mut url = Url::parse(&admin_database_url()).unwrap();
        url.set_host(Some(&self.addr.ip().to_string())).unwrap();
        url.set_port(Some(self.addr.port())).unwrap();
        url.set_path(database);
        url.into()
    }

    async fn until_accepting(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = self.url("postgres");
        loop {
            match sqlx::PgConnection::connect(&url).await {
                Ok(conn) => {
                    let _ = conn.close().await;
                    return;
                }
                Err(err) if Instant::now() > deadline => {
                    panic!(
                        "PgBouncer did not accept connections: {err}\n{}",
                        self.log()
                    );
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// What PgBouncer logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The shipped settings with this test's addresses, files and pool size;
/// every database forwarded to the test server, under its role.
fn config(addr: SocketAddr, dir: &std::path::Path, pool_size: u32) -> String {
    let server = Url::parse(&admin_database_url()).unwrap();
    let mut target = format!(
        "host={} port={} user={}",
        server.host_str().unwrap_or("127.0.0.1"),
        server.port().unwrap_or(5432),
        if server.username().is_empty() {
            "postgres"
        } else {
            server.username()
        },
    );
    if let Some(password) = server.password() {
        target.push_str(&format!(" password={password}"));
    }
    let shipped = shipped_pgbouncer_section();
    let dir = dir.display();
    format!(
        "[databases]\n* = {target}\n\n[pgbouncer]\n{shipped}\n\
         listen_addr = {ip}\nlisten_port = {port}\nunix_socket_dir =\n\
         auth_type = any\ndefault_pool_size = {pool_size}\nserver_tls_sslmode = disable\n\
         logfile = {dir}/pgbouncer.log\npidfile = {dir}/pgbouncer.pid\n",
        ip = addr.ip(),
        port = addr.port(),
    )
}

/// The `[pgbouncer]` section of the shipped file without the keys a test
/// replaces; fails when it does not set transaction pooling.
fn shipped_pgbouncer_section() -> String {
    let section: Vec<&str> = SHIPPED
        .lines()
        .skip_while(|line| line.trim() != "[pgbouncer]")
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .filter(|line| {
            let key = line.split('=').next().unwrap_or_default().trim();
            !line.trim_start().starts_with(';') && !key.is_empty() && !REPLACED.contains(&key)
        })
        .collect();
    assert!(
        section
            .iter()
            .any(|line| line.replace(' ', "") == "pool_mode=transaction"),
        "deploy/pgbouncer/pgbouncer.ini does not set pool_mode = transaction"
    );
    section.join("\n")
}

fn program() -> PathBuf {
    std::env::var_os("PGBOUNCER")
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from("pgbouncer"), PathBuf::from)
}

/// The `postgres` account's uid (`-u`) or gid (`-g`).
fn id(flag: &str) -> u32 {
    let output = std::process::Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("running id");
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .expect("a postgres account to run PgBouncer as")
}
