"""Session and testament meta API with Autobahn|Python (Twisted or asyncio).

    /usr/bin/python3 meta_session.py --flavor twisted|asyncio --url URL \
        --transport websocket|rawsocket --serializer json|msgpack|cbor SCENARIO...

Scenarios: session_meta (on_join/on_leave, also via prefix and wildcard
subscriptions, count/list/get with authrole filters, reserved wamp. URIs),
session_kill (kill, kill_by_authid, kill_by_authrole: GOODBYE reason/message,
the caller survives), testament (add_testament/flush_testaments, published on
GOODBYE and on transport loss, in scope order).

The router must be fresh and used by this process alone: counts and kills are
exact. It must have the ticket user joe:secret123:user (the test harness's).
Prints JSON result lines tagged with the scenario, then "OK".
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import SubscribeOptions  # noqa: E402

from wampclient import emit, run_scenarios, scenario_args, until, uri  # noqa: E402


async def call_error(session, proc, *args, **kwargs):
    """Call proc and return the error URI (or "no error")."""
    try:
        await session.call(proc, *args, **kwargs)
        return "no error"
    except ApplicationError as e:
        return e.error


def watch_leave(s):
    """Record (reason, message) of every leave of s's session (a GOODBYE from the router)."""
    got = []
    s.session.on("leave", lambda session, details: got.append([details.reason, details.message]))
    return got


async def session_meta(r):
    watcher = await r.open()
    joins, leaves, pattern_topics, wildcard_topics = [], [], [], []
    await watcher.session.subscribe(lambda d: joins.append(d), "wamp.session.on_join")
    await watcher.session.subscribe(lambda *a: leaves.append(list(a)), "wamp.session.on_leave")
    await watcher.session.subscribe(
        lambda *a, details=None: pattern_topics.append(details.topic),
        "wamp.session.",
        options=SubscribeOptions(match="prefix", details_arg="details"),
    )
    await watcher.session.subscribe(
        lambda *a, details=None: wildcard_topics.append(details.topic),
        "wamp..on_leave",
        options=SubscribeOptions(match="wildcard", details_arg="details"),
    )

    joe = await r.open("joe", "secret123")
    joe_id = joe.session.session_id
    await until(r.flavor, lambda: any(d.get("session") == joe_id for d in joins), 10, "on_join")
    d = [d for d in joins if d.get("session") == joe_id][0]
    emit(on_join={k: d.get(k) for k in ("authid", "authrole", "authmethod", "authprovider")})
    emit(on_join_transport=sorted((d.get("transport") or {}).keys()))

    s = watcher.session
    emit(count=await s.call("wamp.session.count"))
    emit(count_user=await s.call("wamp.session.count", ["user"]))
    emit(count_user_anonymous=await s.call("wamp.session.count", ["user", "anonymous"]))
    emit(count_nobody=await s.call("wamp.session.count", ["nobody"]))
    ids = await s.call("wamp.session.list")
    emit(list_is_ours=sorted(ids) == sorted([watcher.session.session_id, joe_id]))
    emit(list_user=(await s.call("wamp.session.list", ["user"])) == [joe_id])
    g = await s.call("wamp.session.get", joe_id)
    emit(get={k: g.get(k) for k in ("authid", "authrole", "authmethod", "authprovider")})
    emit(get_session_matches=g.get("session") == joe_id)
    emit(get_unknown=await call_error(s, "wamp.session.get", 1))

    # Reserved URIs: a client can neither provide nor fake the router's API.
    try:
        await joe.session.register(lambda: 1, "wamp.session.count")
        emit(register_reserved="no error")
    except ApplicationError as e:
        emit(register_reserved=e.error)

    await joe.close()
    await until(r.flavor, lambda: any(a and a[0] == joe_id for a in leaves), 10, "on_leave")
    a = [a for a in leaves if a[0] == joe_id][0]
    emit(on_leave=a[1:])
    await until(r.flavor, lambda: "wamp.session.on_leave" in wildcard_topics, 10, "wildcard on_leave")
    emit(prefix_topics=sorted(set(pattern_topics)))
    emit(wildcard_topics=sorted(set(wildcard_topics)))
    emit(count_after_leave=await s.call("wamp.session.count"))
    await watcher.close()


async def session_kill(r):
    admin = await r.open("joe", "secret123")  # authid joe, authrole user
    s = admin.session
    victim = await r.open()
    victim_left = watch_leave(victim)

    emit(kill_self=await call_error(s, "wamp.session.kill", s.session_id))
    emit(kill_unknown=await call_error(s, "wamp.session.kill", 1))
    emit(kill_bad_reason=await call_error(s, "wamp.session.kill", victim.session.session_id, reason="not a uri"))

    await s.call("wamp.session.kill", victim.session.session_id, reason="com.example.kicked", message="bye")
    await until(r.flavor, lambda: victim_left, 10, "killed session's leave")
    emit(killed=victim_left[0])
    emit(count_after_kill=await s.call("wamp.session.count"))

    joe2 = await r.open("joe", "secret123")
    joe3 = await r.open("joe", "secret123")
    left2, left3 = watch_leave(joe2), watch_leave(joe3)
    emit(kill_by_authid=await s.call("wamp.session.kill_by_authid", "joe", message="joes out"))
    await until(r.flavor, lambda: left2 and left3, 10, "kill_by_authid leaves")
    emit(kill_by_authid_leaves=[left2[0], left3[0]])
    emit(caller_alive=s.is_attached())

    a1 = await r.open()
    a2 = await r.open()
    la1, la2 = watch_leave(a1), watch_leave(a2)
    emit(kill_by_authrole=await s.call("wamp.session.kill_by_authrole", "anonymous", reason="wamp.close.killed"))
    await until(r.flavor, lambda: la1 and la2, 10, "kill_by_authrole leaves")
    emit(kill_by_authrole_leaves=[la1[0], la2[0]])
    # The caller has the role it kills: it stays.
    emit(kill_own_role=await s.call("wamp.session.kill_by_authrole", "user"))
    emit(caller_alive_after_role=s.is_attached())
    emit(count_final=await s.call("wamp.session.count"))
    await admin.close()


async def testament(r):
    topic = uri("com.example.testament")
    listener = await r.open()
    got = []
    await listener.session.subscribe(lambda *a, **kw: got.append([list(a), kw]), topic)

    s = await r.open()
    await s.session.call("wamp.session.add_testament", topic, ["flushed"], {})
    emit(flushed=await s.session.call("wamp.session.flush_testaments"))
    await s.session.call("wamp.session.add_testament", topic, ["destroyed", 1], {"who": "s"})
    await s.session.call("wamp.session.add_testament", topic, ["detached"], {}, scope="detached")
    emit(bad_scope=await call_error(s.session, "wamp.session.add_testament", topic, [], {}, scope="later"))
    emit(bad_topic=await call_error(s.session, "wamp.session.add_testament", "not a topic", [], {}))
    await s.close()
    await until(r.flavor, lambda: len(got) >= 2, 10, "testaments after GOODBYE")
    emit(on_goodbye=got[:2])

    # A client that vanishes without GOODBYE: that is what testaments are for.
    del got[:]
    lost = await r.open()
    await lost.session.call("wamp.session.add_testament", topic, ["lost"], {"why": "transport"})
    lost.session.disconnect()
    await until(r.flavor, lambda: got, 10, "testament after transport loss")
    emit(on_transport_lost=got[0])
    await listener.close()


SCENARIOS = {f.__name__: f for f in [session_meta, session_kill, testament]}


def main():
    run_scenarios(scenario_args(__doc__, SCENARIOS), SCENARIOS, 30)


if __name__ == "__main__":
    main()
