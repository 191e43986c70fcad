//! `/debug/pprof/` over HTTP: Go's `net/http/pprof`, route for route, as
//! handlers any Rust HTTP server can call, and [`serve`](super::serve),
//! gort's own server built on them.
//!
//! See [super] for the overview.
//!
//! # Handlers
//!
//! Each handler starts the runtime if needed and is a function from an [`http::Request`] (the `http`
//! crate's type, shared by hyper, axum, tiny_http adapters and most Rust
//! servers) whose body is the request's bytes, to an [`http::Response`]
//! whose body is a [`Body`] (bytes, or a stream for the execution trace).
//! They are Go's handlers, with Go's names:
//!
//! | handler | Go | answers |
//! |---|---|---|
//! | [`index`] | `pprof.Index` | `/debug/pprof/`: the HTML index, every profile with its count (Go 1.19's page byte for byte); `/debug/pprof/<name>`: what [`handler`]`(name)` answers |
//! | [`handler`]`(name)` | `pprof.Handler(name)` | heap, allocs, goroutine, threadcreate, block, mutex: proto (`attachment; filename="<name>"`) or, with `debug=N` (N ≠ 0), text; `heap?gc=1` collects first; `seconds=N` a delta profile over N seconds (`filename="<name>-delta"`) |
//! | [`profile`] | `pprof.Profile` | `?seconds=N`: a CPU profile of N seconds (default 30) |
//! | [`trace`] | `pprof.Trace` | `?seconds=F`: an execution trace of F seconds (default 1), streamed as it is written |
//! | [`cmdline`] | `pprof.Cmdline` | the command line, arguments joined by NUL |
//! | [`symbol`] | `pprof.Symbol` | `num_symbols: 1`, then `0xPC name` per address asked (GET query or POST body, `+`-separated) |
//!
//! [`route`] answers the whole tree as Go's `DefaultServeMux` does with
//! `import _ "net/http/pprof"` (and is what [`serve`](super::serve)
//! calls): the five routes above, `/debug/pprof` redirected to
//! `/debug/pprof/` (301), Go's `404 page not found` elsewhere.
//!
//! Errors go out as Go's `serveError` sends them: `text/plain;
//! charset=utf-8`, `X-Go-Pprof: 1` (so `go tool pprof` shows the body),
//! the message and a newline: 404 `Unknown profile`; 400 `invalid value
//! for "seconds" - must be a positive integer`; 400 `seconds and debug
//! params are incompatible`; 500 `Could not enable CPU profiling: …`;
//! 500 `Could not enable tracing: …`; 500 `context canceled` for a delta
//! profile whose client left. Every answer carries
//! `X-Content-Type-Options: nosniff`.
//!
//! # Waiting, and clients that leave
//!
//! `profile`, `trace` and delta profiles wait for their duration. Go's
//! handlers stop waiting when the request's context is cancelled, which
//! Go's server does when the client closes its connection. Here a server
//! that can tell puts a [`Disconnect`] in the request's extensions
//! ([`Disconnect::of_socket`] watches a `TcpStream` for end-of-file); the
//! handlers then stop the CPU profile, the trace or the delta as soon as
//! the client is gone, so the next request finds the profiler free. Without
//! one, a handler waits its full duration, as Go's would under a server
//! that never cancels.
//!
//! ```
//! use gort::pprof::http::{cmdline, index, Body};
//!
//! let req = http::Request::get("/debug/pprof/").body(Vec::new()).unwrap();
//! let resp = index(&req);
//! assert_eq!(resp.status(), 200);
//! assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
//! let page = String::from_utf8(resp.into_body().into_bytes().unwrap()).unwrap();
//! assert!(page.contains("<a href='heap?debug=1'>heap</a>"));
//!
//! // A named profile through the index, as Go's Index does.
//! let req = http::Request::get("/debug/pprof/goroutine?debug=1").body(Vec::new()).unwrap();
//! let text = index(&req).into_body().into_bytes().unwrap();
//! assert!(text.starts_with(b"goroutine profile: total "));
//!
//! let req = http::Request::get("/debug/pprof/cmdline").body(Vec::new()).unwrap();
//! let body: Body = cmdline(&req).into_body();
//! assert_eq!(body.len(), Some(std::env::args().collect::<Vec<_>>().join("\0").len()));
//! ```

use super::{lookup, profiles, Profile};
use ::http::{HeaderValue, Method, Request, Response, StatusCode};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The body of a handler's response: bytes, or a stream (the execution
/// trace, written while it is recorded). Read it with [`Read`], or
/// [`Body::into_bytes`].
pub struct Body(Inner);

enum Inner {
    Bytes(io::Cursor<Vec<u8>>),
    Stream(Box<dyn Read + Send>),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Bytes(b) => write!(f, "Body({} bytes)", b.get_ref().len()),
            Inner::Stream(_) => f.write_str("Body(stream)"),
        }
    }
}

impl Body {
    /// A body that streams what `r` reads, until `r` reports end of file
    /// (or an error, which a server reports by closing the connection
    /// without ending the response).
    pub fn stream(r: impl Read + Send + 'static) -> Body {
        Body(Inner::Stream(Box::new(r)))
    }

    /// The length, if the body is bytes (`Content-Length`); `None` for a
    /// stream (chunked transfer).
    pub fn len(&self) -> Option<usize> {
        match &self.0 {
            Inner::Bytes(b) => Some(b.get_ref().len() - b.position() as usize),
            Inner::Stream(_) => None,
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The whole body (for a stream: read to its end).
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self.0 {
            Inner::Bytes(b) => {
                let pos = b.position() as usize;
                let mut v = b.into_inner();
                v.drain(..pos);
                Ok(v)
            }
            Inner::Stream(mut r) => {
                let mut v = Vec::new();
                r.read_to_end(&mut v)?;
                Ok(v)
            }
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body(Inner::Bytes(io::Cursor::new(v)))
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.0 {
            Inner::Bytes(b) => b.read(buf),
            Inner::Stream(r) => r.read(buf),
        }
    }
}

/// Tells a handler that its client has gone away (Go's request context,
/// cancelled by Go's server when the connection reaches end of file). A
/// server puts one in the request's extensions
/// (`req.extensions_mut().insert(disconnect)`); the handlers that wait
/// (`profile`, `trace`, delta profiles) wait through it and give up as
/// soon as it reports the client gone.
#[derive(Clone)]
pub struct Disconnect(Arc<dyn Fn(Duration) -> bool + Send + Sync>);

impl std::fmt::Debug for Disconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Disconnect")
    }
}

impl Disconnect {
    /// From a function that waits up to the given time and returns
    /// `true` as soon as the client is gone (`false` at the timeout).
    pub fn new(wait: impl Fn(Duration) -> bool + Send + Sync + 'static) -> Disconnect {
        Disconnect(Arc::new(wait))
    }

    /// Watches `conn` (a clone of the request's connection): the client is
    /// gone when the connection reaches end of file or fails, as Go's
    /// server decides (its background read). The wait is a `poll(2)` on the
    /// socket, so it ends the moment the client's FIN or RST arrives.
    /// Bytes the client sends meanwhile (a pipelined request) are left
    /// unread; the wait then only sleeps.
    pub fn of_socket(conn: &TcpStream) -> io::Result<Disconnect> {
        let conn = conn.try_clone()?;
        Ok(Disconnect::new(move |d| socket_gone(&conn, d)))
    }

    /// Waits up to `d`; `true` as soon as the client is gone.
    pub fn wait(&self, d: Duration) -> bool {
        (self.0)(d)
    }
}

/// Waits up to `d` for `conn` to reach end of file or an error.
fn socket_gone(conn: &TcpStream, d: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + d;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false; // still connected
        }
        let mut pfd = libc::pollfd {
            fd: conn.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        };
        // Rounded up: poll's timeout is in whole milliseconds.
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: `pfd` is one valid pollfd for the duration of the call;
        // the fd belongs to `conn`, which outlives it.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue; // SIGPROF, preemption signals
            }
            return true;
        }
        if n == 0 {
            continue; // timed out: the loop checks the deadline
        }
        if pfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return true;
        }
        // Readable: end of file (0 bytes) or data the client sent on.
        let mut b = 0u8;
        // SAFETY: `b` is a writable byte; MSG_PEEK leaves the data queued,
        // MSG_DONTWAIT keeps the call from blocking.
        let r = unsafe {
            libc::recv(
                conn.as_raw_fd(),
                (&mut b as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if r == 0 {
            return true;
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::WouldBlock {
                continue;
            }
            return true;
        }
        // A pipelined request: poll would report it again at once.
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        return false;
    }
}

/// Go's `sleep(r, d)`: waits `d`, or until the client is gone. Returns
/// whether the full time passed.
fn sleep(req: &Request<Vec<u8>>, d: Duration) -> bool {
    match req.extensions().get::<Disconnect>() {
        Some(gone) => !gone.wait(d),
        None => {
            std::thread::sleep(d);
            true
        }
    }
}

/// A response under construction: Go's `ResponseWriter` before
/// `WriteHeader`.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn new() -> Reply {
        Reply {
            status: 200,
            headers: vec![("X-Content-Type-Options", "nosniff".into())],
        }
    }

    fn set(&mut self, k: &'static str, v: impl Into<String>) {
        self.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
        self.headers.push((k, v.into()));
    }

    fn del(&mut self, k: &'static str) {
        self.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
    }

    fn attachment(&mut self, name: &str) {
        self.set("Content-Type", "application/octet-stream");
        self.set(
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        );
    }

    /// The response, with `body`.
    fn body(self, body: impl Into<Body>) -> Response<Body> {
        let mut r = Response::new(body.into());
        *r.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                r.headers_mut().append(k, v);
            }
        }
        r
    }

    /// Go's `serveError`.
    fn error(mut self, status: u16, text: &str) -> Response<Body> {
        self.set("Content-Type", "text/plain; charset=utf-8");
        self.set("X-Go-Pprof", "1");
        self.del("Content-Disposition");
        self.status = status;
        self.body(format!("{text}\n").into_bytes())
    }
}

/// The request's raw query string.
fn query(req: &Request<Vec<u8>>) -> Query<'_> {
    Query(req.uri().query().unwrap_or(""))
}

/// Go's `DefaultServeMux` with `net/http/pprof` registered: the handler
/// for the request's path (see the module doc), `/debug/pprof` redirected
/// to `/debug/pprof/`, `404 page not found` elsewhere.
pub fn route(req: &Request<Vec<u8>>) -> Response<Body> {
    let path = req.uri().path();
    if path == "/debug/pprof" {
        let mut r = Reply::new();
        r.del("X-Content-Type-Options");
        r.status = 301;
        r.set("Content-Type", "text/html; charset=utf-8");
        r.set("Location", "/debug/pprof/");
        return r.body(b"<a href=\"/debug/pprof/\">Moved Permanently</a>.\n\n".to_vec());
    }
    match path.strip_prefix("/debug/pprof/") {
        Some("cmdline") => cmdline(req),
        Some("profile") => profile(req),
        Some("symbol") => symbol(req),
        Some("trace") => trace(req),
        Some(_) => index(req),
        None => {
            let mut r = Reply::new();
            r.status = 404;
            r.set("Content-Type", "text/plain; charset=utf-8");
            r.body(b"404 page not found\n".to_vec())
        }
    }
}

/// The raw query string, read like Go's `r.FormValue`.
struct Query<'a>(&'a str);

impl Query<'_> {
    /// The first value of `key` ("" if absent), percent-decoded.
    fn get(&self, key: &str) -> String {
        for kv in self.0.split(['&', ';']) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            if unescape(k) == key {
                return unescape(v);
            }
        }
        String::new()
    }

    /// Go's `strconv.Atoi(r.FormValue(key))` with the error ignored (0).
    fn int(&self, key: &str) -> i64 {
        self.get(key).parse().unwrap_or(0)
    }
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `profileDescriptions`.
fn description(name: &str) -> &'static str {
    match name {
        "allocs" => "A sampling of all past memory allocations",
        "block" => "Stack traces that led to blocking on synchronization primitives",
        "cmdline" => "The command line invocation of the current program",
        "goroutine" => "Stack traces of all current goroutines",
        "heap" => "A sampling of memory allocations of live objects. You can specify the gc GET parameter to run GC before taking the heap sample.",
        "mutex" => "Stack traces of holders of contended mutexes",
        "profile" => "CPU profile. You can specify the duration in the seconds GET parameter. After you get the profile file, use the go tool pprof command to investigate the profile.",
        "threadcreate" => "Stack traces that led to the creation of new OS threads",
        "trace" => "A trace of execution of the current program. You can specify the duration in the seconds GET parameter. After you get the trace file, use the go tool trace command to investigate the trace.",
        _ => "",
    }
}

/// Go's `pprof.Index`: for `/debug/pprof/<name>`, what
/// [`handler`]`(name)` answers; otherwise the index page, exactly Go
/// 1.19's (`captures/pprof_index.html`).
pub fn index(req: &Request<Vec<u8>>) -> Response<Body> {
    crate::run::ensure_started();
    if let Some(name) = req.uri().path().strip_prefix("/debug/pprof/") {
        if !name.is_empty() {
            return handler(name)(req);
        }
    }
    let mut rows: Vec<(String, usize)> = profiles()
        .iter()
        .map(|p| (p.name().to_string(), p.count()))
        .collect();
    for extra in ["cmdline", "profile", "trace"] {
        rows.push((extra.to_string(), 0));
    }
    rows.sort();
    let mut s = String::from(
        "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n.profile-name{\n\tdisplay:inline-block;\n\twidth:6rem;\n}\n</style>\n</head>\n<body>\n/debug/pprof/<br>\n<br>\nTypes of profiles available:\n<table>\n<thead><td>Count</td><td>Profile</td></thead>\n",
    );
    for (name, count) in &rows {
        s.push_str(&format!(
            "<tr><td>{count}</td><td><a href='{name}?debug=1'>{name}</a></td></tr>\n"
        ));
    }
    s.push_str("</table>\n<a href=\"goroutine?debug=2\">full goroutine stack dump</a>\n<br>\n<p>\nProfile Descriptions:\n<ul>\n");
    for (name, _) in &rows {
        s.push_str(&format!(
            "<li><div class=profile-name>{name}: </div> {}</li>\n",
            description(name)
        ));
    }
    s.push_str("</ul>\n</p>\n</body>\n</html>");
    let mut r = Reply::new();
    r.set("Content-Type", "text/html; charset=utf-8");
    r.body(s.into_bytes())
}

/// Go's `pprof.Cmdline`: the command line, arguments joined by NUL.
pub fn cmdline(_req: &Request<Vec<u8>>) -> Response<Body> {
    let mut r = Reply::new();
    r.set("Content-Type", "text/plain; charset=utf-8");
    r.body(std::env::args().collect::<Vec<_>>().join("\0").into_bytes())
}

/// Go's `pprof.Symbol`: `num_symbols: 1`, then one `0xPC name` line per
/// asked address that names a function. The addresses are the POST body,
/// or for other methods the raw query, separated by `+`.
pub fn symbol(req: &Request<Vec<u8>>) -> Response<Body> {
    let input = if req.method() == Method::POST {
        &req.body()[..]
    } else {
        req.uri().query().unwrap_or("").as_bytes()
    };
    let mut r = Reply::new();
    r.set("Content-Type", "text/plain; charset=utf-8");
    let mut out = String::from("num_symbols: 1\n");
    for word in input.split(|&b| b == b'+') {
        let w = String::from_utf8_lossy(word);
        let Some(pc) = parse_uint0(w.trim()) else {
            continue;
        };
        if pc == 0 {
            continue;
        }
        // The symbolizer looks up `return pc - 1`; ask for `pc` itself.
        let frames = gort_profiler::symbolize::symbolize(&[pc + 1]);
        if let Some(f) = frames.first().filter(|f| !f.function.starts_with("0x")) {
            out.push_str(&format!("{pc:#x} {}\n", f.function));
        }
    }
    r.body(out.into_bytes())
}

/// Go's `strconv.ParseUint(s, 0, 64)`: `0x`/`0o`/`0b` prefixes, a leading
/// `0` for octal, else decimal; `_` not accepted here.
fn parse_uint0(s: &str) -> Option<u64> {
    let l = s.to_ascii_lowercase();
    if let Some(h) = l.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(o) = l.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else if let Some(b) = l.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else if l.len() > 1 && l.starts_with('0') {
        u64::from_str_radix(&l[1..], 8).ok()
    } else {
        l.parse().ok()
    }
}

/// Bytes written by one side and taken by the other (the CPU profiler and
/// the tracer want a `Write + Send + 'static` they keep until stopped).
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Go's `pprof.Profile`: a CPU profile of `?seconds=N` (default 30). Ends
/// early, with the profile stopped, if the client goes away
/// ([`Disconnect`]).
pub fn profile(req: &Request<Vec<u8>>) -> Response<Body> {
    crate::run::ensure_started();
    let mut sec = query(req).get("seconds").parse::<i64>().unwrap_or(0);
    if sec <= 0 {
        sec = 30;
    }
    let mut r = Reply::new();
    r.attachment("profile");
    let buf = SharedBuf::default();
    if let Err(e) = super::start_cpu_profile(buf.clone()) {
        return r.error(500, &format!("Could not enable CPU profiling: {e}"));
    }
    let finished = sleep(req, Duration::from_secs(sec as u64));
    super::stop_cpu_profile();
    if !finished {
        // Go writes the profile to the closed connection; nobody reads it.
        return r.error(500, "context canceled");
    }
    r.body(buf.take())
}

/// How often a trace's body looks for new bytes (and, between looks,
/// whether its client is still there).
const TRACE_POLL: Duration = Duration::from_millis(10);

/// Go's `pprof.Trace`: an execution trace of `?seconds=F` (a float,
/// default 1). The body is a stream: it carries the trace's bytes as the
/// tracer writes them (a part every 100 ms, see [`crate::trace`]), stops
/// the trace when the time is up, and ends.
/// If the client goes away ([`Disconnect`]) or the body is dropped, the
/// trace is stopped at once. A failure to write the trace after the
/// response started ends the stream with an error (a server then closes
/// the connection without ending the response, so the client sees a
/// truncated transfer, not a short trace).
pub fn trace(req: &Request<Vec<u8>>) -> Response<Body> {
    let mut sec = query(req).get("seconds").parse::<f64>().unwrap_or(0.0);
    if sec.is_nan() || sec <= 0.0 {
        sec = 1.0;
    }
    let mut r = Reply::new();
    r.attachment("trace");
    let buf = SharedBuf::default();
    if let Err(e) = crate::trace::start(buf.clone()) {
        return r.error(500, &format!("Could not enable tracing: {e}"));
    }
    let end = Instant::now()
        .checked_add(Duration::from_secs_f64(sec.min(1e9)))
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(1_000_000_000));
    r.body(Body::stream(TraceStream {
        buf,
        end,
        gone: req.extensions().get::<Disconnect>().cloned(),
        running: true,
    }))
}

/// The body of [`trace`]: drains what the tracer wrote, stops it at `end`.
struct TraceStream {
    buf: SharedBuf,
    end: Instant,
    gone: Option<Disconnect>,
    /// Whether this stream's trace is still being recorded.
    running: bool,
}

impl TraceStream {
    fn stop(&mut self) -> io::Result<()> {
        if std::mem::take(&mut self.running) {
            crate::trace::stop()?;
        }
        Ok(())
    }
}

impl Read for TraceStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut b = self.buf.0.lock().unwrap_or_else(PoisonError::into_inner);
                if !b.is_empty() {
                    let n = out.len().min(b.len());
                    out[..n].copy_from_slice(&b[..n]);
                    b.drain(..n);
                    return Ok(n);
                }
            }
            if !self.running {
                return Ok(0);
            }
            let left = self.end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.stop()?;
                continue;
            }
            let step = left.min(TRACE_POLL);
            let gone = match &self.gone {
                Some(g) => g.wait(step),
                None => {
                    std::thread::sleep(step);
                    false
                }
            };
            if gone {
                let _ = self.stop();
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the client went away",
                ));
            }
        }
    }
}

impl Drop for TraceStream {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Go's `pprof.Handler(name)`: the handler of the profile called `name`
/// (heap, allocs, goroutine, threadcreate, block, mutex; any other name
/// answers 404 `Unknown profile`). `debug=N` selects text
/// ([`Profile::write_to`]), `seconds=N` a delta profile over N seconds,
/// `gc=1` (heap) collects first.
pub fn handler(name: &str) -> impl Fn(&Request<Vec<u8>>) -> Response<Body> + Send + Sync {
    let p = lookup(name);
    move |req| named_profile(p, req)
}

fn named_profile(p: Option<Profile>, req: &Request<Vec<u8>>) -> Response<Body> {
    crate::run::ensure_started();
    let q = query(req);
    let mut r = Reply::new();
    let Some(p) = p else {
        return r.error(404, "Unknown profile");
    };
    let seconds = q.get("seconds");
    if !seconds.is_empty() {
        return delta(p, req, &seconds);
    }
    if p.name() == "heap" && q.int("gc") > 0 {
        run_gc();
    }
    let debug = q.int("debug") as i32;
    if debug != 0 {
        r.set("Content-Type", "text/plain; charset=utf-8");
    } else {
        r.attachment(p.name());
    }
    let mut body = Vec::new();
    if let Err(e) = p.write_to(&mut body, debug) {
        // Go ignores WriteTo's error (the body may be half sent); we have
        // sent nothing yet and can say what failed.
        return r.error(500, &format!("failed to write profile: {e}"));
    }
    r.body(body)
}

/// `runtime.GC()` from the request thread (a plain OS thread): run it on
/// a goroutine and wait.
fn run_gc() {
    let (tx, rx) = std::sync::mpsc::channel();
    crate::go(move || {
        crate::runtime::gc();
        let _ = tx.send(());
    });
    let _ = rx.recv();
}

/// Go's `serveDeltaProfile`: the profile's change over `seconds`, or 500
/// `context canceled` if the client leaves meanwhile.
fn delta(p: Profile, req: &Request<Vec<u8>>, seconds: &str) -> Response<Body> {
    let r = Reply::new();
    let sec = match seconds.parse::<i64>() {
        Ok(s) if s > 0 => s,
        _ => {
            return r.error(
                400,
                "invalid value for \"seconds\" - must be a positive integer",
            )
        }
    };
    if query(req).int("debug") != 0 {
        return r.error(400, "seconds and debug params are incompatible");
    }
    let Some(p0) = collect(p) else {
        return r.error(500, "failed to collect profile");
    };
    if !sleep(req, Duration::from_secs(sec as u64)) {
        return r.error(500, "context canceled");
    }
    let Some(mut p1) = collect(p) else {
        return r.error(500, "failed to collect profile");
    };
    let ts = p1.time_nanos;
    let dur = p1.time_nanos - p0.time_nanos;
    subtract(&mut p1, &p0);
    p1.time_nanos = ts;
    p1.duration_nanos = dur;
    let mut r = r;
    r.attachment(&format!("{}-delta", p.name()));
    let mut body = Vec::new();
    if gort_profiler::pprof::write_gzip(&p1, &mut body).is_err() {
        return r.error(500, "failed to compute delta");
    }
    r.body(body)
}

/// The profile as a decoded proto (Go's `collectProfile`).
fn collect(p: Profile) -> Option<gort_profiler::pprof::Profile> {
    let mut b = Vec::new();
    p.write_to(&mut b, 0).ok()?;
    gort_profiler::pprof::decode(&b).ok()
}

/// `p1 − p0`, sample by sample, matched by their stacks (function, file,
/// line and address of every location) and labels, as Go's
/// `profile.Merge` of `p0` scaled by −1 with `p1`: samples whose values
/// all become zero are dropped, and samples only in `p0` (goroutines that
/// ended, in-use memory freed since) are carried over with negated values,
/// their locations and functions copied into `p1`.
fn subtract(p1: &mut gort_profiler::pprof::Profile, p0: &gort_profiler::pprof::Profile) {
    use std::collections::HashMap;
    // (summed values, first sample) per key of p0.
    let mut before: HashMap<String, (Vec<i64>, usize)> = HashMap::new();
    let mut order = Vec::new();
    for (i, s) in p0.sample.iter().enumerate() {
        let k = sample_key(p0, s);
        let e = before.entry(k.clone()).or_insert_with(|| {
            order.push(k);
            (vec![0; s.value.len()], i)
        });
        for (a, v) in e.0.iter_mut().zip(&s.value) {
            *a += v;
        }
    }
    let keys: Vec<String> = p1.sample.iter().map(|s| sample_key(p1, s)).collect();
    for (s, k) in p1.sample.iter_mut().zip(keys) {
        if let Some((b, _)) = before.remove(&k) {
            for (v, b) in s.value.iter_mut().zip(b) {
                *v -= b;
            }
        }
    }
    let mut copier = Copier::new(p1);
    for k in order {
        if let Some((values, i)) = before.remove(&k) {
            copier.negated_sample(p1, p0, &p0.sample[i], values);
        }
    }
    p1.sample.retain(|s| s.value.iter().any(|&v| v != 0));
}

/// What matches a sample of one profile with a sample of another: the
/// address, functions, files and lines of every location, and the labels.
fn sample_key(
    p: &gort_profiler::pprof::Profile,
    s: &gort_profiler::pprof::proto::Sample,
) -> String {
    let str_of = |i: i64| p.string_table.get(i as usize).cloned().unwrap_or_default();
    let mut k = String::new();
    for id in &s.location_id {
        if let Some(l) = p.location.iter().find(|l| l.id == *id) {
            k.push_str(&format!("{:x}", l.address));
            for line in &l.line {
                if let Some(f) = p.function.iter().find(|f| f.id == line.function_id) {
                    k.push_str(&format!(
                        "|{}|{}|{}",
                        str_of(f.name),
                        str_of(f.filename),
                        line.line
                    ));
                }
            }
            k.push(';');
        }
    }
    for l in &s.label {
        k.push_str(&format!("#{}={}{}", str_of(l.key), str_of(l.str), l.num));
    }
    k
}

/// Copies samples of another profile into `p1`, re-interning strings and
/// adding the functions and locations `p1` lacks (found again by content,
/// so each is added once).
struct Copier {
    strings: std::collections::HashMap<String, i64>,
    /// (name, file) → function id in `p1`.
    functions: std::collections::HashMap<(String, String), u64>,
    /// `p0` location id → `p1` location id.
    locations: std::collections::HashMap<u64, u64>,
}

impl Copier {
    fn new(p1: &gort_profiler::pprof::Profile) -> Copier {
        let str_of = |i: i64| p1.string_table.get(i as usize).cloned().unwrap_or_default();
        Copier {
            strings: p1
                .string_table
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i as i64))
                .collect(),
            functions: p1
                .function
                .iter()
                .map(|f| ((str_of(f.name), str_of(f.filename)), f.id))
                .collect(),
            locations: std::collections::HashMap::new(),
        }
    }

    fn string(&mut self, p1: &mut gort_profiler::pprof::Profile, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = p1.string_table.len() as i64;
        p1.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    fn function(
        &mut self,
        p1: &mut gort_profiler::pprof::Profile,
        p0: &gort_profiler::pprof::Profile,
        id: u64,
    ) -> u64 {
        let str_of = |i: i64| p0.string_table.get(i as usize).cloned().unwrap_or_default();
        let Some(f) = p0.function.iter().find(|f| f.id == id) else {
            return 0;
        };
        let key = (str_of(f.name), str_of(f.filename));
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let new_id = p1.function.iter().map(|f| f.id).max().unwrap_or(0) + 1;
        let name = self.string(p1, &key.0);
        let filename = self.string(p1, &key.1);
        let system_name = self.string(p1, &str_of(f.system_name));
        p1.function.push(gort_profiler::pprof::proto::Function {
            id: new_id,
            name,
            system_name,
            filename,
            start_line: f.start_line,
        });
        self.functions.insert(key, new_id);
        new_id
    }

    fn location(
        &mut self,
        p1: &mut gort_profiler::pprof::Profile,
        p0: &gort_profiler::pprof::Profile,
        id: u64,
    ) -> Option<u64> {
        if let Some(&id) = self.locations.get(&id) {
            return Some(id);
        }
        let l = p0.location.iter().find(|l| l.id == id)?;
        let lines: Vec<gort_profiler::pprof::proto::Line> = l
            .line
            .iter()
            .map(|line| gort_profiler::pprof::proto::Line {
                function_id: self.function(p1, p0, line.function_id),
                line: line.line,
            })
            .collect();
        let same = |m: &gort_profiler::pprof::proto::Location| {
            m.address == l.address
                && m.line.len() == lines.len()
                && m.line
                    .iter()
                    .zip(&lines)
                    .all(|(a, b)| a.function_id == b.function_id && a.line == b.line)
        };
        let new_id = match p1.location.iter().find(|m| same(m)) {
            Some(m) => m.id,
            None => {
                let new_id = p1.location.iter().map(|l| l.id).max().unwrap_or(0) + 1;
                let mapping_id = match p1.mapping.first_mut() {
                    Some(m) => {
                        // The one mapping covers every address, old ones too.
                        m.memory_start = m.memory_start.min(l.address & !0xfff);
                        m.memory_limit = m
                            .memory_limit
                            .max(l.address.saturating_add(0x1000) & !0xfff);
                        m.id
                    }
                    None => 0,
                };
                p1.location.push(gort_profiler::pprof::proto::Location {
                    id: new_id,
                    mapping_id,
                    address: l.address,
                    line: lines,
                    is_folded: l.is_folded,
                });
                new_id
            }
        };
        self.locations.insert(id, new_id);
        Some(new_id)
    }

    /// Adds `s` of `p0` to `p1` with `values` negated.
    fn negated_sample(
        &mut self,
        p1: &mut gort_profiler::pprof::Profile,
        p0: &gort_profiler::pprof::Profile,
        s: &gort_profiler::pprof::proto::Sample,
        values: Vec<i64>,
    ) {
        let str_of = |i: i64| p0.string_table.get(i as usize).cloned().unwrap_or_default();
        let location_id = s
            .location_id
            .iter()
            .filter_map(|&id| self.location(p1, p0, id))
            .collect();
        let label = s
            .label
            .iter()
            .map(|l| gort_profiler::pprof::proto::Label {
                key: self.string(p1, &str_of(l.key)),
                str: if l.str == 0 {
                    0
                } else {
                    self.string(p1, &str_of(l.str))
                },
                num: l.num,
                num_unit: if l.num_unit == 0 {
                    0
                } else {
                    self.string(p1, &str_of(l.num_unit))
                },
            })
            .collect();
        p1.sample.push(gort_profiler::pprof::proto::Sample {
            location_id,
            value: values.into_iter().map(|v| -v).collect(),
            label,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_numbers_read_like_go() {
        let q = Query("debug=1&seconds=x&gc=1&debug=2&a%20b=c+d");
        assert_eq!(q.int("debug"), 1);
        assert_eq!(q.int("seconds"), 0); // Atoi error → 0, as Go ignores it
        assert_eq!(q.get("a b"), "c d");
        assert_eq!(q.get("missing"), "");
        assert_eq!(parse_uint0("0x1f"), Some(31));
        assert_eq!(parse_uint0("017"), Some(15));
        assert_eq!(parse_uint0("42"), Some(42));
        assert_eq!(parse_uint0("zz"), None);
    }

    #[test]
    fn a_delta_profile_negates_what_is_gone() {
        use gort_profiler::pprof::{check_valid, ProfileBuilder};
        use gort_profiler::stack::Frame;
        let frame = |name: &str, pc: u64| Frame::new(name, "/src/x.go", 7, pc, pc - 5);
        let profile = |samples: &[(&str, u64, i64)]| {
            let mut b = ProfileBuilder::new("prog");
            b.sample_type("goroutine", "count");
            for &(name, pc, v) in samples {
                let label = b.str_label("k", name);
                b.sample(
                    &[frame(name, pc), frame("main.main", 0x4000)],
                    vec![v],
                    vec![label],
                );
            }
            b.build()
        };
        // kept grows 5 -> 8, gone ends (3 -> nothing), new starts (-> 2),
        // same stays at 4 (dropped: all zero).
        let p0 = profile(&[
            ("main.kept", 0x1000, 5),
            ("main.gone", 0x9000, 3),
            ("main.same", 0x2000, 4),
        ]);
        let mut p1 = profile(&[
            ("main.same", 0x2000, 4),
            ("main.kept", 0x1000, 8),
            ("main.new", 0x3000, 2),
        ]);
        subtract(&mut p1, &p0);
        check_valid(&p1).unwrap();
        let leaf = |s: &gort_profiler::pprof::proto::Sample| {
            let l = p1
                .location
                .iter()
                .find(|l| l.id == s.location_id[0])
                .unwrap();
            let f = p1
                .function
                .iter()
                .find(|f| f.id == l.line[0].function_id)
                .unwrap();
            (
                p1.string_table[f.name as usize].clone(),
                l.address,
                s.value[0],
            )
        };
        let got: Vec<_> = p1.sample.iter().map(leaf).collect();
        assert_eq!(
            got,
            [
                ("main.kept".to_string(), 0x1000 - 1, 3),
                ("main.new".to_string(), 0x3000 - 1, 2),
                ("main.gone".to_string(), 0x9000 - 1, -3),
            ]
        );
        // The carried-over sample keeps its label, its caller is main.main's
        // existing location, and the mapping covers its address.
        let gone = &p1.sample[2];
        assert_eq!(p1.string_table[gone.label[0].str as usize], "main.gone");
        assert_eq!(gone.location_id[1], p1.sample[0].location_id[1]);
        let m = &p1.mapping[0];
        assert!((m.memory_start..m.memory_limit).contains(&(0x9000 - 1)));
    }

    fn get(uri: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let req = Request::get(uri).body(Vec::new()).unwrap();
        let r = route(&req);
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
            .collect();
        (status, headers, r.into_body().into_bytes().unwrap())
    }

    #[test]
    fn errors_are_go_serve_errors() {
        let (status, headers, body) = get("/debug/pprof/nosuch");
        assert_eq!(status, 404);
        assert_eq!(body, b"Unknown profile\n");
        let h: Vec<_> = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        assert!(h.contains(&"x-go-pprof: 1".to_string()), "{h:?}");
        assert!(h.contains(&"content-type: text/plain; charset=utf-8".to_string()));
        assert!(h.contains(&"x-content-type-options: nosniff".to_string()));
        let (status, _, body) = get("/debug/pprof/heap?seconds=-1");
        assert_eq!(status, 400);
        assert_eq!(
            body,
            b"invalid value for \"seconds\" - must be a positive integer\n"
        );
        let (status, _, body) = get("/debug/pprof/heap?seconds=1&debug=1");
        assert_eq!(status, 400);
        assert_eq!(body, b"seconds and debug params are incompatible\n");
        let (status, _, body) = get("/elsewhere");
        assert_eq!((status, &body[..]), (404, &b"404 page not found\n"[..]));
        let (_, _, body) = get("/debug/pprof/symbol");
        assert_eq!(body, b"num_symbols: 1\n");
    }

    #[test]
    fn a_waiting_handler_gives_up_when_its_client_leaves() {
        // A delta profile over 100000 s whose client is already gone.
        let mut req = Request::get("/debug/pprof/goroutine?seconds=100000")
            .body(Vec::new())
            .unwrap();
        req.extensions_mut().insert(Disconnect::new(|_| true));
        let r = route(&req);
        assert_eq!(r.status(), 500);
        assert_eq!(r.into_body().into_bytes().unwrap(), b"context canceled\n");
    }
}
