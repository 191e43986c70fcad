//! The `customrouter` sample's server: "Hello World" at `/` and gort's
//! `/debug/pprof/` handlers on one `tiny_http` server, routed by path as
//! Go's `ServeMux` routes the twin's (see `src/bin/customrouter.rs`), and
//! beside them, beyond the twin, `/debug/metrics`: the runtime's metrics in
//! the Prometheus text format (`gort::metrics::metrics_handler`).

use gort::pprof::http as pprof;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Threads answering requests.
pub const THREADS: usize = 4;

/// Go's `message`: `w.Write([]byte("Hello World"))` (Go's server sniffs
/// the type: `text/plain; charset=utf-8`).
pub fn message(_req: &http::Request<Vec<u8>>) -> http::Response<pprof::Body> {
    http::Response::builder()
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(pprof::Body::from(b"Hello World".to_vec()))
        .expect("a valid response")
}

/// `/debug/metrics`: `gort::metrics::metrics_handler`, whose answer is a
/// whole body, re-wrapped in the pprof handlers' body type.
pub fn metrics(req: &http::Request<Vec<u8>>) -> http::Response<pprof::Body> {
    let head = http::Request::builder()
        .method(req.method().clone())
        .uri(req.uri().clone())
        .body(())
        .expect("a request's own method and URI");
    gort::metrics::metrics_handler(head).map(pprof::Body::from)
}

/// The router: Go's `ServeMux` with `/`, `/debug/pprof/` (a subtree) and
/// the four exact paths registered, plus `/debug/metrics`.
pub fn route(req: &http::Request<Vec<u8>>) -> http::Response<pprof::Body> {
    match req.uri().path() {
        "/debug/metrics" => metrics(req),
        "/debug/pprof/cmdline" => pprof::cmdline(req),
        "/debug/pprof/profile" => pprof::profile(req),
        "/debug/pprof/symbol" => pprof::symbol(req),
        "/debug/pprof/trace" => pprof::trace(req),
        // ServeMux redirects a subtree's root without its slash.
        "/debug/pprof" => http::Response::builder()
            .status(301)
            .header("Location", "/debug/pprof/")
            .body(pprof::Body::from(Vec::new()))
            .expect("a valid response"),
        p if p.starts_with("/debug/pprof/") => pprof::index(req),
        _ => message(req),
    }
}

/// tiny_http's request → `http::Request` → the router → tiny_http's
/// response.
fn answer(mut req: tiny_http::Request) {
    let mut body = Vec::new();
    if req.as_reader().read_to_end(&mut body).is_err() {
        return;
    }
    let mut b = http::Request::builder()
        .method(req.method().as_str())
        .uri(req.url());
    for h in req.headers() {
        b = b.header(h.field.as_str().as_str(), h.value.as_str());
    }
    let resp = match b.body(body) {
        Ok(r) => route(&r),
        Err(_) => http::Response::builder()
            .status(400)
            .body(pprof::Body::from(b"400 Bad Request\n".to_vec()))
            .expect("a valid response"),
    };
    let (parts, body) = resp.into_parts();
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| tiny_http::Header::from_bytes(k.as_str(), v.as_bytes()).ok())
        .collect();
    let len = body.len(); // None: a stream, sent chunked
    let _ = req.respond(tiny_http::Response::new(
        parts.status.as_u16().into(),
        headers,
        body,
        len,
        None,
    ));
}

/// The running server (from [`listen`]); dropping it stops the request
/// threads.
pub struct Router {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").field("addr", &self.addr).finish()
    }
}

impl Router {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        for _ in 0..self.threads.len() {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Go's `http.ListenAndServe(addr, r)`, on [`THREADS`] threads that take
/// turns on tiny_http's queue of requests, so a 30 s CPU profile does not
/// hold up the others.
pub fn listen(addr: &str) -> io::Result<Router> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| io::Error::other(format!("listen tcp {addr}: {e}")))?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| io::Error::other("not an IP listener"))?;
    let server = Arc::new(server);
    let threads = (0..THREADS)
        .map(|_| {
            let s = server.clone();
            std::thread::spawn(move || {
                while let Ok(req) = s.recv() {
                    answer(req);
                }
            })
        })
        .collect();
    Ok(Router {
        server,
        addr,
        threads,
    })
}
