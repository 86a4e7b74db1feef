// Package faults is the fault-injection suite of the delivery guarantees
// (docs/delivery.md): every test runs the real `aimdb run` binary with the real
// connector plugins against real peers on loopback (mosquitto, kfake, knxd, an HTTP
// server), breaks something on purpose (a broker SIGKILLed, a connection cut, a plugin
// or the host killed, a signal to the process group, poison messages), counts the
// values by sequence number with internal/seqload and asserts that none was lost.
//
// TestMain builds the aimdb binary and the plugins into a temporary directory, then
// re-runs the test binary inside a private network namespace (knxtest.InNetns) so that
// knxd's multicast never leaves loopback; without one the tests run on the host
// network and the KNX test is skipped (or fails under CI=true).
package faults
