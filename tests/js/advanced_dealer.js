'use strict';
// Dealer features of the Advanced Profile through autobahn-js's own API (it forwards
// CALL and REGISTER options as given): shared and pattern registrations, progressive
// results (receive_progress + the callee's details.progress), caller disclosure
// (disclose_me, disclose_caller), call timeouts and cancel mode 'kill' against a
// callee without call_canceling (autobahn-js callees do not announce it); and the
// wampy_* scenarios through wampy's API (register options, progress_callback, timeout,
// disclose_me, cancel, payload passthru mode, progressiveCall).
//
//   node advanced_dealer.js --url URL --serializer json|msgpack|cbor SCENARIO...
//
// Prints JSON result lines, {"ok": true} per scenario and a final "OK".

const {
  emit, until, withTimeout, uri, parseArgs, runScenarios, autobahnOptions, joinWampy,
} = require('./clients.js'); // also installs the WebSocket polyfill
const autobahn = require('autobahn');

// open joins and returns {session, close}.
function open(o) {
  const conn = new autobahn.Connection(autobahnOptions(o));
  return withTimeout(new Promise((resolve, reject) => {
    conn.onopen = (session) => {
      const closed = new Promise((res) => { conn.onclose = () => { res(); return true; }; });
      resolve({ session, close: () => { conn.close(); return withTimeout(closed, 5000, 'close'); } });
    };
    conn.onclose = (reason, details) => { reject(new Error(`closed: ${reason} ${JSON.stringify(details)}`)); return true; };
    conn.open();
  }), 10000, 'join');
}

const errURI = (e) => (e && e.error) || String(e);

async function shared(o) {
  const caller = await open(o);
  const callees = [await open(o), await open(o), await open(o)];
  const proc = uri('com.adv.js.rr');
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const reg = await callees[i].session.register(proc, () => i, { invoke: 'roundrobin' });
    ids.push(reg.id);
  }
  const got = [];
  for (let n = 0; n < 6; n++) got.push(await caller.session.call(proc));
  let conflict;
  try {
    await caller.session.register(proc, () => 9, { invoke: 'last' });
    conflict = 'accepted';
  } catch (e) { conflict = errURI(e); }
  emit({ js_roundrobin: got, js_shared_id: new Set(ids).size === 1, js_conflict: conflict });
  for (const c of [caller, ...callees]) await c.close();
}

async function pattern(o) {
  const caller = await open(o);
  const callee = await open(o);
  const base = uri('com.adv.js.pat');
  await callee.session.register(base + '.a.', (a, kw, d) => ['prefix', d.procedure.replace(base, 'BASE')], { match: 'prefix' });
  await callee.session.register(base + '..x', (a, kw, d) => ['wildcard', d.procedure.replace(base, 'BASE')], { match: 'wildcard' });
  const got = [];
  for (const s of ['.a.b', '.q.x']) {
    const r = await caller.session.call(base + s);
    got.push(r instanceof autobahn.Result ? r.args : r);
  }
  emit({ js_pattern: got });
  await caller.close();
  await callee.close();
}

async function progress(o) {
  const caller = await open(o);
  const callee = await open(o);
  await callee.session.register(uri('com.adv.js.progress'), async (args, kw, details) => {
    for (let i = 0; i < 3; i++) {
      if (details.progress) details.progress([i]);
      await new Promise((r) => setTimeout(r, 10));
    }
    return 'done';
  });
  const seen = [];
  const res = await caller.session.call(uri('com.adv.js.progress'), [], {}, { receive_progress: true })
    .then((r) => r, (e) => { throw e; }, (p) => seen.push(p.args ? p.args[0] : p));
  emit({ js_progress: seen, js_final: res });
  await caller.close();
  await callee.close();
}

async function disclose(o) {
  const caller = await open(o);
  const callee = await open(o);
  await callee.session.register(uri('com.adv.js.who'), (a, kw, d) => [d.caller === caller.session.id, d.caller_authrole || null]);
  await callee.session.register(uri('com.adv.js.who2'), (a, kw, d) => [d.caller === caller.session.id], { disclose_caller: true });
  const plain = await caller.session.call(uri('com.adv.js.who'));
  const asked = await caller.session.call(uri('com.adv.js.who'), [], {}, { disclose_me: true });
  const byCallee = await caller.session.call(uri('com.adv.js.who2'));
  const a = (r) => (r instanceof autobahn.Result ? r.args : r);
  emit({ js_disclose: [a(plain), a(asked), a(byCallee)] });
  await caller.close();
  await callee.close();
}

async function timeoutAndCancel(o) {
  const caller = await open(o);
  const callee = await open(o);
  let finished = 0;
  await callee.session.register(uri('com.adv.js.sleep'), async (args) => {
    await new Promise((r) => setTimeout(r, args[0]));
    finished++;
    return 'late';
  });
  const t0 = Date.now();
  let timeoutErr;
  try {
    await caller.session.call(uri('com.adv.js.sleep'), [600], {}, { timeout: 100 });
    timeoutErr = 'no error';
  } catch (e) { timeoutErr = errURI(e); }
  const fast = Date.now() - t0 < 500;
  // mode 'kill' to a callee without call_canceling degrades to skip: ERROR at once.
  const p = caller.session.call(uri('com.adv.js.sleep'), [300]);
  await new Promise((r) => setTimeout(r, 50));
  const t1 = Date.now();
  p.cancel({ mode: 'kill' });
  let cancelErr;
  try { await p; cancelErr = 'no error'; } catch (e) { cancelErr = errURI(e); }
  const cancelFast = Date.now() - t1 < 250;
  await until(() => finished === 2, 5000, 'callee finishing both');
  await new Promise((r) => setTimeout(r, 100)); // late YIELDs must not reach the caller
  emit({ js_timeout: [timeoutErr, fast], js_cancel_kill_degraded: [cancelErr, cancelFast] });
  await caller.close();
  await callee.close();
}

// ---- wampy: its own API for the options (register {match, invoke}; call
// {progress_callback, timeout, disclose_me, ppt_*}; cancel(reqId, {mode});
// progressiveCall) ----

const openWampy = joinWampy;

const wampyErr = (e) => (e && (e.errorUri || e.error)) || String(e);

async function wampy_shared(o) {
  const caller = await openWampy(o);
  const callees = [await openWampy(o), await openWampy(o)];
  const proc = uri('com.adv.wampy.rr');
  for (let i = 0; i < 2; i++) await callees[i].register(proc, () => ({ argsList: [i] }), { invoke: 'roundrobin' });
  const got = [];
  for (let n = 0; n < 4; n++) got.push((await caller.call(proc)).argsList[0]);
  const base = uri('com.adv.wampy.pat');
  await callees[0].register(base + '..x', ({ details }) => ({ argsList: [details.procedure.replace(base, 'BASE')] }), { match: 'wildcard' });
  const pat = (await caller.call(base + '.any.x')).argsList[0];
  emit({ wampy_roundrobin: got, wampy_wildcard: pat });
  for (const w of [caller, ...callees]) await w.disconnect();
}

async function wampy_progress(o) {
  const caller = await openWampy(o);
  const callee = await openWampy(o);
  await callee.register(uri('com.adv.wampy.progress'), async ({ result_handler, details }) => {
    for (let i = 0; i < 3; i++) {
      if (details.receive_progress) result_handler({ argsList: [i], options: { progress: true } });
    }
    return { argsList: ['done'] };
  });
  const seen = [];
  const res = await caller.call(uri('com.adv.wampy.progress'), [], {
    progress_callback: ({ argsList }) => { seen.push(argsList[0]); },
  });
  emit({ wampy_progress: seen, wampy_final: res.argsList[0] });
  await caller.disconnect();
  await callee.disconnect();
}

async function wampy_options(o) {
  const caller = await openWampy(o);
  const callee = await openWampy(o);
  const callerID = caller.getSessionId();
  await callee.register(uri('com.adv.wampy.who'), ({ details }) => ({ argsList: [details.caller === callerID] }));
  await callee.register(uri('com.adv.wampy.sleep'), async ({ argsList }) => {
    await new Promise((r) => setTimeout(r, argsList[0]));
    return { argsList: ['late'] };
  });
  const plain = (await caller.call(uri('com.adv.wampy.who'))).argsList[0];
  const asked = (await caller.call(uri('com.adv.wampy.who'), [], { disclose_me: true })).argsList[0];
  let timeoutErr;
  try {
    await caller.call(uri('com.adv.wampy.sleep'), [500], { timeout: 100 });
    timeoutErr = 'no error';
  } catch (e) { timeoutErr = wampyErr(e); }
  // cancel: the wampy callee does not announce call_canceling, so this is skip.
  const p = caller.call(uri('com.adv.wampy.sleep'), [300]);
  await new Promise((r) => setTimeout(r, 50));
  caller.cancel(caller.getOpStatus().reqId, { mode: 'killnowait' });
  let cancelErr;
  try { await p; cancelErr = 'no error'; } catch (e) { cancelErr = wampyErr(e); }
  emit({ wampy_disclose: [plain, asked], wampy_timeout: timeoutErr, wampy_cancel: cancelErr });
  await new Promise((r) => setTimeout(r, 400)); // the late YIELDs are dropped by the router
  await caller.disconnect();
  await callee.disconnect();
}

async function wampy_passthru(o) {
  const caller = await openWampy(o);
  const callee = await openWampy(o);
  await callee.register(uri('com.adv.wampy.ppt'), ({ details, argsList, argsDict }) => ({
    argsList: [details.ppt_scheme, argsList[0], argsDict.k],
    options: { ppt_scheme: 'x_custom', ppt_serializer: 'native' },
  }));
  const r = await caller.call(uri('com.adv.wampy.ppt'), { argsList: ['secret'], argsDict: { k: 'v' } },
    { ppt_scheme: 'x_custom', ppt_serializer: 'native' });
  emit({ wampy_ppt: [r.details.ppt_scheme, ...r.argsList] });
  // progressiveCall to a callee that does not announce progressive_call_invocations.
  const pc = caller.progressiveCall(uri('com.adv.wampy.ppt'), ['c0']);
  let progErr;
  try { await pc.result; progErr = 'no error'; } catch (e) { progErr = wampyErr(e); }
  emit({ wampy_progressive_unsupported: progErr });
  await caller.disconnect();
  await callee.disconnect();
}

const SCENARIOS = {
  shared, pattern, progress, disclose, timeout_cancel: timeoutAndCancel,
  wampy_shared, wampy_progress, wampy_options, wampy_passthru,
};

runScenarios(parseArgs(process.argv.slice(2), { url: 'ws://127.0.0.1:8080/ws', serializer: 'json', realm: 'realm1' }), SCENARIOS);
