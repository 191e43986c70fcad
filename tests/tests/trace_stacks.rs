//! `gort::trace` records event stacks: a goroutine that blocks on a channel
//! receive inside `wait_for_value` must appear, by name, in the
//! synchronization-blocking profile Go 1.19's `go tool trace -pprof=sync`
//! derives from the trace's `GoBlockRecv` stacks; the scheduler-latency
//! profile (`-pprof=sched`) must name `spawn_waiters`, where they were
//! created (`GoCreate` stacks), and the main goroutine's closure, whose
//! sends woke them (`GoUnblock` stacks).
//! Without Go on PATH the test prints why and passes, unless
//! `GORT_REQUIRE_GO=1` (CI), where it fails.

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gort::sync::WaitGroup;
use gort::{chan, Chan};
use gort_tests::go_tools::have_go;

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[inline(never)]
fn wait_for_value(c: &Chan<u64>) -> u64 {
    std::hint::black_box(c.recv().expect("a value"))
}

#[inline(never)]
fn spawn_waiters(c: &Chan<u64>, wg: &WaitGroup, sum: &Chan<u64>) {
    for _ in 0..3 {
        let (c, wg, sum) = (c.clone(), wg.clone(), sum.clone());
        wg.add(1);
        gort::go(move || {
            let v = wait_for_value(&c);
            sum.send(v);
            wg.done();
        });
    }
}

#[test]
fn block_and_create_stacks_reach_go_tool_trace() {
    let out = Shared::default();
    let w = out.clone();
    gort::run(move || {
        gort::trace::start(w).unwrap();
        let (c, sum) = (chan::<u64>(0), chan::<u64>(3));
        let wg = WaitGroup::new();
        spawn_waiters(&c, &wg, &sum);
        gort::sleep(Duration::from_millis(20)); // let them block
        for i in 1..=3 {
            c.send(i);
        }
        wg.wait();
        assert_eq!((0..3).map(|_| sum.recv().unwrap()).sum::<u64>(), 6);
        gort::trace::stop().unwrap();
    });
    let bytes = out.0.lock().unwrap().clone();

    if !have_go("block_and_create_stacks_reach_go_tool_trace") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("gort-trace-stacks-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("home")).unwrap();
    std::fs::write(dir.join("trace.out"), &bytes).unwrap();
    let go = |args: &[&str]| {
        let o = Command::new("go")
            .args(args)
            .current_dir(&dir)
            .env("HOME", dir.join("home"))
            .env("PPROF_TMPDIR", dir.join("home"))
            .output()
            .unwrap();
        let (so, se) = (o.stdout, String::from_utf8_lossy(&o.stderr).into_owned());
        assert!(o.status.success(), "go {args:?}: {se}");
        so
    };
    let sync = go(&["tool", "trace", "-pprof=sync", "trace.out"]);
    std::fs::write(dir.join("sync.pprof"), &sync).unwrap();
    let top = String::from_utf8(go(&["tool", "pprof", "-top", "sync.pprof"])).unwrap();
    eprintln!("go tool trace -pprof=sync | go tool pprof -top:\n{top}");
    assert!(top.contains("trace_stacks::wait_for_value"), "{top}");
    // Scheduler latency, attributed to the stacks of the GoCreate and
    // GoUnblock events that made goroutines runnable.
    let sched = go(&["tool", "trace", "-pprof=sched", "trace.out"]);
    std::fs::write(dir.join("sched.pprof"), &sched).unwrap();
    let top = String::from_utf8(go(&["tool", "pprof", "-top", "sched.pprof"])).unwrap();
    eprintln!("go tool trace -pprof=sched | go tool pprof -top:\n{top}");
    assert!(
        top.contains("trace_stacks::spawn_waiters"),
        "GoCreate stacks:\n{top}"
    );
    assert!(
        top.contains("block_and_create_stacks_reach_go_tool_trace::{{closure}}"),
        "GoUnblock stacks (main's sends):\n{top}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
