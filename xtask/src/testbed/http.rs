//! [`http_get_in`]: one bounded HTTP/1.1 GET from inside a namespace (metrics endpoints,
//! Prometheus' API), without an HTTP client dependency.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::netns::in_namespace;

/// Longest a request may take, connecting included.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read.
const MAX_ANSWER: u64 = 16 << 20;

/// `GET PATH` from `address`, inside namespace `ns`: the status code and the body.
pub fn http_get_in(ns: &str, address: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let what = format!("GET http://{address}{path}");
    let answer = in_namespace(ns, move || {
        let mut stream = TcpStream::connect_timeout(&address, HTTP_TIMEOUT)
            .map_err(|e| format!("cannot connect to {address}: {e}"))?;
        stream
            .set_read_timeout(Some(HTTP_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(HTTP_TIMEOUT)))
            .and_then(|()| stream.write_all(request.as_bytes()))
            .map_err(|e| format!("cannot send to {address}: {e}"))?;
        let mut answer = Vec::new();
        stream
            .take(MAX_ANSWER)
            .read_to_end(&mut answer)
            .map_err(|e| format!("cannot read from {address}: {e}"))?;
        Ok(answer)
    })
    .map_err(|why| format!("{what}: {why}"))?;
    parse_answer(&answer).map_err(|why| format!("{what}: {why}"))
}

/// Status and body of a whole HTTP/1.x answer (`Content-Length` or read to the end;
/// chunked bodies are decoded).
fn parse_answer(answer: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| {
        format!(
            "no complete answer: {:?}",
            text.chars().take(80).collect::<String>()
        )
    })?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {:?}", head.lines().next().unwrap_or("")))?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Ok((status, body))
}

/// Decodes a chunked body.
fn dechunk(mut body: &str) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").ok_or("truncated chunk size")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size:?}"))?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..size).ok_or("truncated chunk")?);
        body = rest.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed_plain_and_chunked() {
        assert_eq!(
            parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap(),
            (200, "ok".to_string())
        );
        assert_eq!(
            parse_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                .unwrap(),
            (200, "abcde".to_string())
        );
        assert!(parse_answer(b"HTTP/1.1 200").is_err());
    }
}
