package main

import (
	"io"
	"log"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/pflag"
)

// logFlags are --log-level and --log-format.
type logFlags struct {
	level, format string
}

// addLogFlags adds --log-level (defaulting to level) and --log-format to fs.
func addLogFlags(fs *pflag.FlagSet, level string) *logFlags {
	f := &logFlags{}
	fs.StringVar(&f.level, "log-level", level, "log level: trace, debug, info, warn or error")
	fs.StringVar(&f.format, "log-format", "text", "log format: text or json")
	return f
}

// logger builds the process's logger, writing to w.
func (f *logFlags) logger(w io.Writer) (hclog.Logger, error) {
	level := hclog.LevelFromString(f.level)
	if level == hclog.NoLevel || strings.EqualFold(f.level, "off") {
		return nil, usagef("--log-level %q: want trace, debug, info, warn or error", f.level)
	}
	if f.format != "text" && f.format != "json" {
		return nil, usagef("--log-format %q: want text or json", f.format)
	}
	l := hclog.New(&hclog.LoggerOptions{
		Name:       "aimdb",
		Level:      level,
		Output:     w,
		JSONFormat: f.format == "json",
	})
	// Libraries that write to the standard logger (go-plugin's connection broker
	// reports its normal shutdown as "[ERR] ... broker closed") go through hclog in the
	// chosen format, at debug level.
	log.SetFlags(0)
	log.SetOutput(l.Named("lib").StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}))
	return l, nil
}
