# The built-in demo (`aimdb demo`, `make run`): needs no outside service.
#
# The MQTT plugin runs its own broker on 127.0.0.1:18830 and the HTTP plugin listens
# on 127.0.0.1:18080. Try, from another terminal:
#
#   curl -X POST -d '21.5' http://127.0.0.1:18080/sensors/temp
#   aimdb record watch 'sensors.#'
#   aimdb record set demo.light '{"on":true}'
#   mosquitto_sub -h 127.0.0.1 -p 18830 -t 'demo/#' -v
#
# The other bundled plugins connect to outside systems, so the demo leaves them out:
# kafka, knx, modbus (TCP and RTU), websocket and grpc. `aimdb plugins list` shows
# their options; docs/<name>.md has an example of each.

connector "mqtt" {
  url             = "mqtt://127.0.0.1:18830"
  embedded_broker = "127.0.0.1:18830"
  client_id       = "aimdb-demo"
}

connector "http" {
  url    = "http://127.0.0.1:18080"
  listen = "127.0.0.1:18080"
}

# A temperature posted over HTTP is kept in a ring and published on MQTT.
record "sensors.temp" {
  buffer   = "spmc_ring"
  capacity = 64
  link_from "http://sensors/temp" {}
  link_to "mqtt://demo/sensors/temp" {
    qos    = 1
    retain = true
  }
}

# A light command set through the control socket goes out on MQTT.
record "demo.light" {
  buffer   = "single_latest"
  writable = true
  link_to "mqtt://demo/light/set" {
    qos = 1
  }
}

# The operations listener: dashboard at http://127.0.0.1:9180/, Prometheus metrics
# at /metrics, probes at /healthz and /readyz (docs/operations.md).
http {
  listen = "127.0.0.1:9180"
}
