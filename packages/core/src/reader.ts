/**
 * The receiving half of a connection: the queue of messages no reader took yet, the one
 * waiting reader and its time limit, `for await` iteration, and flow control towards the
 * runtime (stop reading while the application is behind).
 *
 * The connection owns the protocol (what a message means, when the connection ends); the
 * receiver only hands messages to readers in order. Package-internal.
 */
import { ConcurrentReceiveError, ReceiveTimeoutError } from './errors.js';
import type { ControlMessage, DataMessage, ErrorMessage, WSMessage } from './message.js';
import type { ResolvedOptions } from './options.js';
import { MSG_BINARY, MSG_CLOSE, MSG_CLOSED, MSG_CLOSING, MSG_PONG, MSG_TEXT } from './protocol.js';
import type { Transport } from './transport.js';

/** What `for await` yields: the loop ends at CLOSE, CLOSING and CLOSED instead of yielding them. */
export type LoopItem = DataMessage | ControlMessage | ErrorMessage;
type LoopResult = IteratorResult<LoopItem, void>;
const DONE: LoopResult = Object.freeze({ value: undefined, done: true });
const DONE_PROMISE: Promise<LoopResult> = Promise.resolve(DONE);

/** Resolves the one reader: with a message, or with a loop's iterator result (`readerLoop`). */
type ReaderResolve = (value: WSMessage | LoopResult) => void;

/**
 * The time limit of the waiting read. Only a read with a limit keeps its promise's `reject`:
 * nothing else rejects a waiting read, so the others let it go.
 */
interface ReaderDeadline {
  timer: ReturnType<typeof setTimeout> | undefined;
  ms: number;
  reject: (error: Error) => void;
  /** Fires the limit (the timer's callback). */
  fire: () => void;
}

/**
 * The executor of every read that waits, and the receiver it is for: a promise's executor runs
 * synchronously inside `new Promise`, so one module function serves every connection.
 */
let arming: Receiver | null = null;
/** The `reject` of the read `armReader` set up last, for `read` to keep or let go. */
let armedReject: (error: Error) => void = ignore;
function armReader(resolve: ReaderResolve, reject: (error: Error) => void): void {
  const receiver = arming;
  arming = null;
  armedReject = reject;
  if (receiver) receiver.arm(resolve);
}

/**
 * Unread messages past which reading stops whatever their size: a queued message costs the heap
 * some 100 bytes beyond its payload, so a flood of tiny or empty messages would otherwise hold
 * far more than `receiveHighWaterMark` (empty ones without any limit). One message per 64
 * bytes of the mark, 1,024 at least.
 */
export function receiveMessageLimit(mark: number): number {
  return Math.max(1024, Math.floor(mark / 64));
}

/**
 * What a receiver needs of its connection: one object for every receiver (the connection comes
 * as `owner`), so that a receiver holds one reference instead of one per need.
 */
export interface ReceiverHost {
  options(owner: unknown): ResolvedOptions;
  transport(owner: unknown): Transport;
  /**
   * What a read gets when the queue is empty: undefined (it waits), CLOSING once the peer's
   * close frame is in and the connection is closing, CLOSED once it is closed (the connection
   * owns the close handshake).
   */
  end(owner: unknown): WSMessage | undefined;
  /** Reading resumed: the silence while paused did not come from the peer (the heartbeat). */
  resumed(owner: unknown): void;
}
let host: ReceiverHost;
/** Installs the host (the connection's static block, the one place with access to its fields). */
export function setReceiverHost(receiverHost: ReceiverHost): void {
  host = receiverHost;
}

function messageSize(message: WSMessage): number {
  if (message.type === MSG_TEXT) return message.data.length;
  if (message.type === MSG_BINARY) return message.data.byteLength;
  return 0;
}

/**
 * One reader at a time, messages in order. A reader waits only on an empty queue, so a message
 * either goes straight to the waiting reader or joins the queue.
 */
export class Receiver {
  /** Messages no reader took yet; made by the first one (a waiting reader takes most). */
  #queue: (WSMessage | undefined)[] | null = null;
  #head = 0;
  #queuedBytes = 0;
  #paused = false;
  // The one waiting reader, kept in fields rather than an object: a reader that waits for
  // every message (for await) then costs its promise and nothing more.
  /** Resolves the waiting reader; null when none waits. */
  #reader: ReaderResolve | null = null;
  /** The waiting reader is this loop: it takes iterator results, not messages. */
  #readerLoop: MessageIterator | null = null;
  /** The time limit of reads; made by the first read that has one. */
  #deadline: ReaderDeadline | null = null;
  /** Counts readers, so that a withdrawal (mux) only ever withdraws its own. */
  #readerSeq = 0;

  /** The connection; what the receiver needs of it goes through the shared host. */
  // `declare`d and assigned in the constructor (as `receiver` below): a parameter property would
  // also emit a field definition, bytes in every page that bundles core.
  declare readonly owner: unknown;

  constructor(owner: unknown) {
    this.owner = owner;
  }

  get options(): ResolvedOptions {
    return host.options(this.owner);
  }
  get transport(): Transport {
    return host.transport(this.owner);
  }

  /** Reading is paused because the application is behind (`receiveHighWaterMark`). */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * The next message for `receive()` (loop null) or the next result of `loop`: at once when
   * one is ready, else from `handToReader`. One promise either way.
   */
  read(loop: null, timeout: number | null): Promise<WSMessage>;
  read(loop: MessageIterator, timeout: number | null): Promise<LoopResult>;
  read(loop: MessageIterator | null, timeout: number | null): Promise<WSMessage | LoopResult> {
    if (this.#reader) {
      if (loop !== null && this.#readerLoop === loop) {
        // A next() overlapping this loop's waiting one runs after it, as a generator queues it.
        const again = (): Promise<LoopResult> => loop.next();
        return (loop.pending as Promise<unknown>).then(again, again);
      }
      if (loop) loop.finished = true; // as a generator ends on the error it throws
      return Promise.reject(new ConcurrentReceiveError());
    }
    const ready = this.#immediate();
    if (ready) return Promise.resolve(loop ? loop.result(ready) : ready);
    this.#readerLoop = loop;
    arming = this;
    const promise = new Promise<WSMessage | LoopResult>(armReader);
    const reject = armedReject;
    armedReject = ignore;
    if (timeout != null) this.#startDeadline(timeout, reject);
    if (loop) loop.pending = promise;
    return promise;
  }

  /** Makes `resolve` the waiting reader (the promise executor's half of `read`). */
  arm(resolve: ReaderResolve): void {
    this.#reader = resolve;
    this.#readerSeq++;
  }

  /**
   * Makes `deliver` the one reader (mux): called at once with a ready message, else with the
   * next one. Returns the reader's withdrawal.
   */
  listen(deliver: (message: WSMessage) => void): () => void {
    if (this.#reader) throw new ConcurrentReceiveError();
    const ready = this.#immediate();
    if (ready) {
      deliver(ready);
      return ignore;
    }
    // Never a loop's reader: only messages reach `deliver`.
    this.arm(deliver as ReaderResolve);
    const seq = this.#readerSeq;
    return () => {
      if (this.#reader !== null && this.#readerSeq === seq) this.#clearReader();
    };
  }

  /**
   * Hands a message to the waiting reader, or queues it. True once, when the queue passed the
   * mark and the runtime cannot stop reading: the connection then fails (1008), as nothing else
   * would bound the queue.
   */
  enqueue(message: WSMessage): boolean {
    if (this.handToReader(message)) return false;
    this.#queue ??= [];
    this.#queue.push(message);
    return this.#countIn(message);
  }

  /**
   * The message at the head of the queue when it is one a push listener takes (data, or a
   * PING/PONG with `autoping: false`), taken out; else undefined (an empty queue, or an ERROR or
   * CLOSE at the head, which stay for a reader).
   */
  takeForListener(): DataMessage | ControlMessage | undefined {
    const queue = this.#queue;
    const next = queue?.[this.#head];
    if (next === undefined || next.type > MSG_PONG || next.type === MSG_CLOSE) {
      return undefined;
    }
    return this.#dequeue() as DataMessage | ControlMessage;
  }

  /** Puts a message taken from the queue back at its head (mux, when it ends holding one). */
  unshift(message: WSMessage): void {
    // CLOSING and CLOSED are states, not messages: a read reports them again by itself.
    if (message.type === MSG_CLOSING || message.type === MSG_CLOSED) return;
    if (this.handToReader(message)) return;
    this.#queue ??= [];
    if (this.#head > 0) this.#queue[--this.#head] = message;
    else this.#queue.unshift(message);
    this.#countIn(message);
  }

  /** Resolves the waiting reader with `message`; false when none waits. */
  handToReader(message: WSMessage): boolean {
    const resolve = this.#reader;
    if (resolve === null) return false;
    const loop = this.#readerLoop;
    this.#clearReader();
    resolve(loop ? loop.result(message) : message);
    return true;
  }

  /** What a read returns without waiting, if anything. */
  #immediate(): WSMessage | undefined {
    return this.#dequeue() ?? host.end(this.owner);
  }

  #dequeue(): WSMessage | undefined {
    const queue = this.#queue;
    if (queue === null || this.#head === queue.length) return undefined;
    const message = queue[this.#head];
    queue[this.#head++] = undefined;
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    if (message) {
      this.#queuedBytes -= messageSize(message);
      const mark = this.options.receiveHighWaterMark;
      if (
        this.#paused &&
        this.transport.capabilities.pauseReading &&
        this.#queuedBytes <= mark / 2 &&
        this.#queuedCount() <= receiveMessageLimit(mark) / 2
      ) {
        this.#paused = false;
        host.resumed(this.owner);
        this.transport.resume?.();
      }
    }
    return message;
  }

  /** Messages in the queue. */
  #queuedCount(): number {
    return this.#queue === null ? 0 : this.#queue.length - this.#head;
  }

  /**
   * Counts a queued message; past `receiveHighWaterMark` (or `receiveMessageLimit` messages)
   * asks the runtime to stop reading. True the first time the mark is passed where the runtime
   * cannot stop reading.
   */
  #countIn(message: WSMessage): boolean {
    this.#queuedBytes += messageSize(message);
    const mark = this.options.receiveHighWaterMark;
    if (
      this.#paused ||
      (this.#queuedBytes <= mark && this.#queuedCount() <= receiveMessageLimit(mark))
    ) {
      return false;
    }
    // Set where the runtime cannot pause too, and never cleared there: reported once.
    this.#paused = true;
    if (!this.transport.capabilities.pauseReading) return true;
    this.transport.pause?.();
    return false;
  }

  #startDeadline(ms: number, reject: (error: Error) => void): void {
    let deadline = this.#deadline;
    if (deadline === null) {
      deadline = { timer: undefined, ms, reject, fire: () => this.#readerTimedOut() };
      this.#deadline = deadline;
    }
    deadline.ms = ms;
    deadline.reject = reject;
    deadline.timer = setTimeout(deadline.fire, ms);
  }

  #readerTimedOut(): void {
    const deadline = this.#deadline;
    if (deadline === null) return;
    const reject = deadline.reject;
    const loop = this.#readerLoop;
    deadline.timer = undefined;
    this.#clearReader();
    if (loop) loop.finished = true;
    reject(new ReceiveTimeoutError(deadline.ms));
  }

  #clearReader(): void {
    this.#reader = null;
    this.#readerLoop = null;
    const deadline = this.#deadline;
    if (deadline !== null) {
      deadline.reject = ignore;
      if (deadline.timer !== undefined) {
        clearTimeout(deadline.timer);
        deadline.timer = undefined;
      }
    }
  }
}

function ignore(): void {}

// The prototype async generators share: it gives the loop object what a runtime adds to every
// async iterator (its own `Symbol.asyncIterator`, and `Symbol.asyncDispose` where it exists).
const AsyncIteratorPrototype: object = Object.getPrototypeOf(
  Object.getPrototypeOf(async function* () {}).prototype,
);

/**
 * One `for await` loop over a connection: behaves as the async generator it replaces (ends on
 * CLOSE or once the connection is closing/closed, and for good after an error, `return()` or
 * `throw()`), without an async generator's extra promise hops per message.
 */
export class MessageIterator implements AsyncIterator<LoopItem, void, undefined> {
  finished = false;
  /** The promise of this loop's last read that waited (see `Receiver.read`). */
  pending: Promise<unknown> | null = null;

  declare readonly receiver: Receiver;

  constructor(receiver: Receiver) {
    this.receiver = receiver;
  }

  next(): Promise<LoopResult> {
    return this.finished
      ? DONE_PROMISE
      : this.receiver.read(this, this.receiver.options.receiveTimeout);
  }

  return(value?: undefined): Promise<LoopResult> {
    this.finished = true;
    return Promise.resolve({ value, done: true });
  }

  throw(error?: unknown): Promise<LoopResult> {
    this.finished = true;
    return Promise.reject(error);
  }

  /** The iterator result for `message`: done at the end of the connection. */
  result(message: WSMessage): LoopResult {
    if (message.type === MSG_CLOSE || message.type === MSG_CLOSING || message.type === MSG_CLOSED) {
      this.finished = true;
      return DONE;
    }
    // CLOSING and CLOSED share one interface, which narrowing by two values does not remove.
    return { value: message as LoopItem, done: false };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
Object.setPrototypeOf(MessageIterator.prototype, AsyncIteratorPrototype);
