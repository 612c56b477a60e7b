//! The gateway binary as a child process on port 0: spawned from a prepared
//! `Command`, its stderr collected, its address read from the `listening on`
//! line, and stopped with SIGTERM (then SIGKILL) when dropped.
//!
//! Shared by the integration tests and `benches/gateway.rs` (included there
//! with `#[path]`), so it must not use anything else of the test crate.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a gateway gets to print its `listening on` line.
const START_LIMIT: Duration = Duration::from_secs(20);

/// A running gateway process.
pub(crate) struct GatewayProcess {
    /// `http://127.0.0.1:PORT`
    pub(crate) base: String,
    child: Child,
    logs: Arc<Mutex<String>>,
}

impl GatewayProcess {
    /// Spawns `command` (the binary with its arguments, directory and
    /// environment) and waits until it listens.
    ///
    /// # Errors
    /// When it cannot start or does not listen within 20 s (with its logs).
    pub(crate) fn spawn(mut command: Command) -> Result<GatewayProcess, String> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("starting the gateway: {e}"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or("the gateway's stderr is missing")?;
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(
                        addr.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                if let Ok(mut logs) = sink.lock() {
                    logs.push_str(&line);
                    logs.push('\n');
                }
            }
        });
        let Ok(addr) = rx.recv_timeout(START_LIMIT) else {
            let _ = child.kill();
            let _ = child.wait();
            let logs = logs.lock().map(|l| l.clone()).unwrap_or_default();
            return Err(format!("the gateway did not start; logs:\n{logs}"));
        };
        Ok(GatewayProcess {
            base: format!("http://{addr}"),
            child,
            logs,
        })
    }

    /// Everything the gateway logged so far.
    pub(crate) fn logs(&self) -> String {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The gateway's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
