"""Broker features of the Advanced Profile, used through Autobahn|Python's own API.

    /usr/bin/python3 broker_autobahn.py --flavor twisted|asyncio --url URL \
        --transport websocket|rawsocket --serializer json|msgpack|cbor SCENARIO...

Each scenario prints JSON result lines and {"ok": true}; the Go test
(tests/advanced_broker_test.go) checks the values. URIs carry a random suffix so
that many processes can share one router. Options Autobahn 22.7.1 has no
parameter for (PUBLISH.Options.disclose_me) are added to its marshalled
Publish message; payload passthru goes through the raw client (rawwamp.py).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/python: the shared helpers
sys.path.insert(0, HERE)

import txaio  # noqa: E402

from wampclient import emit, run_scenarios, scenario_args, until, uri  # noqa: E402


# Topics whose PUBLISH carries disclose_me=True. Autobahn 22.7.1 dropped the
# PublishOptions parameter (the spec still has it), so the option is added to
# the marshalled Options of Autobahn's own Publish message.
DISCLOSE_TOPICS = set()


def _patch_disclose_me():
    from autobahn.wamp import message

    orig = message.Publish.marshal_options
    if getattr(orig, "_disclose_patch", False):
        return

    def marshal_options(self):
        options = orig(self)
        if self.topic in DISCLOSE_TOPICS:
            options["disclose_me"] = True
        return options

    marshal_options._disclose_patch = True
    message.Publish.marshal_options = marshal_options


async def settle(r, seconds=0.3):
    await txaio.sleep(seconds)


async def identification(r):
    """disclose_me → EventDetails.publisher/publisher_authid/publisher_authrole."""
    from autobahn.wamp.types import PublishOptions, SubscribeOptions

    pub = await r.open(authid="joe", ticket="secret123")
    sub = await r.open()
    got = []
    topic = uri("com.adv.ident")
    await sub.session.subscribe(lambda x, details: got.append((x, details)), topic,
                                options=SubscribeOptions(details_arg="details"))
    _patch_disclose_me()
    DISCLOSE_TOPICS.add(topic)
    await pub.session.publish(topic, "disclosed", options=PublishOptions(acknowledge=True))
    DISCLOSE_TOPICS.discard(topic)
    await pub.session.publish(topic, "anonymous", options=PublishOptions(acknowledge=True))
    await until(r.flavor, lambda: len(got) == 2, 10, "two events")
    d0, d1 = got[0][1], got[1][1]
    emit(disclosed=[got[0][0], d0.publisher == pub.session.session_id, d0.publisher_authid, d0.publisher_authrole],
         undisclosed=[got[1][0], d1.publisher, d1.publisher_authid, d1.publisher_authrole])
    await pub.close()
    await sub.close()


async def blackwhite(r):
    """PublishOptions(eligible/exclude[_authid|_authrole]) restrict the receivers."""
    from autobahn.wamp.types import PublishOptions

    pub = await r.open()
    a = await r.open()
    b = await r.open()
    joe = await r.open(authid="joe", ticket="secret123")  # authrole user
    topic = uri("com.adv.bwl")
    got = {"a": [], "b": [], "joe": []}
    for name, s in (("a", a), ("b", b), ("joe", joe)):
        await s.session.subscribe(lambda x, name=name: got[name].append(x), topic)
    ida, idb = a.session.session_id, b.session.session_id
    cases = [
        ("all", {}),
        ("eligible", {"eligible": [ida, joe.session.session_id]}),
        ("exclude", {"exclude": [ida]}),
        ("eligible_exclude", {"eligible": [ida, idb], "exclude": [idb]}),
        ("eligible_authid", {"eligible_authid": ["joe"]}),
        ("exclude_authid", {"exclude_authid": ["joe"]}),
        ("eligible_authrole", {"eligible_authrole": ["user"]}),
        ("exclude_authrole", {"exclude_authrole": ["anonymous"]}),
    ]
    for label, opts in cases:
        await pub.session.publish(topic, label, options=PublishOptions(acknowledge=True, **opts))
    await settle(r)
    emit(bwl_a=got["a"], bwl_b=got["b"], bwl_joe=got["joe"])
    for s in (pub, a, b, joe):
        await s.close()


async def pattern(r):
    """SubscribeOptions(match=prefix|wildcard): EventDetails.topic carries the
    concrete topic, one event per matching subscription."""
    from autobahn.wamp.types import PublishOptions, SubscribeOptions

    pub = await r.open()
    sub = await r.open()
    base = uri("com.adv.pat")  # com.adv.pat.rNONCE
    got = []

    def handler(kind):
        def on_event(x, details):
            got.append([kind, x, details.topic])
        return on_event

    await sub.session.subscribe(handler("exact"), base + ".a.b", options=SubscribeOptions(details_arg="details"))
    await sub.session.subscribe(handler("prefix"), base + ".a", options=SubscribeOptions(match="prefix", details_arg="details"))
    await sub.session.subscribe(handler("wildcard"), base + "..b", options=SubscribeOptions(match="wildcard", details_arg="details"))
    for t in (".a.b", ".a.c", ".x.b", ".x.c", ".a.b.c"):
        await pub.session.publish(base + t, t, options=PublishOptions(acknowledge=True))
    await settle(r)
    got.sort(key=lambda e: (e[1], e[0]))
    # Topics relative to base, so the expectation does not depend on the nonce.
    emit(pattern_events=[[k, x, t[len(base):] if t else None] for k, x, t in got])
    await pub.close()
    await sub.close()


async def retained(r):
    """PublishOptions(retain=True) + SubscribeOptions(get_retained=True): the last
    retained event arrives right after subscribing with EventDetails.retained."""
    from autobahn.wamp.types import PublishOptions, SubscribeOptions

    pub = await r.open()
    topic = uri("com.adv.retained")
    await pub.session.publish(topic, 1, options=PublishOptions(acknowledge=True, retain=True))
    await pub.session.publish(topic, 2, options=PublishOptions(acknowledge=True, retain=True))
    await pub.session.publish(topic, 3, options=PublishOptions(acknowledge=True))
    sub = await r.open()
    got = []
    await sub.session.subscribe(lambda x, details: got.append([x, details.retained]), topic,
                                options=SubscribeOptions(get_retained=True, details_arg="details"))
    await until(r.flavor, lambda: got, 10, "retained event")
    await pub.session.publish(topic, 4, options=PublishOptions(acknowledge=True))
    await until(r.flavor, lambda: len(got) == 2, 10, "live event")
    emit(retained=got)
    await pub.close()
    await sub.close()


async def submeta(r):
    """Subscription meta events and procedures."""
    from autobahn.wamp.exception import ApplicationError
    from autobahn.wamp.types import SubscribeOptions

    watcher = await r.open()
    W = watcher.session
    events = []
    topic = uri("com.adv.meta")
    for name in ("on_create", "on_subscribe", "on_unsubscribe", "on_delete"):
        def on_meta(*args, name=name):
            sid = args[1]["id"] if name == "on_create" else args[1]
            events.append((name, sid))
        await W.subscribe(on_meta, "wamp.subscription." + name)
    a = await r.open()
    b = await r.open()
    # Meta events may overtake SUBSCRIBED (other connection): filter at the end.
    s1 = await a.session.subscribe(lambda *x: None, topic, options=SubscribeOptions(match="prefix"))
    s2 = await b.session.subscribe(lambda *x: None, topic, options=SubscribeOptions(match="prefix"))
    got = {}
    got["same_id"] = s1.id == s2.id
    got["lookup"] = await W.call("wamp.subscription.lookup", topic, {"match": "prefix"}) == s1.id
    got["lookup_exact"] = await W.call("wamp.subscription.lookup", topic)
    got["match"] = s1.id in (await W.call("wamp.subscription.match", topic + ".x") or [])
    details = await W.call("wamp.subscription.get", s1.id)
    got["get"] = [details["uri"] == topic, details["match"], details["id"] == s1.id, "created" in details]
    got["subscribers"] = sorted(await W.call("wamp.subscription.list_subscribers", s1.id)) == sorted(
        [a.session.session_id, b.session.session_id])
    got["count"] = await W.call("wamp.subscription.count_subscribers", s1.id)
    lists = await W.call("wamp.subscription.list")
    got["listed"] = [s1.id in lists["prefix"], sorted(lists)]
    try:
        await W.call("wamp.subscription.get", 1 << 50)
        got["missing"] = "no error"
    except ApplicationError as e:
        got["missing"] = e.error
    emit(submeta=got)
    await s1.unsubscribe()
    await b.close()  # the last subscriber leaves: unsubscribe + delete
    await until(r.flavor, lambda: ("on_delete", s1.id) in events, 10, "on_delete")
    emit(submeta_events=[name for name, sid in events if sid == s1.id])
    await a.close()
    await watcher.close()


async def history(r):
    """wamp.subscription.get_events on a router configured with a history of 3
    events for com.hist.* (the Go test starts it)."""
    from autobahn.wamp.types import PublishOptions

    pub = await r.open()
    sub = await r.open()
    topic = uri("com.hist.x")
    pubs = []
    for i in range(5):
        p = await pub.session.publish(topic, i, options=PublishOptions(acknowledge=True))
        pubs.append(p.id)
    s = await sub.session.subscribe(lambda *x: None, topic)
    evs = await sub.session.call("wamp.subscription.get_events", s.id)
    rev = await sub.session.call("wamp.subscription.get_events", s.id, reverse=True, limit=2)
    emit(history_args=[e["args"] for e in evs],
         history_pubs=[e["publication"] for e in evs] == pubs[2:],
         history_fields=sorted(evs[0]),
         history_reverse=[e["args"][0] for e in rev])
    await pub.close()
    await sub.close()


async def ppt(r):
    """Payload passthru on PUBLISH (raw RawSocket JSON client: Autobahn has no API for
    announcing it): ppt_* reach EVENT.Details untouched; an unannounced publisher
    is aborted with wamp.error.protocol_violation."""
    import asyncio

    from rawwamp import RawClient, binary

    host, port = r.url[len("rs://"):].rsplit(":", 1)
    port = int(port)

    async def join(features):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(bytes([0x7F, 0xF1, 0, 0]))
        await reader.readexactly(4)
        c = RawClient(reader, writer)
        c.send(1, "realm1", {"roles": {"publisher": {"features": features}, "subscriber": {}}})
        w = await c.expect("WELCOME")
        c.session = w[1]
        return c

    pub = await join({"payload_passthru_mode": True})
    sub = await join({"payload_passthru_mode": True})
    topic = uri("com.adv.ppt")
    sub.send(32, 1, {}, topic)
    await sub.expect("SUBSCRIBED")
    opts = {"ppt_scheme": "mqtt", "ppt_serializer": "mqtt", "ppt_cipher": "none", "ppt_keyid": "k1", "acknowledge": True}
    pub.send(16, 1, opts, topic, [binary(b"\x10\x20opaque")])
    await pub.expect(17)  # PUBLISHED (rawwamp.TYPES has no name for it)
    ev = await sub.expect("EVENT")
    emit(ppt_details=ev[3], ppt_payload=ev[4] == [binary(b"\x10\x20opaque")])
    bad = await join({})
    bad.send(16, 2, {"ppt_scheme": "mqtt"}, topic, [binary(b"x")])
    ab = await bad.expect("ABORT")
    emit(ppt_unannounced=ab[2])
    for c in (pub, sub, bad):
        c.close()


SCENARIOS = {f.__name__: f for f in [identification, blackwhite, pattern, retained, submeta, history, ppt]}


def main():
    run_scenarios(scenario_args(__doc__, SCENARIOS), SCENARIOS, 40)


if __name__ == "__main__":
    main()
