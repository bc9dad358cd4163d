//! The server and the proxy as child processes of the soak (so their memory and descriptors
//! are their own), started from the `ossguard` binary and stopped by their PIDs.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running child and the address its banner announced.
pub struct Proc {
    pub name: &'static str,
    pub pid: u32,
    /// `http://127.0.0.1:PORT` from the first line of its output.
    pub url: String,
    child: Child,
}

impl Proc {
    /// Starts `bin args…` and waits (at most 60 s) for its first line, `… listening on URL`.
    pub async fn start(name: &'static str, bin: &Path, args: &[&str]) -> Result<Proc, String> {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {} {name}: {e}", bin.display()))?;
        let pid = child.id().ok_or("the child exited at once")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .map_err(|_| format!("{name} printed nothing within 60 s"))?
            .map_err(|e| format!("reading {name}'s output: {e}"))?
            .ok_or_else(|| format!("{name} exited before announcing its address"))?;
        let url = first
            .split_whitespace()
            .last()
            .filter(|u| u.starts_with("http://"))
            .ok_or_else(|| format!("{name}: unexpected first line {first:?}"))?
            .to_owned();
        // Keep draining its output so a full pipe never blocks it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Proc {
            name,
            pid,
            url,
            child,
        })
    }

    /// SIGINT (both shut down cleanly on Ctrl-C), then SIGKILL after 10 s.
    pub async fn stop(mut self) -> Result<(), String> {
        let _ = Command::new("kill")
            .args(["-INT", &self.pid.to_string()])
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(format!("{} exited with {status}", self.name)),
            Ok(Err(e)) => Err(format!("waiting for {}: {e}", self.name)),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(format!("{} did not stop within 10 s of SIGINT", self.name))
            }
        }
    }
}
