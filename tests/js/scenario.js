'use strict';
// Interop scenarios with autobahn-js and wampy (Node).
//
//   node scenario.js --lib autobahn|wampy --url URL --serializer json|msgpack|cbor \
//       [--transport websocket|rawsocket] [--topic URI --count N] SCENARIO
//
// Prints JSON result lines and a final "OK" (exit 0); the Go test checks the values.
// rpc, pubsub, errors and ticket run self-contained (URIs get a random suffix);
// sub/pub and callee/caller are the halves of cross-library/cross-serializer tests,
// run as separate processes on a topic/procedure URI chosen by the Go test.

const { open, emit, until, appError, uri, parseArgs, runScenarios, DEFAULT_OPTIONS } = require('./clients.js');

// The binary value every publisher sends and every subscriber must get back.
const BIN = Buffer.from([0x00, 0x01, 0x02, 0xfe, 0xff, 0x68, 0x65, 0x6c, 0x6c, 0x6f]);

// A JSON peer has no binary type: the WAMP spec carries bytes as a string holding
// "\u0000" followed by the base64 of the bytes; the router converts it to and from
// real binary for MessagePack and CBOR peers.
function binFor(o) {
  const json = o.serializer === 'json' || o.transport === 'rawsocket' && o.lib === 'autobahn';
  return json ? '\u0000' + BIN.toString('base64') : BIN;
}

async function rpc(o) {
  const callee = await open(o);
  const caller = await open(o);
  await callee.register(uri('com.myapp.add2'), (args) => args[0] + args[1]);
  await callee.register(uri('com.myapp.echo'), (args, kwargs) => [args, kwargs]);
  let r = await caller.call(uri('com.myapp.add2'), [2, 3]);
  emit({ add2: r.args[0] });
  r = await caller.call(uri('com.myapp.echo'), [1, 'two', [3.5, true, null], { k: 'v' }], { a: 1, u: 'üß中' });
  emit({ echo_args: r.args, echo_kwargs: r.kwargs });
  await caller.close();
  await callee.close();
}

async function pubsub(o) {
  const n = 20;
  const sub = await open(o);
  const pub = await open(o);
  const got = [];
  const kw = [];
  const subscription = await sub.subscribe(uri('com.myapp.oncounter'), (args, kwargs) => {
    got.push(args[0]);
    if (Object.keys(kwargs).length) kw.push(kwargs);
  });
  for (let i = 0; i < n; i++) pub.publish(uri('com.myapp.oncounter'), [i]);
  pub.publish(uri('com.myapp.oncounter'), [n], { label: 'last' });
  await until(() => got.length >= n + 1, 10000, 'counter events');
  emit({ events: got, event_kwargs: kw });
  await subscription.unsubscribe();
  await pub.publish(uri('com.myapp.oncounter'), [-1], {}, { acknowledge: true });
  await new Promise((r) => setTimeout(r, 200));
  emit({ after_unsubscribe: got.slice(n + 1) });

  // exclude_me and acknowledge, as in the guide's tips.
  const mine = [];
  await pub.subscribe(uri('com.myapp.topic'), (args) => mine.push(args[0]));
  const p1 = await pub.publish(uri('com.myapp.topic'), ['default'], {}, { acknowledge: true });
  // wampy 8.0.2 drops a false exclude_me (`...exclude_me ? {exclude_me} : {}`), so it
  // cannot ask for its own events; only the default is checked there.
  if (o.lib !== 'wampy') {
    await pub.publish(uri('com.myapp.topic'), ['included'], {}, { acknowledge: true, exclude_me: false });
    await until(() => mine.includes('included'), 10000, 'own event');
  }
  await new Promise((r) => setTimeout(r, 200));
  emit({ publisher_got: mine, publication_id: p1 && p1.id });
  await pub.close();
  await sub.close();
}

async function errors(o) {
  const callee = await open(o);
  const caller = await open(o);
  await callee.register(uri('com.myapp.oops'), () => {
    throw appError(o.lib, 'com.myapp.error.oops', [1, 2], { x: 3 });
  });
  for (const [name, u] of [['oops', uri('com.myapp.oops')], ['no_such', uri('com.myapp.nothing_here')]]) {
    try {
      await caller.call(u, []);
      emit({ [name]: 'no error' });
    } catch (e) {
      emit({ [name]: e.error, [name + '_args']: e.args, [name + '_kwargs']: e.kwargs });
    }
  }
  try {
    await caller.register(uri('com.myapp.oops'), () => 0);
    emit({ twice: 'no error' });
  } catch (e) {
    emit({ twice: e.error || e.errorUri || String(e) });
  }
  await caller.close();
  await callee.close();
}

async function ticket(o) {
  const s = await open({ ...o, authid: 'joe', ticket: 'secret123' });
  emit(s.details);
  await s.close();
  try {
    const bad = await open({ ...o, authid: 'joe', ticket: 'nope' });
    emit({ wrong_ticket: 'joined as ' + bad.details.authrole });
    await bad.close();
  } catch (e) {
    emit({ wrong_ticket: e.error || String(e) });
  }
}

async function sub(o) {
  const s = await open(o);
  const events = [];
  await s.subscribe(o.topic, (args, kwargs) => {
    events.push({ args, kwargs });
  });
  emit({ ready: true });
  await until(() => events.length >= o.count, 20000, `${o.count} events`);
  for (const e of events) emit({ event: e });
  await s.close();
}

async function pub(o) {
  const s = await open(o);
  for (let i = 0; i < o.count; i++) {
    const p = await s.publish(o.topic, [i, 'text-ü', binFor(o)], { bin: binFor(o), n: i, nested: { l: [1, 2] } }, { acknowledge: true });
    if (i === 0) emit({ publication_id: p && p.id });
  }
  await s.close();
}

async function callee(o) {
  const s = await open(o);
  let calls = 0;
  await s.register(o.topic, (args, kwargs) => {
    calls++;
    return [args, kwargs];
  });
  emit({ ready: true });
  await until(() => calls >= o.count, 20000, `${o.count} calls`);
  await new Promise((r) => setTimeout(r, 200)); // let the last YIELD go out
  await s.close();
}

async function caller(o) {
  const s = await open(o);
  for (let i = 0; i < o.count; i++) {
    const r = await s.call(o.topic, [i, 'text-ü', binFor(o)], { bin: binFor(o), n: i, nested: { l: [1, 2] } });
    emit({ result: { args: r.args, kwargs: r.kwargs } });
  }
  await s.close();
}

const SCENARIOS = { rpc, pubsub, errors, ticket, sub, pub, callee, caller };

// wampy's WampError carries the URI in errorUri, autobahn-js's in error.
function fatal(e) {
  const why = e && (e.errorUri || e.error || e.message);
  return { fatal: String(why || e), args: e && (e.argsList || e.args), kwargs: e && (e.argsDict || e.kwargs) };
}

function main() {
  const o = parseArgs(process.argv.slice(2), { ...DEFAULT_OPTIONS, count: 5 });
  o.count = Number(o.count);
  return runScenarios(o, SCENARIOS, { usage: 'scenario.js', fatal });
}

main();
