package main

import (
	"os/exec"
	"testing"
)

func TestDebVersion(t *testing.T) {
	cases := []struct{ in, want string }{
		{"0.0.0-dev", "0.0.0~dev"},
		{"v1.2.3", "1.2.3"},
		{"1.2.3", "1.2.3"},
		{"v1.2.3-dirty", "1.2.3+dirty"},
		{"v1.2.3-rc.1", "1.2.3~rc.1"},
		{"v1.2.3-rc1-2-g0a1b2c3", "1.2.3~rc1+git2.g0a1b2c3"},
		{"v1.2.3-14-g0a1b2c3d", "1.2.3+git14.g0a1b2c3d"},
		{"v1.2.3-14-g0a1b2c3d-dirty", "1.2.3+git14.g0a1b2c3d.dirty"},
	}
	for _, c := range cases {
		if got, err := debVersion(c.in); err != nil || got != c.want {
			t.Errorf("debVersion(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "vnext", "0a1b2c3", "v1.2.3_x"} {
		if got, err := debVersion(bad); err == nil {
			t.Errorf("debVersion(%q) = %q, want an error", bad, got)
		}
	}
}

// TestDebVersionsSort checks with dpkg that the versions sort as the commits do.
func TestDebVersionsSort(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg not installed")
	}
	order := []string{"0.0.0-dev", "v1.2.3-rc1", "v1.2.3-rc1-2-g0a1b2c3", "v1.2.3", "v1.2.3-dirty", "v1.2.3-1-gabcdef0", "v1.2.3-2-gabcdef0"}
	for i := 1; i < len(order); i++ {
		a, _ := debVersion(order[i-1])
		b, _ := debVersion(order[i])
		if err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg does not sort %s (%s) before %s (%s)", a, order[i-1], b, order[i])
		}
	}
}
