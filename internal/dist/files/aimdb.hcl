# /etc/aimdb/aimdb.hcl: the configuration of the packaged aimdb.service.
#
# As installed it works on its own, with no outside service: the MQTT plugin runs an
# embedded broker on 127.0.0.1:18830 and the HTTP plugin listens on 127.0.0.1:18080,
# both on loopback only. Replace it with your own records and connectors; the
# connector pages (/usr/share/doc/aimdb/README.md lists them) give every option.
# Check a change before restarting the service:
#
#   aimdb check --config /etc/aimdb/aimdb.hcl        # every mistake, with file:line:col
#   systemctl restart aimdb                          # drains, then starts again
#
# Try it, on the machine itself (the control socket belongs to the service's user;
# see /usr/share/doc/aimdb/packaging.md):
#
#   curl -X POST -d '21.5' http://127.0.0.1:18080/sensors/temp
#   mosquitto_sub -h 127.0.0.1 -p 18830 -t 'demo/#' -v
#
# Secrets (passwords, tokens) do not belong here: this file is world-readable. Read
# them from the environment (password = env("MQTT_PASSWORD"), or options such as the
# HTTP connector's token_env) and set them in /etc/default/aimdb (mode 0600), which
# the unit reads. Give files (TLS certificates) as absolute paths.

# The MQTT connector instance. For a real broker drop embedded_broker and point url at
# it: url = "mqtts://broker:8883", username = "aimdb", password = env("MQTT_PASSWORD").
connector "mqtt" {
  url             = "mqtt://127.0.0.1:18830"
  embedded_broker = "127.0.0.1:18830"
  client_id       = "aimdb"
}

# The HTTP connector instance: webhooks out to url, and an endpoint in on listen.
connector "http" {
  url    = "http://127.0.0.1:18080"
  listen = "127.0.0.1:18080"
}

# A temperature posted over HTTP is kept in a ring and published on MQTT, retained.
# outbox = "disk" keeps the values not yet confirmed by the broker in the data
# directory (/var/lib/aimdb under systemd), so they survive a restart or an outage.
record "sensors.temp" {
  buffer   = "spmc_ring"
  capacity = 64
  link_from "http://sensors/temp" {}
  link_to "mqtt://demo/sensors/temp" {
    qos    = 1
    retain = true
    outbox = "disk"
  }
}

# A light command set through the control socket goes out on MQTT:
#   aimdb record set demo.light '{"on":true}' --connect unix:///run/aimdb/aimdb.sock
record "demo.light" {
  buffer   = "single_latest"
  writable = true
  link_to "mqtt://demo/light/set" {
    qos = 1
  }
}
