"""WAMP-CRA, WAMP-Cryptosign and role permissions with Autobahn|Python.

    /usr/bin/python3 auth_scenarios.py --flavor twisted|asyncio --url URL \
        --transport websocket|rawsocket --serializer json|msgpack|cbor \
        --cs-privkey HEX [--cs-stranger HEX] SCENARIO...

The router runs with the -config file tests/auth_test.go writes: realm1 with
anonymous (role anonymous), wampcra users peter/secret123 (role backend) and
salty/"a password" salted (role user), cryptosign principal device1 (role
device) whose private key is --cs-privkey, and roles that let anonymous only
subscribe/call com.example.public.*. Each scenario prints JSON result lines, then
{"ok": true}; the process prints "OK" when all passed.
"""

import binascii
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import txaio  # noqa: E402

from wampclient import emit, run_scenarios, scenario_args, start_session, uri  # noqa: E402

ARGS = {}


async def join_with(r, authmethods, authid=None, authextra=None, on_challenge=None, timeout=10):
    """Join as the guide shows: an ApplicationSession subclass that joins in onConnect
    and answers the router's CHALLENGE in onChallenge. Returns a Session, or raises
    ApplicationError(reason) when the router sends ABORT."""
    from autobahn.wamp.exception import ApplicationError

    flavor = r.flavor
    joined = txaio.create_future()
    left = []
    challenges = []

    class Client(flavor.ApplicationSession):
        def onConnect(self):
            self.join(self.config.realm, authmethods=authmethods, authid=authid, authextra=authextra)

        def onChallenge(self, challenge):
            challenges.append(challenge)
            return on_challenge(challenge)

        def onJoin(self, details):
            if not txaio.is_called(joined):
                txaio.resolve(joined, (self, details))

        def onLeave(self, details):
            left.append(details.reason)
            if not txaio.is_called(joined):
                txaio.reject(joined, ApplicationError(details.reason, details.message))
            self.disconnect()

    s = await start_session(flavor, r.component(session_factory=Client), joined, left, timeout)
    s.challenges = challenges
    return s


def cra_answer(secret):
    """The guide's onChallenge for wampcra: derive the key when the router sent a
    salt, then sign the challenge string with compute_wcs."""
    from autobahn.wamp import auth

    def answer(challenge):
        assert challenge.method == "wampcra", challenge.method
        key = secret.encode("utf8")
        if "salt" in challenge.extra:
            key = auth.derive_key(
                key, challenge.extra["salt"], challenge.extra["iterations"], challenge.extra["keylen"]
            )
        return auth.compute_wcs(key, challenge.extra["challenge"]).decode("ascii")

    return answer


def who(d):
    return {"authid": d.authid, "authrole": d.authrole, "authmethod": d.authmethod,
            "authprovider": d.authprovider}


async def refused(r, name, coro):
    """Emit name=<the ABORT reason> when coro's join is refused."""
    from autobahn.wamp.exception import ApplicationError

    try:
        s = await coro
        emit(**{name: "joined as %s/%s" % (s.details.authid, s.details.authrole)})
        await s.close()
    except ApplicationError as e:
        emit(**{name: e.error})


async def wampcra(r):
    """WAMP-CRA with onChallenge + compute_wcs: plain and salted secrets, wrong
    secret, unknown user; then the Component's built-in wampcra authenticator."""
    import json

    s = await join_with(r, ["wampcra"], "peter", on_challenge=cra_answer("secret123"))
    ch = json.loads(s.challenges[0].extra["challenge"])
    emit(cra=who(s.details), cra_challenge_session=ch["session"] == s.details.session,
         cra_challenge_keys=sorted(ch), cra_salted=("salt" in s.challenges[0].extra))
    # The backend role may register anywhere; the session works like any other.
    await s.session.register(lambda: "pong", uri("com.example.backend.ping"))
    emit(cra_ping=await s.session.call(uri("com.example.backend.ping")))
    await s.close()

    s = await join_with(r, ["wampcra"], "salty", on_challenge=cra_answer("a password"))
    extra = s.challenges[0].extra
    emit(cra_salted_user=who(s.details),
         cra_salt=[extra.get("salt"), extra.get("iterations"), extra.get("keylen")])
    await s.close()

    await refused(r, "cra_wrong_secret", join_with(r, ["wampcra"], "peter", on_challenge=cra_answer("secret124")))
    await refused(r, "cra_wrong_password", join_with(r, ["wampcra"], "salty", on_challenge=cra_answer("wrong")))
    await refused(r, "cra_unknown_user", join_with(r, ["wampcra"], "mallory", on_challenge=cra_answer("secret123")))

    # Autobahn's Component with authentication={"wampcra": ...} (derives salted keys itself).
    comp_auth = await r.open(authentication={"wampcra": {"authid": "salty", "secret": "a password"}})
    emit(cra_component=who(comp_auth.details))
    await comp_auth.close()


async def cryptosign(r):
    """WAMP-Cryptosign with CryptosignKey.sign_challenge in onChallenge, with and
    without authid; a key the router does not know; the Component's authenticator."""
    from autobahn.wamp.cryptosign import CryptosignKey

    key = CryptosignKey.from_bytes(binascii.a2b_hex(ARGS["cs_privkey"]))
    stranger = CryptosignKey.from_bytes(binascii.a2b_hex(ARGS["cs_stranger"]))

    def sign_with(k):
        def answer(challenge):
            assert challenge.method == "cryptosign", challenge.method
            return k.sign_challenge(challenge)
        return answer

    s = await join_with(r, ["cryptosign"], "device1", {"pubkey": key.public_key()}, sign_with(key))
    emit(cs=who(s.details), cs_challenge_len=len(s.challenges[0].extra["challenge"]))
    # The device role may publish under com.example.device. but not call there.
    from autobahn.wamp.types import PublishOptions
    from autobahn.wamp.exception import ApplicationError

    pub = await s.session.publish(uri("com.example.device.state"), "on", options=PublishOptions(acknowledge=True))
    emit(cs_publish_ok=pub.id > 0)
    try:
        await s.session.call(uri("com.example.device.secret"))
        emit(cs_call="allowed")
    except ApplicationError as e:
        emit(cs_call=e.error)
    await s.close()

    # authid omitted: the router finds the principal by the public key.
    s = await join_with(r, ["cryptosign"], None, {"pubkey": key.public_key()}, sign_with(key))
    emit(cs_by_key=who(s.details))
    await s.close()

    await refused(r, "cs_unknown_key",
                  join_with(r, ["cryptosign"], None, {"pubkey": stranger.public_key()}, sign_with(stranger)))
    # Device1's public key, signed with another private key.
    await refused(r, "cs_wrong_key",
                  join_with(r, ["cryptosign"], "device1", {"pubkey": key.public_key()}, sign_with(stranger)))

    s = await r.open(authentication={"cryptosign": {"authid": "device1", "privkey": ARGS["cs_privkey"]}})
    emit(cs_component=who(s.details))
    await s.close()


async def roles(r):
    """Role permissions from the config file: anonymous may subscribe and call under
    com.example.public. only."""
    from autobahn.wamp.exception import ApplicationError
    from autobahn.wamp.types import PublishOptions

    anon = await join_with(r, ["anonymous"])
    emit(anon=who(anon.details))
    results = {}
    for name, op in [
        ("subscribe_public", lambda: anon.session.subscribe(lambda *a: None, uri("com.example.public.news"))),
        ("publish_public", lambda: anon.session.publish(
            uri("com.example.public.news"), 1, options=PublishOptions(acknowledge=True))),
        ("register_public", lambda: anon.session.register(lambda: 1, uri("com.example.public.proc"))),
        ("subscribe_private", lambda: anon.session.subscribe(lambda *a: None, uri("com.example.private.news"))),
    ]:
        try:
            await op()
            results[name] = "allowed"
        except ApplicationError as e:
            results[name] = e.error
    emit(anon_permissions=results)
    await anon.close()


SCENARIOS = {f.__name__: f for f in [wampcra, cryptosign, roles]}


def main():
    def options(p):
        p.add_argument("--cs-privkey", required=True)
        p.add_argument("--cs-stranger", default="11" * 32)

    a = scenario_args(__doc__, SCENARIOS, options)
    ARGS["cs_privkey"], ARGS["cs_stranger"] = a.cs_privkey, a.cs_stranger
    run_scenarios(a, SCENARIOS, 40)


if __name__ == "__main__":
    main()
