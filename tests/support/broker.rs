//! The real `sluice` binary for integration tests: one broker on a free
//! loopback port with its own data directory, stopped (SIGTERM) on drop.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::zookeeper::free_port;

const START_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) struct Broker {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Broker {
    pub(crate) fn start() -> Broker {
        let mut broker = Broker {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        broker.restart();
        broker
    }

    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker on the same port and data directory.
    pub(crate) fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("broker.stderr"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("broker")
            .arg("--listen")
            .arg(self.address())
            .arg("--log-dirs")
            .arg(self.dir.path().join("data"))
            .arg("--cores")
            .arg("2")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("the sluice binary starts");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("sluice exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "sluice did not listen:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, as a crash.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.stderr")).unwrap_or_default()
    }
}

impl Drop for Broker {
    #[allow(unsafe_code)] // the unsafe block says why (SAFETY:)
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill() on our own child's pid has no memory effects.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
