'use strict';
// Session and testament meta API with autobahn-js and wampy (Node).
//
//   node meta_session.js --lib autobahn|wampy --url URL --serializer json|msgpack|cbor \
//       [--transport websocket|rawsocket] SCENARIO...
//
// Scenarios: session_meta (on_join/on_leave, count/list/get), testament
// (add_testament/flush_testaments, published on leave). The router must be
// fresh and used by this process alone (counts are exact) and have the ticket
// user joe:secret123:user. Prints JSON result lines and a final "OK".

const { open, emit, until, num, uri, parseArgs, runScenarios } = require('../clients.js');

async function errorOf(promise) {
  try {
    await promise;
    return 'no error';
  } catch (e) {
    return e.error || String(e);
  }
}

async function session_meta(o) {
  const w = await open(o);
  const joins = [];
  const leaves = [];
  await w.subscribe('wamp.session.on_join', (args) => joins.push(args[0]));
  await w.subscribe('wamp.session.on_leave', (args) => leaves.push(args));
  const joe = await open({ ...o, authid: 'joe', ticket: 'secret123' });
  await until(() => joins.some((d) => d.authid === 'joe'), 10000, 'on_join');
  const d = joins.find((j) => j.authid === 'joe');
  emit({ on_join: { authid: d.authid, authrole: d.authrole, authmethod: d.authmethod } });
  const joeID = num(d.session);

  emit({ count: num((await w.call('wamp.session.count', [])).args[0]) });
  emit({ count_user: num((await w.call('wamp.session.count', [['user']])).args[0]) });
  const ids = (await w.call('wamp.session.list', [])).args[0].map(num);
  emit({ list_has_joe: ids.length === 2 && ids.includes(joeID) });
  const g = (await w.call('wamp.session.get', [joeID])).args[0];
  emit({ get: { authid: g.authid, authrole: g.authrole, session_matches: num(g.session) === joeID } });
  emit({ get_unknown: await errorOf(w.call('wamp.session.get', [1])) });

  await joe.close();
  await until(() => leaves.some((a) => num(a[0]) === joeID), 10000, 'on_leave');
  emit({ on_leave: leaves.find((a) => num(a[0]) === joeID).slice(1) });
  await w.close();
}

async function testament(o) {
  const topic = uri('com.example.testament');
  const l = await open(o);
  const got = [];
  await l.subscribe(topic, (args, kwargs) => got.push([args, kwargs]));
  const s = await open(o);
  await s.call('wamp.session.add_testament', [topic, ['bye'], { who: 'js' }]);
  await s.call('wamp.session.add_testament', [topic, ['flushed'], {}], { scope: 'detached' });
  emit({ flushed: num((await s.call('wamp.session.flush_testaments', [], { scope: 'detached' })).args[0]) });
  await s.close();
  await until(() => got.length > 0, 10000, 'testament');
  await new Promise((r) => setTimeout(r, 100)); // nothing else may follow
  emit({ testaments: got });
  await l.close();
}

const SCENARIOS = { session_meta, testament };

runScenarios(parseArgs(process.argv.slice(2)), SCENARIOS, { usage: 'meta_session.js' });
