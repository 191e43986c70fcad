package main

// bigbytes, but every slice is touched: one byte written per 4 KiB page, so
// the kernel must really back each 100,000,000-byte slice with memory.
// (Not in the reference set: written for gort's comparison; the gort twin is
// samples/src/bin/bigbytes-touch.rs.)

import (
	"fmt"
	"log"
)

func bigBytes() *[]byte {
	s := make([]byte, 100000000)
	for i := 0; i < len(s); i += 4096 {
		s[i] = byte(i >> 12)
	}
	return &s
}

func main() {
	sum := 0
	for i := 0; i < 10; i++ {
		s := bigBytes()
		if s == nil {
			log.Println("oh noes")
		}
		sum += int((*s)[len(*s)-1-(len(*s)-1)%4096])
	}
	fmt.Println("checksum", sum)
}
