package plugin

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Skipped is a file in a plugin directory that is not a plugin, and why.
type Skipped struct {
	Path   string
	Reason string
}

// Scan lists the plugin executables in dir, in name order, and the files it skipped:
// hidden files, directories, files without an execute bit and files that are neither
// native executables nor scripts.
func Scan(dir string) (plugins []string, skipped []Skipped, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("plugin directory %s: %w", dir, err)
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if reason := notPlugin(path); reason != "" {
			skipped = append(skipped, Skipped{Path: path, Reason: reason})
			continue
		}
		plugins = append(plugins, path)
	}
	sort.Strings(plugins)
	return plugins, skipped, nil
}

// executableMagic are the first bytes of executables a plugin may be: ELF, Mach-O
// (both byte orders, 32 and 64 bit, universal), PE, and scripts.
var executableMagic = [][]byte{
	{0x7f, 'E', 'L', 'F'},
	{0xfe, 0xed, 0xfa, 0xce}, {0xce, 0xfa, 0xed, 0xfe},
	{0xfe, 0xed, 0xfa, 0xcf}, {0xcf, 0xfa, 0xed, 0xfe},
	{0xca, 0xfe, 0xba, 0xbe},
	{'M', 'Z'},
	{'#', '!'},
}

// notPlugin says why path cannot be a plugin, or "" when it may be one.
func notPlugin(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	if st.IsDir() {
		return "is a directory"
	}
	if !st.Mode().IsRegular() {
		return "is not a regular file"
	}
	if st.Mode().Perm()&0o111 == 0 {
		return "is not executable"
	}
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	for _, m := range executableMagic {
		if n >= len(m) && bytes.Equal(head[:len(m)], m) {
			return ""
		}
	}
	return "is not an executable program (no ELF, Mach-O, PE or #! header)"
}
