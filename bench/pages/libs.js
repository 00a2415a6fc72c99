// One small adapter per library measured by `make bench`, so that every scenario drives each
// the same way:
//   conn.opened          Promise of performance.now() when the connection first opened
//   conn.onTick(fn)      fn(event) for every event {i, at, pad} the server sends
//   conn.blast(n)        asks the server to send n events to this connection
//   conn.publish(data)   sends one event for the other connections of the room
//   conn.memoryBytes()   library memory outside the JS heap (syncline's wasm memory)
// The libraries are ordinary npm packages bundled with esbuild (bench/peers.mjs), and so is
// syncline's npm package (pkg/index.js with its glue; the wasm beside it), as an app ships them.

const wsUrl = (base, room) => `${base}/?room=${encodeURIComponent(room)}`;

function whenOpen(subscribe) {
  return new Promise((resolve) => subscribe(() => resolve(performance.now())));
}

/** A plain WebSocket or a reconnecting wrapper with the same interface, JSON text frames. */
function jsonSocket(socket) {
  let handler = () => {};
  const opened = whenOpen((done) => socket.addEventListener("open", done, { once: true }));
  socket.addEventListener("message", (e) => {
    const msg = JSON.parse(e.data);
    if (msg.t === "tick") handler(msg);
  });
  return {
    opened,
    onTick: (fn) => (handler = fn),
    blast: (n) => socket.send(JSON.stringify({ t: "blast", n })),
    publish: (data) => socket.send(JSON.stringify({ t: "tick", ...data })),
    memoryBytes: () => 0,
    close: () => socket.close(),
  };
}

export const LIBS = {
  async websocket({ room, urls }) {
    return jsonSocket(new WebSocket(wsUrl(urls.ws, room)));
  },

  async partysocket({ room, urls }) {
    const { ReconnectingWebSocket } = await import("/peers/partysocket.js");
    return jsonSocket(new ReconnectingWebSocket(wsUrl(urls.ws, room)));
  },

  async "socket.io-client"({ room, urls }) {
    const { io } = await import("/peers/socket.io-client.js");
    const socket = io(urls.sio, { transports: ["websocket"], query: { room } });
    let handler = () => {};
    socket.on("tick", (data) => handler(data));
    return {
      opened: whenOpen((done) => socket.once("connect", done)),
      onTick: (fn) => (handler = fn),
      blast: (n) => socket.emit("blast", n),
      publish: (data) => socket.emit("tick", data),
      memoryBytes: () => 0,
      close: () => socket.close(),
    };
  },

  async syncline({ room, urls, params }) {
    const durable = params.get("durable") === "1";
    const { client, wasm, opened } = await synclineClient(params, room, { url: urls.relay });
    let handler = () => {};
    let subscribed = false;
    return {
      client,
      opened,
      onTick(fn) {
        handler = fn;
        if (!subscribed) {
          subscribed = true;
          client.subscribe(room, (m) => handler(m.data, m));
        }
      },
      // An app backend's burst: the relay stores and pushes n events on the room's channel.
      blast: (n) => fetch(`/push?room=${encodeURIComponent(room)}&n=${n}`, { method: "POST" }),
      publish: (data) => client.publish(room, "tick", data, { durable }),
      memoryBytes: () => wasm.memory.buffer.byteLength,
      close: () => client.close(),
    };
  },

  // syncline in front of the same socket.io server as socket.io-client, used the same way:
  // events with emit and on (at most once, like socket.io-client's emit).
  async "syncline (socket.io)"({ room, urls, params }) {
    const url = `${urls.sio}/?room=${encodeURIComponent(room)}`;
    const { client, wasm, opened } = await synclineClient(params, room, { url, protocol: "socket.io" });
    let handler = () => {};
    client.on("tick", (data, meta) => handler(data, meta));
    return {
      client,
      opened,
      onTick: (fn) => (handler = fn),
      blast: (n) => client.emit("blast", n),
      publish: (data) => client.emit("tick", data),
      memoryBytes: () => wasm.memory.buffer.byteLength,
      close: () => client.close(),
    };
  },
};

/** A syncline client for `options`; `opened` resolves once it is open with a settled role. */
async function synclineClient(params, room, options) {
  const { createClient, initSyncline } = await import("/peers/syncline.js");
  const wasm = await initSyncline();
  const client = await createClient({
    storageKey: params.get("key") ?? `bench-${room}-${Math.random().toString(36).slice(2)}`,
    shareConnection: params.get("share") !== "0",
    ...options,
  });
  const opened = whenOpen((done) => {
    let stop = null;
    const check = (s) => {
      if (s.state !== "open" || s.role === "pending") return false;
      stop?.();
      done();
      return true;
    };
    if (!check(client.getState())) stop = client.onStateChange(check);
  });
  return { client, wasm, opened };
}
