// A Modbus server for the modbus connector's tests, on npm's modbus-serial: an
// independent implementation of the protocol.
//
//   node server.js tcp PORT          Modbus TCP on 127.0.0.1:PORT (ServerTCP)
//   node server.js rtu PATH BAUD P   Modbus RTU on the serial device PATH (ServerSerial),
//                                    BAUD bits/s, parity P (none, even, odd)
//
// Every unit id has its own four tables of 10000 entries (addresses 0..9999); an
// address beyond them answers exception 2 (illegal data address). Units 101 to 111
// answer every request with exception code unit - 100, to test error mapping (101:
// illegal function, 103: illegal data value, 104: server device failure, 105:
// acknowledge, 106: server device busy, 108: memory parity error, 110: gateway path
// unavailable, 111: gateway target failed to respond); unit 99 never answers.
//
// It writes one JSON line to stdout per event: {"ev":"ready"} once listening,
// {"ev":"write","fc":F,"unit":U,"table":T,"addr":A,"values":[...]} per write request (FC 5,
// 6, 15, 16) and {"ev":"read","unit":U,"table":T,"addr":A,"count":N} per register
// read request (FC 3, 4). On stdin it takes one JSON command a line,
// {"id":N,"op":"set","unit":U,"table":T,"addr":A,"values":[...]}, and answers
// {"id":N} (or {"id":N,"error":"..."}).
"use strict";

const ModbusRTU = require("modbus-serial");
const readline = require("readline");

const SIZE = 10000;
const EXCEPTION_UNITS = { 101: 1, 103: 3, 104: 4, 105: 5, 106: 6, 108: 8, 110: 10, 111: 11 };
const SILENT_UNIT = 99;
const TABLES = ["coil", "discrete", "input", "holding"];

const units = new Map();

function tables(unit) {
  let t = units.get(unit);
  if (!t) {
    t = {};
    for (const name of TABLES) {
      t[name] = name === "coil" || name === "discrete" ? new Array(SIZE).fill(false) : new Uint16Array(SIZE);
    }
    units.set(unit, t);
  }
  return t;
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// check throws the exception a request for count entries at addr on unit gets, or
// returns a promise that never settles for the silent unit.
function check(unit, addr, count) {
  if (unit === SILENT_UNIT) {
    return new Promise(() => {});
  }
  if (EXCEPTION_UNITS[unit]) {
    throw { modbusErrorCode: EXCEPTION_UNITS[unit], msg: "test exception" };
  }
  if (addr + count > SIZE) {
    throw { modbusErrorCode: 0x02, msg: "illegal data address" };
  }
  return null;
}

function readOne(table) {
  return (addr, unit) => check(unit, addr, 1) || tables(unit)[table][addr];
}

function readMany(table) {
  return (addr, count, unit) => {
    const never = check(unit, addr, count);
    if (never) {
      return new Array(count).fill(never);
    }
    emit({ ev: "read", unit, table, addr, count });
    return Array.from(tables(unit)[table].slice(addr, addr + count));
  };
}

function readSingleRegister(table) {
  return (addr, unit) => {
    const never = check(unit, addr, 1);
    if (never) {
      return never;
    }
    emit({ ev: "read", unit, table, addr, count: 1 });
    return tables(unit)[table][addr];
  };
}

function write(fc, table, addr, values, unit) {
  const never = check(unit, addr, values.length);
  if (never) {
    return never;
  }
  const t = tables(unit)[table];
  values.forEach((v, i) => { t[addr + i] = v; });
  emit({ ev: "write", fc, unit, table, addr, values });
  return null;
}

const vector = {
  getCoil: readOne("coil"),
  getDiscreteInput: readOne("discrete"),
  getInputRegister: readSingleRegister("input"),
  getHoldingRegister: readSingleRegister("holding"),
  getMultipleInputRegisters: readMany("input"),
  getMultipleHoldingRegisters: readMany("holding"),
  setCoil: (addr, value, unit) => write(5, "coil", addr, [value], unit),
  setCoilArray: (addr, values, unit) => write(15, "coil", addr, values.map(Boolean), unit),
  setRegister: (addr, value, unit) => write(6, "holding", addr, [value], unit),
  setRegisterArray: (addr, values, unit) => write(16, "holding", addr, values, unit),
};

function set(cmd) {
  if (!TABLES.includes(cmd.table)) {
    throw new Error("unknown table " + cmd.table);
  }
  if (!Array.isArray(cmd.values) || cmd.addr < 0 || cmd.addr + cmd.values.length > SIZE) {
    throw new Error("values out of range");
  }
  const t = tables(cmd.unit)[cmd.table];
  cmd.values.forEach((v, i) => { t[cmd.addr + i] = cmd.table === "coil" || cmd.table === "discrete" ? Boolean(v) : v; });
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
    if (cmd.op !== "set") {
      throw new Error("unknown op " + cmd.op);
    }
    set(cmd);
    emit({ id: cmd.id });
  } catch (err) {
    emit({ id: cmd && cmd.id, error: String(err.message || err) });
  }
}).on("close", () => process.exit(0));

const [mode, where, baud, parity] = process.argv.slice(2);
let server;
if (mode === "tcp") {
  server = new ModbusRTU.ServerTCP(vector, { host: "127.0.0.1", port: Number(where), unitID: 255 });
} else if (mode === "rtu") {
  server = new ModbusRTU.ServerSerial(vector, { path: where, baudRate: Number(baud || 19200), parity: parity || "none", unitID: 255 });
} else {
  process.stderr.write("usage: node server.js tcp PORT | rtu PATH [BAUD] [PARITY]\n");
  process.exit(2);
}
server.on("initialized", () => emit({ ev: "ready" }));
server.on("serverError", (err) => { process.stderr.write("server error: " + err + "\n"); process.exit(1); });
server.on("error", (err) => process.stderr.write("error: " + err + "\n"));
server.on("socketError", (err) => process.stderr.write("socket error: " + err + "\n"));
