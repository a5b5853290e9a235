package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The load benchmark shares the machine between the harness (this
// process: the clients, the Twilio stand-in, the reply clock), the gateway
// and PostgreSQL. Rates alone do not say who used the cores; CPU time a
// webhook does, and it bounds what any change to one of them can win.

// clockTick is USER_HZ, the unit of /proc's CPU times: 100 on Linux
// whatever the kernel's own tick.
const clockTick = 10 * time.Millisecond

// cpuTimes is the CPU time used so far: the machine's (all cores, busy and
// idle), this process's and the gateway's (0 without one).
type cpuTimes struct {
	busy, idle, harness, gateway time.Duration
}

func readCPU(gatewayPID int) cpuTimes {
	var c cpuTimes
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		// cpu user nice system idle iowait irq softirq steal ...
		f := strings.Fields(line)
		for i := 1; i < len(f) && i <= 7; i++ { // not steal: time the host gave to others
			v, _ := strconv.ParseInt(f[i], 10, 64)
			if i == 4 || i == 5 {
				c.idle += time.Duration(v) * clockTick
			} else {
				c.busy += time.Duration(v) * clockTick
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.harness = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if gatewayPID != 0 {
		c.gateway = procCPU(gatewayPID)
	}
	return c
}

// procCPU is a process's user and system time from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: the fields start after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	// f[0] is the state (field 3); utime and stime are fields 14 and 15.
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * clockTick
}

// cpuUse is what a run of n items (webhooks, transactions) cost.
type cpuUse struct {
	n                            int
	busy, idle, harness, gateway time.Duration
}

// cpuSince is the CPU used from start until now, for n items.
func cpuSince(start cpuTimes, gatewayPID, n int) cpuUse {
	now := readCPU(gatewayPID)
	return cpuUse{n: n, busy: now.busy - start.busy, idle: now.idle - start.idle,
		harness: now.harness - start.harness, gateway: now.gateway - start.gateway}
}

// each is d per item in milliseconds.
func (u cpuUse) each(d time.Duration) float64 {
	if u.n == 0 {
		return 0
	}
	return float64(d) / float64(time.Millisecond) / float64(u.n)
}

// rest is what the machine spent beside the harness and the gateway:
// PostgreSQL, and whatever else ran.
func (u cpuUse) rest() time.Duration { return max(u.busy-u.harness-u.gateway, 0) }

// idleShare is the machine's idle fraction over the run.
func (u cpuUse) idleShare() float64 {
	if u.busy+u.idle == 0 {
		return 0
	}
	return float64(u.idle) / float64(u.busy+u.idle)
}

// webhookCPU describes a webhook run's CPU a webhook, by who spent it.
func (u cpuUse) webhookCPU(restName string) string {
	if u.n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f ms: gateway %.2f, harness %.2f, %s %.2f (machine idle %.0f %%)",
		u.each(u.busy), u.each(u.gateway), u.each(u.harness), restName, u.each(u.rest()), 100*u.idleShare())
}
