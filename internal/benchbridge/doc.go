// Package benchbridge measures MQTT bridges side by side: AimDB, Telegraf, Node-RED
// and a no-bridge ceiling, each forwarding bench/in to bench/out through its own
// mosquitto on loopback. The generator and counter come from internal/seqload; the
// CPU time and peak memory of each side are summed over its whole process tree from
// /proc. cmd/bench-bridge is the command (make bench-bridge).
package benchbridge
