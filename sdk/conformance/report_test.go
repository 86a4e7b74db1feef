package conformance

import (
	"bytes"
	"encoding/xml"
	"testing"
	"time"
)

func sampleReport() *Report {
	return &Report{Plugin: "bin/udp", Scheme: "udp", Results: []Result{
		{Name: "handshake/start", Status: Pass, Duration: 12 * time.Millisecond},
		{Name: "inbound/routes", Status: Fail, Reason: "route 2 got a message for route 1\nmore detail"},
		{Name: "outage/down", Status: Skip, Reason: "no peer given"},
	}}
}

func TestReportText(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "pass  handshake/start (12ms)\n" +
		"FAIL  inbound/routes: route 2 got a message for route 1 ...\n" +
		"skip  outage/down: no peer given\n" +
		"1 passed, 1 failed, 1 skipped\n"
	if b.String() != want {
		t.Errorf("text report:\n%s\nwant:\n%s", b.String(), want)
	}
	if f := sampleReport().Failed(); len(f) != 1 || f[0] != "inbound/routes" {
		t.Errorf("Failed() = %v", f)
	}
}

func TestReportJUnit(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	var s struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	}
	if err := xml.Unmarshal(b.Bytes(), &s); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b.String())
	}
	if s.Name != "conformance bin/udp" || s.Tests != 3 || s.Failures != 1 || s.Skipped != 1 || len(s.Cases) != 3 {
		t.Fatalf("suite: %+v", s)
	}
	if c := s.Cases[1]; c.Failure == nil || c.Failure.Text != "route 2 got a message for route 1\nmore detail" {
		t.Errorf("failure case: %+v", c)
	}
	if c := s.Cases[2]; c.Skipped == nil || c.Skipped.Message != "no peer given" {
		t.Errorf("skipped case: %+v", c)
	}
	if s.Cases[0].Failure != nil || s.Cases[0].Skipped != nil {
		t.Errorf("passed case: %+v", s.Cases[0])
	}
}

func TestWithPassword(t *testing.T) {
	for _, c := range []struct{ scheme, in, want string }{
		{"mqtt", "mqtt://127.0.0.1:1883", "mqtt://conformance:pw@127.0.0.1:1883"},
		{"mqtt", "mqtt://u:old@127.0.0.1:1883/x", "mqtt://conformance:pw@127.0.0.1:1883/x"},
		{"http", "http://127.0.0.1:80/a@b", "http://conformance:pw@127.0.0.1:80/a@b"},
		{"knx", "", "knx://conformance:pw@127.0.0.1"},
	} {
		if got := withPassword(c.in, c.scheme, "pw"); got != c.want {
			t.Errorf("withPassword(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
