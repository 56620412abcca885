//! Service processes the driver starts: the release binary with its
//! default settings but for addresses, database and webhook, pinned with
//! `taskset` when asked, and killed when dropped (also when the driver
//! fails half-way).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Settings;

/// One running service process.
#[derive(Debug)]
pub(crate) struct Replica {
    child: Child,
    /// The public listener, e.g. `127.0.0.1:18180`.
    pub(crate) http_addr: String,
}

impl Replica {
    /// Starts replica number `index` (its own ports) against the bench
    /// database, posting events to the receiver.
    pub(crate) fn start(settings: &Settings, index: u16) -> anyhow::Result<Self> {
        let http_addr = format!("127.0.0.1:{}", settings.first_port + 2 * index);
        let admin_addr = format!("127.0.0.1:{}", settings.first_port + 2 * index + 1);
        let mut command = match &settings.server_cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus]).arg(&settings.service_bin);
                c
            }
            None => Command::new(&settings.service_bin),
        };
        command
            .env("DATABASE_URL", settings.database_url())
            .env("DATABASE_MIGRATE_ON_START", "true")
            .env("HTTP_ADDR", &http_addr)
            .env("ADMIN_ADDR", admin_addr)
            .env(
                "WEBHOOK_URL",
                format!("http://{}/webhook", settings.receiver_addr),
            )
            .env("WEBHOOK_SECRET", &settings.secret)
            .env("SHUTDOWN_DELAY", "0s")
            // Logs at the default level, written and thrown away, as in
            // the HTTP runs.
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = command.spawn()?;
        Ok(Self { child, http_addr })
    }

    /// Waits until `/startupz` answers `200` (start-up finished, the
    /// worker started), up to 30 s.
    pub(crate) async fn until_started(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        let url = format!("http://{}/startupz", self.http_addr);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the service on {} exited: {status}", self.http_addr);
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::bail!(
            "the service on {} did not start within 30 s",
            self.http_addr
        )
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
