//! The `/debug/pprof/` server: Go's routes, status codes, headers and
//! bodies (`captures/pprof_http_headers.txt`, `pprof_index.html`), and
//! `go tool pprof` fetching from the live server.

use gort_tests::go_tools::{go_tool, have_go, TestDir};
use gort_tests::http_client::{get, request};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};

/// Go 1.19's index page with every count replaced by `N`.
const INDEX: &str = "<html>
<head>
<title>/debug/pprof/</title>
<style>
.profile-name{
\tdisplay:inline-block;
\twidth:6rem;
}
</style>
</head>
<body>
/debug/pprof/<br>
<br>
Types of profiles available:
<table>
<thead><td>Count</td><td>Profile</td></thead>
<tr><td>N</td><td><a href='allocs?debug=1'>allocs</a></td></tr>
<tr><td>N</td><td><a href='block?debug=1'>block</a></td></tr>
<tr><td>N</td><td><a href='cmdline?debug=1'>cmdline</a></td></tr>
<tr><td>N</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>
<tr><td>N</td><td><a href='heap?debug=1'>heap</a></td></tr>
<tr><td>N</td><td><a href='mutex?debug=1'>mutex</a></td></tr>
<tr><td>N</td><td><a href='profile?debug=1'>profile</a></td></tr>
<tr><td>N</td><td><a href='threadcreate?debug=1'>threadcreate</a></td></tr>
<tr><td>N</td><td><a href='trace?debug=1'>trace</a></td></tr>
</table>
<a href=\"goroutine?debug=2\">full goroutine stack dump</a>
<br>
<p>
Profile Descriptions:
<ul>
<li><div class=profile-name>allocs: </div> A sampling of all past memory allocations</li>
<li><div class=profile-name>block: </div> Stack traces that led to blocking on synchronization primitives</li>
<li><div class=profile-name>cmdline: </div> The command line invocation of the current program</li>
<li><div class=profile-name>goroutine: </div> Stack traces of all current goroutines</li>
<li><div class=profile-name>heap: </div> A sampling of memory allocations of live objects. You can specify the gc GET parameter to run GC before taking the heap sample.</li>
<li><div class=profile-name>mutex: </div> Stack traces of holders of contended mutexes</li>
<li><div class=profile-name>profile: </div> CPU profile. You can specify the duration in the seconds GET parameter. After you get the profile file, use the go tool pprof command to investigate the profile.</li>
<li><div class=profile-name>threadcreate: </div> Stack traces that led to the creation of new OS threads</li>
<li><div class=profile-name>trace: </div> A trace of execution of the current program. You can specify the duration in the seconds GET parameter. After you get the trace file, use the go tool trace command to investigate the trace.</li>
</ul>
</p>
</body>
</html>";

/// Replaces the number in every `<tr><td>COUNT</td>` by `N`; returns the
/// page and the counts.
fn normalize(page: &str) -> (String, Vec<u64>) {
    let mut counts = Vec::new();
    let lines: Vec<String> = page
        .split('\n')
        .map(|l| match l.strip_prefix("<tr><td>") {
            Some(rest) => {
                let (n, tail) = rest.split_once("</td>").unwrap();
                counts.push(n.parse().unwrap());
                format!("<tr><td>N</td>{tail}")
            }
            None => l.to_string(),
        })
        .collect();
    (lines.join("\n"), counts)
}

#[inline(never)]
fn keep_busy() -> u64 {
    let v = gort::make_slice::<u64>(10_000);
    v.set(1, 3);
    v.get(1)
}

static STOP: AtomicBool = AtomicBool::new(false);

/// A goroutine that lives while the test runs (sleeping, so the deadlock
/// detector has a timer to wait for).
#[inline(never)]
fn sleeper() {
    while !STOP.load(Ordering::Relaxed) {
        gort::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn debug_pprof_routes_answer_like_go() {
    gort::run(|| {
        gort::runtime::set_mem_profile_rate(1);
        keep_busy();
    });
    gort::go(sleeper);
    let server = gort::pprof::serve("127.0.0.1:0").unwrap();
    let addr = server.addr();
    assert_ne!(addr.port(), 0);

    // the index page, byte for byte but for the counts
    let a = get(addr, "/debug/pprof/");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(a.header("X-Content-Type-Options"), Some("nosniff"));
    let (page, counts) = normalize(&a.text());
    assert_eq!(page, INDEX);
    // cmdline, profile and trace count 0; goroutine counts the main one at least
    assert_eq!((counts[2], counts[6], counts[8]), (0, 0, 0));
    assert!(counts[0] >= 1 && counts[4] >= 1, "heap buckets {counts:?}");

    // a profile in proto and in text
    let a = get(addr, "/debug/pprof/heap");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(
        a.header("Content-Disposition"),
        Some("attachment; filename=\"heap\"")
    );
    assert_eq!(a.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(&a.body[..2], &[0x1f, 0x8b]);
    let a = get(addr, "/debug/pprof/heap?debug=1&gc=1");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(a.header("Content-Disposition"), None);
    let t = a.text();
    assert!(t.starts_with("heap profile: "), "{t}");
    assert!(t.contains(" @ heap/2\n"), "rate 1 prints as heap/2: {t}");
    assert!(t.contains("\n# runtime.MemStats\n# Alloc = "), "{t}");
    assert!(t.contains("keep_busy+0x"), "{t}");
    let t = get(addr, "/debug/pprof/goroutine?debug=2").text();
    assert!(t.starts_with("goroutine "), "{t}");
    assert!(t.contains("pprof_http::sleeper"), "{t}");
    let t = get(addr, "/debug/pprof/goroutine?debug=1").text();
    assert!(t.starts_with("goroutine profile: total "), "{t}");
    for name in ["allocs", "block", "mutex", "threadcreate", "goroutine"] {
        let a = get(addr, &format!("/debug/pprof/{name}"));
        assert_eq!(a.status, 200, "{name}");
        assert_eq!(
            a.header("Content-Disposition"),
            Some(&*format!("attachment; filename=\"{name}\"")),
            "{name}"
        );
        let p = gort::crates::profiler::pprof::decode(&a.body).unwrap();
        gort::crates::profiler::pprof::check_valid(&p).unwrap();
    }

    // Go's errors: text/plain, X-Go-Pprof: 1, the message and a newline
    let a = get(addr, "/debug/pprof/nosuch");
    assert_eq!(a.status, 404);
    assert_eq!(a.body, b"Unknown profile\n");
    assert_eq!(a.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(a.header("X-Go-Pprof"), Some("1"));
    assert_eq!(a.header("X-Content-Type-Options"), Some("nosniff"));
    let a = get(addr, "/debug/pprof/heap?seconds=abc");
    assert_eq!(a.status, 400);
    assert_eq!(
        a.text(),
        "invalid value for \"seconds\" - must be a positive integer\n"
    );
    assert_eq!(a.header("X-Go-Pprof"), Some("1"));
    let a = get(addr, "/debug/pprof/heap?seconds=1&debug=1");
    assert_eq!(a.status, 400);
    assert_eq!(a.text(), "seconds and debug params are incompatible\n");
    let a = get(addr, "/somewhere/else");
    assert_eq!((a.status, a.text().as_str()), (404, "404 page not found\n"));

    // a delta profile
    let a = get(addr, "/debug/pprof/allocs?seconds=1");
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("Content-Disposition"),
        Some("attachment; filename=\"allocs-delta\"")
    );
    let p = gort::crates::profiler::pprof::decode(&a.body).unwrap();
    assert!(p.duration_nanos >= 1_000_000_000, "{}", p.duration_nanos);

    // cmdline: the arguments joined by NUL
    let a = get(addr, "/debug/pprof/cmdline");
    assert_eq!(a.header("Content-Type"), Some("text/plain; charset=utf-8"));
    let want = std::env::args().collect::<Vec<_>>().join("\0");
    assert_eq!(a.text(), want);

    // symbol: num_symbols, then the function at each address
    let pc = keep_busy as *const () as u64;
    let a = request(
        addr,
        "POST",
        "/debug/pprof/symbol",
        format!("{pc:#x}+0x0").as_bytes(),
    );
    assert_eq!(
        a.text(),
        format!("num_symbols: 1\n{pc:#x} pprof_http::keep_busy\n")
    );
    assert_eq!(get(addr, "/debug/pprof/symbol").text(), "num_symbols: 1\n");

    // an execution trace and a CPU profile
    let a = get(addr, "/debug/pprof/trace?seconds=0.2");
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.header("Content-Disposition"),
        Some("attachment; filename=\"trace\"")
    );
    assert_eq!(&a.body[..16], b"go 1.19 trace\0\0\0");
    let a = get(addr, "/debug/pprof/profile?seconds=1");
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.header("Content-Disposition"),
        Some("attachment; filename=\"profile\"")
    );
    let p = gort::crates::profiler::pprof::decode(&a.body).unwrap();
    assert_eq!(p.period, 10_000_000);

    // an HTTP/1.0 client gets the trace unframed, up to the close
    let mut s = TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(
        &mut s,
        b"GET /debug/pprof/trace?seconds=0.1 HTTP/1.0\r\n\r\n",
    )
    .unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut raw).unwrap();
    let h = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..h]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert_eq!(&raw[h + 4..h + 20], b"go 1.19 trace\0\0\0");

    // busy: Go's 500s when a CPU profile or a trace is already running
    gort::pprof::start_cpu_profile(std::io::sink()).unwrap();
    let a = get(addr, "/debug/pprof/profile?seconds=1");
    gort::pprof::stop_cpu_profile();
    assert_eq!(a.status, 500);
    assert_eq!(
        a.text(),
        "Could not enable CPU profiling: cpu profiling already in use\n"
    );
    assert_eq!(a.header("X-Go-Pprof"), Some("1"));
    assert_eq!(a.header("Content-Disposition"), None);
    gort::trace::start(std::io::sink()).unwrap();
    let a = get(addr, "/debug/pprof/trace?seconds=0.1");
    gort::trace::stop().unwrap();
    assert_eq!(a.status, 500);
    assert_eq!(
        a.text(),
        "Could not enable tracing: tracing is already enabled\n"
    );

    if have_go("debug_pprof_routes_answer_like_go") {
        let dir = TestDir::new("http");
        let url = format!("http://{addr}/debug/pprof/heap");
        let (raw, err) = go_tool(&dir, &["pprof", "-raw", &url]);
        assert!(raw.contains("PeriodType: space bytes"), "{raw}\n{err}");
        assert!(raw.contains("keep_busy"), "{raw}");
        assert!(!err.contains("symbolization failed"), "{err}");
    }
    STOP.store(true, Ordering::Relaxed);
    server.stop();
    // the HTTP library's accept thread lets the listener go shortly after
    let closed = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        TcpStream::connect(addr).is_err()
    });
    assert!(closed, "server still listening 1 s after stop()");
}
