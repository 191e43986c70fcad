// syscalls: gort's samples/src/bin/syscalls.rs in Go. 64 goroutines in a
// blocking sleep system call, then runtime.GC() timed while a goroutine is
// blocked in read(2) on an empty pipe.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

func main() {
	procs := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	t := time.Now()
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			// A real blocking system call, like std::thread::sleep.
			ts := syscall.Timespec{Sec: 0, Nsec: 200 * 1000 * 1000}
			syscall.Nanosleep(&ts, nil)
			wg.Done()
		}()
	}
	wg.Wait()
	fmt.Printf("64 goroutines in sleep(200ms), GOMAXPROCS=%d: %.0f ms\n", procs, float64(time.Since(t).Microseconds())/1e3)

	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		fmt.Fprintln(os.Stderr, "syscalls: pipe failed")
		os.Exit(2)
	}
	go func() {
		b := make([]byte, 1)
		syscall.Read(fds[0], b)
	}()
	time.Sleep(20 * time.Millisecond)
	var worst, total time.Duration
	for i := 0; i < 10; i++ {
		t := time.Now()
		runtime.GC()
		e := time.Since(t)
		if e > worst {
			worst = e
		}
		total += e
	}
	fmt.Printf("runtime.GC() with a goroutine blocked in read(2): mean %.2f ms, max %.2f ms\n",
		float64(total.Microseconds())/10e3, float64(worst.Microseconds())/1e3)
}
