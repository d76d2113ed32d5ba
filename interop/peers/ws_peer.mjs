// A peer for the interoperability tests: Node's ws, as a client or a
// server, answering the session protocol described in
// interop/session_test.go. It prints JSON lines on stdout (listening, open,
// close, error) and exits with status 1 if any check failed.
//
//   node ws_peer.mjs client URL [--protocols a,b] [--deflate MODE]
//   node ws_peer.mjs server [--deflate MODE]    (stops when stdin closes)
//
// MODE is default, no-context-takeover or window-bits.

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { WebSocket, WebSocketServer } from 'ws';

const require = createRequire(import.meta.url);
const version = `${require('ws/package.json').version} (node ${process.version})`;
const serverProtocols = ['interop.v2', 'interop.v1'];
const maxPayload = 64 << 20;

let failed = false;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(conn, msg) {
  failed = true;
  emit({ event: 'error', conn, msg });
}

function parseArgs(argv) {
  const args = { mode: argv[0], url: '', protocols: [], deflate: '' };
  for (let i = 1; i < argv.length; i++) {
    switch (argv[i]) {
      case '--protocols':
        args.protocols = argv[++i].split(',').filter(Boolean);
        break;
      case '--deflate':
        args.deflate = argv[++i];
        break;
      default:
        args.url = argv[i];
    }
  }
  return args;
}

// deflateOptions maps a MODE to ws's perMessageDeflate option, which is an
// offer for a client and what is accepted for a server.
function deflateOptions(mode) {
  switch (mode) {
    case '':
      return false;
    case 'default':
      return { threshold: 0 };
    case 'no-context-takeover':
      return { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true };
    case 'window-bits':
      return { threshold: 0, serverMaxWindowBits: 10, clientMaxWindowBits: 10 };
    default:
      throw new Error(`unknown deflate mode ${mode}`);
  }
}

// pieces splits a payload for a fragmented send: small ones in two
// (possibly empty) halves, larger ones in 1021-byte pieces, so that
// fragment boundaries fall inside UTF-8 characters.
function pieces(buf) {
  if (buf.length < 2048) {
    const half = buf.length >> 1;
    return [buf.subarray(0, half), buf.subarray(half)];
  }
  const out = [];
  for (let i = 0; i < buf.length; i += 1021) {
    out.push(buf.subarray(i, i + 1021));
  }
  return out;
}

function respond(ws, conn) {
  let pending = null;
  let received = 0;
  let errors = 0;
  const send = (obj) => ws.send(JSON.stringify(obj));

  ws.on('message', (data, isBinary) => {
    if (pending !== null) {
      const m = pending;
      pending = null;
      received++;
      const got = {
        op: 'data',
        seq: m.seq,
        type: isBinary ? 'binary' : 'text',
        size: data.length,
        frag: m.frag,
        sha256: createHash('sha256').update(data).digest('hex'),
      };
      if (m.seq !== received || got.type !== m.type || got.size !== m.size || got.sha256 !== m.sha256) {
        errors++;
        const msg = `received ${JSON.stringify(got)}, announced ${JSON.stringify(m)} (expected sequence ${received})`;
        fail(conn, msg);
        send({ op: 'error', msg });
        return;
      }
      // ws queues sends in order; the meta and its payload go out together.
      send(got);
      if (!m.frag) {
        ws.send(data, { binary: isBinary });
      } else {
        const ps = pieces(data);
        ps.forEach((p, i) => ws.send(p, { binary: isBinary, fin: i === ps.length - 1 }));
      }
      return;
    }
    let m;
    try {
      if (isBinary) throw new Error('binary message where a control message belongs');
      m = JSON.parse(data.toString('utf8'));
    } catch (err) {
      fail(conn, `bad control message: ${err}`);
      ws.terminate();
      return;
    }
    switch (m.op) {
      case 'data':
        pending = m;
        break;
      case 'ping': {
        const payload = Buffer.from(m.payload, 'utf8');
        const onPong = (data) => {
          if (data.equals(payload)) {
            ws.off('pong', onPong);
            send({ op: 'pong', payload_hex: data.toString('hex') });
          }
        };
        ws.on('pong', onPong);
        ws.ping(payload);
        break;
      }
      case 'stats':
        send({ op: 'stats', received, errors });
        break;
      case 'close':
        ws.close(m.code, m.reason);
        break;
      default:
        fail(conn, `unknown op ${m.op}`);
    }
  });
  ws.on('close', (code, reason) => {
    emit({ event: 'close', conn, code, reason: reason.toString('utf8') });
  });
  ws.on('error', (err) => fail(conn, `connection error: ${err.message}`));

  send({
    op: 'hello',
    peer: 'ws',
    version,
    subprotocol: ws.protocol,
    extensions: ws.extensions ? [ws.extensions] : [],
    conn,
  });
}

function runClient(args) {
  const ws = new WebSocket(args.url, args.protocols, {
    perMessageDeflate: deflateOptions(args.deflate),
    maxPayload,
    handshakeTimeout: 10000,
  });
  ws.on('open', () => {
    emit({ event: 'open', conn: 1, version });
    respond(ws, 1);
  });
  ws.on('unexpected-response', (req, res) => {
    fail(1, `handshake refused: ${res.statusCode} ${res.statusMessage}`);
  });
  ws.on('error', (err) => fail(1, `client error: ${err.message}`));
  ws.on('close', () => {
    process.exitCode = failed ? 1 : 0;
  });
}

function runServer(args) {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    maxPayload,
    perMessageDeflate: deflateOptions(args.deflate),
    handleProtocols: (offered) => serverProtocols.find((p) => offered.has(p)) ?? false,
  });
  let conns = 0;
  wss.on('listening', () => emit({ event: 'listening', port: wss.address().port, version }));
  wss.on('connection', (ws, req) => {
    conns++;
    emit({ event: 'open', conn: conns, msg: req.url });
    respond(ws, conns);
  });
  wss.on('error', (err) => fail(0, `server error: ${err.message}`));
  process.stdin.on('end', () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => process.exit(failed ? 1 : 0));
  });
  process.stdin.resume();
}

const args = parseArgs(process.argv.slice(2));
if (args.mode === 'client') {
  runClient(args);
} else if (args.mode === 'server') {
  runServer(args);
} else {
  console.error('usage: ws_peer.mjs client URL [--protocols a,b] [--deflate MODE] | server [--deflate MODE]');
  process.exit(2);
}
