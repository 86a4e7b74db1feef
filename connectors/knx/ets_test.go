package knx

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxnet"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// etsExport is shaped like ETS's "3/1 - CSV with header" group address export.
const etsExport = "\xEF\xBB\xBF" + `"Group name";"Address";"Central";"Unfiltered";"Description";"DatapointType";"Security"
"Lighting";"1/-/-";"";"";"";"";"Auto"
"Living room";"1/2/-";"";"";"";"";"Auto"
"Temperature";"1/2/3";"";"";"";"DPST-9-1";"Auto"
"Switch";"1/2/4";"";"";"";"DPST-1-1, DPST-1-2";"Auto"
"Status";"1/2/5";"";"";"";"DPST-6-20";"Auto"
"Plain";"1/2/6";"";"";"";"";"Auto"
`

func writeETS(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "project.csv")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadETSCSV(t *testing.T) {
	table, err := loadETSCSV(writeETS(t, etsExport))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"1/2/3": "9.001", "1/2/4": "1.001", "1/2/5": ""}
	if len(table) != len(want) {
		t.Fatalf("table has %d entries: %v", len(table), table)
	}
	for addr, id := range want {
		ga, _ := knxnet.ParseGroupAddress(addr)
		e, ok := table[ga]
		got := ""
		if ok && e.dpt != nil {
			got = e.dpt.ID
		}
		if !ok || got != id {
			t.Errorf("%s: got %q (%+v), want %q", addr, got, e, id)
		}
	}
	// Comma-separated exports work too.
	table, err = loadETSCSV(writeETS(t, "Group name,Address,DatapointType\nT,3/0/1,DPT-9\n"))
	if err != nil || table[3<<11|1].dpt == nil || table[3<<11|1].dpt.ID != "9" {
		t.Fatalf("comma export: %v %v", table, err)
	}
	for text, want := range map[string]string{
		"Name;Address\nx;1/2/3\n":                "Address and DatapointType",
		"Address;DatapointType\n1/2/300;DPT-9\n": "line 2",
		"\xFF\xFEA\x00":                          "UTF-16",
	} {
		if _, err := loadETSCSV(writeETS(t, text)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("loadETSCSV(%q) = %v, want an error containing %q", text, err, want)
		}
	}
}

func TestETSTypesApplyToLinksWithoutDPT(t *testing.T) {
	path := writeETS(t, etsExport)
	u := sdk.MustParseURL("knx://127.0.0.1:3671")
	opts := sdk.Config{"ets_csv": path}
	err := validator().ValidateConfig(u, opts, []sdk.LinkSpec{{Direction: sdk.Inbound, Resource: "1/2/5", Record: "status"}})
	if err == nil || !strings.Contains(err.Error(), `"DPST-6-20"`) || !strings.Contains(err.Error(), "line 6") {
		t.Fatalf("ValidateConfig = %v, want the unknown ETS type named with its line", err)
	}
	ok := []sdk.LinkSpec{{Direction: sdk.Inbound, Resource: "1/2/5", Config: sdk.Config{"dpt": "6.001"}}, {Direction: sdk.Inbound, Resource: "2/+/+"}}
	if err := validator().ValidateConfig(u, opts, ok); err != nil {
		t.Fatalf("ValidateConfig: %v", err)
	}
	if err := validator().ValidateConfig(u, sdk.Config{"ets_csv": filepath.Join(t.TempDir(), "missing.csv")}, nil); err == nil || !strings.Contains(err.Error(), `option "ets_csv"`) {
		t.Fatalf("missing file: %v", err)
	}

	g := newFakeGateway(t)
	rec := newRecorder()
	inst := startConnector(t, g.url(), fastOptions(opts), []sdk.Route{{ID: 1, Resource: "1/2/+"}}, rec, nil)
	client := g.accept(1)
	done := publishAsync(inst, "1/2/3", nil, "21")
	req, _ := expect[*knxnet.TunnellingRequest](g)
	if _, apdu, _ := req.CEMI.GroupTelegram(); string(apdu.Data) != "\x0C\x1A" {
		t.Fatalf("sent % X, want 0C 1A (DPT 9.001 from ETS)", apdu.Data)
	}
	g.send(client, &knxnet.TunnellingAck{Channel: 1, Seq: req.Seq})
	g.confirm(client, 1, 0, req, false)
	if err := waitErr(t, done); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		ga   knxnet.GroupAddress
		apdu knxnet.APDU
		want string
	}{
		{0x0A03, knxnet.APDU{Command: knxnet.GroupValueWrite, Data: []byte{0x8A, 0x24}}, "-30"},
		{0x0A04, knxnet.APDU{Command: knxnet.GroupValueWrite, Data: []byte{1}, Short: true}, "true"},
		{0x0A06, knxnet.APDU{Command: knxnet.GroupValueWrite, Data: []byte{0x8A, 0x24}}, "\x8A\x24"},
	} {
		cemi, _ := knxnet.NewGroupTelegram(knxnet.LDataInd, 0x1101, c.ga, c.apdu)
		g.send(client, &knxnet.TunnellingRequest{Channel: 1, Seq: uint8(i + 1), CEMI: cemi})
		expect[*knxnet.TunnellingAck](g)
		if m := rec.next(t, 2*time.Second); string(m.Payload) != c.want || m.Topic != c.ga.String() {
			t.Fatalf("%s: got %q on %s, want %q", c.ga, m.Payload, m.Topic, c.want)
		}
	}
}

// TestETSCSVSizeLimit: ets_csv naming a device or a file over sdk.MaxFileBytes fails
// `aimdb check` at once with an error naming the option, instead of reading on
// (/dev/urandom once grew the plugin to about 500 MB in 6 s).
func TestETSCSVSizeLimit(t *testing.T) {
	huge := filepath.Join(t.TempDir(), "huge.csv")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: the size is over the limit, the disk holds nothing.
	if err := f.Truncate(sdk.MaxFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tunnel := sdk.MustParseURL("knx://127.0.0.1:3671")
	for _, tc := range []struct{ path, want string }{
		{"/dev/urandom", `option "ets_csv": /dev/urandom is a character device, not a regular file`},
		{huge, `option "ets_csv": ` + huge + ` is 16777217 bytes, more than the limit of 16777216`},
		{t.TempDir(), "is a directory, not a regular file"},
	} {
		start := time.Now()
		err := validator().ValidateConfig(tunnel, sdk.Config{"ets_csv": tc.path}, nil)
		var oe *sdk.OptionError
		if !errors.As(err, &oe) || oe.Option != "ets_csv" || sdk.KindOf(err) != sdk.KindInvalidConfig || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ets_csv = %s: err = %v, want an invalid-config OptionError saying %q", tc.path, err, tc.want)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("ets_csv = %s: took %v, want it refused at once", tc.path, d)
		}
	}
}
