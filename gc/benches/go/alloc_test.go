// Go 1.19 twin of gc/benches/alloc.rs. Run from a scratch module:
//
//	mkdir /tmp/goalloc && cp alloc_test.go /tmp/goalloc && cd /tmp/goalloc &&
//	go mod init goalloc && go test -bench . -benchtime 2s
package goalloc

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

var sink []byte

func benchSmall(b *testing.B, n int) {
	for i := 0; i < b.N; i++ {
		sink = make([]byte, n)
	}
}

func BenchmarkAlloc16(b *testing.B)   { benchSmall(b, 16) }
func BenchmarkAlloc64(b *testing.B)   { benchSmall(b, 64) }
func BenchmarkAlloc512(b *testing.B)  { benchSmall(b, 512) }
func BenchmarkAlloc4096(b *testing.B) { benchSmall(b, 4096) }

const big = 100_000_000

// Reused pages: the previous 100 MB slice was written and collected, so the
// next one is cleared by the runtime.
func Benchmark100MBReused(b *testing.B) {
	var t time.Duration
	for i := 0; i < b.N; i++ {
		s := make([]byte, big)
		for j := range s {
			s[j] = 1
		}
		sink = nil
		s = nil
		runtime.GC()
		st := time.Now()
		sink = make([]byte, big)
		t += time.Since(st)
		sink = nil
		runtime.GC()
	}
	b.ReportMetric(float64(t.Nanoseconds())/float64(b.N), "alloc-ns/op")
}

// Released pages: as above, then debug.FreeOSMemory.
func Benchmark100MBScavenged(b *testing.B) {
	var t time.Duration
	for i := 0; i < b.N; i++ {
		s := make([]byte, big)
		for j := range s {
			s[j] = 1
		}
		sink = nil
		s = nil
		debug.FreeOSMemory()
		st := time.Now()
		sink = make([]byte, big)
		t += time.Since(st)
		sink = nil
		runtime.GC()
	}
	b.ReportMetric(float64(t.Nanoseconds())/float64(b.N), "alloc-ns/op")
}
