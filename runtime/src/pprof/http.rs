//! `/debug/pprof/` over HTTP: Go's `net/http/pprof`, route for route.
//!
//! See [super] for the overview. [`serve`] binds a listener and answers on
//! its own OS thread (one more thread per request in progress, so a 30 s
//! CPU profile does not hold up a heap profile). The routes, parameters,
//! status codes, headers, error bodies and the index page are those of Go
//! 1.19 (`reference/profiler.md` §2, `captures/pprof_http_headers.txt`):
//!
//! | path | answer |
//! |---|---|
//! | `/debug/pprof/` | the HTML index: every profile with its count |
//! | `/debug/pprof/<profile>` | heap, allocs, goroutine, threadcreate, block, mutex: proto (`attachment; filename="<name>"`) or, with `debug=N` (N ≠ 0), text; `heap?gc=1` collects first; `seconds=N` a delta profile over N seconds (`filename="<name>-delta"`) |
//! | `/debug/pprof/profile?seconds=N` | a CPU profile of N seconds (default 30) |
//! | `/debug/pprof/trace?seconds=F` | an execution trace of F seconds (default 1) |
//! | `/debug/pprof/cmdline` | the command line, arguments joined by NUL |
//! | `/debug/pprof/symbol` | `num_symbols: 1`, then `0xPC name` per address asked (GET query or POST body, `+`-separated) |
//!
//! Errors go out as Go's `serveError` sends them: `text/plain;
//! charset=utf-8`, `X-Go-Pprof: 1` (so `go tool pprof` shows the body),
//! the message and a newline: 404 `Unknown profile`; 400 `invalid value
//! for "seconds" - must be a positive integer`; 400 `seconds and debug
//! params are incompatible`; 500 `Could not enable CPU profiling: …`;
//! 500 `Could not enable tracing: …`. Every answer carries
//! `X-Content-Type-Options: nosniff`. A path outside `/debug/pprof/` gets
//! Go's `404 page not found`; `/debug/pprof` is redirected to
//! `/debug/pprof/` (301), as Go's ServeMux does.
//!
//! One difference from Go, imposed by the HTTP library: responses also
//! carry a `Server: tiny-http (Rust)` header.

use super::{lookup, profiles, Profile};
use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tiny_http::{Header, Method, Request, Response, Server};

/// A running `/debug/pprof/` server (from [`serve`]). Dropping it (or
/// [`PprofServer::stop`]) stops accepting connections and joins the
/// server thread; requests already being answered finish on their own
/// threads.
pub struct PprofServer {
    addr: SocketAddr,
    server: Arc<Server>,
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
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves Go's `/debug/pprof/` endpoints on `addr` (e.g.
/// `"127.0.0.1:6060"`, or port 0 for any free port) from a new OS thread,
/// as a Go program does with `import _ "net/http/pprof"` and
/// `http.ListenAndServe(addr, nil)`. Starts the runtime if needed.
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
    let server = Server::http(addr).map_err(|e| io::Error::other(format!("serve {addr}: {e}")))?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| io::Error::other("serve: not an IP listener"))?;
    let server = Arc::new(server);
    let s = server.clone();
    let thread = std::thread::Builder::new()
        .name("gort-pprof-http".into())
        .spawn(move || {
            for req in s.incoming_requests() {
                let _ = std::thread::Builder::new()
                    .name("gort-pprof-req".into())
                    .spawn(move || handle(req));
            }
        })?;
    Ok(PprofServer {
        addr,
        server,
        thread: Some(thread),
    })
}

/// A response under construction: status, headers (in order), body.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn new() -> Reply {
        Reply {
            status: 200,
            headers: vec![("X-Content-Type-Options", "nosniff".into())],
            body: Vec::new(),
        }
    }

    fn set(&mut self, k: &'static str, v: impl Into<String>) {
        self.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
        self.headers.push((k, v.into()));
    }

    fn del(&mut self, k: &'static str) {
        self.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
    }

    /// Go's `serveError`.
    fn error(mut self, status: u16, text: &str) -> Reply {
        self.set("Content-Type", "text/plain; charset=utf-8");
        self.set("X-Go-Pprof", "1");
        self.del("Content-Disposition");
        self.status = status;
        self.body = format!("{text}\n").into_bytes();
        self
    }

    fn attachment(&mut self, name: &str) {
        self.set("Content-Type", "application/octet-stream");
        self.set(
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        );
    }
}

fn handle(mut req: Request) {
    let url = req.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let mut body = Vec::new();
    if *req.method() == Method::Post {
        let _ = req.as_reader().read_to_end(&mut body);
    }
    let r = route(path, query, &body);
    let mut resp = Response::from_data(r.body).with_status_code(r.status);
    for (k, v) in r.headers {
        if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            resp.add_header(h);
        }
    }
    let _ = req.respond(resp);
}

/// Answers one request: `path` without the query, `query` the raw query
/// string, `post` the body of a POST (empty otherwise).
fn route(path: &str, query: &str, post: &[u8]) -> Reply {
    let q = Query(query);
    if path == "/debug/pprof" {
        let mut r = Reply::new();
        r.del("X-Content-Type-Options");
        r.status = 301;
        r.set("Content-Type", "text/html; charset=utf-8");
        r.set("Location", "/debug/pprof/");
        r.body = b"<a href=\"/debug/pprof/\">Moved Permanently</a>.\n\n".to_vec();
        return r;
    }
    let Some(name) = path.strip_prefix("/debug/pprof/") else {
        let mut r = Reply::new();
        r.status = 404;
        r.set("Content-Type", "text/plain; charset=utf-8");
        r.body = b"404 page not found\n".to_vec();
        return r;
    };
    match name {
        "" => index(),
        "cmdline" => cmdline(),
        "profile" => cpu_profile(&q),
        "symbol" => symbol(if post.is_empty() {
            query.as_bytes()
        } else {
            post
        }),
        "trace" => trace(&q),
        name => profile(name, &q),
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

/// The index page, exactly Go 1.19's (`captures/pprof_index.html`).
fn index() -> Reply {
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
    r.body = s.into_bytes();
    r
}

/// Go's `Cmdline`.
fn cmdline() -> Reply {
    let mut r = Reply::new();
    r.set("Content-Type", "text/plain; charset=utf-8");
    r.body = std::env::args().collect::<Vec<_>>().join("\0").into_bytes();
    r
}

/// Go's `Symbol`: `num_symbols: 1`, then one `0xPC name` line per address
/// that names a function.
fn symbol(input: &[u8]) -> Reply {
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
    r.body = out.into_bytes();
    r
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

/// A `Write` that several owners share (the tracer and CPU profiler want a
/// `Write + Send + 'static` they keep until stopped).
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

/// Go's `Profile` handler: `seconds` (default 30) of CPU profile.
fn cpu_profile(q: &Query) -> Reply {
    let mut sec = q.get("seconds").parse::<i64>().unwrap_or(0);
    if sec <= 0 {
        sec = 30;
    }
    let mut r = Reply::new();
    r.attachment("profile");
    let buf = SharedBuf::default();
    if let Err(e) = super::start_cpu_profile(buf.clone()) {
        return r.error(500, &format!("Could not enable CPU profiling: {e}"));
    }
    std::thread::sleep(Duration::from_secs(sec as u64));
    super::stop_cpu_profile();
    r.body = buf.take();
    r
}

/// Go's `Trace` handler: `seconds` (a float, default 1) of execution trace.
fn trace(q: &Query) -> Reply {
    let mut sec = q.get("seconds").parse::<f64>().unwrap_or(0.0);
    if sec.is_nan() || sec <= 0.0 {
        sec = 1.0;
    }
    let mut r = Reply::new();
    r.attachment("trace");
    let buf = SharedBuf::default();
    if let Err(e) = crate::trace::start(buf.clone()) {
        return r.error(500, &format!("Could not enable tracing: {e}"));
    }
    std::thread::sleep(Duration::from_secs_f64(sec));
    if let Err(e) = crate::trace::stop() {
        // The header is not sent yet (we answer in one piece), so the
        // failure can still be reported properly.
        return r.error(500, &format!("Could not enable tracing: {e}"));
    }
    r.body = buf.take();
    r
}

/// Go's `handler(name).ServeHTTP`.
fn profile(name: &str, q: &Query) -> Reply {
    let mut r = Reply::new();
    let Some(p) = lookup(name) else {
        return r.error(404, "Unknown profile");
    };
    let seconds = q.get("seconds");
    if !seconds.is_empty() {
        return delta(p, q, &seconds);
    }
    if name == "heap" && q.int("gc") > 0 {
        run_gc();
    }
    let debug = q.int("debug") as i32;
    if debug != 0 {
        r.set("Content-Type", "text/plain; charset=utf-8");
    } else {
        r.attachment(name);
    }
    if let Err(e) = p.write_to(&mut r.body, debug) {
        // Go ignores WriteTo's error (the body may be half sent); we have
        // sent nothing yet and can say what failed.
        return r.error(500, &format!("failed to write profile: {e}"));
    }
    r
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

/// Go's `serveDeltaProfile`: the profile's change over `seconds`.
fn delta(p: Profile, q: &Query, seconds: &str) -> Reply {
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
    if q.int("debug") != 0 {
        return r.error(400, "seconds and debug params are incompatible");
    }
    let Some(p0) = collect(p) else {
        return r.error(500, "failed to collect profile");
    };
    std::thread::sleep(Duration::from_secs(sec as u64));
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
    if gort_profiler::pprof::write_gzip(&p1, &mut r.body).is_err() {
        return r.error(500, "failed to compute delta");
    }
    r
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

    #[test]
    fn errors_are_go_serve_errors() {
        let r = route("/debug/pprof/nosuch", "", &[]);
        assert_eq!(r.status, 404);
        assert_eq!(r.body, b"Unknown profile\n");
        let h: Vec<_> = r.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        assert!(h.contains(&"X-Go-Pprof: 1".to_string()), "{h:?}");
        assert!(h.contains(&"Content-Type: text/plain; charset=utf-8".to_string()));
        assert!(h.contains(&"X-Content-Type-Options: nosniff".to_string()));
        let r = route("/debug/pprof/heap", "seconds=-1", &[]);
        assert_eq!(r.status, 400);
        assert_eq!(
            r.body,
            b"invalid value for \"seconds\" - must be a positive integer\n"
        );
        let r = route("/debug/pprof/heap", "seconds=1&debug=1", &[]);
        assert_eq!(r.status, 400);
        assert_eq!(r.body, b"seconds and debug params are incompatible\n");
        let r = route("/elsewhere", "", &[]);
        assert_eq!((r.status, &r.body[..]), (404, &b"404 page not found\n"[..]));
        let r = route("/debug/pprof/symbol", "", &[]);
        assert_eq!(r.body, b"num_symbols: 1\n");
    }
}
