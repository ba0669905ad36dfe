package httpapi

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: every
// connection, wait and long poll the server starts must end with it
// (lingering closes included).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's idle-worker cleaner notices a stopped pool only after
		// its sleep, and its Date header updater lives for the process.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// The benchmarks' fasthttp client cleans idle connections in a
		// goroutine that notices the end of its pool only after a sleep.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
	)
}
