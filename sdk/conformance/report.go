package conformance

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is a check's outcome.
type Status string

// Outcomes.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is the outcome of one check; Reason says why it failed or was skipped.
type Result struct {
	Name     string
	Status   Status
	Reason   string
	Duration time.Duration
}

// Report is the outcome of a run, one result per check in the order they ran.
type Report struct {
	Plugin  string
	Scheme  string
	Results []Result
}

// Failed lists the names of the failed checks.
func (r *Report) Failed() []string {
	var out []string
	for _, res := range r.Results {
		if res.Status == Fail {
			out = append(out, res.Name)
		}
	}
	return out
}

// Result returns the result of the named check.
func (r *Report) Result(name string) (Result, bool) {
	for _, res := range r.Results {
		if res.Name == name {
			return res, true
		}
	}
	return Result{}, false
}

// WriteText prints one line per check and a summary line:
//
//	pass  publish/single (12ms)
//	FAIL  inbound/routes: route 2 got a message for route 1
//	skip  outage/down: the peer cannot stop the outside system
func (r *Report) WriteText(w io.Writer) error {
	var pass, fail, skip int
	for _, res := range r.Results {
		var err error
		switch res.Status {
		case Pass:
			pass++
			_, err = fmt.Fprintf(w, "pass  %s (%s)\n", res.Name, res.Duration.Round(time.Millisecond))
		case Fail:
			fail++
			_, err = fmt.Fprintf(w, "FAIL  %s: %s\n", res.Name, oneLine(res.Reason))
		case Skip:
			skip++
			_, err = fmt.Fprintf(w, "skip  %s: %s\n", res.Name, oneLine(res.Reason))
		}
		if err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", pass, fail, skip)
	return err
}

// WriteJUnit writes the report as a JUnit XML test suite, for CI systems.
func (r *Report) WriteJUnit(w io.Writer) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type skipped struct {
		Message string `xml:"message,attr"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Skipped   *skipped `xml:"skipped,omitempty"`
	}
	type suite struct {
		XMLName  xml.Name   `xml:"testsuite"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Skipped  int        `xml:"skipped,attr"`
		Time     string     `xml:"time,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	s := suite{Name: "conformance " + r.Plugin, Tests: len(r.Results)}
	var total time.Duration
	for _, res := range r.Results {
		total += res.Duration
		c := testcase{Name: res.Name, Classname: "conformance." + r.Scheme, Time: seconds(res.Duration)}
		switch res.Status {
		case Fail:
			s.Failures++
			c.Failure = &failure{Message: oneLine(res.Reason), Text: res.Reason}
		case Skip:
			s.Skipped++
			c.Skipped = &skipped{Message: res.Reason}
		}
		s.Cases = append(s.Cases, c)
	}
	s.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	return s
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
