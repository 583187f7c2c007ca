//! Real ZooKeeper servers for tests: an ensemble of `n` on loopback, on free ports, each a Java
//! process from Debian's `zookeeper` package, that a test can stop and start again. Servers
//! tick every 200 ms so sessions can be short (the minimum session timeout is two ticks).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const JAR: &str = "/usr/share/java/zookeeper.jar";

/// Whether ZooKeeper and Java are installed here (`apt-get install zookeeper`).
pub fn available() -> bool {
    Path::new(JAR).exists()
        && Command::new("java")
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

struct Server {
    id: usize,
    client_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

pub struct Ensemble {
    dir: PathBuf,
    servers: Vec<Server>,
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Ask a server `srvr` (a four-letter word); its answer names its mode once it serves.
fn mode(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    s.write_all(b"srvr").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(|m| m.trim().to_string())
}

impl Ensemble {
    /// Start `n` servers and wait until each serves (one leads, the others follow).
    pub fn start(n: usize) -> std::io::Result<Ensemble> {
        let dir = std::env::temp_dir().join(format!(
            "drover-zk-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let mut ports = Vec::new();
        for _ in 0..n {
            ports.push((free_port()?, free_port()?, free_port()?));
        }
        let mut servers = Vec::new();
        for (i, (client, _, _)) in ports.iter().enumerate() {
            let id = i + 1;
            let sdir = dir.join(format!("zk{id}"));
            std::fs::create_dir_all(sdir.join("data"))?;
            std::fs::write(sdir.join("data/myid"), format!("{id}\n"))?;
            let mut cfg = format!(
                "tickTime=200\ninitLimit=20\nsyncLimit=10\ndataDir={}\nclientPort={client}\n\
                 clientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
                 4lw.commands.whitelist=srvr,ruok\nmaxSessionTimeout=30000\n",
                sdir.join("data").display()
            );
            if n > 1 {
                for (j, (_, peer, election)) in ports.iter().enumerate() {
                    cfg.push_str(&format!("server.{}=127.0.0.1:{peer}:{election}\n", j + 1));
                }
            }
            std::fs::write(sdir.join("zoo.cfg"), cfg)?;
            servers.push(Server {
                id,
                client_port: *client,
                dir: sdir,
                child: None,
            });
        }
        let mut e = Ensemble { dir, servers };
        for i in 0..n {
            e.spawn(i)?;
        }
        e.wait_serving(Duration::from_secs(60))?;
        Ok(e)
    }

    fn spawn(&mut self, i: usize) -> std::io::Result<()> {
        let s = &mut self.servers[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(s.dir.join("server.log"))?;
        let child = Command::new("java")
            .args([
                "-Xmx96m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Dzookeeper.log.dir=.",
                "-cp",
                "/usr/share/java/zookeeper.jar:/usr/share/java/*:/etc/zookeeper/conf_example",
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            ])
            .arg(s.dir.join("zoo.cfg"))
            .current_dir(&s.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        s.child = Some(child);
        Ok(())
    }

    /// Wait until every running server serves.
    pub fn wait_serving(&self, within: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + within;
        for s in self.servers.iter().filter(|s| s.child.is_some()) {
            while mode(s.client_port).is_none() {
                if Instant::now() > deadline {
                    let log = std::fs::read_to_string(s.dir.join("server.log")).unwrap_or_default();
                    let tail: String = log
                        .lines()
                        .rev()
                        .take(30)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n");
                    return Err(std::io::Error::other(format!(
                        "ZooKeeper server {} on port {} did not serve within {within:?}; its log ends:\n{tail}",
                        s.id, s.client_port
                    )));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// `host:port,…` of every server.
    pub fn servers(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `zk://<every server><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("zk://{}{path}", self.servers())
    }

    /// Kill server `i` (0-based) with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.servers[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start server `i` again (after `kill`), with its data.
    pub fn restart(&mut self, i: usize) -> std::io::Result<()> {
        self.kill(i);
        self.spawn(i)
    }

    /// Kill every server.
    pub fn stop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
