import { Inject, Injectable } from '@nestjs/common';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from './coordinator.config';

/** Token buckets per caller key: `limits.requestsPerMinute`, refilled continuously; bounded memory. */
@Injectable()
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly capacity: number;

  constructor(@Inject(COORDINATOR_CONFIG) config: CoordinatorConfig) {
    this.capacity = config.limits.requestsPerMinute;
  }

  /** Takes one token for `key`; false when the caller is over its rate. */
  take(key: string, now = Date.now()): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size > 10_000) this.buckets.clear();
      bucket = { tokens: this.capacity, at: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.capacity, bucket.tokens + ((now - bucket.at) * this.capacity) / 60_000);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
