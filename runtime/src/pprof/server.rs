//! [`serve`]: gort's `/debug/pprof/` server, [`http::route`] on a small
//! HTTP/1.1 connection loop of its own.
//!
//! See [super] for the overview and [`http`] for the routes.
//!
//! # Threads
//!
//! One accept thread (`gort-pprof-http`) and a fixed pool of
//! [`WORKERS`] = 8 request threads (`gort-pprof-req`), started with the
//! server and never more. The accept thread hands each connection to
//! the pool through a queue of [`QUEUED`] = 32 places; a connection that
//! finds the queue full is answered at once with 503 `Service Unavailable`
//! (`Retry-After: 1`) and closed. Go's server has no bound (a goroutine
//! per connection), but goroutines are cheap and Go's process stays at a
//! handful of threads; an OS thread per request is not cheap, so gort
//! bounds them: eight requests answered at once cover a CPU profile, a
//! trace and several delta profiles running side by side while the index
//! and the instant profiles still answer, and a flood waits or is refused
//! instead of growing the process.
//!
//! # Connections
//!
//! Each connection carries one request (`Connection: close` on every
//! answer; a client opens a new connection for the next one). The request
//! head is read with a 10 s timeout (an idle connection does not hold a
//! worker longer) and parsed with `httparse`; a `Content-Length` body is
//! read (at most 1 MiB: `symbol`'s POST). The handler gets the request
//! with a [`Disconnect`] that watches the socket, so a `profile`, `trace` or
//! delta request whose client closes its connection is cancelled at once
//! (Go's server cancels the request's context the same way) and its worker
//! is free again. A body of known length goes out with `Content-Length`; a
//! stream (the trace) with `Transfer-Encoding: chunked`, one chunk per read,
//! as the tracer writes (to an HTTP/1.0 client: unframed, up to the
//! close). A write that stalls for 30 s, or fails, ends the
//! connection; a stream that fails is cut without its final chunk, so the
//! client sees an incomplete transfer rather than a short trace.

use super::http::{self, Body, Disconnect};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Request threads of one server.
pub const WORKERS: usize = 8;
/// Connections waiting for a request thread before new ones get 503.
pub const QUEUED: usize = 32;
/// How long a connection may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write to the client may stall.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head and body accepted.
const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 1 << 20;

/// A running `/debug/pprof/` server (from [`serve`]). Dropping it (or
/// [`PprofServer::stop`]) closes the listener and joins the accept
/// thread; requests already being answered finish on their request
/// threads, which then exit.
pub struct PprofServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PprofServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PprofServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl PprofServer {
    /// The address the server listens on (with the real port when `serve`
    /// was given port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server (the same as dropping it).
    pub fn stop(self) {}
}

impl Drop for PprofServer {
    fn drop(&mut self) {
        // Release: pairs with the Acquire load after `accept` returns; the
        // accept thread then sees the flag for the connection made below.
        self.stopping.store(true, Ordering::Release);
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        // Wake the accept thread out of `accept`.
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves Go's `/debug/pprof/` endpoints ([`http::route`]) on `addr` (e.g.
/// `"127.0.0.1:6060"`, or port 0 for any free port), as a Go program does
/// with `import _ "net/http/pprof"` and `http.ListenAndServe(addr, nil)`.
/// Starts the runtime if needed. The server runs on its own threads (see
/// [`WORKERS`] and the module doc) until the returned [`PprofServer`] is
/// dropped.
///
/// ```no_run
/// let server = gort::pprof::serve("127.0.0.1:6060").unwrap();
/// println!("go tool pprof -top http://{}/debug/pprof/heap", server.addr());
/// ```
pub fn serve(addr: impl ToSocketAddrs) -> io::Result<PprofServer> {
    crate::run::ensure_started();
    let addr = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "serve: no address given"))?;
    let listener = TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("serve {addr}: {e}")))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = sync_channel::<TcpStream>(QUEUED);
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..WORKERS {
        let rx = rx.clone();
        // The runtime's own threads: not possible wakers for the deadlock
        // check (counted before they exist).
        let mark = gort_scheduler::RuntimeThread::begin();
        std::thread::Builder::new()
            .name("gort-pprof-req".into())
            .spawn(move || {
                let _mark = mark;
                worker(&rx)
            })?;
    }
    let stopping = Arc::new(AtomicBool::new(false));
    let stop = stopping.clone();
    let mark = gort_scheduler::RuntimeThread::begin();
    let thread = std::thread::Builder::new()
        .name("gort-pprof-http".into())
        .spawn(move || {
            let _mark = mark;
            for conn in listener.incoming() {
                // Acquire: pairs with the Release store in `drop`.
                if stop.load(Ordering::Acquire) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                match tx.try_send(conn) {
                    Ok(()) => {}
                    Err(TrySendError::Full(conn)) => refuse(conn),
                    Err(TrySendError::Disconnected(_)) => break,
                }
            }
            // Dropping `tx` (and the listener) lets the workers exit once
            // the queue is empty.
        })?;
    Ok(PprofServer {
        addr,
        stopping,
        thread: Some(thread),
    })
}

/// A request thread: answers connections from the queue until the server
/// stops.
fn worker(rx: &Mutex<Receiver<TcpStream>>) {
    loop {
        let conn = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(conn) = conn else { return };
        let _ = answer(conn);
    }
}

/// 503 for a connection the pool has no room for.
fn refuse(mut conn: TcpStream) {
    let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
    let body = format!("too many requests in progress ({WORKERS} answering, {QUEUED} waiting)\n");
    let _ = write!(
        conn,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nRetry-After: 1\r\nDate: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        http_date(),
        body.len()
    );
}

/// Reads one request from `conn`, answers it, closes the connection.
fn answer(mut conn: TcpStream) -> io::Result<()> {
    conn.set_read_timeout(Some(HEAD_TIMEOUT))?;
    conn.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let (req, head_only) = match read_request(&mut conn)? {
        Ok(r) => r,
        Err((status, text)) => {
            let resp = ::http::Response::builder()
                .status(status)
                .header("Content-Type", "text/plain; charset=utf-8")
                .body(Body::from(format!("{text}\n").into_bytes()))
                .map_err(io::Error::other)?;
            return write_response(&mut conn, resp, false);
        }
    };
    let resp = http::route(&req);
    let chunked = req.version() != ::http::Version::HTTP_10;
    write_response_framed(&mut conn, resp, head_only, chunked)
}

/// A parsed request and whether it was `HEAD`, or the status and text to
/// refuse it with; `Err` if the connection failed or closed first.
type Parsed = Result<(::http::Request<Vec<u8>>, bool), (u16, &'static str)>;

fn read_request(conn: &mut TcpStream) -> io::Result<Parsed> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        let head_len = match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => {
                return Ok(Err((431, "431 Request Header Fields Too Large")))
            }
            Err(_) => return Ok(Err((400, "400 Bad Request"))),
        };
        let method = parsed.method.unwrap_or("GET");
        let version = if parsed.version == Some(0) {
            ::http::Version::HTTP_10
        } else {
            ::http::Version::HTTP_11
        };
        let mut b = ::http::Request::builder()
            .method(method)
            .version(version)
            .uri(parsed.path.unwrap_or("/"));
        let mut length = 0usize;
        for h in parsed.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                match std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                {
                    Some(n) => length = n,
                    None => return Ok(Err((400, "400 Bad Request"))),
                }
            }
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                return Ok(Err((501, "501 chunked request bodies are not supported")));
            }
            b = b.header(h.name, h.value);
        }
        if length > MAX_BODY {
            return Ok(Err((413, "413 Request Entity Too Large")));
        }
        let head_only = method == "HEAD";
        let mut body = buf.split_off(head_len);
        body.truncate(length);
        while body.len() < length {
            let n = conn.read(&mut chunk[..(length - body.len()).min(4096)])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            body.extend_from_slice(&chunk[..n]);
        }
        let Ok(mut req) = b.body(body) else {
            return Ok(Err((400, "400 Bad Request")));
        };
        req.extensions_mut().insert(Disconnect::of_socket(conn)?);
        return Ok(Ok((req, head_only)));
    }
}

/// Writes `resp` to an HTTP/1.1 client.
fn write_response(
    conn: &mut TcpStream,
    resp: ::http::Response<Body>,
    head_only: bool,
) -> io::Result<()> {
    write_response_framed(conn, resp, head_only, true)
}

/// Writes `resp`: status line, its headers, `Date`, the framing, the body.
/// A stream goes out chunked, or to an HTTP/1.0 client (`chunked`
/// false), as bytes up to the close of the connection.
fn write_response_framed(
    conn: &mut TcpStream,
    resp: ::http::Response<Body>,
    head_only: bool,
    chunked: bool,
) -> io::Result<()> {
    let (parts, mut body) = resp.into_parts();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    );
    for (k, v) in &parts.headers {
        head.push_str(&canonical(k.as_str()));
        head.push_str(": ");
        head.push_str(&String::from_utf8_lossy(v.as_bytes()));
        head.push_str("\r\n");
    }
    head.push_str(&format!("Date: {}\r\n", http_date()));
    let len = body.len();
    match len {
        Some(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        None if chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        None => {}
    }
    head.push_str("Connection: close\r\n\r\n");
    if len.is_some() || head_only {
        let mut all = head.into_bytes();
        if !head_only {
            body.read_to_end(&mut all)?;
        }
        conn.write_all(&all)?;
        return conn.flush();
    }
    conn.write_all(head.as_bytes())?;
    let mut buf = vec![0u8; 32 << 10];
    if !chunked {
        io::copy(&mut body, conn)?;
        return conn.flush();
    }
    loop {
        let n = body.read(&mut buf)?; // an error cuts the stream short
        if n == 0 {
            conn.write_all(b"0\r\n\r\n")?;
            return conn.flush();
        }
        let mut chunk = format!("{n:x}\r\n").into_bytes();
        chunk.extend_from_slice(&buf[..n]);
        chunk.extend_from_slice(b"\r\n");
        conn.write_all(&chunk)?;
    }
}

/// `content-type` → `Content-Type` (the `http` crate keeps names in
/// lower case; Go's server writes them canonical).
fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut up = true;
    for c in name.chars() {
        out.push(if up { c.to_ascii_uppercase() } else { c });
        up = c == '-';
    }
    out
}

/// Now as an HTTP date (`Mon, 07 Dec 2026 18:31:08 GMT`, RFC 9110 §5.6.7).
fn http_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    http_date_of(secs)
}

/// [`http_date`] of `secs` since the Unix epoch.
fn http_date_of(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[month as usize - 1],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_and_dates_read_like_go() {
        assert_eq!(canonical("content-type"), "Content-Type");
        assert_eq!(canonical("x-go-pprof"), "X-Go-Pprof");
        assert_eq!(http_date_of(1_796_668_268), "Mon, 07 Dec 2026 18:31:08 GMT");
        assert_eq!(http_date_of(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
