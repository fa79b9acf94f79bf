//! Real Docker Engine API peers for the tests, each on its own socket under a temp dir and
//! stopped by PID: Debian's dockerd (vfs, no networking), podman's Docker-API service, and a
//! scripted fake daemon for failures the real ones cannot be made to produce on demand.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub kind: &'static str,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    child: Child,
}

impl Daemon {
    /// `unix://SOCKET`
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// dockerd with its own data, exec root and socket. None if dockerd is not installed.
    pub fn dockerd() -> Option<Daemon> {
        which("dockerd")?;
        let dir = tempfile::Builder::new()
            .prefix("skiff-dk")
            .tempdir_in("/tmp")
            .ok()?;
        let d = dir.path();
        let socket = d.join("sock");
        let child = Command::new("dockerd")
            .args([
                "--storage-driver=vfs",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
            ])
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(d.join("log")).ok()?)
            .stderr(std::fs::File::create(d.join("log.err")).ok()?)
            .spawn()
            .ok()?;
        Some(Daemon::wait_ready("dockerd", dir, socket, child))
    }

    /// podman's Docker-compatible API service. None if podman is not installed.
    pub fn podman() -> Option<Daemon> {
        which("podman")?;
        let dir = tempfile::Builder::new()
            .prefix("skiff-pm")
            .tempdir_in("/tmp")
            .ok()?;
        let d = dir.path();
        let socket = d.join("sock");
        let child = Command::new("podman")
            .args(podman_store_args(d))
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(d.join("log")).ok()?)
            .stderr(std::fs::File::create(d.join("log.err")).ok()?)
            .spawn()
            .ok()?;
        Some(Daemon::wait_ready("podman", dir, socket, child))
    }

    fn wait_ready(
        kind: &'static str,
        dir: tempfile::TempDir,
        socket: PathBuf,
        child: Child,
    ) -> Daemon {
        let mut me = Daemon {
            kind,
            dir,
            socket,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if ping(&me.socket) {
                return me;
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                let log =
                    std::fs::read_to_string(me.dir.path().join("log.err")).unwrap_or_default();
                panic!("{kind} exited ({status}) before it answered:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(me.dir.path().join("log.err")).unwrap_or_default();
        panic!(
            "{kind} did not answer on {} within 30s:\n{log}",
            me.socket.display()
        );
    }

    /// The matching CLI: `docker -H unix://S …` or `podman --root … …`.
    pub fn cli(&self) -> Command {
        match self.kind {
            "dockerd" => {
                let mut c = Command::new("docker");
                c.arg("-H").arg(self.host());
                c
            }
            _ => {
                let mut c = Command::new("podman");
                c.args(podman_store_args(self.dir.path()));
                c
            }
        }
    }
}

fn podman_store_args(d: &Path) -> Vec<String> {
    vec![
        "--storage-driver=vfs".into(),
        "--root".into(),
        d.join("root").display().to_string(),
        "--runroot".into(),
        d.join("run").display().to_string(),
    ]
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd; then wait, and SIGKILL if it hangs.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling our own child by its PID.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.exists())
}

fn ping(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

// ------------------------------------------------------------------------------------------
// A scripted fake daemon
// ------------------------------------------------------------------------------------------

/// What the fake daemon does with image requests.
#[derive(Clone)]
pub enum FakeMode {
    /// GET …/get: send headers promising `promise` bytes, then `body`, then hang up.
    SaveTruncated { body: Vec<u8>, promise: usize },
    /// POST …/load: read `after` bytes of the upload, then hang up.
    LoadHangUp { after: usize },
    /// POST …/load: read it all, answer 200 with this JSON stream.
    LoadReply(String),
    /// Any image request: this status and JSON body.
    Status(u16, String),
}

pub struct FakeDaemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
}

impl FakeDaemon {
    pub fn start(mode: FakeMode) -> FakeDaemon {
        let dir = tempfile::Builder::new()
            .prefix("skiff-fk")
            .tempdir_in("/tmp")
            .unwrap();
        let socket = dir.path().join("sock");
        let listener = UnixListener::bind(&socket).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let mode = mode.clone();
                std::thread::spawn(move || serve(conn, mode));
            }
        });
        FakeDaemon { dir, socket }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

fn serve(conn: UnixStream, mode: FakeMode) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut length: Option<usize> = None;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().ok();
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        if path == "/_ping" {
            let _ =
                w.write_all(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK");
            continue;
        }
        match (&mode, method.as_str()) {
            (FakeMode::Status(code, body), _) => {
                let _ = write!(
                    w,
                    "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                return;
            }
            (FakeMode::SaveTruncated { body, promise }, "GET") => {
                let _ = write!(
                    w,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: {promise}\r\n\r\n"
                );
                let _ = w.write_all(body);
                let _ = w.flush();
                return; // hang up
            }
            (FakeMode::LoadHangUp { after }, "POST") => {
                let mut buf = vec![0u8; *after];
                let _ = r.read_exact(&mut buf);
                let _ = w.shutdown(std::net::Shutdown::Both);
                return;
            }
            (FakeMode::LoadReply(reply), "POST") => {
                drain_body(&mut r, length, chunked);
                let _ = write!(
                    w,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
                    reply.len()
                );
                return;
            }
            _ => {
                let _ = w.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                return;
            }
        }
    }
}

fn drain_body(r: &mut impl BufRead, length: Option<usize>, chunked: bool) {
    if let Some(n) = length {
        let mut buf = vec![0u8; n];
        let _ = r.read_exact(&mut buf);
        return;
    }
    if chunked {
        loop {
            let mut size = String::new();
            if r.read_line(&mut size).unwrap_or(0) == 0 {
                return;
            }
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut buf = vec![0u8; n + 2];
            if r.read_exact(&mut buf).is_err() || n == 0 {
                return;
            }
        }
    }
}
