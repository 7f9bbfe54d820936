'use strict';
// One small session API over the two Node WAMP libraries under test, so that each
// scenario is written once:
//
//   s = await open({lib, url, realm, serializer, transport})
//   await s.register(uri, (args, kwargs) => [args, kwargs] | value)  // throw appError() to fail
//   {args, kwargs} = await s.call(uri, args, kwargs)
//   sub = await s.subscribe(uri, (args, kwargs) => ...); await sub.unsubscribe()
//   await s.publish(uri, args, kwargs, {acknowledge, exclude_me})
//   await s.close()
//
// Errors from calls are normalised to {error, args, kwargs}.

// autobahn-js >= 26 uses the global WebSocket (Node >= 22). Node 20 has none, so give
// it the 'ws' package, whose WebSocket is API compatible. Native one wins when present.
if (typeof globalThis.WebSocket === 'undefined') {
  globalThis.WebSocket = require('ws');
}

// Both libraries log with console.log (autobahn-js prints its close details and
// "auto-reconnect disabled!"); keep stdout for result lines only.
console.log = (...args) => console.error(...args);

const autobahn = require('autobahn');
const { Wampy } = require('wampy');
const { JsonSerializer } = require('wampy/JsonSerializer.js');
const { MsgpackSerializer } = require('wampy/MsgpackSerializer.js');
const { CborSerializer } = require('wampy/CborSerializer.js');
const { w3cwebsocket } = require('websocket');
const crypto = require('crypto');

// The scenario running now; every result line is tagged with it.
const current = { scenario: null };

function emit(obj) {
  if (current.scenario) obj = { ...obj, scenario: current.scenario };
  process.stdout.write(JSON.stringify(obj, replacer) + '\n');
}

// Binary values print as {"$bytes": "<hex>"} so the Go test can compare them with
// what Python prints for bytes.
// msgpackr (wampy) decodes 64-bit encoded integers such as WAMP IDs as BigInt.
function replacer(key, value) {
  if (typeof value === 'bigint') {
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  }
  if (value && value.type === 'Buffer' && Array.isArray(value.data)) {
    return { $bytes: Buffer.from(value.data).toString('hex') };
  }
  if (value instanceof Uint8Array) {
    return { $bytes: Buffer.from(value).toString('hex') };
  }
  return value;
}

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

async function until(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// msgpackr (wampy) hands 64-bit integers over as BigInt; IDs fit a Number.
const num = (v) => (typeof v === 'bigint' ? Number(v) : v);

// uri gives base this process's random suffix, so that scenario processes sharing
// one router never see each other's registrations and events.
const NONCE = crypto.randomBytes(4).toString('hex');
const uri = (base) => `${base}.r${NONCE}`;

// ---- scenario scripts --------------------------------------------------------

// The command line of every scenario script: --name value options over defaults,
// then the names of the scenarios to run (o.scenarios).
const DEFAULT_OPTIONS = { lib: 'autobahn', url: 'ws://127.0.0.1:8080/ws', serializer: 'json', transport: 'websocket', realm: 'realm1' };

function parseArgs(argv, defaults = DEFAULT_OPTIONS) {
  const o = { ...defaults, scenarios: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) o[argv[i].slice(2)] = argv[++i];
    else o.scenarios.push(argv[i]);
  }
  return o;
}

// The verdict line of a failed scenario, by default.
const fatalLine = (e) => ({ fatal: String((e && (e.error || e.message)) || e) });

// runScenarios runs the scenarios o.scenarios names, in order, in this process,
// then exits: 0 after a final "OK" line when all passed. Several scenarios share
// one process; each has its own sessions, URIs, deadline and verdict line
// ({"ok": true} or fatal(e)). With usage (the script's file name) an empty or
// unknown scenario list prints the usage and exits 2 before anything runs;
// without it an unknown name fails that scenario alone.
async function runScenarios(o, scenarios, { usage, fatal = fatalLine } = {}) {
  if (usage && (o.scenarios.length === 0 || o.scenarios.some((n) => !scenarios[n]))) {
    console.error(`usage: node ${usage} [--lib L --url U --serializer S --transport T] (${Object.keys(scenarios).join('|')})...`);
    process.exit(2);
  }
  let failed = 0;
  for (const name of o.scenarios) {
    current.scenario = name;
    try {
      if (!scenarios[name]) throw new Error('unknown scenario ' + name);
      await withTimeout(scenarios[name](o), 30000, name);
      emit({ ok: true });
    } catch (e) {
      console.error(name, e);
      emit(fatal(e));
      failed++;
    }
  }
  current.scenario = null;
  if (!failed) process.stdout.write('OK\n');
  process.exit(failed ? 1 : 0);
}

// ---- autobahn-js ----------------------------------------------------------

function autobahnSerializer(name) {
  switch (name) {
    case 'json': return new autobahn.serializer.JSONSerializer();
    case 'msgpack': return new autobahn.serializer.MsgpackSerializer();
    case 'cbor': return new autobahn.serializer.CBORSerializer();
  }
  throw new Error('unknown serializer ' + name);
}

// autobahnOptions is autobahn.Connection's options for o's realm, transport and
// serializer, without reconnecting.
function autobahnOptions(o) {
  const opts = { realm: o.realm, max_retries: 0, retry_if_unreachable: false };
  if (o.transport === 'rawsocket') {
    // autobahn-js RawSocket speaks JSON only.
    const u = new URL(o.url.replace(/^(rs|tcp):/, 'http:'));
    opts.transports = [{ type: 'rawsocket', host: u.hostname, port: Number(u.port) }];
  } else {
    opts.url = o.url;
    opts.serializers = [autobahnSerializer(o.serializer)];
  }
  return opts;
}

function openAutobahn(o) {
  const opts = autobahnOptions(o);
  if (o.authid) {
    opts.authid = o.authid;
    opts.authmethods = ['ticket'];
    opts.onchallenge = () => o.ticket;
  }
  const conn = new autobahn.Connection(opts);
  return withTimeout(new Promise((resolve, reject) => {
    conn.onopen = (session, details) => resolve(wrapAutobahn(conn, session, details));
    conn.onclose = (reason, details) => {
      reject(Object.assign(new Error(`closed: ${reason} ${JSON.stringify(details)}`),
        { error: details && details.reason, reason }));
      return true; // do not reconnect
    };
    conn.open();
  }), 10000, 'autobahn-js join');
}

function wrapAutobahn(conn, session, details) {
  const closed = new Promise((resolve) => {
    conn.onclose = (reason, d) => { resolve({ reason, details: d }); return true; };
  });
  const norm = (e) => (e instanceof autobahn.Error || (e && e.error))
    ? { error: e.error, args: e.args || [], kwargs: e.kwargs || {} } : e;
  return {
    lib: 'autobahn',
    details: { authid: details.authid, authrole: details.authrole, authmethod: details.authmethod },
    async register(uri, fn) {
      return session.register(uri, (args, kwargs) => {
        const r = fn(args || [], kwargs || {});
        if (Array.isArray(r)) return new autobahn.Result(r[0], r[1]);
        return r;
      });
    },
    async call(uri, args, kwargs) {
      try {
        const r = await session.call(uri, args, kwargs);
        if (r instanceof autobahn.Result) return { args: r.args, kwargs: r.kwargs };
        return { args: [r], kwargs: {} };
      } catch (e) {
        throw norm(e);
      }
    },
    async subscribe(uri, fn) {
      const sub = await session.subscribe(uri, (args, kwargs) => fn(args || [], kwargs || {}));
      return { unsubscribe: () => session.unsubscribe(sub) };
    },
    async publish(uri, args, kwargs, options) {
      const p = await session.publish(uri, args, kwargs, options || {});
      return p ? { id: p.id } : null;
    },
    async close() {
      conn.close();
      return withTimeout(closed, 5000, 'autobahn-js close');
    },
  };
}

// ---- wampy ---------------------------------------------------------------

function wampySerializer(name) {
  switch (name) {
    case 'json': return new JsonSerializer();
    case 'msgpack': return new MsgpackSerializer();
    case 'cbor': return new CborSerializer();
  }
  throw new Error('unknown serializer ' + name);
}

async function openWampy(o) {
  if (o.transport === 'rawsocket') throw new Error('wampy has no RawSocket transport');
  const opts = {
    realm: o.realm,
    ws: w3cwebsocket,
    serializer: wampySerializer(o.serializer),
    autoReconnect: false,
  };
  if (o.authid) {
    opts.authid = o.authid;
    opts.authmethods = ['ticket'];
    opts.onChallenge = () => o.ticket;
  }
  const w = new Wampy(o.url, opts);
  let details;
  try {
    details = await withTimeout(w.connect(), 10000, 'wampy join');
  } catch (e) {
    throw Object.assign(e, { error: (e && e.errorUri) || String(e) });
  }
  const norm = (e) => ({ error: e.errorUri || e.error || String(e), args: e.argsList || [], kwargs: e.argsDict || {} });
  return {
    lib: 'wampy',
    details: { authid: details.authid, authrole: details.authrole, authmethod: details.authmethod },
    async register(uri, fn) {
      return w.register(uri, ({ argsList, argsDict }) => {
        const r = fn(argsList || [], argsDict || {});
        if (Array.isArray(r)) return { argsList: r[0], argsDict: r[1] };
        return { argsList: [r] };
      });
    },
    async call(uri, args, kwargs) {
      try {
        const r = await w.call(uri, { argsList: args || [], argsDict: kwargs || {} });
        return { args: r.argsList || [], kwargs: r.argsDict || {} };
      } catch (e) {
        throw norm(e);
      }
    },
    async subscribe(uri, fn) {
      const sub = await w.subscribe(uri, ({ argsList, argsDict }) => fn(argsList || [], argsDict || {}));
      return { unsubscribe: () => w.unsubscribe(sub.subscriptionId) };
    },
    async publish(uri, args, kwargs, options) {
      const p = await w.publish(uri, { argsList: args || [], argsDict: kwargs || {} }, options || {});
      return p ? { id: p.publicationId } : null;
    },
    async close() {
      return withTimeout(w.disconnect(), 5000, 'wampy close');
    },
  };
}

// joinWampy joins with wampy and returns the Wampy instance itself, for scenarios
// that use wampy's own API (options the session API above does not carry).
async function joinWampy(o) {
  const w = new Wampy(o.url, { realm: o.realm, ws: w3cwebsocket, serializer: wampySerializer(o.serializer), autoReconnect: false });
  await withTimeout(w.connect(), 10000, 'wampy join');
  return w;
}

function open(o) {
  return o.lib === 'wampy' ? openWampy(o) : openAutobahn(o);
}

function appError(lib, uri, args, kwargs) {
  if (lib === 'wampy') {
    // wampy turns a thrown object with these fields into an ERROR message.
    return { error: uri, details: {}, argsList: args, argsDict: kwargs };
  }
  return new autobahn.Error(uri, args, kwargs);
}

module.exports = {
  open, emit, current, until, withTimeout, appError, num, uri, parseArgs, runScenarios,
  autobahnOptions, joinWampy, DEFAULT_OPTIONS,
};
