package knx

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/dpt"
	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxnet"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// etsEntry is one group address of an ETS export with its datapoint type.
type etsEntry struct {
	dpt  *dpt.Type // nil when ETS names a type this connector does not know
	text string    // the type as ETS wrote it
	line int
}

// etsTable maps group addresses to the datapoint types an ETS project gives them.
type etsTable map[knxnet.GroupAddress]etsEntry

// loadETSCSV reads the ETS group address export that option ets_csv names, in CSV
// form (with header, any of the separators ETS offers), and returns the addresses
// that have a datapoint type. The file is read with sdk.ReadFile's checks and limit,
// so a wrong path (a device, a huge file) fails at once.
func loadETSCSV(path string) (etsTable, error) {
	raw, err := sdk.ReadFile(optETSCSV, path, 0)
	if err != nil {
		return nil, err
	}
	t, err := parseETSCSV(raw)
	if err != nil {
		return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optETSCSV, "%s: %v", path, err)
	}
	return t, nil
}

// parseETSCSV parses an ETS group address export (see loadETSCSV).
func parseETSCSV(raw []byte) (etsTable, error) {
	if bytes.HasPrefix(raw, []byte{0xFF, 0xFE}) || bytes.HasPrefix(raw, []byte{0xFE, 0xFF}) {
		return nil, errors.New("the file is UTF-16; export it from ETS as UTF-8")
	}
	raw = bytes.TrimPrefix(raw, []byte("\xEF\xBB\xBF"))
	first, _, _ := bytes.Cut(raw, []byte("\n"))
	sep := ','
	for _, c := range []rune{';', '\t'} {
		if bytes.Count(first, []byte(string(c))) > bytes.Count(first, []byte(string(sep))) {
			sep = c
		}
	}
	r := csv.NewReader(bytes.NewReader(raw))
	r.Comma, r.FieldsPerRecord, r.LazyQuotes = sep, -1, true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("line 1: %v", err)
	}
	addrCol, dptCol := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "address":
			addrCol = i
		case "datapointtype", "datapoint type", "dpt":
			dptCol = i
		}
	}
	if addrCol < 0 || dptCol < 0 {
		return nil, fmt.Errorf("line 1: want a header with the columns Address and DatapointType (export with header), got %q", header)
	}
	table := etsTable{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return table, nil
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		if addrCol >= len(rec) || dptCol >= len(rec) {
			continue
		}
		addr, typ := strings.TrimSpace(rec[addrCol]), strings.TrimSpace(rec[dptCol])
		if addr == "" || strings.Contains(addr, "-") || typ == "" {
			continue // a main or middle group heading, or no type
		}
		ga, err := knxnet.ParseGroupAddress(addr)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		// ETS lists several types for an address as "DPST-1-1, DPST-1-2": the first counts.
		typ, _, _ = strings.Cut(typ, ",")
		e := etsEntry{text: strings.TrimSpace(typ), line: line}
		e.dpt, _ = dpt.Lookup(e.text)
		table[ga] = e
	}
}

// typeFor returns the datapoint type of ga: the link's own, else the ETS project's.
func (t etsTable) typeFor(own *dpt.Type, ga knxnet.GroupAddress) *dpt.Type {
	if own != nil || t == nil {
		return own
	}
	return t[ga].dpt
}

// check fails when ETS gives address res a type this connector cannot convert and
// the link sets none.
func (t etsTable) check(res string, lo linkOptions) error {
	if t == nil || lo.dpt != nil {
		return nil
	}
	ga, err := knxnet.ParseGroupAddress(res)
	if err != nil {
		return nil // a pattern; unknown types stay raw
	}
	if e, ok := t[ga]; ok && e.dpt == nil {
		return sdk.AtOption(optDPT, fmt.Errorf("option %q line %d gives %s the datapoint type %q, which this connector does not convert; set dpt on the link", optETSCSV, e.line, res, e.text))
	}
	return nil
}
