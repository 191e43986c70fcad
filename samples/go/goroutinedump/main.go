// goroutinedump: the Go twin of gort's samples/src/bin/goroutinedump.rs.
//
// For each N (default 1000 10000 100000): park N goroutines on a channel
// receive, three frames deep; let a ticker goroutine sleep 1 ms in a loop;
// write the goroutine profile with debug=0, 1 and 2 into memory, and print
// the time each write took, its size, and the ticker's longest gap between
// two wake-ups while it ran, beside the longest gap of an equal time with
// no profile running.
package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type ticker struct {
	measuring atomic.Bool
	maxGap    atomic.Int64
	ticks     atomic.Int64
	stop      atomic.Bool
}

//go:noinline
func parkedLeaf(ch chan uint32) uint32 { return <-ch }

//go:noinline
func parkedMiddle(ch chan uint32) uint32 { return parkedLeaf(ch) + 1 }

//go:noinline
func parked(ch chan uint32, wg *sync.WaitGroup, started *atomic.Int64) {
	started.Add(1)
	parkedMiddle(ch)
	wg.Done()
}

func measured(t *ticker, f func()) (time.Duration, time.Duration, int64) {
	t.maxGap.Store(0)
	t.ticks.Store(0)
	t.measuring.Store(true)
	start := time.Now()
	f()
	el := time.Since(start)
	t.measuring.Store(false)
	return el, time.Duration(t.maxGap.Load()), t.ticks.Load()
}

func ms(d time.Duration) float64 { return d.Seconds() * 1e3 }

func main() {
	counts := []int{1000, 10000, 100000}
	if len(os.Args) > 1 {
		counts = nil
		for _, a := range os.Args[1:] {
			n, err := strconv.Atoi(a)
			if err != nil {
				fmt.Fprintf(os.Stderr, "goroutinedump: argument %q: expected a goroutine count\n", a)
				os.Exit(2)
			}
			counts = append(counts, n)
		}
	}
	t := &ticker{}
	go func() {
		last := time.Now()
		for !t.stop.Load() {
			time.Sleep(time.Millisecond)
			now := time.Now()
			if t.measuring.Load() {
				gap := int64(now.Sub(last))
				for {
					old := t.maxGap.Load()
					if gap <= old || t.maxGap.CompareAndSwap(old, gap) {
						break
					}
				}
				t.ticks.Add(1)
			}
			last = now
		}
	}()
	for _, n := range counts {
		ch := make(chan uint32)
		var wg sync.WaitGroup
		var started atomic.Int64
		wg.Add(n)
		for i := 0; i < n; i++ {
			go parked(ch, &wg, &started)
		}
		for started.Load() < int64(n) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		p := pprof.Lookup("goroutine")
		for _, debug := range []int{0, 1, 2} {
			var buf bytes.Buffer
			el, gap, ticks := measured(t, func() { p.WriteTo(&buf, debug) })
			idle := el
			if idle < 20*time.Millisecond {
				idle = 20 * time.Millisecond
			}
			_, idleGap, _ := measured(t, func() { time.Sleep(idle) })
			fmt.Printf("goroutines=%d debug=%d: %.1f ms, %d bytes, longest ticker gap %.2f ms (%d ticks; %.2f ms without a profile)\n",
				n, debug, ms(el), buf.Len(), ms(gap), ticks, ms(idleGap))
		}
		close(ch)
		wg.Wait()
	}
	t.stop.Store(true)
}
