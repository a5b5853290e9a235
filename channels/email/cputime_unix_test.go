//go:build unix

package email

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process used so far (user and system), so
// a benchmark on a loaded machine can report what it cost, not how long
// it waited.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is the most memory this process held at once so far, in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss << 10 // Linux reports KiB
}
