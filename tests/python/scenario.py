"""Interop scenarios from the WAMP programming guide, run with Autobahn|Python.

    /usr/bin/python3 scenario.py --flavor twisted|asyncio --url URL \
        --transport websocket|rawsocket --serializer json|msgpack|cbor SCENARIO...

Each scenario prints JSON result lines tagged {"scenario": name} and a verdict line
({"ok": true} or {"fatal": ...}); after all of them, "OK" and exit 0 if none failed.
The Go test (tests/python_test.go) checks the values. URIs get a random suffix so
that many scenario processes can share one router without seeing each other's
registrations and events.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import txaio  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import CallResult, PublishOptions  # noqa: E402

from wampclient import (  # noqa: E402
    Router,
    emit,
    finished,
    run_scenarios,
    scenario_args,
    until,
    uri,
    with_timeout,
)


async def rpc(r):
    """Guide: register com.myapp.add2 in one session, call it from another."""
    callee = await r.open()
    caller = await r.open()

    def add2(x, y):
        return x + y

    def echo(*args, **kwargs):
        return CallResult(*args, **kwargs)

    reg = await callee.session.register(add2, uri("com.myapp.add2"))
    emit(registered=reg.id > 0)
    await callee.session.register(echo, uri("com.myapp.echo"))
    res = await caller.session.call(uri("com.myapp.add2"), 2, 3)
    emit(add2=res)
    # Arguments and keyword arguments must arrive unchanged (the router passes them through).
    res = await caller.session.call(
        uri("com.myapp.echo"), 1, "two", [3.5, True, None], {"k": "v"}, a=1, u="\u00fc\u00df\u4e2d"
    )
    emit(echo_args=list(res.results), echo_kwargs=res.kwresults)
    await reg.unregister()
    try:
        await caller.session.call(uri("com.myapp.add2"), 2, 3)
        emit(after_unregister="no error")
    except ApplicationError as e:
        emit(after_unregister=e.error)
    await caller.close()
    await callee.close()


async def big(r):
    """Large payloads (1 MB text, 256 KiB binary) survive RPC and PubSub intact: the
    router reassembles and forwards messages that span many socket reads."""
    callee = await r.open()
    caller = await r.open()
    text = "".join(chr(0x41 + i % 26) for i in range(1_000_000))
    blob = bytes(range(256)) * 1024
    await callee.session.register(lambda *a, **kw: CallResult(*a, **kw), uri("com.myapp.big"))
    res = await caller.session.call(uri("com.myapp.big"), text, blob, more=text)
    a, kw = res.results, res.kwresults
    emit(big_call=[a[0] == text, a[1] == blob, kw.get("more") == text])
    got = []
    await callee.session.subscribe(lambda t, b: got.append((t, b)), uri("com.myapp.bigtopic"))
    await caller.session.publish(uri("com.myapp.bigtopic"), text, blob, options=PublishOptions(acknowledge=True))
    await until(r.flavor, lambda: got, 10, "big event")
    t, b = got[0]
    emit(big_event=[t == text, b == blob])
    await caller.close()
    await callee.close()


async def pubsub(r):
    """Guide: subscribe to com.myapp.oncounter; another session publishes 0,1,2,..."""
    n = 20
    sub = await r.open()
    pub = await r.open()
    got = []
    kw = []

    def oncounter(count, **kwargs):
        got.append(count)
        if kwargs:
            kw.append(kwargs)

    s = await sub.session.subscribe(oncounter, uri("com.myapp.oncounter"))
    emit(subscribed=s.id > 0)
    for counter in range(n):
        # Unacknowledged, as in the guide: the events must still arrive, in order.
        pub.session.publish(uri("com.myapp.oncounter"), counter)
    pub.session.publish(uri("com.myapp.oncounter"), n, label="last", nested={"a": [1, 2]})
    await until(r.flavor, lambda: len(got) >= n + 1, 10, "counter events")
    emit(events=got, event_kwargs=kw)
    await s.unsubscribe()
    # After unsubscribing, nothing more arrives.
    await pub.session.publish(uri("com.myapp.oncounter"), -1, options=PublishOptions(acknowledge=True))
    await txaio.sleep(0.2)
    emit(after_unsubscribe=got[n + 1:])
    await pub.close()
    await sub.close()


async def lifecycle(r):
    """Guide 'Session Lifecycle' with an ApplicationSession subclass (ticket auth so that
    onChallenge runs), then the Component listener events."""
    steps = []
    flavor = r.flavor

    class MyComponent(flavor.ApplicationSession):
        def __init__(self, config=None):
            flavor.ApplicationSession.__init__(self, config)
            steps.append("created")

        def onConnect(self):
            steps.append("connect")
            self.join(self.config.realm, authmethods=["ticket"], authid="joe")

        def onChallenge(self, challenge):
            steps.append("challenge:" + challenge.method)
            return "secret123"

        def onJoin(self, details):
            steps.append("join:" + details.authrole)
            self.leave()

        def onLeave(self, details):
            steps.append("leave:" + details.reason)
            # Modern Autobahn: the default onLeave disconnects; an override must do it.
            self.disconnect()

        def onDisconnect(self):
            steps.append("disconnect")

    comp = r.component(session_factory=MyComponent)
    left = []
    comp.on("leave", lambda session, details: left.append(details.reason))
    await finished(flavor, comp.start(flavor.loop), left)
    # Component's done fires on the GOODBYE reply; the transport closes right after.
    await until(flavor, lambda: "disconnect" in steps, 10, "onDisconnect")
    emit(session_lifecycle=steps)

    events = []
    comp = r.component()
    comp.on("connect", lambda session, transport: events.append("connect"))

    async def on_join(session, details):
        events.append("join")
        await txaio.sleep(0.05)  # 'ready' must wait for join listeners to finish

    comp.on("join", on_join)

    def on_ready(session):
        events.append("ready")
        session.leave()

    comp.on("ready", on_ready)
    left = []

    def on_leave(session, details):
        left.append(details.reason)
        events.append("leave:" + details.reason)

    comp.on("leave", on_leave)
    comp.on("disconnect", lambda session, was_clean: events.append("disconnect"))
    await finished(flavor, comp.start(flavor.loop), left)
    await until(flavor, lambda: "disconnect" in events, 10, "disconnect event")
    emit(component_events=events)


async def rejoin(r):
    """Guide: a session may leave() and join() again on the same transport, getting
    'join' more than once (a new session each time)."""
    joins, leaves, steps, acked = [], [], [], []
    flavor = r.flavor

    class Rejoiner(flavor.ApplicationSession):
        async def onJoin(self, details):
            joins.append(details.session)
            if len(joins) == 2:  # the second session works like any other
                pub = await self.publish(uri("com.myapp.rejoin"), 1, options=PublishOptions(acknowledge=True))
                acked.append(pub.id > 0)
            self.leave()

        def onLeave(self, details):
            leaves.append(details.reason)
            if len(joins) == 1:
                self.join(self.config.realm)
            else:
                self.disconnect()

        def onDisconnect(self):
            steps.append("disconnect")

    r.component(session_factory=Rejoiner).start(flavor.loop)
    await until(flavor, lambda: steps, 10, "second leave and disconnect")
    emit(joins=len(joins), distinct_sessions=len(set(joins)) == len(joins), leaves=leaves, acked=acked)


async def exclude_me(r):
    """Guide tip: a publisher does not get its own event unless exclude_me=False."""
    me = await r.open()
    other = await r.open()
    mine, others = [], []
    topic = uri("com.myapp.topic")
    await me.session.subscribe(lambda v: mine.append(v), topic)
    await other.session.subscribe(lambda v: others.append(v), topic)
    await me.session.publish(topic, "default", options=PublishOptions(acknowledge=True))
    await me.session.publish(
        topic, "included", options=PublishOptions(acknowledge=True, exclude_me=False)
    )
    await until(r.flavor, lambda: "included" in mine and len(others) >= 2, 10, "events")
    await txaio.sleep(0.2)  # anything wrongly delivered would have arrived by now
    emit(publisher_got=mine, other_got=others)
    await other.close()
    await me.close()


async def acknowledge(r):
    """Guide tip: publish(acknowledge=True) returns a Publication with an id."""
    s = await r.open()
    topic = uri("com.myapp.ack")
    pub = await s.session.publish(topic, 1, options=PublishOptions(acknowledge=True))
    pub2 = await s.session.publish(topic, 2, options=PublishOptions(acknowledge=True))
    plain = s.session.publish(topic, 3)
    emit(publication_id=pub.id, second_id=pub2.id, unacknowledged=repr(plain))
    await s.close()


async def errors(r):
    """Errors travel from callee to caller with URI, args and kwargs intact."""
    callee = await r.open()
    caller = await r.open()

    def oops():
        raise ApplicationError("com.myapp.error.oops", 1, 2, x=3)

    await callee.session.register(oops, uri("com.myapp.oops"))
    try:
        await caller.session.call(uri("com.myapp.oops"))
        emit(oops="no error")
    except ApplicationError as e:
        emit(oops=e.error, oops_args=list(e.args), oops_kwargs=e.kwargs)
    try:
        await caller.session.call(uri("com.myapp.nothing_here"), 1)
        emit(no_such="no error")
    except ApplicationError as e:
        emit(no_such=e.error)
    try:
        await caller.session.register(lambda: 0, uri("com.myapp.oops"))
        emit(twice="no error")
    except ApplicationError as e:
        emit(twice=e.error)
    # The session is still usable after all these errors.
    await caller.session.register(lambda x: x * 2, uri("com.myapp.double"))
    emit(double=await callee.session.call(uri("com.myapp.double"), 21))
    await caller.close()
    await callee.close()


async def callee_gone(r):
    """A callee that vanishes (transport lost, no GOODBYE) while a call is in flight:
    the caller must get an error, never wait forever."""
    callee = await r.open()
    caller = await r.open()
    invoked = []

    async def slow():
        invoked.append(1)
        await txaio.sleep(60)

    await callee.session.register(slow, uri("com.myapp.slow"))
    d = caller.session.call(uri("com.myapp.slow"))
    await until(r.flavor, lambda: invoked, 10, "invocation")
    callee.session.disconnect()  # drop the transport without GOODBYE
    try:
        await with_timeout(r.flavor, _await(d), 10, "call outcome")
        emit(in_flight="returned a result")
    except ApplicationError as e:
        emit(in_flight=e.error)
    await caller.close()


async def _await(d):
    return await d


async def shutdown(r):
    """Join and wait until the router ends the session (the Go test stops it)."""
    s = await r.open()
    emit(ready=True)
    await until(r.flavor, lambda: s.left, 60, "router shutdown")
    emit(left=s.left[0])


async def ticket(r):
    """Ticket auth: joe/secret123 joins with authrole user; a wrong ticket is refused."""
    s = await r.open(authid="joe", ticket="secret123")
    d = s.details
    emit(authid=d.authid, authrole=d.authrole, authmethod=d.authmethod, session_id=d.session > 0)
    # An authenticated session works like any other.
    await s.session.register(lambda: "pong", uri("com.myapp.ping"))
    emit(ping=await s.session.call(uri("com.myapp.ping")))
    await s.close()
    for name, authid, tk in [("wrong_ticket", "joe", "nope"), ("unknown_user", "mallory", "x")]:
        try:
            bad = await r.open(authid=authid, ticket=tk)
            emit(**{name: "joined as " + str(bad.details.authrole)})
            await bad.close()
        except ApplicationError as e:
            emit(**{name: e.error})
    anon = await r.open()
    emit(anonymous_authmethod=anon.details.authmethod, anonymous_authrole=anon.details.authrole)
    await anon.close()
    # Realms are separate routing namespaces; one the router does not have is refused.
    r.realm, realm = "no.such.realm", r.realm
    try:
        bad = await r.open()
        emit(unknown_realm="joined")
        await bad.close()
    except ApplicationError as e:
        emit(unknown_realm=e.error)
    finally:
        r.realm = realm


# The binary value every cross-test publisher sends (same bytes as tests/js/scenario.js).
BIN = bytes([0x00, 0x01, 0x02, 0xFE, 0xFF]) + b"hello"


async def sub(r):
    """Half of a cross-library test: print {"ready": true}, then the first --count events."""
    s = await r.open()
    events = []
    await s.session.subscribe(
        lambda *args, **kwargs: events.append({"args": list(args), "kwargs": kwargs}), r.topic
    )
    emit(ready=True)
    await until(r.flavor, lambda: len(events) >= r.count, 20, "%d events" % r.count)
    for e in events:
        emit(event=e)
    await s.close()


async def pub(r):
    """Other half: publish --count events with text and binary (bytes) payloads."""
    s = await r.open()
    for i in range(r.count):
        p = await s.session.publish(
            r.topic, i, "text-\u00fc", BIN,
            bin=BIN, n=i, nested={"l": [1, 2]},
            options=PublishOptions(acknowledge=True),
        )
        if i == 0:
            emit(publication_id=p.id)
    await s.close()


async def callee(r):
    """Half of a cross-library RPC test: register --topic as an echo procedure, print
    {"ready": true}, serve --count calls, leave."""
    s = await r.open()
    calls = []

    def echo(*args, **kwargs):
        calls.append(1)
        return CallResult(*args, **kwargs)

    await s.session.register(echo, r.topic)
    emit(ready=True)
    await until(r.flavor, lambda: len(calls) >= r.count, 20, "%d calls" % r.count)
    await txaio.sleep(0.2)  # let the last YIELD go out before GOODBYE
    await s.close()


async def caller(r):
    """Other half: call --topic --count times with text and binary arguments."""
    s = await r.open()
    for i in range(r.count):
        res = await s.session.call(r.topic, i, "text-\u00fc", BIN, bin=BIN, n=i, nested={"l": [1, 2]})
        emit(result={"args": list(res.results), "kwargs": res.kwresults})
    await s.close()


SCENARIOS = {
    f.__name__: f
    for f in [
        rpc, big, pubsub, lifecycle, rejoin, exclude_me, acknowledge, errors, ticket, callee_gone,
        sub, pub, callee, caller, shutdown,
    ]
}


def main():
    def options(p):
        p.add_argument("--topic", default="com.myapp.cross")
        p.add_argument("--count", type=int, default=5)

    a = scenario_args(__doc__, SCENARIOS, options)

    def make_router(fl):
        r = Router(fl, a.url, a.transport, a.serializer, a.realm)
        r.topic, r.count = a.topic, a.count
        return r

    run_scenarios(a, SCENARIOS, 30, make_router=make_router)


if __name__ == "__main__":
    main()
