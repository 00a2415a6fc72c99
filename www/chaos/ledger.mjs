// The chaos run's log, kept outside the pages: every publish from the moment it is called
// (writer w = one page load, counter n, channel), its id and how it settled; what the app of
// each viewer page load was handed; dead letters, gaps, errors, page errors; the faults.
// `analyze` compares it with the server's store.

/** A fresh log for one mode. */
export function createLedger() {
  return {
    t0: Date.now(),
    pubs: new Map(), // `${w}#${n}` → { w, n, ch, calledAt, fault, id, status, kind, message, settledAt }
    idToKey: new Map(),
    deadLetters: new Map(), // id → reason
    loads: new Map(), // w → { w, tab, group, role, start, end, endReason, deliveries: [], gaps }
    errorKinds: {},
    pageErrors: [], // { w, at, fault, message }
    faults: [], // { kind, at, end, detail, error }
    harnessErrors: [],
  };
}

/** Index of the fault whose period (from its start to the next one's) holds `at`; -1 before. */
export function faultAt(ledger, at = Date.now()) {
  for (let i = ledger.faults.length - 1; i >= 0; i--) if (ledger.faults[i].at <= at) return i;
  return -1;
}

/** The bindings the pages call (see page.html); `tabOf(page)` names the tab of a page. */
export function bindings(ledger, tabOf) {
  const key = (w, n) => `${w}#${n}`;
  return {
    chaosHello(source, name) {
      const tab = tabOf(source.page);
      const prev = tab?.w ? ledger.loads.get(tab.w) : null;
      if (prev && prev.end === null) {
        prev.end = Date.now();
        prev.endReason = "reloaded";
      }
      const w = `${name}.${tab ? ++tab.loadCount : "?"}`;
      ledger.loads.set(w, { w, tab: name, group: tab?.group ?? null, role: tab?.role ?? null, start: Date.now(), end: null, endReason: null, deliveries: [], gaps: 0 });
      if (tab) tab.w = w;
      return w;
    },
    chaosCalled(_s, w, n, ch) {
      const at = Date.now();
      ledger.pubs.set(key(w, n), { w, n, ch, calledAt: at, fault: faultAt(ledger, at), id: null, status: null, kind: null, message: null, settledAt: null });
    },
    chaosId(_s, w, n, id) {
      const p = ledger.pubs.get(key(w, n));
      if (p && id) {
        p.id = id;
        ledger.idToKey.set(id, key(w, n));
      }
    },
    chaosSettled(_s, w, n, id, status, kind, message) {
      const p = ledger.pubs.get(key(w, n));
      if (!p) return;
      if (id && !p.id) {
        p.id = id;
        ledger.idToKey.set(id, key(w, n));
      }
      p.status = status;
      p.kind = kind;
      p.message = message;
      p.settledAt = Date.now();
    },
    chaosNote(_s, w, what, value) {
      if (what === "error") ledger.errorKinds[value.kind] = (ledger.errorKinds[value.kind] ?? 0) + 1;
      else if (what === "deadLetter") ledger.deadLetters.set(value.id, value.reason);
      else if (what === "gap") {
        const load = ledger.loads.get(w);
        if (load) load.gaps++;
      }
    },
    chaosDelivered(_s, w, ch, id, seq) {
      ledger.loads.get(w)?.deliveries.push({ ch, id, seq, at: Date.now() });
    },
  };
}

const SAMPLES = 20;
const push = (list, v) => list.length < SAMPLES && list.push(v);

/**
 * Compares the log with `stored` (the server's store: { channel, seq, id, w, n } in store
 * order). Returns the totals, the rows per fault kind, and samples of each failure.
 */
export function analyze(ledger, stored) {
  const kinds = ["(no fault yet)", ...new Set(ledger.faults.map((f) => f.kind))];
  const row = () => ({ faults: 0, called: 0, stored: 0, held: 0, lost: 0, ackedNotStored: 0, storedTwice: 0, outOfOrderStored: 0,
    outOfOrderDelivered: 0, duplicatesDelivered: 0, missedDelivered: 0, missedWithGap: 0, unknownDelivered: 0, pageErrors: 0 });
  const rows = Object.fromEntries(kinds.map((k) => [k, row()]));
  const kindOf = (i) => (i < 0 ? "(no fault yet)" : ledger.faults[i].kind);
  const rowAt = (at) => rows[kindOf(faultAt(ledger, at))];
  for (const f of ledger.faults) rows[f.kind].faults++;
  const samples = { lost: [], ackedNotStored: [], storedTwice: [], outOfOrderStored: [], outOfOrderDelivered: [],
    duplicatesDelivered: [], missedDelivered: [], unknownDelivered: [], rejected: [] };

  // The store: per channel in order; per (writer, counter) how often.
  const byKey = new Map();
  const byId = new Map();
  const channels = new Map();
  for (const e of stored) {
    if (!channels.has(e.channel)) channels.set(e.channel, []);
    const list = channels.get(e.channel);
    if (e.id) byId.set(e.id, { ch: e.channel, idx: list.length });
    list.push(e);
    if (e.w !== null && e.n !== null) {
      const k = `${e.w}#${e.n}`;
      byKey.set(k, (byKey.get(k) ?? 0) + 1);
    }
  }

  // Publishes: lost, acked but not stored, stored twice.
  const lostBy = {};
  const statuses = {};
  for (const [k, p] of ledger.pubs) {
    const r = rows[kindOf(p.fault)];
    r.called++;
    const times = byKey.get(k) ?? 0;
    const status = p.status ?? "unsettled";
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (times > 0) r.stored++;
    if (p.status === "held") r.held++;
    if (times > 1) {
      r.storedTwice++;
      push(samples.storedTwice, { ...p, times });
    }
    const refused = p.status === "rejected" || p.status === "threw" || (p.id && ledger.deadLetters.has(p.id));
    if (refused) push(samples.rejected, { key: k, id: p.id, status: p.status, kind: p.kind, message: p.message, deadLetter: ledger.deadLetters.get(p.id) ?? null });
    if (times === 0 && !refused) {
      r.lost++;
      const load = ledger.loads.get(p.w);
      const why = `${status}${load?.endReason ? `, page ${load.endReason}` : ""}`;
      lostBy[why] = (lostBy[why] ?? 0) + 1;
      push(samples.lost, { key: k, id: p.id, ch: p.ch, status, fault: kindOf(p.fault), page: load?.endReason ?? "alive", calledAt: p.calledAt - ledger.t0 });
    }
    if (times === 0 && p.status === "acked") {
      r.ackedNotStored++;
      push(samples.ackedNotStored, { key: k, id: p.id, ch: p.ch, fault: kindOf(p.fault) });
    }
  }

  // Each writer's publishes on a channel are stored in the order they were called.
  for (const [ch, list] of channels) {
    const maxN = new Map();
    const seenKeys = new Set();
    for (const e of list) {
      if (e.w === null || e.n === null) continue;
      const k = `${e.w}#${e.n}`;
      if (seenKeys.has(k)) continue;
      seenKeys.add(k);
      const top = maxN.get(e.w) ?? 0;
      if (e.n < top) {
        const p = ledger.pubs.get(k);
        rows[kindOf(p?.fault ?? -1)].outOfOrderStored++;
        push(samples.outOfOrderStored, { ch, w: e.w, n: e.n, after: top, seq: e.seq });
      }
      maxN.set(e.w, Math.max(top, e.n));
    }
  }

  // What each viewer page load was handed: order against the store, duplicates, and what it
  // missed after its first event of a channel (up to its end: the last event it got, for a
  // load that ended; the end of the store for one alive at the end).
  const viewers = [];
  for (const load of ledger.loads.values()) {
    if (load.role !== "sub") continue;
    const perCh = new Map();
    for (const d of load.deliveries) {
      if (!perCh.has(d.ch)) perCh.set(d.ch, []);
      perCh.get(d.ch).push(d);
    }
    let delivered = 0;
    let missed = 0;
    for (const [ch, ds] of perCh) {
      const got = new Set();
      let last = -1;
      let first = null;
      let top = -1;
      for (const d of ds) {
        delivered++;
        const at = d.id ? byId.get(d.id) : undefined;
        if (!at || at.ch !== ch) {
          rowAt(d.at).unknownDelivered++;
          push(samples.unknownDelivered, { w: load.w, ch, id: d.id, seq: d.seq });
          continue;
        }
        if (got.has(d.id)) {
          rowAt(d.at).duplicatesDelivered++;
          push(samples.duplicatesDelivered, { w: load.w, ch, id: d.id, seq: d.seq, at: d.at - ledger.t0 });
          continue;
        }
        got.add(d.id);
        first ??= at.idx;
        if (at.idx < last) {
          rowAt(d.at).outOfOrderDelivered++;
          push(samples.outOfOrderDelivered, { w: load.w, ch, id: d.id, storeIndex: at.idx, after: last, at: d.at - ledger.t0 });
        }
        last = at.idx;
        top = Math.max(top, at.idx);
      }
      if (first === null) continue;
      const list = channels.get(ch) ?? [];
      const end = load.end === null ? list.length - 1 : top;
      const gone = [];
      for (let i = first; i <= end; i++) if (list[i].id && !got.has(list[i].id)) gone.push(list[i]);
      missed += gone.length;
      for (const e of gone) {
        const p = e.w !== null ? ledger.pubs.get(`${e.w}#${e.n}`) : null;
        const r = rows[kindOf(p?.fault ?? -1)];
        if (load.gaps > 0) r.missedWithGap++;
        else r.missedDelivered++;
      }
      if (gone.length && load.gaps === 0) push(samples.missedDelivered, { w: load.w, ch, count: gone.length, first: gone[0].id, seqs: gone.slice(0, 5).map((e) => e.seq) });
    }
    viewers.push({ w: load.w, end: load.endReason ?? "alive", delivered, missed, gaps: load.gaps });
  }

  for (const e of ledger.pageErrors) rowAt(e.at).pageErrors++;
  const total = row();
  for (const r of Object.values(rows)) for (const k of Object.keys(total)) total[k] += r[k];
  total.faults = ledger.faults.length;
  return { total, rows, statuses, lostBy, samples, viewers, storedEntries: stored.length };
}
