// Package plugin runs connector plugins for the host: it finds plugin executables in
// a directory, starts each through the one wire client (internal/pluginwire/client),
// asks what it serves, and maps schemes to plugins. It supervises every plugin
// process: when one exits it is restarted with exponential backoff, for ever (a crash
// loop is reported in its State), and its instances are built again. While a plugin
// is down its links fail fast with a retryable error and retry; nothing is resent
// behind their back. Data travels over one batched stream per process. A plugin
// process gets only a few harmless variables of the host's environment and those its
// kinds' instances name in "_env" options (Config.KindEnv), never the host's whole
// environment.
package plugin
