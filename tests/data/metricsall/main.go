// Prints Go's runtime/metrics.All() as tab-separated lines: name, kind,
// cumulative, description. tests/data/go127_metrics_all.tsv is its output
// under Go 1.27 (tests/tests/metrics.rs compares gort's list with it).
package main

import (
	"fmt"
	"runtime/metrics"
)

func main() {
	kinds := map[metrics.ValueKind]string{
		metrics.KindUint64:           "Uint64",
		metrics.KindFloat64:          "Float64",
		metrics.KindFloat64Histogram: "Float64Histogram",
	}
	for _, d := range metrics.All() {
		fmt.Printf("%s\t%s\t%v\t%s\n", d.Name, kinds[d.Kind], d.Cumulative, d.Description)
	}
}
