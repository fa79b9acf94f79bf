//! A registry that lies about sizes: a loopback HTTP/1.1 server answering `GET /v2/` and
//! the routes it is given, each with a body that may be endless, drip one byte at a time,
//! or announce a `Content-Length` it never sends. For the resource-bound tests: whatever it
//! does, skiff must stop within its bounds. A body may also be held halfway until the test
//! lets it go, to stop a copy at a known point. One request per connection; a connection's
//! thread ends when the client hangs up.
#![allow(dead_code)]

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::loopback::{Acceptor, read_head};

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
    /// These bytes, with their Content-Length: the first half at once, the rest once the
    /// gate is opened.
    Held { bytes: Vec<u8>, gate: Gate },
}

/// Where a `Body::Held` waits: the test sees it reached, and opens it.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<(bool, bool)>, Condvar)>);

impl Gate {
    /// Waits (at most `limit`) until a response has stopped here; false if none did.
    pub fn wait_reached(&self, limit: Duration) -> bool {
        let (m, cv) = &*self.0;
        let guard = m.lock().unwrap();
        let (guard, _) = cv.wait_timeout_while(guard, limit, |s| !s.0).unwrap();
        guard.0
    }

    /// Lets every held response (now and later) finish.
    pub fn open(&self) {
        let (m, cv) = &*self.0;
        m.lock().unwrap().1 = true;
        cv.notify_all();
    }

    fn hold(&self) {
        let (m, cv) = &*self.0;
        let mut s = m.lock().unwrap();
        s.0 = true;
        cv.notify_all();
        while !s.1 {
            s = cv.wait(s).unwrap();
        }
    }
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
}

/// A running server on `127.0.0.1:PORT`; stopped on drop.
pub struct HostileRegistry {
    state: Arc<State>,
    server: Acceptor,
}

impl HostileRegistry {
    pub fn start(routes: Vec<Route>) -> HostileRegistry {
        let state = Arc::new(State {
            routes,
            log: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let server = Acceptor::start("bind hostile registry", move |conn| {
            let _ = serve(&st, conn);
        });
        HostileRegistry { state, server }
    }

    /// Serves the image an OCI layout tags `tag` as `REPO:TAG` (its manifest by tag and by
    /// digest, config and layers), holding halfway at `gate` every layer `hold(index,
    /// size)` picks.
    pub fn serve_layout(
        layout: &Path,
        tag: &str,
        repo: &str,
        hold: impl Fn(usize, usize) -> bool,
        gate: &Gate,
    ) -> HostileRegistry {
        let read_json = |p: &Path| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
        };
        let blob_path = |d: &str| {
            layout
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:"))
        };
        let index = read_json(&layout.join("index.json"));
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .unwrap_or_else(|| panic!("no image tagged {tag} in {}", layout.display()));
        let digest = entry["digest"].as_str().unwrap();
        let manifest_type = entry["mediaType"]
            .as_str()
            .unwrap_or("application/vnd.oci.image.manifest.v1+json");
        let manifest_bytes = std::fs::read(blob_path(digest)).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
        let mut routes = vec![
            Route::new(
                format!("/v2/{repo}/manifests/{tag}"),
                manifest_type,
                Body::Bytes(manifest_bytes.clone()),
            ),
            Route::new(
                format!("/v2/{repo}/manifests/{digest}"),
                manifest_type,
                Body::Bytes(manifest_bytes),
            ),
        ];
        let config = manifest["config"]["digest"].as_str().unwrap();
        routes.push(Route::new(
            format!("/v2/{repo}/blobs/{config}"),
            "application/octet-stream",
            Body::Bytes(std::fs::read(blob_path(config)).unwrap()),
        ));
        for (i, layer) in manifest["layers"].as_array().unwrap().iter().enumerate() {
            let digest = layer["digest"].as_str().unwrap();
            let bytes = std::fs::read(blob_path(digest)).unwrap();
            let body = if hold(i, bytes.len()) {
                Body::Held {
                    bytes,
                    gate: gate.clone(),
                }
            } else {
                Body::Bytes(bytes)
            };
            routes.push(Route::new(
                format!("/v2/{repo}/blobs/{digest}"),
                "application/octet-stream",
                body,
            ));
        }
        HostileRegistry::start(routes)
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port())
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

fn serve(st: &State, conn: TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    let Some(head) = read_head(&mut reader)? else {
        return Ok(());
    };
    let (method, target) = head.method_and_target();
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
        Body::Held { bytes, gate } => {
            let half = bytes.len() / 2;
            write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nDocker-Distribution-Api-Version: registry/2.0\r\nConnection: close\r\n\r\n",
                bytes.len()
            )?;
            if head_only {
                return w.flush();
            }
            w.write_all(&bytes[..half])?;
            w.flush()?;
            gate.hold();
            w.write_all(&bytes[half..])?;
            w.flush()
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
