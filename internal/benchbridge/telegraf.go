package benchbridge

import (
	"fmt"
	"os"
	"path/filepath"
)

// Telegraf bridges through a minimal Telegraf build: mqtt_consumer with the value
// parser (the payload as one string field) and outputs.mqtt with a template
// serializer that writes that field back unchanged, one message per metric.
type Telegraf struct {
	// Bin is the telegraf command.
	Bin string
}

// Name returns "Telegraf".
func (Telegraf) Name() string { return "Telegraf" }

// Topic returns bench/in.
func (Telegraf) Topic() string { return InTopic }

const telegrafConfig = `[agent]
  interval = "10s"
  round_interval = false
  metric_batch_size = 1000
  metric_buffer_limit = %[2]d
  flush_interval = "100ms"
  flush_jitter = "0s"
  omit_hostname = true
  quiet = true

[[inputs.mqtt_consumer]]
  servers = ["tcp://127.0.0.1:%[1]d"]
  topics = [%[3]q]
  qos = %[5]d
  client_id = "bench-telegraf-in"
  persistent_session = false
  data_format = "value"
  data_type = "string"

[[outputs.mqtt]]
  servers = ["tcp://127.0.0.1:%[1]d"]
  topic = %[4]q
  qos = %[5]d
  client_id = "bench-telegraf-out"
  layout = "non-batch"
  data_format = "template"
  template = '{{ .Field "value" }}'
`

// Start writes the configuration and runs telegraf.
func (t Telegraf) Start(s Setup) (*Proc, error) {
	conf := filepath.Join(s.Dir, "telegraf.conf")
	text := fmt.Appendf(nil, telegrafConfig, s.Port, s.BufferLimit, InTopic, OutTopic, s.QoS)
	if err := os.WriteFile(conf, text, 0o644); err != nil {
		return nil, fmt.Errorf("telegraf config: %w", err)
	}
	return startProc("telegraf", s.Dir, filepath.Join(s.Dir, "telegraf.log"), nil,
		t.Bin, "--config", conf)
}
