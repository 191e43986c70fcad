// marktree: the Go twin of gort's marktree sample (samples/src/bin/marktree.rs).
//
// Builds a complete binary tree of two-pointer nodes (16 bytes each) of about
// LIVE_MIB MiB, forces three collections with runtime.GC, printing each one's
// wall time and the process's CPU time (getrusage: user + system) across it,
// then the node count. With GODEBUG=gctrace=1 the forced cycles' gctrace
// lines also give the collector's own mark CPU figures; samples/marktree.sh
// runs both sides and divides by the live heap.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

type Node struct{ left, right *Node }

func build(depth int) *Node {
	if depth <= 0 {
		return &Node{}
	}
	return &Node{build(depth - 1), build(depth - 1)}
}

func count(n *Node) int {
	if n.left == nil {
		return 1
	}
	return 1 + count(n.left) + count(n.right)
}

func main() {
	mib := 128
	if len(os.Args) > 1 {
		mib, _ = strconv.Atoi(os.Args[1])
	}
	// A tree of depth d has 2^(d+1) - 1 nodes of 16 bytes.
	depth := 0
	for (1<<(depth+2))*16 <= mib<<20 {
		depth++
	}
	t := build(depth)
	for i := 0; i < 3; i++ {
		c0, w0 := cpu(), time.Now()
		runtime.GC()
		w, c := time.Since(w0), cpu()-c0
		fmt.Printf("forced gc %d: wall %.1f ms, cpu %.1f ms\n", i+1,
			float64(w.Nanoseconds())/1e6, float64(c.Nanoseconds())/1e6)
	}
	fmt.Printf("tree of depth %d: %d nodes\n", depth, count(t))
	runtime.KeepAlive(t)
}

// cpu is the process's user + system CPU time so far.
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
