// Server rendering: the provider and every hook render in Node, where there is no window,
// no WebSocket and no IndexedDB, without touching any of them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createElement as h } from "react";
import { renderToString } from "react-dom/server";
import {
  SynclineProvider, useChannel, useConnection, useDocument, useMetrics, useOnline, useOutbox,
  usePublish, useRequest, useTabRole,
} from "syncline/react";

function Everything() {
  const c = useConnection();
  const online = useOnline();
  const role = useTabRole();
  const latest = useChannel("c");
  const doc = useDocument("k");
  const outbox = useOutbox();
  const metrics = useMetrics();
  usePublish();
  useRequest();
  return h("p", null, `${c.state} ${c.ready} ${online} ${role} ${latest} ${doc.value} ${doc.pending} ${outbox.depth} ${metrics}`);
}

test("the hooks render on the server without a browser", () => {
  assert.equal(typeof globalThis.window, "undefined");
  const html = renderToString(h(SynclineProvider, { options: { url: "wss://example.test/ws" } }, h(Everything)));
  assert.match(html, /idle false true pending null null 0 0 null/);
});
