package benchbridge

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// NodeRED bridges through a Node-RED flow: an mqtt-in node wired to an mqtt-out node,
// payloads passed as buffers. Its HTTP server is off (no editor, no HTTP nodes).
type NodeRED struct {
	// Node is the node command, RedJS Node-RED's red.js.
	Node, RedJS string
}

// Name returns "Node-RED".
func (NodeRED) Name() string { return "Node-RED" }

// Topic returns bench/in.
func (NodeRED) Topic() string { return InTopic }

// noderedSettings turns off everything that listens or calls out.
const noderedSettings = `module.exports = {
  flowFile: "flows.json",
  credentialSecret: false,
  uiHost: "127.0.0.1",
  httpAdminRoot: false,
  httpNodeRoot: false,
  diagnostics: { enabled: false, ui: false },
  telemetry: { enabled: false, updateNotification: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
  logging: { console: { level: "warn", metrics: false, audit: false } }
};
`

// noderedFlow is the flow: mqtt in -> mqtt out on one broker configuration.
func noderedFlow(port int, qos byte) ([]byte, error) {
	q := strconv.Itoa(int(qos))
	flow := []map[string]any{
		{"id": "bench-tab", "type": "tab", "label": "bench"},
		{"id": "bench-broker", "type": "mqtt-broker", "name": "bench", "broker": "127.0.0.1",
			"port": strconv.Itoa(port), "clientid": "bench-nodered", "autoConnect": true, "usetls": false,
			"protocolVersion": "4", "keepalive": "30", "cleansession": true},
		{"id": "bench-in", "type": "mqtt in", "z": "bench-tab", "topic": InTopic, "qos": q,
			"datatype": "buffer", "broker": "bench-broker", "nl": false, "rap": true, "rh": 0,
			"inputs": 0, "wires": [][]string{{"bench-out"}}},
		{"id": "bench-out", "type": "mqtt out", "z": "bench-tab", "topic": OutTopic, "qos": q,
			"retain": "false", "broker": "bench-broker", "wires": [][]string{}},
	}
	return json.MarshalIndent(flow, "", "  ")
}

// Start writes settings.js and flows.json into a user directory and runs Node-RED.
func (n NodeRED) Start(s Setup) (*Proc, error) {
	dir := filepath.Join(s.Dir, "node-red")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node-red user directory: %w", err)
	}
	flow, err := noderedFlow(s.Port, s.QoS)
	if err != nil {
		return nil, fmt.Errorf("node-red flow: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flows.json"), flow, 0o644); err != nil {
		return nil, fmt.Errorf("node-red flow: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "settings.js"), []byte(noderedSettings), 0o644); err != nil {
		return nil, fmt.Errorf("node-red settings: %w", err)
	}
	return startProc("node-red", dir, filepath.Join(s.Dir, "node-red.log"), nil,
		n.Node, n.RedJS, "--userDir", dir, "--settings", filepath.Join(dir, "settings.js"), "flows.json")
}
