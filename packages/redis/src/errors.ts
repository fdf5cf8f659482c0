/** Why a Redis operation of the bus failed. */
export type RedisTopicsErrorReason =
  /** Not connected to Redis (down, unreachable, or reconnecting). */
  | 'unavailable'
  /** Redis did not answer within the bus's `timeout`. */
  | 'timeout'
  /** The bus was closed. */
  | 'closed'
  /** Redis answered with an error. */
  | 'rejected';

/**
 * A publish (or presence read) that did not reach Redis. A publish has then gone to this
 * process's own subscribers only: `delivered` says to how many.
 */
export class RedisTopicsError extends Error {
  /** `'RedisTopicsError'`. */
  override name = 'RedisTopicsError';
  /** Why it failed. */
  readonly reason: RedisTopicsErrorReason;
  /** The topic concerned. */
  readonly topic: string;
  /** Local subscribers the message went to (a publish); 0 for reads. */
  readonly delivered: number;

  constructor(
    reason: RedisTopicsErrorReason,
    topic: string,
    message: string,
    options?: { cause?: unknown; delivered?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.topic = topic;
    this.delivered = options?.delivered ?? 0;
  }
}

/** node-redis errors by class name (their classes differ between copies of the package). */
export function reasonOf(error: unknown): RedisTopicsErrorReason {
  const name = error instanceof Error ? error.constructor.name : '';
  if (name === 'TimeoutError' || name === 'CommandTimeoutDuringMaintenanceError') return 'timeout';
  if (name === 'ErrorReply' || name === 'SimpleError' || name === 'BlobError') return 'rejected';
  return 'unavailable';
}
