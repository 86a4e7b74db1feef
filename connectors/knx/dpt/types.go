package dpt

import "fmt"

// Ranges and units follow the KNX specification's datapoint type tables (volume 3/7/2).
func init() {
	// DPT 1: 1 bit.
	register(boolType("1", "boolean"))
	for _, s := range []struct{ id, name string }{
		{"001", "switch (off/on)"}, {"002", "boolean (false/true)"}, {"003", "enable"},
		{"004", "ramp"}, {"005", "alarm"}, {"006", "binary value (low/high)"}, {"007", "step (decrease/increase)"},
		{"008", "up/down"}, {"009", "open/close"}, {"010", "start/stop"}, {"011", "state (inactive/active)"},
		{"012", "invert"}, {"013", "dim send style"}, {"014", "input source"}, {"015", "reset"},
		{"016", "acknowledge"}, {"017", "trigger"}, {"018", "occupancy"}, {"019", "window/door"},
		{"021", "logical function (OR/AND)"}, {"022", "scene A/B"}, {"023", "shutter/blinds mode"},
		{"024", "day/night"}, {"100", "heat/cool"},
	} {
		register(boolType("1."+s.id, s.name))
	}
	// DPT 2: 1 bit controlled.
	register(controlType("2", "1-bit controlled"))
	for i, n := range []string{"switch control", "boolean control", "enable control", "ramp control",
		"alarm control", "binary value control", "step control", "direction control 1", "direction control 2",
		"start control", "state control", "invert control"} {
		register(controlType(fmt.Sprintf("2.%03d", i+1), n))
	}
	// DPT 3: 3 bit controlled.
	register(stepType("3", "3-bit controlled"))
	register(stepType("3.007", "dimming control (control true = increase)"))
	register(stepType("3.008", "blind control (control true = down)"))
	// DPT 5: 8-bit unsigned.
	u8 := scaled{bytes: 1, mul: 1, div: 1, min: 0, max: 255}
	register(numericType("5", "8-bit unsigned", u8))
	register(numericType("5.001", "percentage (%)", scaled{bytes: 1, mul: 100, div: 255, decimals: 1, min: 0, max: 100, unit: "%"}))
	register(numericType("5.003", "angle (°)", scaled{bytes: 1, mul: 360, div: 255, decimals: 1, min: 0, max: 360, unit: "°"}))
	register(numericType("5.004", "percentage 0..255 (%)", withUnit(u8, "%")))
	register(numericType("5.005", "ratio 0..255", u8))
	register(numericType("5.006", "tariff 0..254", scaled{bytes: 1, mul: 1, div: 1, min: 0, max: 254}))
	register(numericType("5.010", "counter pulses", withUnit(u8, "pulses")))
	// DPT 6: 8-bit signed.
	v8 := scaled{bytes: 1, signed: true, mul: 1, div: 1, min: -128, max: 127}
	register(numericType("6", "8-bit signed", v8))
	register(numericType("6.001", "percentage (%)", withUnit(v8, "%")))
	register(numericType("6.010", "counter pulses", withUnit(v8, "pulses")))
	// DPT 7: 16-bit unsigned.
	u16 := scaled{bytes: 2, mul: 1, div: 1, min: 0, max: 65535}
	register(numericType("7", "16-bit unsigned", u16))
	for _, s := range []struct{ id, name, unit string }{
		{"001", "pulses", "pulses"}, {"002", "time (ms)", "ms"}, {"005", "time (s)", "s"}, {"006", "time (min)", "min"},
		{"007", "time (h)", "h"}, {"010", "property data type", ""}, {"011", "length (mm)", "mm"},
		{"012", "current (mA)", "mA"}, {"013", "brightness (lux)", "lux"}, {"600", "colour temperature (K)", "K"},
	} {
		register(numericType("7."+s.id, s.name, withUnit(u16, s.unit)))
	}
	register(numericType("7.003", "time (10 ms steps, value in ms)", scaled{bytes: 2, mul: 10, div: 1, min: 0, max: 655350, unit: "ms"}))
	register(numericType("7.004", "time (100 ms steps, value in ms)", scaled{bytes: 2, mul: 100, div: 1, min: 0, max: 6553500, unit: "ms"}))
	// DPT 8: 16-bit signed.
	v16 := scaled{bytes: 2, signed: true, mul: 1, div: 1, min: -32768, max: 32767}
	register(numericType("8", "16-bit signed", v16))
	for _, s := range []struct{ id, name, unit string }{
		{"001", "pulses difference", "pulses"}, {"002", "time lag (ms)", "ms"}, {"005", "time lag (s)", "s"},
		{"006", "time lag (min)", "min"}, {"007", "time lag (h)", "h"}, {"011", "rotation angle (°)", "°"},
		{"012", "length (m)", "m"},
	} {
		register(numericType("8."+s.id, s.name, withUnit(v16, s.unit)))
	}
	register(numericType("8.003", "time lag (10 ms steps, value in ms)", scaled{bytes: 2, signed: true, mul: 10, div: 1, min: -327680, max: 327670, unit: "ms"}))
	register(numericType("8.004", "time lag (100 ms steps, value in ms)", scaled{bytes: 2, signed: true, mul: 100, div: 1, min: -3276800, max: 3276700, unit: "ms"}))
	register(numericType("8.010", "percentage difference (%)", scaled{bytes: 2, signed: true, mul: 1, div: 100, decimals: 2, min: -327.68, max: 327.67, unit: "%"}))
	// DPT 9: 2-byte float.
	full := float16{min: float16Min, max: float16Max}
	register(float16Type("9", "2-byte float", full))
	for _, s := range []struct {
		id, name string
		min, max float64
		unit     string
	}{
		{"001", "temperature (°C)", -273, 670760, "°C"}, {"002", "temperature difference (K)", -670760, 670760, "K"},
		{"003", "kelvin/hour (K/h)", -670760, 670760, "K/h"}, {"004", "lux (lx)", 0, 670760, "lx"},
		{"005", "wind speed (m/s)", 0, 670760, "m/s"}, {"006", "pressure (Pa)", 0, 670760, "Pa"},
		{"007", "humidity (%)", 0, 670760, "%"}, {"008", "air quality (ppm)", 0, 670760, "ppm"},
		{"009", "air flow (m³/h)", -670760, 670760, "m³/h"}, {"010", "time (s)", -670760, 670760, "s"},
		{"011", "time (ms)", -670760, 670760, "ms"}, {"020", "voltage (mV)", -670760, 670760, "mV"},
		{"021", "current (mA)", -670760, 670760, "mA"}, {"022", "power density (W/m²)", -670760, 670760, "W/m²"},
		{"023", "kelvin/percent (K/%)", -670760, 670760, "K/%"}, {"024", "power (kW)", -670760, 670760, "kW"},
		{"025", "volume flow (l/h)", -670760, 670760, "l/h"}, {"026", "rain amount (l/m²)", -671088.64, 670760.96, "l/m²"},
		{"027", "temperature (°F)", -459.6, 670760, "°F"}, {"028", "wind speed (km/h)", 0, 670760, "km/h"},
		{"029", "absolute humidity (g/m³)", 0, 670760, "g/m³"}, {"030", "concentration (µg/m³)", 0, 670760, "µg/m³"},
	} {
		register(float16Type("9."+s.id, s.name, float16{min: s.min, max: s.max, unit: s.unit}))
	}
	// DPT 10, 11: time of day and date.
	register(timeOfDayType())
	register(dateType())
	// DPT 12: 32-bit unsigned.
	u32 := scaled{bytes: 4, mul: 1, div: 1, min: 0, max: 4294967295}
	register(numericType("12", "32-bit unsigned", u32))
	register(numericType("12.001", "counter pulses", withUnit(u32, "pulses")))
	register(numericType("12.100", "counter time (s)", withUnit(u32, "s")))
	register(numericType("12.101", "counter time (min)", withUnit(u32, "min")))
	register(numericType("12.102", "counter time (h)", withUnit(u32, "h")))
	// DPT 13: 32-bit signed.
	v32 := scaled{bytes: 4, signed: true, mul: 1, div: 1, min: -2147483648, max: 2147483647}
	register(numericType("13", "32-bit signed", v32))
	for _, s := range []struct{ id, name, unit string }{
		{"001", "counter pulses", "pulses"}, {"010", "active energy (Wh)", "Wh"}, {"011", "apparent energy (VAh)", "VAh"},
		{"012", "reactive energy (VARh)", "VARh"}, {"013", "active energy (kWh)", "kWh"}, {"014", "apparent energy (kVAh)", "kVAh"},
		{"015", "reactive energy (kVARh)", "kVARh"}, {"016", "active energy (MWh)", "MWh"}, {"100", "long delta time (s)", "s"},
	} {
		register(numericType("13."+s.id, s.name, withUnit(v32, s.unit)))
	}
	register(numericType("13.002", "flow rate (m³/h)", scaled{bytes: 4, signed: true, mul: 1, div: 10000, decimals: 4, min: -214748.3648, max: 214748.3647, unit: "m³/h"}))
	// DPT 14: 4-byte float.
	register(float32Type("14", "4-byte float"))
	names14 := map[int]string{
		0: "acceleration (m/s²)", 7: "angle (°)", 19: "electric current (A)", 27: "electric potential (V)",
		31: "energy (J)", 33: "frequency (Hz)", 39: "length (m)", 51: "mass (kg)", 56: "power (W)",
		57: "power factor", 58: "pressure (Pa)", 65: "speed (m/s)", 68: "temperature (°C)",
		69: "absolute temperature (K)", 76: "volume (m³)", 77: "volume flux (m³/s)", 78: "weight (N)", 79: "work (J)",
	}
	for i := 0; i <= 79; i++ {
		n, ok := names14[i]
		if !ok {
			n = "4-byte float quantity"
		}
		register(float32Type(fmt.Sprintf("14.%03d", i), n))
	}
	// DPT 16: strings.
	register(stringType("16.000", "string (ASCII)", 0x7F))
	register(stringType("16.001", "string (ISO 8859-1)", 0xFF))
	// DPT 17, 18: scenes.
	register(numericType("17.001", "scene number", scaled{bytes: 1, mul: 1, div: 1, min: 0, max: 63}))
	register(sceneControlType())
	// DPT 20: 8-bit enumerations.
	register(enumType("20", "8-bit enumeration", 255))
	register(enumType("20.001", "SCLO mode", 2, "autonomous", "slave", "master"))
	register(enumType("20.002", "building mode", 2, "in_use", "not_used", "protection"))
	register(enumType("20.003", "occupancy mode", 2, "occupied", "standby", "not_occupied"))
	register(enumType("20.102", "HVAC mode", 4, "auto", "comfort", "standby", "economy", "building_protection"))
	register(enumType("20.103", "DHW mode", 4, "auto", "legio_protect", "normal", "reduced", "off"))
	register(enumType("20.105", "HVAC control mode", 20))
	// DPT 232: RGB.
	register(rgbType())
}

func withUnit(s scaled, unit string) scaled {
	s.unit = unit
	return s
}
