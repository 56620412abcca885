//! [`Process`]: a child process for a test, with its environment given in
//! full, its output in a file (so a full pipe can never block it), and a
//! `SIGKILL` when the value is dropped, also when the test panics.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::{Child, Command};

/// How to start a [`Process`].
#[derive(Debug, Clone)]
pub struct ProcessBuilder {
    program: PathBuf,
    args: Vec<String>,
    vars: Vec<(String, String)>,
    log: PathBuf,
}

impl ProcessBuilder {
    /// Runs `program` with an empty environment, its stdout and stderr
    /// written to `log` (replaced if it exists).
    pub fn new(program: impl Into<PathBuf>, log: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            vars: Vec::new(),
            log: log.into(),
        }
    }

    /// Adds an argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds several arguments.
    #[must_use]
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable (later settings of a name win).
    #[must_use]
    pub fn var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.push((name.into(), value.into()));
        self
    }

    /// Sets several environment variables.
    #[must_use]
    pub fn vars<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.vars
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Starts the process.
    ///
    /// # Errors
    /// When the log file cannot be opened or the program cannot start.
    pub fn spawn(&self) -> anyhow::Result<Process> {
        if let Some(dir) = self.log.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let out =
            File::create(&self.log).with_context(|| format!("opening {}", self.log.display()))?;
        let err = out.try_clone().context("duplicating the log file")?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .env_clear()
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        Ok(Process {
            child,
            log: self.log.clone(),
        })
    }

    /// Runs the process to its end, at most `within`.
    ///
    /// # Errors
    /// When it cannot start, does not end in time (it is then killed), or
    /// exits unsuccessfully; the error quotes the end of its log.
    pub async fn run(&self, within: Duration) -> anyhow::Result<()> {
        let mut process = self.spawn()?;
        let status = process.wait(within).await?;
        anyhow::ensure!(
            status.success(),
            "{} exited with {status}; its log ends with:\n{}",
            self.program.display(),
            process.log_tail(20)
        );
        Ok(())
    }
}

/// A running child process, killed when dropped.
#[derive(Debug)]
pub struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Its process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`, ...).
    ///
    /// # Errors
    /// When the process has exited or `kill` fails.
    pub async fn signal(&self, name: &str) -> anyhow::Result<()> {
        let pid = self.id().context("the process has already exited")?;
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .await
            .context("running kill")?;
        anyhow::ensure!(status.success(), "kill -{name} {pid} failed: {status}");
        Ok(())
    }

    /// Kills it with `SIGKILL` and waits for it.
    ///
    /// # Errors
    /// When it cannot be killed or waited for.
    pub async fn kill(&mut self) -> anyhow::Result<ExitStatus> {
        self.child.kill().await.context("killing the process")?;
        self.child.wait().await.context("waiting for the process")
    }

    /// Waits for it to exit, at most `within`.
    ///
    /// # Errors
    /// When it is still running after `within` (it keeps running; dropping
    /// the value kills it), or waiting fails.
    pub async fn wait(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .with_context(|| format!("still running after {within:?}"))?
            .context("waiting for the process")
    }

    /// Its exit status if it has exited.
    ///
    /// # Errors
    /// When the status cannot be read.
    pub fn try_status(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        self.child.try_wait().context("checking the process")
    }

    /// The file its output goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Every line of its output so far.
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// The lines of its output that are JSON objects.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(serde_json::Value::is_object)
            .collect()
    }

    /// The last `n` lines of its output, for error messages.
    pub fn log_tail(&self, n: usize) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}
