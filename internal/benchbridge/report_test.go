package benchbridge

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

func TestMedianThousandsDur(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if s := thousands(1234567); s != "1,234,567" {
		t.Errorf("thousands = %q", s)
	}
	if s := dur(float64(1500 * time.Microsecond)); s != "1.5 ms" {
		t.Errorf("dur = %q", s)
	}
}

func TestRatiosAreTakenWithinRounds(t *testing.T) {
	mk := func(side string, round int, rate float64) Result {
		start := time.Unix(0, 0)
		return Result{Side: side, Mode: "burst", Round: round, HasProcs: true, CPU: time.Second,
			Report: seqload.Report{Sent: 1000, Arrived: 1001, First: start, Last: start.Add(time.Duration(1000 / rate * 1e9))}}
	}
	// Round 1: AimDB 2x Telegraf; round 2: 4x; round 3: Telegraf absent.
	rs := []Result{mk("AimDB", 1, 200), mk("Telegraf", 1, 100), mk("AimDB", 2, 400), mk("Telegraf", 2, 100), mk("AimDB", 3, 1)}
	var b bytes.Buffer
	PrintRatios(&b, "burst", "AimDB", []string{"Telegraf", "Node-RED"}, rs, true)
	if got := b.String(); !strings.Contains(got, "AimDB/Telegraf (burst): msg/s 3.00, CPU/msg 1.00") || strings.Contains(got, "Node-RED") {
		t.Errorf("ratios = %q", got)
	}
}
