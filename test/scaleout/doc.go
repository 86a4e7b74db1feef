// Package scaleout tests several aimdb processes sharing one inbound stream
// (docs/scale-out.md, issue 17): three real `aimdb run` processes with the real
// plugins on loopback share an MQTT 5 shared subscription on mosquitto, and a Kafka
// consumer group on kfake with 6 partitions. 30,000 sequence-numbered QoS 1 messages
// go in; every instance forwards what it handled to a topic of its own, where a
// collector counts each value by sequence number and instance (lost, duplicated). One
// instance is SIGKILLed mid-stream; the test prints the per-instance counts and the
// time until its share was handled by the others.
//
// BenchmarkScaleOut measures the throughput of 1, 2 and 3 instances on the same
// input, beside a bare baseline (the broker alone) in the same run.
//
// TestMain builds the aimdb binary and the mqtt and kafka plugins into a temporary
// directory. Without mosquitto the tests are skipped (they fail under CI=true).
package scaleout
