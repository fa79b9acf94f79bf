//! A registry that lies about sizes: a loopback HTTP/1.1 server answering `GET /v2/` and
//! the routes it is given, each with a body that may be endless, drip one byte at a time,
//! or announce a `Content-Length` it never sends. For the resource-bound tests: whatever it
//! does, skiff must stop within its bounds. One request per connection; a connection's
//! thread ends when the client hangs up.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What a route answers.
#[derive(Clone)]
pub enum Body {
    /// These bytes, with their Content-Length.
    Bytes(Vec<u8>),
    /// Zeros forever (chunked).
    Endless,
    /// One byte every interval, forever (chunked).
    Drip(Duration),
    /// `Content-Length: length`, then one byte every interval.
    Announce { length: u64, every: Duration },
}

#[derive(Clone)]
pub struct Route {
    /// The request path, e.g. `/v2/evil/image/manifests/v1`.
    pub path: String,
    pub media_type: String,
    pub body: Body,
}

impl Route {
    pub fn new(path: impl Into<String>, media_type: &str, body: Body) -> Route {
        Route {
            path: path.into(),
            media_type: media_type.into(),
            body,
        }
    }
}

struct State {
    routes: Vec<Route>,
    log: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// A running server on `127.0.0.1:PORT`; stopped on drop.
pub struct HostileRegistry {
    state: Arc<State>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl HostileRegistry {
    pub fn start(routes: Vec<Route>) -> HostileRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind hostile registry");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            routes,
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = serve(&st, conn);
                });
            }
        });
        HostileRegistry {
            state,
            port,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `docker://127.0.0.1:PORT/REPO_AND_TAG`
    pub fn docker_ref(&self, repo_and_tag: &str) -> String {
        format!("docker://{}/{repo_and_tag}", self.host())
    }

    /// `METHOD PATH` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }
}

impl Drop for HostileRegistry {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(st: &State, conn: TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
            break;
        }
    }
    let path = target.split('?').next().unwrap_or("").to_string();
    st.log.lock().unwrap().push(format!("{method} {path}"));
    let head_only = method == "HEAD";
    if path == "/v2/" {
        return answer(&mut w, "200 OK", "application/json", b"{}", head_only);
    }
    let Some(route) = st.routes.iter().find(|r| r.path == path) else {
        let body = br#"{"errors":[{"code":"NOT_FOUND","message":"not here"}]}"#;
        return answer(&mut w, "404 Not Found", "application/json", body, head_only);
    };
    let ct = &route.media_type;
    match &route.body {
        Body::Bytes(b) => answer(&mut w, "200 OK", ct, b, head_only),
        Body::Endless => {
            chunked_head(&mut w, ct)?;
            let chunk = vec![0u8; 64 * 1024];
            loop {
                write!(w, "{:x}\r\n", chunk.len())?;
                w.write_all(&chunk)?;
                w.write_all(b"\r\n")?;
            }
        }
        Body::Drip(every) => {
            chunked_head(&mut w, ct)?;
            loop {
                w.write_all(b"1\r\n\0\r\n")?;
                w.flush()?;
                std::thread::sleep(*every);
            }
        }
        Body::Announce { length, every } => {
            write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {length}\r\nDocker-Distribution-Api-Version: registry/2.0\r\nConnection: close\r\n\r\n"
            )?;
            loop {
                w.write_all(b"\0")?;
                w.flush()?;
                std::thread::sleep(*every);
            }
        }
    }
}

fn answer(
    w: &mut TcpStream,
    status: &str,
    ct: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nDocker-Distribution-Api-Version: registry/2.0\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if !head_only {
        w.write_all(body)?;
    }
    w.flush()
}

fn chunked_head(w: &mut TcpStream, ct: &str) -> std::io::Result<()> {
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nTransfer-Encoding: chunked\r\nDocker-Distribution-Api-Version: registry/2.0\r\nConnection: close\r\n\r\n"
    )
}
