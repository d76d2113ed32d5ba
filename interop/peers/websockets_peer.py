"""A peer for the interoperability tests: Python's websockets (Debian's
python3-websockets, its asyncio API), as a client or a server, answering
the session protocol described in interop/session_test.go. It prints JSON
lines on stdout (listening, open, close, error) and exits with status 1 if
any check failed.

    /usr/bin/python3 websockets_peer.py client URL [--protocols a,b] [--deflate MODE]
    /usr/bin/python3 websockets_peer.py server [--deflate MODE]   (stops when stdin closes)

MODE is default, no-context-takeover or window-bits.
"""

import argparse
import asyncio
import hashlib
import json
import platform
import sys

import websockets
from websockets.extensions import permessage_deflate

SERVER_PROTOCOLS = ["interop.v2", "interop.v1"]
VERSION = f"{websockets.__version__} (python {platform.python_version()})"

failed = False


def emit(obj):
    print(json.dumps(obj), flush=True)


def fail(conn, msg):
    global failed
    failed = True
    emit({"event": "error", "conn": conn, "msg": msg})


def compression_kwargs(mode, server):
    """Keyword arguments of connect or serve for a deflate MODE: what a
    client offers or what a server accepts."""
    if not mode:
        return {"compression": None}
    if mode == "default":
        return {"compression": "deflate"}
    if mode == "no-context-takeover":
        params = {"server_no_context_takeover": True, "client_no_context_takeover": True}
    elif mode == "window-bits":
        params = {"server_max_window_bits": 10, "client_max_window_bits": 10}
    else:
        raise ValueError(f"unknown deflate mode {mode}")
    if server:
        factory = permessage_deflate.ServerPerMessageDeflateFactory(**params)
    else:
        factory = permessage_deflate.ClientPerMessageDeflateFactory(**params)
    return {"compression": None, "extensions": [factory]}


def pieces(message):
    """Splits a payload for a fragmented send: small ones in two (possibly
    empty) halves, larger ones in pieces of 1021 bytes or characters."""
    if len(message) < 2048:
        half = len(message) // 2
        return [message[:half], message[half:]]
    return [message[i : i + 1021] for i in range(0, len(message), 1021)]


async def respond(ws, conn):
    async def send(obj):
        await ws.send(json.dumps(obj))

    await send(
        {
            "op": "hello",
            "peer": "websockets",
            "version": VERSION,
            "subprotocol": ws.subprotocol or "",
            "extensions": [ext.name for ext in ws.extensions],
            "conn": conn,
        }
    )
    pending = None
    received = errors = 0
    try:
        while True:
            message = await ws.recv()
            if pending is not None:
                m, pending = pending, None
                received += 1
                data = message.encode("utf-8") if isinstance(message, str) else message
                got = {
                    "op": "data",
                    "seq": m["seq"],
                    "type": "text" if isinstance(message, str) else "binary",
                    "size": len(data),
                    "frag": m.get("frag", False),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
                if (m["seq"], m["type"], m["size"], m["sha256"]) != (received, got["type"], got["size"], got["sha256"]):
                    errors += 1
                    msg = f"received {got}, announced {m} (expected sequence {received})"
                    fail(conn, msg)
                    await send({"op": "error", "msg": msg})
                    continue
                await send(got)
                if got["frag"]:
                    await ws.send(pieces(message))
                else:
                    await ws.send(message)
                continue
            if not isinstance(message, str):
                fail(conn, "binary message where a control message belongs")
                return
            m = json.loads(message)
            op = m.get("op")
            if op == "data":
                pending = m
            elif op == "ping":
                payload = m["payload"].encode("utf-8")
                waiter = await ws.ping(payload)
                await asyncio.wait_for(waiter, 20)
                await send({"op": "pong", "payload_hex": payload.hex()})
            elif op == "stats":
                await send({"op": "stats", "received": received, "errors": errors})
            elif op == "close":
                await ws.close(m["code"], m["reason"])
            else:
                fail(conn, f"unknown op {op}")
    except websockets.ConnectionClosed as exc:
        rcvd = exc.rcvd
        if rcvd is None:
            emit({"event": "close", "conn": conn, "code": 1006, "reason": ""})
        else:
            emit({"event": "close", "conn": conn, "code": rcvd.code, "reason": rcvd.reason})


async def run_client(args):
    kwargs = compression_kwargs(args.deflate, server=False)
    protocols = args.protocols.split(",") if args.protocols else None
    try:
        async with websockets.connect(
            args.url,
            subprotocols=protocols,
            max_size=None,
            ping_interval=None,
            open_timeout=10,
            **kwargs,
        ) as ws:
            emit({"event": "open", "conn": 1, "version": VERSION})
            await respond(ws, 1)
    except Exception as exc:  # a failed handshake or connection
        fail(1, f"client error: {exc!r}")


async def run_server(args):
    conns = 0

    async def handler(ws):
        nonlocal conns
        conns += 1
        conn = conns
        emit({"event": "open", "conn": conn, "msg": ws.path})
        try:
            await respond(ws, conn)
        except Exception as exc:
            fail(conn, f"server error: {exc!r}")

    kwargs = compression_kwargs(args.deflate, server=True)
    async with websockets.serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=SERVER_PROTOCOLS,
        max_size=None,
        ping_interval=None,
        **kwargs,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        emit({"event": "listening", "port": port, "version": VERSION})
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["client", "server"])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--protocols", default="")
    parser.add_argument("--deflate", default="")
    args = parser.parse_args()
    if args.mode == "client":
        asyncio.run(run_client(args))
    else:
        asyncio.run(run_server(args))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
