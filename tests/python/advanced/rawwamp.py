"""A minimal WAMP client over RawSocket with the JSON serializer, on asyncio
streams. It speaks raw messages (lists), so tests can send options and announce
features that the client libraries have no API for, and see exactly what the
router sends back."""

import asyncio
import base64
import json

TYPES = {"HELLO": 1, "WELCOME": 2, "ABORT": 3, "GOODBYE": 6, "ERROR": 8, "PUBLISH": 16, "SUBSCRIBE": 32,
         "SUBSCRIBED": 33, "EVENT": 36, "CALL": 48, "CANCEL": 49, "RESULT": 50, "REGISTER": 64,
         "REGISTERED": 65, "UNREGISTER": 66, "UNREGISTERED": 67, "INVOCATION": 68, "INTERRUPT": 69,
         "YIELD": 70}


def binary(b):
    """JSON's WAMP convention for binary: a string "\\0" + base64."""
    return "\x00" + base64.b64encode(b).decode()


class RawClient:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.session = None
        self.welcome = None
        self.inbox = []

    @classmethod
    async def join(cls, host, port, realm="realm1", features=(), authid=None):
        reader, writer = await asyncio.open_connection(host, port)
        # RawSocket handshake: magic, max length 2^24 (0xF), serializer 1 = JSON.
        writer.write(bytes([0x7F, 0xF1, 0, 0]))
        hs = await reader.readexactly(4)
        if hs[0] != 0x7F or hs[1] & 0x0F != 1:
            raise RuntimeError("rawsocket handshake refused: %r" % hs)
        c = cls(reader, writer)
        feats = {f: True for f in features}
        details = {"roles": {"caller": {"features": feats}, "callee": {"features": feats},
                             "publisher": {}, "subscriber": {}}}
        if authid:
            details["authid"] = authid
        c.send(1, realm, details)
        w = await c.recv()
        if w[0] != 2:
            raise RuntimeError("join refused: %r" % (w,))
        c.session, c.welcome = w[1], w[2]
        return c

    def send(self, *msg):
        b = json.dumps(list(msg)).encode()
        self.w.write(bytes([0]) + len(b).to_bytes(3, "big") + b)

    async def recv(self, timeout=10):
        while True:
            hdr = await asyncio.wait_for(self.r.readexactly(4), timeout)
            n = int.from_bytes(hdr[1:4], "big")
            body = await asyncio.wait_for(self.r.readexactly(n), timeout)
            kind = hdr[0] & 0x07
            if kind == 1:  # ping: answer with pong, same payload
                self.w.write(bytes([2]) + hdr[1:4] + body)
                continue
            if kind == 0:
                return json.loads(body)

    async def expect(self, mtype, timeout=10):
        """The next message of type mtype (a name or code); others are kept in inbox."""
        code = TYPES.get(mtype, mtype)
        for i, m in enumerate(self.inbox):
            if m[0] == code:
                return self.inbox.pop(i)
        while True:
            m = await self.recv(timeout)
            if m[0] == code:
                return m
            self.inbox.append(m)

    async def nothing(self, wait=0.2):
        """True when no message arrives within wait seconds."""
        if self.inbox:
            return False
        try:
            m = await self.recv(wait)
        except asyncio.TimeoutError:
            return True
        self.inbox.append(m)
        return False

    async def register(self, req, proc, options=None):
        self.send(64, req, options or {}, proc)
        m = await self.expect("REGISTERED")
        return m[2]

    def close(self):
        self.w.close()
