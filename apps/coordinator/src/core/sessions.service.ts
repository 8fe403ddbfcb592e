import { Injectable } from '@nestjs/common';
import type { CoordinatorToAdminEvents, CoordinatorToSiteEvents, SiteToCoordinatorEvents, AdminToCoordinatorEvents } from '@fedct/protocol';
import type { Namespace, Socket } from 'socket.io';

/** Per-socket state of an authenticated site session. */
export interface SiteSocketData {
  siteId?: string;
  challenge?: { value: string; expires: number };
}
export type SiteSocket = Socket<SiteToCoordinatorEvents, CoordinatorToSiteEvents, Record<string, never>, SiteSocketData>;
export type AdminNamespace = Namespace<AdminToCoordinatorEvents, CoordinatorToAdminEvents>;

/**
 * Which sites are connected right now, and the only way the rest of the coordinator talks to sockets
 * (push a task to a site, disconnect a revoked site, publish dashboard events on `/admin`).
 */
@Injectable()
export class SessionRegistry {
  private readonly sockets = new Map<string, Set<SiteSocket>>();
  private admin: AdminNamespace | null = null;
  private readonly listeners = new Set<(siteId: string, online: boolean) => void>();
  private readonly revokedListeners = new Set<(siteId: string, reason: string) => void>();

  add(siteId: string, socket: SiteSocket): void {
    let set = this.sockets.get(siteId);
    const wasOnline = set !== undefined && set.size > 0;
    if (!set) {
      set = new Set();
      this.sockets.set(siteId, set);
    }
    set.add(socket);
    if (!wasOnline) for (const l of this.listeners) l(siteId, true);
  }

  remove(siteId: string, socket: SiteSocket): void {
    const set = this.sockets.get(siteId);
    if (!set) return;
    set.delete(socket);
    if (set.size === 0) {
      this.sockets.delete(siteId);
      for (const l of this.listeners) l(siteId, false);
    }
  }

  /** Calls `listener` whenever a site comes online (first socket) or goes offline (last socket). */
  onPresence(listener: (siteId: string, online: boolean) => void): void {
    this.listeners.add(listener);
  }

  isOnline(siteId: string): boolean {
    return (this.sockets.get(siteId)?.size ?? 0) > 0;
  }

  online(): string[] {
    return [...this.sockets.keys()];
  }

  emitToSite<E extends keyof CoordinatorToSiteEvents>(siteId: string, event: E, ...args: Parameters<CoordinatorToSiteEvents[E]>): boolean {
    const set = this.sockets.get(siteId);
    if (!set || set.size === 0) return false;
    for (const s of set) s.emit(event, ...args);
    return true;
  }

  /** Sends an event to every authenticated site connection; returns how many sites it reached. */
  broadcast<E extends keyof CoordinatorToSiteEvents>(event: E, ...args: Parameters<CoordinatorToSiteEvents[E]>): number {
    let reached = 0;
    for (const siteId of this.sockets.keys()) if (this.emitToSite(siteId, event, ...args)) reached += 1;
    return reached;
  }

  /** Calls `listener` when a site is revoked (the rounds engine stops waiting for it). */
  onRevoked(listener: (siteId: string, reason: string) => void): void {
    this.revokedListeners.add(listener);
  }

  /** Announces a revocation to every {@link SessionRegistry.onRevoked} listener and disconnects the site. */
  revoked(siteId: string, reason: string): void {
    for (const l of this.revokedListeners) l(siteId, reason);
    this.disconnectSite(siteId, reason);
  }

  /** Tells the site why and closes all its connections now. */
  disconnectSite(siteId: string, reason: string): void {
    const set = this.sockets.get(siteId);
    if (!set) return;
    for (const s of [...set]) {
      s.emit('revoked', { reason });
      s.disconnect(true);
    }
  }

  setAdminNamespace(ns: AdminNamespace): void {
    this.admin = ns;
  }

  adminEmit<E extends keyof CoordinatorToAdminEvents>(event: E, ...args: Parameters<CoordinatorToAdminEvents[E]>): void {
    this.admin?.emit(event, ...args);
  }

  /** Closes every site connection (shutdown). */
  closeAll(): void {
    for (const set of this.sockets.values()) for (const s of [...set]) s.disconnect(true);
  }
}
