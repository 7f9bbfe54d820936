"""Dealer features that Autobahn|Python 22.7.1 has no API for, sent on the wire by a
raw RawSocket JSON client (rawwamp.py), against Autobahn|Python (asyncio) peers
where the library takes part: caller identification (disclose_me, disclose_caller),
progressive call invocations, payload passthru mode, and the cancel modes.

    /usr/bin/python3 dealer_raw.py --url ws://HOST:PORT/ws --rawsocket HOST:PORT SCENARIO...
"""

import asyncio
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from rawwamp import RawClient, binary  # noqa: E402
from wampclient import Flavor, Router, emit, run_scenarios, scenario_args, until, uri  # noqa: E402


async def disclose(r):
    """CALL.Options.disclose_me and REGISTER.Options.disclose_caller put the caller's
    session, authid and authrole in INVOCATION.Details (Autobahn's CallDetails)."""
    from autobahn.wamp.types import RegisterOptions

    callee = await r.open()
    seen = []

    def who(details=None):
        seen.append([details.caller, details.caller_authid, details.caller_authrole])
        return "ok"

    await callee.session.register(who, uri("com.adv.who"), options=RegisterOptions(details_arg="details"))
    raw = await r.raw()
    raw.send(48, 1, {}, uri("com.adv.who"), [])
    await raw.expect("RESULT")
    raw.send(48, 2, {"disclose_me": True}, uri("com.adv.who"), [])
    await raw.expect("RESULT")
    emit(disclose_plain=seen[0], disclose_me=[seen[1][0] == raw.session, seen[1][1] == str(raw.session), seen[1][2]])

    # disclose_caller on REGISTER (raw callee), Autobahn caller.
    rawcallee = await r.raw()
    await rawcallee.register(1, uri("com.adv.who2"), {"disclose_caller": True})
    caller = await r.open()
    fut = caller.session.call(uri("com.adv.who2"))
    inv = await rawcallee.expect("INVOCATION")
    d = inv[3]
    emit(disclose_caller=[d.get("caller") == caller.session.session_id, d.get("caller_authrole")])
    rawcallee.send(70, inv[1], {}, ["done"])
    emit(disclose_caller_result=await fut)
    for c in (raw, rawcallee):
        c.close()
    await caller.close()
    await callee.close()


async def progressive_invocations(r):
    """CALL.Options.progress: every chunk reaches the same callee under the same
    INVOCATION request ID, options frozen from the first chunk; a callee that does not
    announce the feature (Autobahn) makes the call fail with feature_not_supported."""
    feats = ("progressive_call_invocations", "progressive_call_results", "call_canceling")
    caller = await r.raw(feats)
    callee = await r.raw(feats)
    await callee.register(1, uri("com.adv.upload"))
    caller.send(48, 7, {"progress": True, "receive_progress": True}, uri("com.adv.upload"), ["c0"])
    caller.send(48, 7, {"progress": True}, uri("com.adv.upload"), ["c1"])
    caller.send(48, 7, {}, uri("com.adv.upload"), ["c2"])
    invs = [await callee.expect("INVOCATION") for _ in range(3)]
    emit(chunks=[[m[4][0], m[3].get("progress", False)] for m in invs],
         same_invocation=len({m[1] for m in invs}) == 1)
    callee.send(70, invs[0][1], {"progress": True}, ["got 3"])
    callee.send(70, invs[0][1], {}, ["stored"])
    res = [await caller.expect("RESULT") for _ in range(2)]
    emit(upload_results=[[m[3][0], m[2].get("progress", False)] for m in res])

    ab = await r.open()
    await ab.session.register(lambda *a: "x", uri("com.adv.plain"))
    caller.send(48, 8, {"progress": True}, uri("com.adv.plain"), ["c0"])
    err = await caller.expect("ERROR")
    emit(progressive_unsupported=err[4])
    caller.close()
    callee.close()
    await ab.close()


async def passthru(r):
    """ppt_* options travel untouched CALL→INVOCATION and YIELD→RESULT with the binary
    payload; a callee that did not announce payload_passthru_mode (Autobahn) is refused."""
    caller = await r.raw(("payload_passthru_mode",))
    callee = await r.raw(("payload_passthru_mode",))
    await callee.register(1, uri("com.adv.ppt"))
    ppt = {"ppt_scheme": "x_custom", "ppt_serializer": "cbor", "ppt_cipher": "xsalsa20poly1305", "ppt_keyid": "k1"}
    blob = binary(b"\x00\x01secret\xff")
    caller.send(48, 1, ppt, uri("com.adv.ppt"), [blob])
    inv = await callee.expect("INVOCATION")
    emit(ppt_invocation=[{k: inv[3].get(k) for k in ppt} == ppt, inv[4] == [blob]])
    callee.send(70, inv[1], ppt, [blob])
    res = await caller.expect("RESULT")
    emit(ppt_result=[{k: res[2].get(k) for k in ppt} == ppt, res[3] == [blob]])

    ab = await r.open()
    await ab.session.register(lambda *a: "x", uri("com.adv.ppt_plain"))
    caller.send(48, 2, ppt, uri("com.adv.ppt_plain"), [blob])
    err = await caller.expect("ERROR")
    emit(ppt_unsupported=err[4])
    caller.close()
    callee.close()
    await ab.close()


async def cancel_modes(r):
    """CANCEL modes. kill: the callee gets INTERRUPT mode=kill and the caller gets the
    callee's answer to it (a raw callee here: Autobahn|Python on asyncio cancels its
    handler but never answers the INTERRUPT). killnowait: the caller is answered at
    once and the Autobahn callee's handler is interrupted. skip: the caller is
    answered at once and the callee finishes undisturbed."""
    from autobahn.wamp.types import RegisterOptions

    caller = await r.raw(("call_canceling",))
    rawcallee = await r.raw(("call_canceling",))
    await rawcallee.register(1, uri("com.adv.kill"))
    caller.send(48, 1, {}, uri("com.adv.kill"), [])
    inv = await rawcallee.expect("INVOCATION")
    caller.send(49, 1, {"mode": "kill"})
    intr = await rawcallee.expect("INTERRUPT")
    waited = await caller.nothing(0.2)  # nothing until the callee answers
    rawcallee.send(8, 68, inv[1], {}, "wamp.error.canceled", ["stopped by callee"])
    err = await caller.expect("ERROR")
    emit(kill=[intr[1] == inv[1], intr[2].get("mode"), waited, err[4], err[5]])
    rawcallee.close()

    callee = await r.open()
    state = []

    async def slow(tag, delay, details=None):
        state.append(tag + ":started")
        try:
            await asyncio.sleep(delay)
            state.append(tag + ":finished")
            return tag
        except BaseException:
            state.append(tag + ":interrupted")
            raise

    await callee.session.register(slow, uri("com.adv.cancel"), options=RegisterOptions(details_arg="details"))
    caller.send(48, 2, {}, uri("com.adv.cancel"), ["killnowait", 20])
    await until(r.flavor, lambda: "killnowait:started" in state, 10, "killnowait invocation")
    caller.send(49, 2, {"mode": "killnowait"})
    err = await caller.expect("ERROR")
    await until(r.flavor, lambda: "killnowait:interrupted" in state, 10, "callee interrupted")
    emit(killnowait=[err[4], "killnowait:interrupted" in state])

    caller.send(48, 3, {}, uri("com.adv.cancel"), ["skip", 0.3])
    await until(r.flavor, lambda: "skip:started" in state, 10, "skip invocation")
    t0 = time.monotonic()
    caller.send(49, 3, {"mode": "skip"})
    err = await caller.expect("ERROR")
    fast = time.monotonic() - t0 < 0.25
    await until(r.flavor, lambda: "skip:finished" in state, 10, "skip callee finishing")
    emit(skip=[err[4], fast, await caller.nothing(0.3)])
    caller.close()
    await callee.close()


SCENARIOS = {f.__name__: f for f in [disclose, progressive_invocations, passthru, cancel_modes]}


def main():
    def options(p):
        p.add_argument("--rawsocket", required=True, help="HOST:PORT of the RawSocket listener")

    a = scenario_args(__doc__, SCENARIOS, options)
    host, port = a.rawsocket.rsplit(":", 1)

    def make_router(fl):
        r = Router(fl, a.url, "websocket", a.serializer, a.realm)

        async def raw(features=()):
            return await RawClient.join(host, int(port), a.realm, features)

        r.raw = raw
        return r

    # The raw client runs on asyncio streams.
    run_scenarios(a, SCENARIOS, 40, flavor=Flavor("asyncio"), make_router=make_router)


if __name__ == "__main__":
    main()
