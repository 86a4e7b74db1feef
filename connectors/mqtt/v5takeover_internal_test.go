package mqtt

import "testing"

// The member that takes over a lost one is the first online member after it in client
// id order (wrapping around); the others follow in that order. Lost, draining and
// unknown members take no turn.
func TestTakeoverRank(t *testing.T) {
	members := map[string]string{"b": presenceOnline, "d": presenceOnline, "e": presenceLost, "f": presenceDraining + "d"}
	for _, tc := range []struct {
		me, lost string
		want     int
	}{
		{"c", "b", 0},  // c, d, (wrap) b
		{"c", "a", 1},  // b, c, d
		{"c", "d", 1},  // (wrap) b, c
		{"c", "e", 1},  // (wrap) b, c, d
		{"a", "e", 0},  // (wrap) a, b, d
		{"z", "e", 0},  // z, (wrap) b, d
		{"z", "zz", 2}, // (wrap) b, d, z
	} {
		tk := &takeover{me: tc.me, members: members}
		if got := tk.rank(tc.lost); got != tc.want {
			t.Errorf("%s ranks %d for lost %s, want %d", tc.me, got, tc.lost, tc.want)
		}
	}
}
