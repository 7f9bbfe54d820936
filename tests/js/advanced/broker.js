'use strict';
// Broker features of the Advanced Profile with autobahn-js and wampy (Node):
// pattern-based subscriptions (details.topic), publisher identification
// (disclose_me), subscriber black/whitelisting, event retention.
//
//   node broker.js --lib autobahn|wampy --url URL --serializer json|msgpack|cbor \
//       [--transport websocket|rawsocket] SCENARIO...
//
// Both libraries take these options through their own APIs (subscribe and
// publish options). Prints JSON result lines and a final "OK".

const {
  emit, until, withTimeout, num, uri, parseArgs, runScenarios, autobahnOptions, joinWampy,
} = require('../clients.js'); // also installs the WebSocket polyfill
const autobahn = require('autobahn');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A session with one API over both libraries: subscribe(topic, fn(args,
// details), options) and publish(topic, args, options) with the options
// passed to the library as they are.
async function openAutobahn(o) {
  const conn = new autobahn.Connection(autobahnOptions(o));
  const session = await withTimeout(new Promise((resolve, reject) => {
    conn.onopen = (s) => resolve(s);
    conn.onclose = (reason, d) => { reject(new Error(`closed: ${reason} ${JSON.stringify(d)}`)); return true; };
    conn.open();
  }), 10000, 'autobahn-js join');
  return {
    id: session.id,
    subscribe: (topic, fn, options) => session.subscribe(topic, (args, kwargs, d) => fn(args || [], {
      topic: d.topic, publisher: d.publisher, retained: d.retained,
    }), options || {}),
    publish: (topic, args, options) => session.publish(topic, args, {}, { acknowledge: true, ...options }),
    close: () => { conn.onclose = () => true; conn.close(); },
  };
}

async function openWampy(o) {
  const w = await joinWampy(o);
  return {
    id: num(w.getSessionId()),
    subscribe: (topic, fn, options) => w.subscribe(topic, ({ details, argsList }) => fn(argsList || [], {
      topic: details.topic, publisher: num(details.publisher), retained: details.retained,
    }), options || {}),
    publish: (topic, args, options) => w.publish(topic, { argsList: args }, options || {}),
    close: () => w.disconnect(),
  };
}

const open = (o) => (o.lib === 'wampy' ? openWampy(o) : openAutobahn(o));

async function pattern(o) {
  const pub = await open(o);
  const sub = await open(o);
  const base = uri('com.js.pat');
  const got = [];
  const on = (kind) => (args, d) => got.push([kind, args[0], d.topic ? d.topic.slice(base.length) : null]);
  await sub.subscribe(base + '.a', on('prefix'), { match: 'prefix' });
  await sub.subscribe(base + '..b', on('wildcard'), { match: 'wildcard' });
  for (const t of ['.a.b', '.a.c', '.x.b', '.x.c']) await pub.publish(base + t, [t]);
  await sleep(300);
  got.sort((x, y) => (x[1] + x[0]).localeCompare(y[1] + y[0]));
  emit({ js_pattern: got });
  await pub.close();
  await sub.close();
}

async function identification(o) {
  const pub = await open(o);
  const sub = await open(o);
  const topic = uri('com.js.ident');
  const got = [];
  await sub.subscribe(topic, (args, d) => got.push([args[0], num(d.publisher) === pub.id, d.publisher == null]));
  await pub.publish(topic, ['disclosed'], { disclose_me: true });
  await pub.publish(topic, ['plain']);
  await until(() => got.length === 2, 10000, 'two events');
  emit({ js_identification: got });
  await pub.close();
  await sub.close();
}

async function blackwhite(o) {
  const pub = await open(o);
  const a = await open(o);
  const b = await open(o);
  const topic = uri('com.js.bwl');
  const got = { a: [], b: [] };
  await a.subscribe(topic, (args) => got.a.push(args[0]));
  await b.subscribe(topic, (args) => got.b.push(args[0]));
  await pub.publish(topic, ['all']);
  await pub.publish(topic, ['eligible'], { eligible: [a.id] });
  await pub.publish(topic, ['exclude'], { exclude: [a.id] });
  await sleep(300);
  emit({ js_bwl: got });
  for (const s of [pub, a, b]) await s.close();
}

async function retained(o) {
  // wampy 8.0.2 validates PUBLISH's retain option but never sends it: its
  // subscriber (get_retained) is tested with an autobahn-js publisher.
  const pub = await open(o.lib === 'wampy' ? { ...o, lib: 'autobahn' } : o);
  const topic = uri('com.js.retained');
  await pub.publish(topic, [1], { retain: true });
  await pub.publish(topic, [2], { retain: true });
  const sub = await open(o);
  const got = [];
  await sub.subscribe(topic, (args, d) => got.push([args[0], d.retained === true]), { get_retained: true });
  await until(() => got.length === 1, 10000, 'retained event');
  await pub.publish(topic, [3]);
  await until(() => got.length === 2, 10000, 'live event');
  emit({ js_retained: got });
  await pub.close();
  await sub.close();
}

const SCENARIOS = { pattern, identification, blackwhite, retained };

runScenarios(parseArgs(process.argv.slice(2)), SCENARIOS, { usage: 'broker.js' });
