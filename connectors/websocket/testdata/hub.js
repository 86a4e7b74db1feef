// A WebSocket hub on Debian's node-ws, the independent peer of the connector's tests.
// Every frame a client sends is printed on stdout as a JSON line and relayed to the
// other clients on the same path. Commands come as JSON lines on stdin:
//   {"op":"send","path":"/a","data":"<base64>","binary":false}  send to the clients on path
//   {"op":"freeze"}   stop reading every connection (pings go unanswered)
// Usage: node hub.js PORT [--cert F --key F [--ca F]] [--protocol P] [--token T]
// (--token refuses handshakes without "Authorization: Bearer T" with 401)
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const readline = require('readline');
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const port = Number(args[0]);
const opt = (name) => { const i = args.indexOf('--' + name); return i >= 0 ? args[i + 1] : undefined; };
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let server;
if (opt('cert')) {
  const tls = { cert: fs.readFileSync(opt('cert')), key: fs.readFileSync(opt('key')) };
  if (opt('ca')) Object.assign(tls, { ca: fs.readFileSync(opt('ca')), requestCert: true, rejectUnauthorized: true });
  server = https.createServer(tls);
} else {
  server = http.createServer();
}
const protocol = opt('protocol');
const token = opt('token');
const wss = new WebSocketServer({
  server,
  verifyClient: (info, done) => (!token || info.req.headers.authorization === 'Bearer ' + token ? done(true) : done(false, 401)),
  maxPayload: 64 * 1024 * 1024,
  handleProtocols: (offered) => (protocol && offered.has(protocol) ? protocol : false),
});

let next = 0;
const clients = new Map(); // id -> {ws, path}
wss.on('connection', (ws, req) => {
  const id = ++next;
  const path = req.url;
  clients.set(id, { ws, path });
  const cert = req.socket.getPeerCertificate ? req.socket.getPeerCertificate() : null;
  print({ event: 'open', id, path, protocol: ws.protocol, headers: req.headers,
    cert: cert && cert.subject ? cert.subject.CN : '' });
  ws.on('message', (data, binary) => {
    print({ event: 'message', id, path, binary, data: Buffer.from(data).toString('base64') });
    for (const [other, c] of clients) {
      if (other !== id && c.path === path) c.ws.send(data, { binary });
    }
  });
  ws.on('close', (code) => { clients.delete(id); print({ event: 'close', id, path, code }); });
  ws.on('error', () => {});
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === 'send') {
    let count = 0;
    for (const c of clients.values()) {
      if (c.path === cmd.path) { c.ws.send(Buffer.from(cmd.data, 'base64'), { binary: !!cmd.binary }); count++; }
    }
    print({ event: 'sent', seq: cmd.seq, count });
  } else if (cmd.op === 'freeze') {
    for (const c of clients.values()) c.ws._socket.pause();
    print({ event: 'frozen', seq: cmd.seq });
  }
});
process.stdin.on('end', () => process.exit(0));

server.listen(port, '127.0.0.1', () => print({ event: 'listening', port: server.address().port }));
