"""Dealer features of the Advanced Profile, used through Autobahn|Python's own API.

    /usr/bin/python3 dealer_autobahn.py --flavor twisted|asyncio --url URL \
        --transport websocket|rawsocket --serializer json|msgpack|cbor SCENARIO...

Each scenario prints JSON result lines and {"ok": true}; the Go test
(tests/advanced_dealer_test.go) checks the values. URIs carry a random suffix so
that many processes can share one router.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/python: the shared helpers

import txaio  # noqa: E402

from wampclient import emit, run_scenarios, scenario_args, until, uri  # noqa: E402


async def shared(r):
    """RegisterOptions(invoke=...): roundrobin spreads calls in registration order,
    first/last pick one end, random reaches only registered callees; a different
    policy, or a second 'single', is refused with the spec's errors."""
    from autobahn.wamp.exception import ApplicationError
    from autobahn.wamp.types import RegisterOptions

    caller = await r.open()
    callees = [await r.open() for _ in range(3)]
    results = {}
    for policy in ("roundrobin", "first", "last", "random"):
        proc = uri("com.adv.shared." + policy)
        regs = []
        for i, c in enumerate(callees):
            reg = await c.session.register(lambda i=i: i, proc, options=RegisterOptions(invoke=policy))
            regs.append(reg.id)
        results[policy + "_same_id"] = len(set(regs)) == 1
        results[policy] = [await caller.session.call(proc) for _ in range(6)]
    emit(shared_roundrobin=results["roundrobin"], shared_first=results["first"],
         shared_last=results["last"], shared_same_id=all(v for k, v in results.items() if k.endswith("_same_id")),
         shared_random_ok=set(results["random"]) <= {0, 1, 2})
    errs = []
    try:
        await caller.session.register(lambda: 0, uri("com.adv.shared.roundrobin"), options=RegisterOptions(invoke="first"))
        errs.append("accepted")
    except ApplicationError as e:
        errs.append(e.error)
    await callees[0].session.register(lambda: 0, uri("com.adv.shared.single"))
    try:
        await callees[1].session.register(lambda: 1, uri("com.adv.shared.single"))
        errs.append("accepted")
    except ApplicationError as e:
        errs.append(e.error)
    emit(shared_conflicts=errs)
    # A callee leaving keeps the shared registration alive for the others.
    await callees[0].close()
    emit(shared_after_leave=[await caller.session.call(uri("com.adv.shared.roundrobin")) for _ in range(4)])
    for c in [caller] + callees[1:]:
        await c.close()


async def pattern(r):
    """RegisterOptions(match='prefix'|'wildcard', details_arg=...): the concrete URI
    arrives in details.procedure; exact beats prefix beats wildcard."""
    from autobahn.wamp.exception import ApplicationError
    from autobahn.wamp.types import RegisterOptions

    caller = await r.open()
    callee = await r.open()
    base = uri("com.adv.pat")

    def handler(kind):
        def h(*args, details=None):
            return [kind, details.procedure if details else None]
        return h

    await callee.session.register(handler("exact"), base + ".a.exact")
    await callee.session.register(handler("prefix"), base + ".a", options=RegisterOptions(match="prefix", details_arg="details"))
    await callee.session.register(handler("prefix-longer"), base + ".a.b", options=RegisterOptions(match="prefix", details_arg="details"))
    await callee.session.register(handler("wildcard"), base + "..x", options=RegisterOptions(match="wildcard", details_arg="details"))
    got = {}
    for suffix in (".a.exact", ".a.zzz", ".a.b.c", ".q.x", ".q.y"):
        try:
            got[suffix] = await caller.session.call(base + suffix)
        except ApplicationError as e:
            got[suffix] = e.error
    # Procedures are reported without the random suffix so the Go test can compare.
    emit(pattern={k: (v if isinstance(v, str) else [v[0], v[1] and v[1].replace(base, "BASE")]) for k, v in got.items()})
    await caller.close()
    await callee.close()


async def progress(r):
    """CallOptions(on_progress=...) receives each details.progress(...) of the callee,
    in order, before the final result."""
    from autobahn.wamp.types import CallOptions, RegisterOptions

    caller = await r.open()
    callee = await r.open()

    async def count(n, details=None):
        for i in range(n):
            if details.progress:
                details.progress(i, square=i * i)
            await txaio.sleep(0.01)
        return "done"

    await callee.session.register(count, uri("com.adv.progress"), options=RegisterOptions(details_arg="details"))
    seen = []
    res = await caller.session.call(uri("com.adv.progress"), 4,
                                    options=CallOptions(on_progress=lambda i, square=None: seen.append([i, square])))
    emit(progress_updates=seen, progress_final=res)
    await caller.close()
    await callee.close()


async def callee_leaves(r):
    """A callee that disappears mid-call: the progressive results already delivered
    stay delivered and the caller's call fails at once (not after a timeout)."""
    from autobahn.wamp.exception import ApplicationError
    from autobahn.wamp.types import CallOptions, RegisterOptions

    caller = await r.open()
    callee = await r.open()
    started = []

    async def stream(details=None):
        details.progress("a")
        details.progress("b")
        started.append(True)
        await txaio.sleep(30)

    await callee.session.register(stream, uri("com.adv.vanish"), options=RegisterOptions(details_arg="details"))
    seen = []
    fut = caller.session.call(uri("com.adv.vanish"), options=CallOptions(on_progress=lambda v: seen.append(v)))
    await until(r.flavor, lambda: started and len(seen) == 2, 10, "two progressive results")
    callee.session.disconnect()  # no GOODBYE: the transport just goes away
    import time
    t0 = time.monotonic()
    try:
        await fut
        emit(vanish_error="no error")
    except ApplicationError as e:
        emit(vanish_error=e.error)
    emit(vanish_progress=seen, vanish_fast=time.monotonic() - t0 < 3)
    await caller.close()


async def cancel(r):
    """Cancelling the call's future sends CANCEL; the callee (which announced
    call_canceling) gets INTERRUPT and its handler is cancelled; the caller's call
    ends with an error at once."""
    from autobahn.wamp.types import RegisterOptions

    caller = await r.open()
    callee = await r.open()
    state = []

    async def slow(details=None):
        state.append("started")
        try:
            await txaio.sleep(20)
            state.append("finished")
        except BaseException:
            state.append("interrupted")
            raise

    await callee.session.register(slow, uri("com.adv.slow"), options=RegisterOptions(details_arg="details"))
    fut = caller.session.call(uri("com.adv.slow"))
    await until(r.flavor, lambda: state, 10, "invocation")
    fut.cancel()
    try:
        await fut
        emit(cancel_outcome="result")
    except BaseException as e:  # asyncio's CancelledError is a BaseException
        emit(cancel_outcome=type(e).__name__)
    await until(r.flavor, lambda: "interrupted" in state, 10, "callee interrupted")
    emit(cancel_callee=state)
    # The session is still usable afterwards.
    await callee.session.register(lambda: "alive", uri("com.adv.alive"))
    emit(cancel_after=await caller.session.call(uri("com.adv.alive")))
    await caller.close()
    await callee.close()


async def timeout(r):
    """CallOptions(timeout=ms): the router ends the call with wamp.error.timeout and
    interrupts the callee; calls answered in time are unaffected."""
    from autobahn.wamp.exception import ApplicationError
    from autobahn.wamp.types import CallOptions

    caller = await r.open()
    callee = await r.open()
    state = []

    async def slow(delay):
        state.append("started")
        try:
            await txaio.sleep(delay)
            return "finished"
        except BaseException:
            state.append("interrupted")
            raise

    await callee.session.register(slow, uri("com.adv.sleep"))
    import time
    t0 = time.monotonic()
    try:
        await caller.session.call(uri("com.adv.sleep"), 10, options=CallOptions(timeout=300))
        emit(timeout_error="no error")
    except ApplicationError as e:
        emit(timeout_error=e.error)
    elapsed = time.monotonic() - t0
    emit(timeout_elapsed_ok=0.2 < elapsed < 5)
    await until(r.flavor, lambda: "interrupted" in state, 10, "callee interrupted")
    emit(timeout_callee=state)
    emit(timeout_in_time=await caller.session.call(uri("com.adv.sleep"), 0.01, options=CallOptions(timeout=5000)))
    await caller.close()
    await callee.close()


async def meta(r):
    """Registration meta API: events on_create/on_register/on_unregister/on_delete
    and the procedures list/lookup/match/get/list_callees/count_callees."""
    from autobahn.wamp.exception import ApplicationError
    from autobahn.wamp.types import RegisterOptions

    watcher = await r.open()
    a = await r.open()
    b = await r.open()
    proc = uri("com.adv.meta")
    raw_events = []
    for name in ("on_create", "on_register", "on_unregister", "on_delete"):
        # Other processes share the router: every event is kept and ours are picked
        # out at the end (an event can arrive before register() returns our ID).
        await watcher.session.subscribe(lambda *args, name=name: raw_events.append((name, args)),
                                        "wamp.registration." + name)
    ids = (a.session.session_id, b.session.session_id)  # session_id is None after leaving
    reg = await a.session.register(lambda: "a", proc, options=RegisterOptions(invoke="roundrobin"))
    await b.session.register(lambda: "b", proc, options=RegisterOptions(invoke="roundrobin"))

    def ours():
        out = []
        for name, args in raw_events:
            if name == "on_create" and args[1].get("uri") == proc:
                out.append([name, args[0] == ids[0] and args[1].get("id") == reg.id])
            elif name != "on_create" and args[1] == reg.id:
                out.append([name, args[0] in ids])
        return out
    W = watcher.session
    got = {}
    got["lookup"] = await W.call("wamp.registration.lookup", proc) == reg.id
    got["lookup_prefix"] = await W.call("wamp.registration.lookup", proc, {"match": "prefix"})
    got["match"] = await W.call("wamp.registration.match", proc) == reg.id
    details = await W.call("wamp.registration.get", reg.id)
    got["get"] = [details["uri"] == proc, details["match"], details["invoke"], details["id"] == reg.id]
    got["callees"] = sorted(await W.call("wamp.registration.list_callees", reg.id)) == sorted([a.session.session_id, b.session.session_id])
    got["count"] = await W.call("wamp.registration.count_callees", reg.id)
    lists = await W.call("wamp.registration.list")
    got["listed"] = reg.id in lists["exact"]
    try:
        await W.call("wamp.registration.get", 1 << 50)
        got["missing"] = "no error"
    except ApplicationError as e:
        got["missing"] = e.error
    emit(meta=got)
    await a.close()
    await b.close()
    await until(r.flavor, lambda: any(e[0] == "on_delete" for e in ours()), 10, "on_delete")
    emit(meta_events=ours())
    await watcher.close()


SCENARIOS = {f.__name__: f for f in [shared, pattern, progress, callee_leaves, cancel, timeout, meta]}


def main():
    run_scenarios(scenario_args(__doc__, SCENARIOS), SCENARIOS, 40)


if __name__ == "__main__":
    main()
