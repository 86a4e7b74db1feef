package modbus

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Defaults.
const (
	defaultPort         = 502
	defaultUnit         = 1
	defaultTimeout      = time.Second
	defaultReconnectMin = 100 * time.Millisecond
	defaultReconnectMax = 10 * time.Second
	defaultPoll         = time.Second
	minPoll             = 10 * time.Millisecond
	defaultBaud         = 19200
)

// Option names.
const (
	optUnit          = "unit"
	optTimeout       = "timeout"
	optReconnectMin  = "reconnect_min"
	optReconnectMax  = "reconnect_max"
	optType          = "type"
	optWordOrder     = "word_order"
	optByteOrder     = "byte_order"
	optScale         = "scale"
	optOffset        = "offset"
	optPoll          = "poll"
	optOnChange      = "on_change"
	optWriteFunction = "write_function"
)

const typeDoc = `value type: bool, int16, uint16, int32, uint32, float32, int64, uint64, float64 (one value per 1, 2 or 4 registers; a count of several values makes a JSON array), string (a JSON string in count registers, padded with zero bytes) or raw (the payload's bytes, codec = "raw"); coil and discrete links are bool`

var optionDocs = []sdk.OptionDoc{
	{Name: optUnit, Scope: sdk.ScopeConnector, Doc: "unit id (slave address, 0..255) of resources that name none", Default: strconv.Itoa(defaultUnit)},
	{Name: optTimeout, Scope: sdk.ScopeConnector, Doc: "how long one request waits for its answer; 3 timeouts in a row drop the connection and reconnect", Default: defaultTimeout.String()},
	{Name: optReconnectMin, Scope: sdk.ScopeConnector, Doc: "first delay before reconnecting; doubles (with jitter) up to reconnect_max", Default: defaultReconnectMin.String()},
	{Name: optReconnectMax, Scope: sdk.ScopeConnector, Doc: "longest delay between reconnect attempts", Default: defaultReconnectMax.String()},

	{Name: optType, Scope: sdk.ScopeLinkFrom, Doc: typeDoc, Default: "uint16 (bool for coil and discrete)"},
	{Name: optWordOrder, Scope: sdk.ScopeLinkFrom, Doc: `32- and 64-bit types: "big" puts the most significant register first, "little" the least`, Default: "big"},
	{Name: optByteOrder, Scope: sdk.ScopeLinkFrom, Doc: `"big" reads each register high byte first, "little" low byte first`, Default: "big"},
	{Name: optScale, Scope: sdk.ScopeLinkFrom, Doc: "numeric types: the value is raw * scale + offset", Default: "1"},
	{Name: optOffset, Scope: sdk.ScopeLinkFrom, Doc: "numeric types: added after scale", Default: "0"},
	{Name: optPoll, Scope: sdk.ScopeLinkFrom, Doc: "how often the registers are read (at least 10ms); links polled alike share merged requests", Default: defaultPoll.String()},
	{Name: optOnChange, Scope: sdk.ScopeLinkFrom, Doc: "publish a value only when it differs from the last one the record took; false publishes every poll", Default: "true"},

	{Name: optType, Scope: sdk.ScopeLinkTo, Doc: typeDoc, Default: "uint16 (bool for coil)"},
	{Name: optWordOrder, Scope: sdk.ScopeLinkTo, Doc: `32- and 64-bit types: "big" writes the most significant register first, "little" the least`, Default: "big"},
	{Name: optByteOrder, Scope: sdk.ScopeLinkTo, Doc: `"big" writes each register high byte first, "little" low byte first`, Default: "big"},
	{Name: optScale, Scope: sdk.ScopeLinkTo, Doc: "numeric types: the register gets (value - offset) / scale, rounded for integer types", Default: "1"},
	{Name: optOffset, Scope: sdk.ScopeLinkTo, Doc: "numeric types: subtracted before scale", Default: "0"},
	{Name: optWriteFunction, Scope: sdk.ScopeLinkTo, Doc: `"auto" writes one register or coil with FC 6 or 5 and more with FC 16 or 15; "multiple" always uses FC 16 or 15; "single" always FC 6 or 5 (count 1 only)`, Default: "auto"},
}

// settings are an instance's parsed URL and options.
type settings struct {
	clientURL string // for simonvetter/modbus: tcp://host:port or rtu:///dev/...
	name      string // what is connected, for logs and errors
	rtu       bool
	baud      uint
	parity    uint
	dataBits  uint
	stopBits  uint
	unit      uint8
	timeout   time.Duration
	backoff   sdk.Backoff
}

// parseSettings reads the URL and the connector's options; every mistake is
// reported, each at its option.
func parseSettings(u sdk.URL, o sdk.Config) (settings, error) {
	var s settings
	errs := []error{o.Unknown(sdk.OptionNames(optionDocs, sdk.ScopeConnector)...), parseURL(u, &s)}
	unit, err := o.IntIn(optUnit, defaultUnit, 0, 255)
	errs = append(errs, err)
	s.unit = uint8(unit)
	s.timeout, err = o.Duration(optTimeout, defaultTimeout)
	errs = append(errs, err)
	if err == nil && s.timeout < time.Millisecond {
		errs = append(errs, sdk.OptionErrorf(sdk.KindInvalidConfig, optTimeout, "%v is below 1ms", s.timeout))
	}
	s.backoff.Min, err = o.Duration(optReconnectMin, defaultReconnectMin)
	errs = append(errs, err)
	if s.backoff.Min <= 0 && err == nil {
		errs = append(errs, sdk.OptionErrorf(sdk.KindInvalidConfig, optReconnectMin, "must be above 0"))
	}
	s.backoff.Max, err = o.Duration(optReconnectMax, defaultReconnectMax)
	errs = append(errs, err)
	if s.backoff.Max < s.backoff.Min {
		errs = append(errs, sdk.OptionErrorf(sdk.KindInvalidConfig, optReconnectMax, "%v is below reconnect_min %v", s.backoff.Max, s.backoff.Min))
	}
	return s, errors.Join(errs...)
}

// parseURL reads modbus://host[:port] (TCP) or modbus+rtu:///dev/ttyX?baud=...
// (RTU) into s.
func parseURL(u sdk.URL, s *settings) error {
	bad := func(format string, args ...any) error {
		return sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: "+format, append([]any{u}, args...)...))
	}
	switch u.Scheme {
	case "modbus":
		addrs, err := u.Addrs(defaultPort)
		if err != nil {
			return sdk.AtOption("url", sdk.Wrap(sdk.KindInvalidConfig, err))
		}
		if len(addrs) != 1 {
			return bad("want one host:port, got %d", len(addrs))
		}
		if u.Path != "" && u.Path != "/" {
			return bad("a Modbus TCP URL has no path (links name registers: holding/100)")
		}
		if len(u.Query) > 0 {
			return bad("query parameters are for modbus+rtu:// URLs")
		}
		s.clientURL, s.name = "tcp://"+addrs[0], "Modbus TCP "+addrs[0]
		return nil
	case "modbus+rtu":
		if len(u.Hosts) > 0 || u.Path == "" {
			return bad("want modbus+rtu:///dev/DEVICE (three slashes: no host, the device path)")
		}
		dev, err := url.PathUnescape(u.Path)
		if err != nil {
			return bad("device path: %v", err)
		}
		s.rtu, s.clientURL, s.name = true, "rtu://"+dev, "Modbus RTU "+dev
		return parseSerial(u.Query, s, bad)
	case "":
		return bad("missing: want modbus://host:502 or modbus+rtu:///dev/ttyUSB0")
	}
	return bad("scheme %q: want modbus:// (TCP) or modbus+rtu:// (RTU)", u.Scheme)
}

// serialParams are the query parameters of an RTU URL.
var serialParams = []string{"baud", "parity", "data_bits", "stop_bits"}

// parseSerial reads the serial line's parameters from an RTU URL's query.
func parseSerial(q url.Values, s *settings, bad func(string, ...any) error) error {
	var errs []error
	for k := range q {
		if !slices.Contains(serialParams, k) {
			errs = append(errs, bad("%v", sdk.UnknownOption(k, serialParams)))
		}
	}
	num := func(key string, def, lo, hi uint) uint {
		v := q.Get(key)
		if v == "" {
			return def
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || uint(n) < lo || uint(n) > hi {
			errs = append(errs, bad("%s=%q is not a number in %d..%d", key, v, lo, hi))
			return def
		}
		return uint(n)
	}
	s.baud = num("baud", defaultBaud, 50, 4000000)
	s.dataBits = num("data_bits", 8, 5, 8)
	switch strings.ToUpper(q.Get("parity")) {
	case "", "N", "NONE":
		s.parity = 0
	case "E", "EVEN":
		s.parity = 1
	case "O", "ODD":
		s.parity = 2
	default:
		errs = append(errs, bad("parity=%q: want N, E or O", q.Get("parity")))
	}
	// Modbus over serial line: 2 stop bits without parity, 1 with (11-bit characters).
	def := uint(1)
	if s.parity == 0 {
		def = 2
	}
	s.stopBits = num("stop_bits", def, 1, 2)
	return errors.Join(errs...)
}

// link is one parsed link: what it reads or writes and how values are encoded.
type link struct {
	res      resource
	codec    codec
	poll     time.Duration // link_from
	onChange bool          // link_from
	single   bool          // link_to: FC 5/6 (else FC 15/16)
}

// parseLink checks a link's resource and options; every mistake is reported, each
// at its option or (for the resource) at the link.
func parseLink(dir sdk.Direction, resourceText string, o sdk.Config, defUnit uint8) (link, error) {
	var l link
	scope := sdk.ScopeLinkFrom
	if dir == sdk.Outbound {
		scope = sdk.ScopeLinkTo
	}
	if err := o.Unknown(sdk.OptionNames(optionDocs, scope)...); err != nil {
		return l, err
	}
	res, err := parseResource(resourceText)
	if err != nil {
		return l, sdk.Wrap(sdk.KindInvalidDestination, err)
	}
	if !res.hasUnit {
		res.unit = defUnit
	}
	l.res = res
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	opt := func(name, format string, args ...any) {
		add(sdk.OptionErrorf(sdk.KindInvalidConfig, name, format, args...))
	}
	if dir == sdk.Outbound && !res.table.writable() {
		add(sdk.Errorf(sdk.KindInvalidDestination, "resource %q: table %s is read-only; link_to writes coil or holding", resourceText, res.table))
	}

	// type and count
	def := "uint16"
	if res.table.bits() {
		def = "bool"
	}
	name := o.String(optType, def)
	typ, ok := parseType(name)
	switch {
	case !ok:
		opt(optType, "%q is not one of %s", name, strings.Join(typeNames, ", "))
		return l, errors.Join(errs...)
	case res.table.bits() && typ != tBool:
		opt(optType, "%q: table %s holds bits, so its type is bool", name, res.table)
		return l, errors.Join(errs...)
	}
	c := codec{typ: typ, count: res.count, n: 1, scale: 1}
	w := typ.width()
	if res.table.bits() {
		w = 1
	}
	switch {
	case w == 0 && c.count == 0:
		add(sdk.Errorf(sdk.KindInvalidDestination, "resource %q: type %s needs a count of registers: write it as %s/%d:COUNT", resourceText, typ, res.table, res.addr))
	case c.count == 0:
		c.count = w
	case w > 0 && c.count%w != 0:
		add(sdk.Errorf(sdk.KindInvalidDestination, "resource %q: count %d is not a multiple of %d, the registers of one %s", resourceText, c.count, w, typ))
	}
	if w > 0 {
		c.n = max(c.count/w, 1)
	}
	limit, verb := maxReadRegisters, "reads"
	switch {
	case res.table.bits() && dir == sdk.Outbound:
		limit, verb = maxWriteBits, "writes"
	case res.table.bits():
		limit = maxReadBits
	case dir == sdk.Outbound:
		limit, verb = maxWriteRegisters, "writes"
	}
	if c.count > limit {
		add(sdk.Errorf(sdk.KindInvalidDestination, "resource %q: count %d is above %d, the most one request %s", resourceText, c.count, limit, verb))
	}
	if int(res.addr)+c.count > 65536 {
		add(sdk.Errorf(sdk.KindInvalidDestination, "resource %q: address %d + count %d runs past 65535", resourceText, res.addr, c.count))
	}

	// encoding
	if v, set := o[optWordOrder]; set {
		order, err := o.OneOf(optWordOrder, "big", "big", "little")
		add(err)
		if err == nil && typ.width() < 2 {
			opt(optWordOrder, "%q: type %s is one register; word_order applies to 32- and 64-bit types", v, typ)
		}
		c.wordSwap = order == "little"
	}
	if v, set := o[optByteOrder]; set {
		order, err := o.OneOf(optByteOrder, "big", "big", "little")
		add(err)
		if err == nil && (typ == tBool || typ == tRaw) {
			opt(optByteOrder, "%q: does not apply to type %s", v, typ)
		}
		c.byteSwap = order == "little"
	}
	for _, k := range []string{optScale, optOffset} {
		v, set := o[k]
		if !set {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		switch {
		case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
			opt(k, "want a number, got %q", v)
			continue
		case !typ.numeric():
			opt(k, "does not apply to type %s", typ)
			continue
		case k == optScale && f == 0:
			opt(k, "must not be 0")
			continue
		}
		c.scaled = true
		if k == optScale {
			c.scale = f
		} else {
			c.offset = f
		}
	}
	l.codec = c

	if dir == sdk.Inbound {
		l.poll, err = o.Duration(optPoll, defaultPoll)
		add(err)
		if err == nil && l.poll < minPoll {
			opt(optPoll, "%v is below %v", l.poll, minPoll)
		}
		l.onChange, err = o.Bool(optOnChange, true)
		add(err)
		return l, errors.Join(errs...)
	}
	fn, err := o.OneOf(optWriteFunction, "auto", "auto", "single", "multiple")
	add(err)
	switch fn {
	case "auto":
		l.single = c.count == 1
	case "single":
		if c.count != 1 {
			opt(optWriteFunction, "\"single\" writes one register or coil; this link covers %d", c.count)
		}
		l.single = true
	}
	return l, errors.Join(errs...)
}

// describe names the link in errors: `holding/100 (unit 1)`.
func (l link) describe() string {
	return fmt.Sprintf("%s/%d (unit %d)", l.res.table, l.res.addr, l.res.unit)
}
