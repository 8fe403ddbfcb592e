import { io, type Socket } from 'socket.io-client';
import type { CoordinatorToSiteEvents, Reply, SiteToCoordinatorEvents } from '@fedct/protocol';
import { SITES_NAMESPACE } from '@fedct/protocol';
import { CoordinatorLinkError } from '../util/errors';

/** The typed socket a site uses on `/sites`. */
export type SiteSocket = Socket<CoordinatorToSiteEvents, SiteToCoordinatorEvents>;

type Payload<E extends keyof SiteToCoordinatorEvents> = Parameters<SiteToCoordinatorEvents[E]>[0];
type Result<E extends keyof SiteToCoordinatorEvents> = Parameters<SiteToCoordinatorEvents[E]>[1] extends (reply: Reply<infer T>) => void ? T : never;

export interface ConnectOptions {
  /** Coordinator base URL, e.g. `https://coordinator.example.org`. */
  url: string;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  /** PEM CA bundle to verify a coordinator with a private certificate. */
  ca?: string;
}

/**
 * Opens (lazily) the socket.io connection to the coordinator's `/sites` namespace with back-off
 * reconnects (`reconnectInitialMs` 0 = no reconnection: tests and the bench's simulated sites).
 */
export function connectSites(options: ConnectOptions): SiteSocket {
  const base = options.url.replace(/\/+$/, '');
  return io(`${base}${SITES_NAMESPACE}`, {
    transports: ['websocket'],
    reconnection: options.reconnectInitialMs > 0,
    reconnectionDelay: options.reconnectInitialMs,
    reconnectionDelayMax: options.reconnectMaxMs,
    randomizationFactor: 0.5,
    timeout: 20_000,
    autoConnect: false,
    forceNew: true,
    ...(options.ca ? { ca: options.ca } : {}),
  }) as SiteSocket;
}

/**
 * Connects a socket again after the coordinator closed the session itself (a shutdown: SIGTERM,
 * `systemctl restart`), which socket.io does not retry: after `reconnectInitialMs`, doubling up to
 * `reconnectMaxMs`, each ± half so that a consortium's sites do not all arrive at once; socket.io's
 * own back-off takes over while the coordinator is still down. The pending timer also keeps the
 * process alive in between (without it, a daemon with nothing else to wait for exits).
 */
export class ServerCloseReconnect {
  private timer: NodeJS.Timeout | null = null;
  private delayMs = 0;

  constructor(
    private readonly socket: SiteSocket,
    private readonly backoff: { reconnectInitialMs: number; reconnectMaxMs: number },
    private readonly onSchedule: (inMs: number) => void = () => undefined,
    private readonly random: () => number = Math.random,
  ) {
    socket.on('connect', () => (this.delayMs = 0));
  }

  schedule(): void {
    if (this.timer) return;
    const { reconnectInitialMs, reconnectMaxMs } = this.backoff;
    this.delayMs = this.delayMs === 0 ? reconnectInitialMs : Math.min(reconnectMaxMs, this.delayMs * 2);
    const delay = Math.round(this.delayMs * (0.5 + this.random()));
    this.onSchedule(delay);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.socket.connect();
    }, delay);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * Sends one request and resolves with the coordinator's reply as it is (`{ ok: false, code }`
 * included); no reply within `timeoutMs` becomes code `timeout` (`disconnected` when the connection
 * is gone). For callers that look at refusals (tests of the coordinator's rules); {@link call} throws.
 */
export async function request<E extends keyof SiteToCoordinatorEvents>(socket: SiteSocket, event: E, payload: Payload<E>, timeoutMs = 60_000): Promise<Reply<Result<E>>> {
  // socket.io would buffer the request until a reconnect: say at once that the connection is gone.
  if (!socket.connected) return { ok: false, code: 'disconnected', message: `not connected to the coordinator (${String(event)})` };
  try {
    const timed = socket.timeout(timeoutMs);
    const emit = timed.emitWithAck as unknown as (ev: E, p: Payload<E>) => Promise<Reply<Result<E>>>;
    return await emit.call(timed, event, payload);
  } catch {
    const code = socket.connected ? 'timeout' : 'disconnected';
    return { ok: false, code, message: `coordinator did not answer ${String(event)} (${code})` };
  }
}

/**
 * Sends one request and waits for its acknowledgement. `{ ok: false }` replies become a
 * {@link CoordinatorLinkError} carrying the reply's code; no reply within `timeoutMs` (for example because the
 * connection dropped) becomes `code: 'timeout'`.
 */
export async function call<E extends keyof SiteToCoordinatorEvents>(socket: SiteSocket, event: E, payload: Payload<E>, timeoutMs = 60_000): Promise<Result<E>> {
  if (!socket.connected) throw new CoordinatorLinkError(`not connected to the coordinator (${String(event)})`, 'disconnected');
  let reply: Reply<Result<E>>;
  try {
    // The typed event map cannot express emitWithAck's generic tuple for a union of events.
    const timed = socket.timeout(timeoutMs);
    const emit = timed.emitWithAck as unknown as (ev: E, p: Payload<E>) => Promise<Reply<Result<E>>>;
    reply = await emit.call(timed, event, payload);
  } catch (cause) {
    throw new CoordinatorLinkError(`coordinator did not answer ${String(event)} (${socket.connected ? 'timeout' : 'disconnected'})`, socket.connected ? 'timeout' : 'disconnected', { cause });
  }
  if (!reply.ok) throw new CoordinatorLinkError(`coordinator refused ${String(event)}: ${reply.message}`, reply.code);
  return reply.data;
}
