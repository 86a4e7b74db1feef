//go:build race

package rawio

// raceEnabled: under the race detector reads and writes go through syscall.Read and
// syscall.Write, which tell the detector about the buffer and the ordering through
// the socket; RawSyscall tells it nothing, so it would report races that are not
// there (and miss ones that are).
const raceEnabled = true
