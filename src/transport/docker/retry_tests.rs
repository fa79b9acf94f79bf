//! Counting the requests a failing registry gets: every retry of a request, and every
//! resume of a download, spends from one budget (`transport::retry`). The registry is a
//! loopback HTTP/1.1 double that answers from a script.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;

use super::auth::Credentials;
use super::client::{ClientConfig, RegistryClient, Request};
use super::source::open_download;
use crate::report::Reporter;
use crate::transport::retry::{MAX_ATTEMPTS, RetryBudget};

/// How the double answers a request other than the `/v2/` ping.
#[derive(Clone, Copy)]
enum Answer {
    /// 503 with `Retry-After: 0`, so the test does not wait.
    Unavailable,
    /// A 200 (206 for a Range request) that promises 1000 bytes, sends 10 and hangs up.
    Truncated,
}

/// Request lines ("GET /v2/... HTTP/1.1") and their Range headers, in order.
type Log = Mutex<Vec<(String, Option<String>)>>;

struct Double {
    port: u16,
    seen: Arc<Log>,
}

impl Double {
    fn start(answer: Answer) -> Double {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let log = log.clone();
                std::thread::spawn(move || serve(conn, answer, &log));
            }
        });
        Double { port, seen }
    }

    fn requests_for(&self, path: &str) -> Vec<Option<String>> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(line, _)| line.split(' ').nth(1) == Some(path))
            .map(|(_, range)| range.clone())
            .collect()
    }

    async fn client(&self) -> RegistryClient {
        RegistryClient::connect(ClientConfig {
            host: format!("127.0.0.1:{}", self.port),
            insecure: true,
            ca_certs: vec![],
            client_cert: None,
            credentials: Credentials::Anonymous,
            user_agent: super::client::user_agent(None),
            report: Reporter::silent(),
        })
        .await
        .expect("the double answers the ping")
    }
}

/// One connection: answers requests until the client hangs up (or a truncation does).
fn serve(conn: TcpStream, answer: Answer, log: &Log) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        // The HTTPS attempt sends a TLS hello: not a request line, so the connection ends.
        if reader.read_line(&mut line).unwrap_or(0) == 0 || !line.ends_with("HTTP/1.1\r\n") {
            return;
        }
        let mut range = None;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((name, value)) = h.split_once(':')
                && name.eq_ignore_ascii_case("range")
            {
                range = Some(value.trim().to_string());
            }
        }
        let line = line.trim_end().to_string();
        if line.starts_with("GET /v2/ ") {
            let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            continue;
        }
        log.lock().unwrap().push((line, range.clone()));
        match answer {
            Answer::Unavailable => {
                let _ = out.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n",
                );
            }
            Answer::Truncated => {
                let status = if range.is_some() {
                    "206 Partial Content"
                } else {
                    "200 OK"
                };
                let _ = out.write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 1000\r\n\r\n0123456789")
                        .as_bytes(),
                );
                return;
            }
        }
    }
}

const MANIFEST: &str = "/v2/r/manifests/v1";
const BLOB: &str =
    "/v2/r/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[tokio::test]
async fn a_request_outside_any_operation_gets_its_own_budget() {
    let double = Double::start(Answer::Unavailable);
    let client = double.client().await;
    let resp = client
        .send(&Request::new(reqwest::Method::GET, MANIFEST), &[])
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(double.requests_for(MANIFEST).len(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn requests_inside_an_operation_share_its_budget() {
    let double = Double::start(Answer::Unavailable);
    let client = double.client().await;
    let budget = RetryBudget::new();
    // Two retries already spent elsewhere in the operation (a resume, a restart).
    budget.take();
    budget.take();
    let req = Request::new(reqwest::Method::GET, MANIFEST);
    let resp = budget.scope(client.send(&req, &[])).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(double.requests_for(MANIFEST).len(), 3);
    // Spent: the next request of the operation is sent once.
    budget.scope(client.send(&req, &[])).await.unwrap();
    assert_eq!(double.requests_for(MANIFEST).len(), 4);
}

#[tokio::test]
async fn a_download_resumes_within_its_budget_then_fails_as_transient() {
    let double = Double::start(Answer::Truncated);
    let client = Arc::new(double.client().await);
    let budget = RetryBudget::new();
    let mut reader = open_download(client, "r", BLOB, None, budget.clone())
        .await
        .unwrap();
    let mut got = Vec::new();
    let err = reader.read_to_end(&mut got).await.unwrap_err();
    assert!(crate::pipeline::is_transient(&err), "{err}");
    assert!(
        err.to_string().contains("gave up after 5 attempts"),
        "{err}"
    );
    let ranges = double.requests_for(BLOB);
    assert_eq!(ranges.len(), MAX_ATTEMPTS as usize, "{ranges:?}");
    // Each resume asks for the bytes after those received.
    let expected: Vec<_> = (0..MAX_ATTEMPTS as u64)
        .map(|i| (i > 0).then(|| format!("bytes={}-", i * 10)))
        .collect();
    assert_eq!(ranges, expected);
    assert_eq!(got.len(), 10 * MAX_ATTEMPTS as usize);
}
