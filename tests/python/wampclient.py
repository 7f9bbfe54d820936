"""Small helpers shared by the interop scenarios: open Autobahn sessions against the
router under test with the same code on Twisted and asyncio.

Only Autobahn's public API is used (Component, ApplicationSession, txaio), so a
failure here is what a user of the library would see.
"""

import json
import os
import sys

import txaio


# The scenario running now; every result line is tagged with it.
current = {"scenario": None}


def emit(**fields):
    """Print one JSON result line; the Go test parses these. Bytes print as
    {"$bytes": "<hex>"}, the same as the Node scripts print Buffers."""
    if current["scenario"] is not None:
        fields["scenario"] = current["scenario"]
    print(json.dumps(fields, sort_keys=True, default=_bytes_as_hex), flush=True)


def _bytes_as_hex(v):
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": bytes(v).hex()}
    raise TypeError("cannot print %r" % type(v))


def _patch_asyncio_rawsocket():
    """Autobahn 22.7.1 (Debian bookworm) bug, not a router one: the asyncio RawSocket
    protocol stores _transport_details but lacks the transport_details property that
    the session reads on WELCOME, so every asyncio RawSocket join dies with
    AttributeError. Supply the property the Twisted protocol already has."""
    from autobahn.asyncio import rawsocket

    for cls in (rawsocket.WampRawSocketClientProtocol, rawsocket.WampRawSocketServerProtocol):
        if not hasattr(cls, "transport_details"):
            cls.transport_details = property(lambda self: self._transport_details)


class Flavor:
    """The event-loop dependent parts: imports, the loop, and the runner."""

    def __init__(self, name):
        self.name = name
        if name == "twisted":
            txaio.use_twisted()
            from autobahn.twisted.component import Component
            from autobahn.twisted.wamp import ApplicationSession
        elif name == "asyncio":
            txaio.use_asyncio()
            from autobahn.asyncio.component import Component
            from autobahn.asyncio.wamp import ApplicationSession

            _patch_asyncio_rawsocket()
        else:
            raise ValueError("unknown flavor %r" % name)
        self.Component = Component
        self.ApplicationSession = ApplicationSession
        self.loop = None

    def run(self, amain):
        """Run coroutine function amain(flavor) to completion; return the exit code."""
        code = [1]

        async def wrapped():
            try:
                await amain(self)
                code[0] = 0
            except Exception as e:  # report, never hang
                import traceback

                traceback.print_exc()
                emit(fatal=repr(e))

        if self.name == "twisted":
            from twisted.internet import defer, reactor

            self.loop = reactor

            def start():
                d = defer.ensureDeferred(wrapped())
                d.addBoth(lambda _: reactor.stop())

            reactor.callWhenRunning(start)
            reactor.run()
        else:
            import asyncio

            async def top():
                self.loop = asyncio.get_running_loop()
                await wrapped()

            asyncio.run(top())
        return code[0]


class Router:
    """Where and how to connect: one transport, one serializer, as chosen on the command line."""

    def __init__(self, flavor, url, transport, serializer, realm):
        self.flavor = flavor
        self.url = url
        self.transport = transport
        self.serializer = serializer
        self.realm = realm

    def transport_config(self):
        cfg = {"type": self.transport, "url": self.url, "max_retries": 0}
        if self.transport == "rawsocket":
            cfg["serializer"] = self.serializer
        else:
            cfg["serializers"] = [self.serializer]
        return cfg

    def component(self, authid=None, ticket=None, session_factory=None, authentication=None):
        """A Component for this router: ticket authentication when authid is given,
        or Autobahn's authentication dict as given."""
        auth = authentication
        if auth is None and authid is not None:
            auth = {"ticket": {"authid": authid, "ticket": ticket}}
        kw = {}
        if session_factory is not None:
            kw["session_factory"] = session_factory
        return self.flavor.Component(
            transports=[self.transport_config()],
            realm=self.realm,
            authentication=auth,
            **kw
        )

    async def open(self, authid=None, ticket=None, timeout=10, authentication=None):
        """Connect and join; return a Session whose .session/.details are set.

        Raises ApplicationError(reason) if the router refuses the join."""
        from autobahn.wamp.exception import ApplicationError

        comp = self.component(authid, ticket, authentication=authentication)
        joined = txaio.create_future()

        def on_join(session, details):
            if not txaio.is_called(joined):
                txaio.resolve(joined, (session, details))

        left = []

        def on_leave(session, details):
            left.append(details.reason)
            if not txaio.is_called(joined):
                txaio.reject(joined, ApplicationError(details.reason, details.message))

        comp.on("join", on_join)
        comp.on("leave", on_leave)
        return await start_session(self.flavor, comp, joined, left, timeout)


async def start_session(flavor, comp, joined, left, timeout=10):
    """Start Component comp and wait until its join listener resolves the future
    joined with (session, details); return the Session. left is the list its leave
    listener fills. A connection that fails before the join rejects joined."""
    done = comp.start(flavor.loop)

    def on_done_error(fail):
        if not txaio.is_called(joined):
            txaio.reject(joined, fail)
        return None

    txaio.add_callbacks(done, None, on_done_error)
    session, details = await wait(flavor, joined, timeout, "join")
    return Session(flavor, session, details, done, left)


class Session:
    def __init__(self, flavor, session, details, done, left):
        self.flavor = flavor
        self.session = session
        self.details = details
        self.done = done
        self.left = left  # reasons of the leave events seen, filled by the listener

    async def close(self, timeout=10):
        """Leave the realm and wait for the router's GOODBYE reply (the 'leave' event).

        The transport close that follows is not waited for: the lifecycle scenario
        checks it, and waiting here costs Twisted's close-handshake timers per session."""
        if self.session.is_attached():
            self.session.leave()
        await until(self.flavor, lambda: self.left, timeout, "GOODBYE reply")
        if not any(r in NORMAL_LEAVE for r in self.left):
            raise RuntimeError("session closed without a normal GOODBYE: %r" % self.left)


async def finished(flavor, done, left, timeout=10):
    """Wait for a Component's done future after it left the realm.

    Autobahn 22.7.1's asyncio RawSocket Component reports a clean close after GOODBYE
    as "TransportLost: failed to complete connection". The GOODBYE exchange is what
    the router owes us, so a normal leave (recorded in left by a 'leave' listener)
    counts as success; anything else fails."""
    try:
        await wait(flavor, done, timeout, "component done")
    except TimeoutError:
        raise
    except Exception:
        if not any(r in NORMAL_LEAVE for r in left):
            raise
    if not any(r in NORMAL_LEAVE for r in left):
        raise RuntimeError("session closed without a normal GOODBYE: %r" % left)


NORMAL_LEAVE = ("wamp.close.normal", "wamp.close.goodbye_and_out")


async def with_timeout(flavor, coro, timeout, what):
    """Run coroutine coro, failing with TimeoutError after timeout seconds (so one
    stuck scenario cannot hang the others that share the process)."""
    if flavor.name == "twisted":
        from twisted.internet import defer

        d = defer.ensureDeferred(coro)
        d.addTimeout(timeout, flavor.loop)
        try:
            return await d
        except defer.TimeoutError:
            raise TimeoutError("%s: no result within %ss" % (what, timeout))
    import asyncio

    try:
        return await asyncio.wait_for(coro, timeout)
    except asyncio.TimeoutError:
        raise TimeoutError("%s: no result within %ss" % (what, timeout))


async def wait(flavor, fut, timeout, what):
    """Await a txaio future, failing after timeout seconds."""
    await until(flavor, lambda: txaio.is_called(fut), timeout, what)
    return await fut


async def until(flavor, cond, timeout, what):
    """Poll cond() until true; raise TimeoutError after timeout seconds."""
    steps = int(timeout / 0.01)
    for _ in range(steps):
        if cond():
            return
        await txaio.sleep(0.01)
    if not cond():
        raise TimeoutError("timed out after %ss waiting for %s" % (timeout, what))


def main_args(description):
    import argparse

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--flavor", choices=["twisted", "asyncio"], default="twisted")
    p.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    p.add_argument("--transport", choices=["websocket", "rawsocket"], default="websocket")
    p.add_argument("--serializer", choices=["json", "msgpack", "cbor"], default="json")
    p.add_argument("--realm", default="realm1")
    return p


def exit_with(code):
    sys.stdout.flush()
    sys.exit(code)


NONCE = os.urandom(4).hex()


def uri(base):
    """base with this process's random suffix, so that scenario processes sharing
    one router never see each other's registrations and events."""
    return "%s.r%s" % (base, NONCE)


def scenario_args(doc, scenarios, add_options=None):
    """Parse a scenario script's command line: main_args' options, the script's own
    (add_options(parser)), then the names of the scenarios to run. doc is the
    script's docstring; its first line is the description."""
    p = main_args(doc.splitlines()[0])
    if add_options is not None:
        add_options(p)
    p.add_argument("scenario", nargs="+", choices=sorted(scenarios))
    return p.parse_args()


def run_scenarios(a, scenarios, timeout, flavor=None, make_router=None):
    """Run the scenarios a.scenario names (scenario_args), in order, in this process,
    then exit: 0 and a final "OK" line when all passed.

    Several scenarios share one process to save interpreter start-ups; each is
    isolated: its own sessions and URIs, its own deadline (timeout seconds), its own
    verdict line ({"ok": true} or {"fatal": ...}). flavor defaults to Flavor(a.flavor);
    make_router(flavor) builds what the scenarios get, by default a Router from the
    command line."""
    if flavor is None:
        flavor = Flavor(a.flavor)
    if make_router is None:
        def make_router(fl):
            return Router(fl, a.url, a.transport, a.serializer, a.realm)
    failed = []

    async def amain(fl):
        r = make_router(fl)
        for name in a.scenario:
            current["scenario"] = name
            try:
                await with_timeout(fl, scenarios[name](r), timeout, name)
                emit(ok=True)
            except Exception as e:
                import traceback

                traceback.print_exc()
                emit(fatal=repr(e))
                failed.append(name)
        current["scenario"] = None
        if not failed:
            print("OK", flush=True)

    code = flavor.run(amain)
    exit_with(code if code else (1 if failed else 0))
