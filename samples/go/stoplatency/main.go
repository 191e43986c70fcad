// stoplatency: gort's samples/src/bin/stoplatency.rs in Go. One goroutine
// per P spins without a function call (Go preempts it asynchronously since
// 1.14); main times ReadMemStats, which stops the world.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync/atomic"
	"time"
)

var stop int32
var sink uint64

func spin() {
	x := uint64(1)
	for atomic.LoadInt32(&stop) == 0 {
		for i := 0; i < 1000; i++ {
			x = x*3 + 1
		}
	}
	sink = x
}

func main() {
	rounds := 2000
	if len(os.Args) > 1 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "stoplatency: ROUNDS must be a positive integer, got %q\n", os.Args[1])
			os.Exit(2)
		}
		rounds = n
	}
	procs := runtime.GOMAXPROCS(0)
	for i := 0; i < procs; i++ {
		go spin()
	}
	time.Sleep(50 * time.Millisecond)
	lat := make([]time.Duration, 0, rounds)
	var m runtime.MemStats
	for i := 0; i < rounds; i++ {
		t := time.Now()
		runtime.ReadMemStats(&m)
		lat = append(lat, time.Since(t))
	}
	atomic.StoreInt32(&stop, 1)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) float64 { return float64(lat[int(float64(len(lat)-1)*f)].Nanoseconds()) / 1e3 }
	fmt.Printf("ReadMemStats with %d spinning goroutines, %d rounds: p50 %.1f us, p99 %.1f us, max %.1f us\n",
		procs, rounds, q(0.5), q(0.99), float64(lat[len(lat)-1].Nanoseconds())/1e3)
}
