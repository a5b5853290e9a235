//go:build race

package classify

// raceEnabled: this test binary runs under the race detector.
const raceEnabled = true
