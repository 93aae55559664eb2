//! `--metrics-listen ADDR:PORT`: a tiny HTTP/1.x responder for Prometheus, served from the
//! daemon's own poll loop.
//!
//! It answers `GET /metrics` with the metrics ([`crate::metrics`]) and every other request
//! with 404 (another path) or 405 (another method on `/metrics`), then closes the
//! connection. Nothing in it blocks: the listener and the connections are non-blocking and
//! sit in the daemon's `poll` set. It is bounded: at most [`MAX_CONNECTIONS`] at a time
//! (further clients wait in the kernel's backlog), a request head of at most
//! [`MAX_REQUEST_LEN`] bytes, and [`CONNECTION_TIME_MS`] per connection from accept to the
//! last byte of the answer — a client that is slower is dropped. A scraper that holds every
//! slot delays other scrapes by at most that time, never an announcement.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};

use nix::poll::PollFlags;

use crate::metrics::CONTENT_TYPE;

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 8;
/// Longest a connection may take, from accept to the end of the answer, in milliseconds.
pub const CONNECTION_TIME_MS: u64 = 2_000;
/// Longest request head read (request line and headers).
pub const MAX_REQUEST_LEN: usize = 8 * 1024;

/// Where a connection is.
#[derive(Debug)]
enum Stage {
    /// Reading the request head.
    Reading(Vec<u8>),
    /// Writing the answer; how much is written.
    Writing(Vec<u8>, usize),
}

#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    deadline_ms: u64,
    stage: Stage,
}

/// What one connection's turn ended with.
enum Progress {
    /// Waiting for the client.
    Pending,
    /// Answered or failed: close it.
    Done,
}

/// The metrics endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    connections: Vec<Connection>,
    served: u64,
}

impl MetricsServer {
    /// Listens on `address` (non-blocking).
    pub fn bind(address: SocketAddr) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        Ok(MetricsServer {
            listener,
            connections: Vec::new(),
            served: 0,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// How many `GET /metrics` were answered.
    pub fn served(&self) -> u64 {
        self.served
    }

    /// The file descriptors to poll and for what: the listener while a slot is free, each
    /// connection for reading or writing.
    /// At most `1 + MAX_CONNECTIONS` of them; nothing is allocated.
    pub fn poll_interest(&self) -> impl Iterator<Item = (BorrowedFd<'_>, PollFlags)> {
        let listener = (self.connections.len() < MAX_CONNECTIONS)
            .then(|| (self.listener.as_fd(), PollFlags::POLLIN));
        let connections = self.connections.iter().map(|connection| {
            let flags = match connection.stage {
                Stage::Reading(_) => PollFlags::POLLIN,
                Stage::Writing(..) => PollFlags::POLLOUT,
            };
            (connection.stream.as_fd(), flags)
        });
        listener.into_iter().chain(connections)
    }

    /// The earliest connection deadline, in the daemon's milliseconds.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.connections.iter().map(|c| c.deadline_ms).min()
    }

    /// Accepts what waits (while slots are free), moves every connection on as far as it
    /// goes without blocking, and drops those past their deadline. `metrics` renders the
    /// answer to a `GET /metrics`.
    pub fn service(&mut self, now_ms: u64, mut metrics: impl FnMut() -> String) {
        self.connections.retain(|connection| {
            let in_time = now_ms < connection.deadline_ms;
            if !in_time {
                log::debug!("metrics: a client took longer than {CONNECTION_TIME_MS} ms; dropped");
            }
            in_time
        });
        while self.connections.len() < MAX_CONNECTIONS {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_ok() {
                        self.connections.push(Connection {
                            stream,
                            deadline_ms: now_ms + CONNECTION_TIME_MS,
                            stage: Stage::Reading(Vec::new()),
                        });
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                // Per-connection failures (ECONNABORTED, EMFILE): try again next wake.
                Err(error) => {
                    log::debug!("metrics: accept failed: {error}");
                    break;
                }
            }
        }
        let mut served = 0;
        self.connections.retain_mut(|connection| {
            match advance(connection, &mut metrics, &mut served) {
                Progress::Pending => true,
                Progress::Done => false,
            }
        });
        self.served += served;
    }
}

/// Moves one connection on without blocking.
fn advance(
    connection: &mut Connection,
    metrics: &mut impl FnMut() -> String,
    served: &mut u64,
) -> Progress {
    if let Stage::Reading(head) = &mut connection.stage {
        let mut chunk = [0u8; 1024];
        loop {
            match connection.stream.read(&mut chunk) {
                Ok(0) => return Progress::Done,
                Ok(n) => head.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Progress::Done,
            }
            if head_complete(head) || head.len() > MAX_REQUEST_LEN {
                break;
            }
        }
        let answer = if head.len() > MAX_REQUEST_LEN {
            response(
                431,
                "Request Header Fields Too Large",
                "text/plain",
                "request head too long\n",
            )
        } else if head_complete(head) {
            match route(head) {
                Route::Metrics => {
                    *served += 1;
                    response(200, "OK", CONTENT_TYPE, &metrics())
                }
                Route::MethodNotAllowed => response(
                    405,
                    "Method Not Allowed",
                    "text/plain",
                    "only GET /metrics\n",
                ),
                Route::NotFound => response(404, "Not Found", "text/plain", "only GET /metrics\n"),
                Route::Bad => response(400, "Bad Request", "text/plain", "bad request\n"),
            }
        } else {
            return Progress::Pending;
        };
        connection.stage = Stage::Writing(answer, 0);
    }
    if let Stage::Writing(answer, written) = &mut connection.stage {
        while *written < answer.len() {
            match connection
                .stream
                .write(answer.get(*written..).unwrap_or(&[]))
            {
                Ok(0) => return Progress::Done,
                Ok(n) => *written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Progress::Done,
            }
        }
        let _ = connection.stream.shutdown(std::net::Shutdown::Both);
    }
    Progress::Done
}

/// Whether `head` holds a whole request head (ends with an empty line).
fn head_complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    MethodNotAllowed,
    NotFound,
    Bad,
}

/// Routes a request by its request line (`METHOD TARGET HTTP/1.x`).
fn route(head: &[u8]) -> Route {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(head.get(..line_end).unwrap_or(&[])) else {
        return Route::Bad;
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Bad;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::Bad;
    }
    let path = target.split('?').next().unwrap_or(target);
    match (method, path) {
        ("GET", "/metrics") => Route::Metrics,
        (_, "/metrics") => Route::MethodNotAllowed,
        _ => Route::NotFound,
    }
}

/// A whole HTTP/1.1 answer that closes the connection.
fn response(status: u16, reason: &str, content_type: &str, body: &str) -> Vec<u8> {
    let allow = if status == 405 { "Allow: GET\r\n" } else { "" };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn requests_are_routed_by_method_and_path() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics
        );
        assert_eq!(route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Route::Metrics);
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Route::MethodNotAllowed
        );
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"GET /metricsx HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"GET /metrics\r\n\r\n"), Route::Bad);
        assert_eq!(route(b"GET /metrics SPDY/3\r\n\r\n"), Route::Bad);
        assert_eq!(route(b"\xff\xfe /metrics HTTP/1.1\r\n\r\n"), Route::Bad);
        assert!(head_complete(b"GET / HTTP/1.0\n\n"));
        assert!(!head_complete(b"GET / HTTP/1.0\r\n"));
    }

    /// Drives `server` until `done` or 5 s pass (the test's own small loop).
    fn drive(server: &mut MetricsServer, start: Instant, mut done: impl FnMut() -> bool) {
        while !done() && start.elapsed() < Duration::from_secs(5) {
            let now = start.elapsed().as_millis() as u64;
            server.service(now, || "omdisc_members 3\n".to_owned());
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn ask(server: &mut MetricsServer, request: &[u8]) -> String {
        let address = server.local_addr().unwrap();
        let start = Instant::now();
        let mut client = TcpStream::connect(address).unwrap();
        client.write_all(request).unwrap();
        client.set_nonblocking(true).unwrap();
        let mut answer = Vec::new();
        drive(server, start, || {
            let mut chunk = [0u8; 4096];
            match client.read(&mut chunk) {
                Ok(0) => true,
                Ok(n) => {
                    answer.extend_from_slice(&chunk[..n]);
                    false
                }
                Err(_) => false,
            }
        });
        String::from_utf8(answer).unwrap()
    }

    #[test]
    fn get_metrics_is_answered_and_everything_else_refused() {
        let mut server = MetricsServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let answer = ask(&mut server, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(answer.contains("Content-Length: 17\r\n"));
        assert!(answer.ends_with("\r\n\r\nomdisc_members 3\n"));
        assert_eq!(server.served(), 1);
        let answer = ask(&mut server, b"GET /other HTTP/1.1\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
        let answer = ask(&mut server, b"DELETE /metrics HTTP/1.1\r\n\r\n");
        assert!(
            answer.starts_with("HTTP/1.1 405 ") && answer.contains("Allow: GET"),
            "{answer}"
        );
        let long = format!(
            "GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_REQUEST_LEN)
        );
        assert!(ask(&mut server, long.as_bytes()).starts_with("HTTP/1.1 431 "));
        assert_eq!(server.served(), 1);
    }

    #[test]
    fn connections_are_bounded_in_number_and_time() {
        let mut server = MetricsServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = server.local_addr().unwrap();
        // Silent clients: they connect and never send a request.
        let silent: Vec<TcpStream> = (0..MAX_CONNECTIONS + 2)
            .map(|_| TcpStream::connect(address).unwrap())
            .collect();
        server.service(0, String::new);
        assert_eq!(server.connections.len(), MAX_CONNECTIONS);
        assert_eq!(
            server.poll_interest().count(),
            MAX_CONNECTIONS,
            "no listener while full"
        );
        assert_eq!(server.next_deadline_ms(), Some(CONNECTION_TIME_MS));
        server.service(CONNECTION_TIME_MS, String::new);
        // Dropped at their deadline; the two waiting in the backlog are accepted now.
        assert_eq!(server.connections.len(), 2);
        drop(silent);
    }
}
