// Package scaleout tests several aimdb processes sharing one inbound stream
// (docs/scale-out.md, issue 17): three real `aimdb run` processes with the real
// plugins on loopback share an MQTT 5 shared subscription on mosquitto, and a Kafka
// consumer group on kfake with 6 partitions. 30,000 sequence-numbered QoS 1 messages
// go in; every instance forwards what it handled to a topic of its own, where a
// collector counts each value by sequence number and instance (lost, duplicated). One
// instance is SIGKILLed mid-stream; the tests print the per-instance counts and the
// time until its share was handled again.
//
// TestMQTTSharedSubscriptionScaleOut runs the MQTT case as an operator would: each
// instance has a persistent MQTT 5 session (fixed client id, session expiry) and a
// disk outbox on its link_to, and the killed instance is started again 2 s later on
// the same client id and data directory (as the packaged systemd unit restarts it). mosquitto kept its
// session: the values it had handed it unacknowledged and those it queued for it
// while it was down go to the returning instance, and what it had acknowledged is in
// its outbox: 0 lost; the values handled twice are redeliveries to it, at most
// receive_maximum plus what its outbox held at the restart.
//
// TestMQTTSharedSubscriptionKillWithoutRestart shows the other choice: clean sessions,
// the killed instance not started again. The other two take its share at once, and
// its backlog is lost: mosquitto does not hand a dead member's unacknowledged messages
// to another member, and the process took with it what it had acknowledged and not
// yet forwarded.
//
// TestKafkaGroupScaleOut: the group moves the killed instance's partitions to the
// others within the session timeout: 0 lost.
//
// BenchmarkScaleOut measures the throughput of 1, 2 and 3 instances on the same
// input, beside a bare baseline (the broker alone) in the same run.
//
// TestMain builds the aimdb binary and the mqtt and kafka plugins into a temporary
// directory. Without mosquitto the tests are skipped (they fail under CI=true).
package scaleout
