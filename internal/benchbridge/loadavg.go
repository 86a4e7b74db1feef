package benchbridge

import (
	"os"
	"strconv"
	"strings"
)

// loadAverage returns the 1, 5 and 15 minute load averages (zeros if unreadable).
func loadAverage() [3]float64 {
	var out [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	for i, f := range strings.Fields(string(b)) {
		if i == 3 {
			break
		}
		out[i], _ = strconv.ParseFloat(f, 64)
	}
	return out
}

// LoadAverage formats the load averages as uptime prints them.
func LoadAverage() string {
	l := loadAverage()
	return strconv.FormatFloat(l[0], 'f', 2, 64) + ", " + strconv.FormatFloat(l[1], 'f', 2, 64) + ", " +
		strconv.FormatFloat(l[2], 'f', 2, 64)
}
