import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Server, ServerOptions } from 'socket.io';

/** Heartbeat settings of the socket.io server (see `pingIntervalMs` / `pingTimeoutMs` in the config). */
export interface IoHeartbeat {
  pingIntervalMs: number;
  pingTimeoutMs: number;
}

/** socket.io on the HTTP(S) server with the configured message-size limit, heartbeat and no CORS. */
export class LimitedIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly maxMessageBytes: number,
    private readonly heartbeat: IoHeartbeat = { pingIntervalMs: 25_000, pingTimeoutMs: 60_000 },
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    return super.createIOServer(port, {
      ...options,
      maxHttpBufferSize: this.maxMessageBytes,
      pingInterval: this.heartbeat.pingIntervalMs,
      pingTimeout: this.heartbeat.pingTimeoutMs,
      serveClient: false,
    }) as Server;
  }
}
