// Package bench is the benchmark harness of commentd: a load generator that
// drives any server implementing the HTTP contract (API.md) and the ceilings
// that give its figures a meaning on the machine at hand.
//
// The load generator runs N workers, each owning one keep-alive connection of
// a fasthttp client, in one of two modes:
//
//   - closed loop: every worker sends its next request as soon as the previous
//     one is answered, so the offered load adapts to the server;
//   - open loop: the workers share one fixed schedule of intended send times
//     (Rate per second). A request's latency is measured from its intended send
//     time, not from the moment a worker got round to sending it, so a stall
//     of the server shows up in every request that it delayed (coordinated
//     omission is corrected).
//
// Invariants:
//
//   - Only operations whose start (closed loop) or intended send time (open
//     loop) falls after the warm-up are counted; everything else is shown in
//     the progress line only.
//   - Latencies are recorded in HdrHistograms with three significant digits,
//     from 1 µs to 60 s; slower answers are clamped to 60 s.
//   - A success is a 2xx answer; everything else counts as an error under its
//     status code ("net" for transport errors), and has no latency sample.
//   - Workers never share a request, a response or a random source; the
//     histograms are written by one collector goroutine only.
//   - An update, delete or get works on a comment the run created, held by
//     one worker at a time, so the harness never provokes a 404 or 410 by
//     racing with itself.
//   - The read-your-writes lag of a sampled create is the time from its
//     answer until GET of the comment with minPosition=<its position>
//     answers 200; it includes that query's round trip (an upper bound).
//   - Open-loop latencies include the client's own scheduling delay (a late
//     timer wake-up counts against the server), never less than the truth.
//
// The ceilings are measured with the same client and concurrency in the same
// run: an in-process fasthttp server answering with the very bytes of a list
// response (CeilingHTTP), one whose create handler writes the body to Pebble
// with Sync (CeilingHTTPPebble), and raw synced Pebble batches without HTTP
// (CeilingPebble). Pebble is imported here for those ceilings only.
//
// Scenarios (RunScenario) combine load runs and ceilings into a Report that is
// written as JSON (WriteJSON) and as an HTML page with SVG plots (WriteHTML).
package bench
