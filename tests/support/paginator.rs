//! A loopback proxy for tests/companions.rs that pages a registry's tag lists.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::loopback::{Acceptor, read_head};

/// A loopback proxy that pages tag lists: Debian's distribution 2.8 ignores `?n=`, so the
/// proxy fetches the whole list and serves it 2 tags at a time with `Link: <…>; rel="next"`,
/// as registries that paginate do. Everything else is relayed. Records every request target.
pub struct Paginator {
    server: Acceptor,
    pub seen: Arc<Mutex<Vec<String>>>,
}

pub const PAGE: usize = 2;

impl Paginator {
    pub fn start(upstream: String) -> Paginator {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = Acceptor::start("bind paginator", move |conn| relay(conn, &upstream, &log));
        Paginator { server, seen }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }
}

/// Sends `head` (already ending in `Connection: close`) upstream; the whole response.
fn forward(upstream: &str, head: &str) -> Option<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).ok()?;
    up.write_all(head.as_bytes()).ok()?;
    let mut response = Vec::new();
    up.read_to_end(&mut response).ok()?;
    Some(response)
}

fn relay(client: TcpStream, upstream: &str, log: &Mutex<Vec<String>>) {
    let Ok(mut reader) = client.try_clone().map(BufReader::new) else {
        return;
    };
    let mut client = client;
    let Ok(Some(head)) = read_head(&mut reader) else {
        return;
    };
    let (method, target) = head.method_and_target();
    log.lock().unwrap().push(target.clone());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut forwarded = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in &head.headers {
        if !name.eq_ignore_ascii_case("connection") {
            forwarded.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    if !path.ends_with("/tags/list") {
        let forwarded = forwarded.replacen(path, &target, 1);
        if let Some(r) = forward(upstream, &forwarded) {
            let _ = client.write_all(&r);
        }
        return;
    }
    let Some(response) = forward(upstream, &forwarded) else {
        return;
    };
    let text = String::from_utf8_lossy(&response).into_owned();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let full: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let all: Vec<String> = serde_json::from_value(full["tags"].clone()).unwrap_or_default();
    let last = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("last="))
        .map(str::to_string);
    let start = match &last {
        Some(l) => all.iter().position(|t| t == l).map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<String> = all.iter().skip(start).take(PAGE).cloned().collect();
    let more = start + page.len() < all.len();
    let body = serde_json::json!({"name": full["name"], "tags": page}).to_string();
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if more {
        let last = page.last().cloned().unwrap_or_default();
        reply.push_str(&format!(
            "Link: <{path}?last={last}&n={PAGE}>; rel=\"next\"\r\n"
        ));
    }
    reply.push_str("\r\n");
    reply.push_str(&body);
    let _ = client.write_all(reply.as_bytes());
}
