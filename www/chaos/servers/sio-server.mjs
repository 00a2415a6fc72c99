// The chaos run's Socket.IO backend, written the way the socket.io docs write one: a room per
// match joined by an app event, a `match_event` handler `(event, ack) => …` that stores the
// event once per id (the id syncline puts in the payload), broadcasts it to the match's room
// and acks; connection state recovery on, so a viewer whose connection dropped gets what it
// missed. Events are stored in an append-only file, fsynced before the ack (durable-log.mjs).
//
//   node chaos/servers/sio-server.mjs --port P --control-port C --store FILE
//        [--ping-interval MS] [--ping-timeout MS]
import { createServer } from "node:http";
import { Server } from "socket.io";
import { serve, serverArgs } from "./control.mjs";
import { openLog } from "./durable-log.mjs";

const opt = serverArgs("sio-server.mjs", {
  "ping-interval": { type: "string", default: "3000" },
  "ping-timeout": { type: "string", default: "2000" },
});
const log = openLog(opt.store);
const counts = { connections: 0, recovered: 0, duplicates: 0, refused: 0 };

const http = createServer();
const io = new Server(http, {
  pingInterval: Number(opt["ping-interval"]),
  pingTimeout: Number(opt["ping-timeout"]),
  maxHttpBufferSize: 1e6,
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 },
});

io.on("connection", (socket) => {
  counts.connections++;
  if (socket.recovered) counts.recovered++;

  socket.on("join_match", (matchId) => {
    socket.join(`match_${matchId}`);
  });

  socket.on("match_event", (event, ack) => {
    if (typeof ack !== "function") return;
    if (typeof event?.id !== "string" || typeof event.matchId !== "string") {
      counts.refused++;
      return ack({ ok: false, error: "an event needs an id and a matchId" });
    }
    const { fresh } = log.append({ channel: event.matchId, event: "match_event", data: event, id: event.id });
    if (!fresh) {
      counts.duplicates++;
      return ack({ ok: true, duplicate: true });
    }
    io.to(`match_${event.matchId}`).emit("live_event", event);
    ack({ ok: true });
  });
});

// A cut: each engine connection closed at the transport (the session is kept for recovery).
const kick = () => {
  const sockets = [...io.of("/").sockets.values()];
  for (const socket of sockets) socket.conn.close();
  return sockets.length;
};
await serve(http, opt, log, () => ({ ...counts, clients: io.engine.clientsCount }), () => io.close(), kick);
