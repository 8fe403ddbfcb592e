import { Injectable } from '@nestjs/common';

/** A round that ended (published or failed), as its listeners hear of it. */
export interface RoundEnded {
  experimentId: string;
  round: number;
  state: 'published' | 'failed';
  /** Failed because the experiment was aborted (nothing to schedule next). */
  aborted?: boolean;
}

/**
 * "A round ended": the state machine says so, and whoever keeps something per round listens (uploads
 * drop that round's unfinished spool files; the scheduler looks for the next round). The round engine
 * never calls back into them.
 */
@Injectable()
export class RoundEvents {
  private readonly listeners = new Set<(event: RoundEnded) => void>();

  onEnded(listener: (event: RoundEnded) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  ended(event: RoundEnded): void {
    for (const listener of this.listeners) listener(event);
  }
}
