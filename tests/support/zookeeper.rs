//! A real ZooKeeper for tests: Debian's `zookeeper` package run by `java` on
//! a free loopback port with its own data directory, killed on drop. Tests
//! skip (with a message) when java or the package is missing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `zookeeper` package puts the server jar; its manifest
/// names the jars it needs.
pub(crate) const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// A logging backend for the server's slf4j (without one it logs nothing).
pub(crate) const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";
/// How long a server may take to serve after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) struct ZooKeeper {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// Why ZooKeeper cannot run here, or None when it can.
pub(crate) fn unavailable() -> Option<String> {
    let java = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(java, Ok(status) if status.success()) {
        return Some("java is not installed".to_string());
    }
    if !Path::new(ZOOKEEPER_JAR).exists() {
        return Some(format!(
            "{ZOOKEEPER_JAR} is missing (apt-get install zookeeper)"
        ));
    }
    None
}

/// Prints why the calling test does nothing, and returns true, when
/// ZooKeeper cannot run here.
pub(crate) fn skip(test: &str) -> bool {
    match unavailable() {
        Some(reason) => {
            eprintln!("SKIPPED {test}: {reason}");
            true
        }
        None => false,
    }
}

pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().unwrap().port()
}

impl ZooKeeper {
    /// Starts a standalone server (tickTime 500 ms, so sessions may be as
    /// short as 1 s) and waits until it answers.
    pub(crate) fn start() -> ZooKeeper {
        let dir = tempfile::tempdir().unwrap();
        let mut zk = ZooKeeper {
            port: free_port(),
            dir,
            child: None,
        };
        std::fs::create_dir_all(zk.data_dir()).unwrap();
        std::fs::write(
            zk.dir.path().join("zoo.cfg"),
            format!(
                "tickTime=500\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\nmaxClientCnxns=0\n4lw.commands.whitelist=ruok,srvr\n",
                zk.data_dir().display(),
                zk.port
            ),
        )
        .unwrap();
        zk.restart();
        zk
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub(crate) fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port and data (after [`stop`]).
    pub(crate) fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::File::create(self.dir.path().join("zookeeper.log")).unwrap();
        let child = Command::new("java")
            .arg("-cp")
            .arg(format!("{ZOOKEEPER_JAR}:{SLF4J_SIMPLE_JAR}"))
            .arg("-Xmx256m")
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(self.dir.path().join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("java starts");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.answers() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("ZooKeeper exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "ZooKeeper did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server (SIGKILL: no clean shutdown, as a crash).
    #[allow(unsafe_code)] // the unsafe block says why (SAFETY:)
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A paused server must be able to die.
            // SAFETY: as in signal().
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGCONT) };
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is
    /// answered, as a server stuck in a long GC pause.
    pub(crate) fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub(crate) fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    #[allow(unsafe_code)] // the unsafe block says why (SAFETY:)
    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("running");
        // SAFETY: kill() with our own child's pid and a valid signal number
        // has no memory effects.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({signal})");
    }

    /// `srvr` answered with the server's mode (`ruok` says `imok` before the
    /// server serves requests).
    fn answers(&self) -> bool {
        let address: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream.write_all(b"srvr").is_err() {
            return false;
        }
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).contains("Mode:")
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("zookeeper.log")).unwrap_or_default()
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        self.stop();
    }
}
