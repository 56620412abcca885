//! A throw-away PostgreSQL cluster that speaks only TLS, with the test
//! CA's server certificate, on a free port: made with `initdb`, started
//! with `pg_ctl`, stopped and removed when dropped (a failed test too).
//!
//! `initdb` and `pg_ctl` refuse to run as root; as root they run as the
//! `postgres` account, in a folder it owns. `PG_BINDIR` names the folder of
//! the server binaries; without it the newest `/usr/lib/postgresql/*/bin`,
//! then `pg_config --bindir`.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use uuid::Uuid;

use super::certs::Certs;
use crate::binary::free_addr;

pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    pub port: u16,
}

impl PgCluster {
    /// Accepts `hostssl` connections from `127.0.0.0/8` only (plaintext
    /// is refused), listening on `127.0.0.1` and `127.0.0.2`.
    pub async fn start(certs: &Certs) -> Self {
        let dir = std::env::temp_dir().join(format!("bulkhead-pg-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let as_postgres = std::fs::metadata(&dir).unwrap().uid() == 0;
        let cluster = Self {
            dir,
            bin: bin_dir(),
            as_postgres,
            port: free_addr().await.port(),
        };
        for file in ["server.crt", "server.key"] {
            std::fs::copy(certs.path(file), cluster.dir.join(file)).unwrap();
        }
        let key = cluster.dir.join("server.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if as_postgres {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(&cluster.dir));
        }
        let data = cluster.dir.join("data");
        run(cluster
            .tool("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
            ])
            .args(["-E", "UTF8", "--locale=C"]));
        // initdb made the file, so it keeps its owner.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.0/8 trust\n",
        )
        .unwrap();
        let dir = cluster.dir.display();
        let options = format!(
            "-c port={} -c listen_addresses=127.0.0.1,127.0.0.2 -c unix_socket_directories={dir} \
             -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key \
             -c fsync=off -c max_connections=40",
            cluster.port
        );
        // `-w` waits until the server accepts connections.
        run(cluster
            .tool("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(cluster.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]));
        cluster
    }

    /// A URL for `database` on this cluster, with a password it ignores
    /// (`trust`), to see that no message quotes it.
    pub fn url(&self, host: &str, database: &str, query: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@{host}:{}/{database}?{query}",
            self.port
        )
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }
}

/// What [`PgCluster::url`] puts in the URL.
pub const PASSWORD: &str = "pg-secret-in-url";

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        if data.join("postmaster.pid").exists() {
            let _ = self
                .tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .max_by_key(|bin| version(bin));
    if let Some(bin) = newest {
        return bin;
    }
    let output = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("PostgreSQL's server binaries (initdb, pg_ctl): set PG_BINDIR");
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// The major version of `/usr/lib/postgresql/<version>/bin`.
fn version(bin: &Path) -> u32 {
    bin.parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str()?.parse().ok())
        .unwrap_or(0)
}
