// Package testbuild compiles plugins (the test plugins and the bundled ones) for tests
// that run them as real processes.
package testbuild

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Plugins builds the test plugin commands named (loopback, stdout, crash, badcookie,
// badversion) into dir/<name>, once per call, with CGO disabled like release plugins.
func Plugins(dir string, names ...string) error {
	pkgs := make([]string, len(names))
	for i, n := range names {
		pkgs[i] = "./internal/testplugins/cmd/" + n
	}
	return Packages(dir, pkgs...)
}

// Packages builds the module's main packages, given relative to the module root
// ("./plugins/mqtt"), into dir, each named after its last path element, with CGO
// disabled like release plugins.
func Packages(dir string, pkgs ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", strings.Join(pkgs, " "), err, out.String())
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(mod), nil
}
