//go:build race

package comment

// raceEnabled: the race detector changes allocation counts.
const raceEnabled = true
