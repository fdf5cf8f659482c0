/**
 * What both ends of a channel connection do alike: typed one-way messages, requests and replies
 * with correlation ids and timeouts, validation on receive, and error frames. The server's
 * per-connection peer and the client extend it with joins and publications.
 */
import type { WebSocketConnection } from '../connection.js';
import type { ControlMessage, DataMessage } from '../message.js';
import { WSMsgType } from '../protocol.js';
import { ChannelError, isWireCode, RequestTimeoutError } from './errors.js';
import {
  type AnyMessage,
  type Checked,
  type DataIn,
  type DataOut,
  type KindOf,
  type MessageDefs,
  type ReplyIn,
  type ReplyOut,
  type RequestKindOf,
  type StandardSchemaV1,
  validate,
  type WireIssue,
} from './schema.js';
import {
  type ClientFrame,
  decodeFrame,
  encodeFrame,
  errorFrame,
  type Frame,
  frameError,
  type ServerFrame,
} from './wire.js';

/** The default time a request waits for its reply, in ms. */
export const DEFAULT_REQUEST_TIMEOUT = 10_000;

/** Options of `request()`. */
export interface RequestOptions {
  /** Ms to wait for the reply before a {@link RequestTimeoutError}; null: no limit. Default 10,000. */
  timeout?: number | null;
}

/**
 * Handlers of the request kinds this end answers. `peer` is the server's per-connection peer on
 * the server, the client on the client. Throwing a `ChannelError` answers with its code.
 */
export type RequestHandlers<M extends MessageDefs, P> = {
  [K in RequestKindOf<M>]?: (
    data: DataOut<M, K>,
    peer: P,
  ) => ReplyIn<M, K> | Promise<ReplyIn<M, K>>;
};

interface Pending {
  /** What was asked (the request's kind), for errors. */
  readonly label: string;
  /** The schema of the answer's data; null: none. */
  readonly reply: StandardSchemaV1 | null;
  readonly resolve: (data: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout> | undefined;
}

const ignore = (): void => undefined;

/** A received frame with the data its schema produced. */
export type Validated<F> = { frame: F; checked: Checked<unknown> };

/** The shared half of a channel connection. `F` are the frames this end receives. */
export abstract class Endpoint<M extends MessageDefs, P, F extends ClientFrame | ServerFrame> {
  /** The message definitions both ends share. */
  readonly messages: M;
  readonly #side: 'client' | 'server';
  readonly #requests: RequestHandlers<M, P>;
  readonly #pending = new Map<number, Pending>();
  #lastId = 0;
  /** Frames waiting for an async validator, so that later frames stay behind them. */
  #order: Promise<void> | null = null;
  readonly #onMessage = new Set<(message: AnyMessage<M>) => void>();

  constructor(side: 'client' | 'server', messages: M, requests: RequestHandlers<M, P> | undefined) {
    this.#side = side;
    this.messages = messages;
    this.#requests = requests ?? {};
  }

  /** The connection frames go out on, or null while there is none. */
  protected abstract get connection(): WebSocketConnection<unknown> | null;
  /** What request handlers get as their `peer`. */
  protected abstract get peer(): P;
  /** A frame only this side handles (joins, publications). */
  protected abstract handle(received: Validated<F>): void;
  /** A message that is not an envelope. */
  protected abstract raw(message: DataMessage | ControlMessage): void;
  /** An error with no request to reject: the peer's `error` frame without id, a listener's throw. */
  protected abstract fault(error: Error): void;

  /** Listens to one-way typed messages (`msg` frames); returns the remover. */
  onMessage(listener: (message: AnyMessage<M>) => void): () => void {
    this.#onMessage.add(listener);
    return () => this.#onMessage.delete(listener);
  }

  /** Sends a one-way typed message. Rejects with a TypeError for a kind the definition lacks. */
  send<K extends KindOf<M>>(kind: K, data: DataIn<M, K>): Promise<void> {
    if (!Object.hasOwn(this.messages, kind)) return Promise.reject(unknownKind(kind));
    return this.sendFrame({ t: 'msg', kind, data });
  }

  /**
   * Asks the other end and resolves with its reply, validated against the kind's `reply` schema.
   * Rejects with {@link RequestTimeoutError} when no reply comes within `timeout`, with a
   * `ChannelError` when the other end answers with an error (or an invalid reply), and with
   * `ChannelError('disconnected')` when the connection ends first.
   */
  request<K extends RequestKindOf<M>>(
    kind: K,
    data: DataIn<M, K>,
    options: RequestOptions = {},
  ): Promise<ReplyOut<M, K>> {
    const reply = this.messages[kind]?.reply;
    if (reply === undefined) return Promise.reject(unknownKind(kind));
    return this.call(kind, reply, (id) => ({ t: 'req', id, kind, data }), options) as Promise<
      ReplyOut<M, K>
    >;
  }

  /** Requests waiting for their answer. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Sends a frame on the current connection; rejects when there is none. */
  protected sendFrame(frame: Frame): Promise<void> {
    const conn = this.connection;
    if (conn?.state !== 'open') return Promise.reject(disconnected());
    let text: string;
    try {
      text = encodeFrame(frame);
    } catch (error) {
      return Promise.reject(error); // JSON.stringify's TypeError (a BigInt, a cycle)
    }
    return conn.sendText(text);
  }

  /** Sends an answer, where a failure only means the peer is gone. */
  protected answer(frame: Frame): void {
    this.sendFrame(frame).catch(ignore);
  }

  /**
   * Sends the frame `make(id)` makes and waits for its answer (`res` or `error` with that id):
   * the answer's data checked against `reply` (null: taken as it is), a timeout, `disconnected`
   * when the connection ends. `label` names it in a {@link RequestTimeoutError}.
   */
  protected call(
    label: string,
    reply: StandardSchemaV1 | null,
    make: (id: number) => Frame,
    options: RequestOptions = {},
  ): Promise<unknown> {
    const timeout = options.timeout === undefined ? DEFAULT_REQUEST_TIMEOUT : options.timeout;
    if (timeout !== null && !(timeout >= 0 && timeout <= 2 ** 31 - 1))
      return Promise.reject(new RangeError('timeout must be null or 0 to 2^31-1 ms'));
    return new Promise<unknown>((resolve, reject) => {
      const id = this.nextId();
      const timer =
        timeout === null
          ? undefined
          : setTimeout(() => this.settle(id, new RequestTimeoutError(label, timeout)), timeout);
      this.#pending.set(id, { label, reply, resolve, reject, timer });
      this.sendFrame(make(id)).catch((error: unknown) => this.settle(id, error));
    });
  }

  /** A new id for a frame of this end. */
  protected nextId(): number {
    this.#lastId = this.#lastId >= Number.MAX_SAFE_INTEGER ? 1 : this.#lastId + 1;
    return this.#lastId;
  }

  /** Ends the wait of `id`: with the answer's data, or with an error. */
  protected settle(id: number, outcome: unknown, ok = false): boolean {
    const pending = this.#pending.get(id);
    if (!pending) return false;
    this.#pending.delete(id);
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    if (ok) pending.resolve(outcome);
    else pending.reject(outcome instanceof Error ? outcome : new Error(String(outcome)));
    return true;
  }

  /** Rejects every wait: the connection they were sent on ended. */
  protected dropPending(): void {
    for (const id of [...this.#pending.keys()]) this.settle(id, disconnected());
  }

  /** An error frame answering `id`: true when this side took it (the client's joins). */
  protected answered(_id: number, _error: ChannelError): boolean {
    return false;
  }

  /** Takes a message of the connection: decodes, validates, dispatches in arrival order. */
  protected take(message: DataMessage | ControlMessage): void {
    if (message.type !== WSMsgType.TEXT) {
      this.raw(message);
      return;
    }
    const decoded = decodeFrame(message.data, this.#side);
    if (decoded === null) {
      this.raw(message);
      return;
    }
    if (!('t' in decoded)) {
      this.answer(errorFrame(decoded.error, decoded.id));
      return;
    }
    const frame = decoded as F;
    const schema = this.#schemaOf(frame);
    if (schema === 'unknown') return;
    const run = (): void | Promise<void> => {
      const data = (frame as { data?: unknown }).data;
      let result: Checked<unknown> | Promise<Checked<unknown>>;
      try {
        result = schema ? validate(schema, data) : { ok: true, value: data };
      } catch (error) {
        result = this.#validatorFailed(error);
      }
      if (result instanceof Promise)
        return result.then(
          (checked) => this.#dispatch(frame, checked),
          (error: unknown) => this.#dispatch(frame, this.#validatorFailed(error)),
        );
      this.#dispatch(frame, result);
    };
    if (this.#order === null) {
      const pending = run();
      if (pending) this.#chain(pending);
    } else this.#chain(this.#order.then(run));
  }

  /** A validator that threw is a bug of this end: reported, and the data taken as invalid. */
  #validatorFailed(error: unknown): Checked<unknown> {
    this.fault(asError(error));
    return { ok: false, issues: [{ message: 'the validator failed' }] };
  }

  #chain(step: Promise<void>): void {
    const next = step.catch((error: unknown) => this.fault(asError(error)));
    this.#order = next;
    void next.then(() => {
      if (this.#order === next) this.#order = null;
    });
  }

  /** The schema a frame's data is checked against; null: none; 'unknown': answered already. */
  #schemaOf(frame: F): StandardSchemaV1 | null | 'unknown' {
    switch (frame.t) {
      case 'msg':
      case 'req':
      case 'pub': {
        const def = this.messages[frame.kind];
        if (def && Object.hasOwn(this.messages, frame.kind)) return def.data;
        const error = new ChannelError('unknown_kind', `no message kind '${frame.kind}'`);
        if (this.#side === 'client' && frame.t === 'pub') this.fault(error);
        else this.answer(errorFrame(error, 'id' in frame ? frame.id : undefined));
        return 'unknown';
      }
      case 'res': {
        return this.#pending.get(frame.id)?.reply ?? null;
      }
      default:
        return null;
    }
  }

  #dispatch(frame: F, checked: Checked<unknown>): void {
    try {
      switch (frame.t) {
        case 'msg':
          if (!checked.ok) this.answer(errorFrame(invalid(frame.kind, checked.issues)));
          else
            for (const l of this.#onMessage)
              l({ kind: frame.kind, data: checked.value } as AnyMessage<M>);
          return;
        case 'req':
          if (!checked.ok) this.answer(errorFrame(invalid(frame.kind, checked.issues), frame.id));
          else this.#serve(frame.id, frame.kind, checked.value);
          return;
        case 'res':
          // A reply whose wait is gone (timed out) is dropped: the requester gave up on it.
          if (!checked.ok)
            this.settle(
              frame.id,
              invalid(this.#pending.get(frame.id)?.label ?? '', checked.issues, 'reply'),
            );
          else this.settle(frame.id, checked.value, true);
          return;
        case 'error': {
          const error = frameError(frame);
          const id = frame.id;
          if (id === undefined || !(this.answered(id, error) || this.settle(id, error)))
            this.fault(error);
          return;
        }
        default:
          this.handle({ frame, checked });
      }
    } catch (error) {
      this.fault(asError(error));
    }
  }

  #serve(id: number, kind: string, data: unknown): void {
    const handler = (this.#requests as Record<string, ((d: unknown, p: P) => unknown) | undefined>)[
      kind
    ];
    if (!handler || this.messages[kind]?.reply === undefined) {
      this.answer(
        errorFrame(new ChannelError('no_handler', `no handler for requests of '${kind}'`), id),
      );
      return;
    }
    let reply: unknown;
    try {
      reply = handler(data, this.peer);
    } catch (error) {
      this.#failed(id, kind, error);
      return;
    }
    Promise.resolve(reply).then(
      (value) =>
        this.sendFrame({ t: 'res', id, data: value }).catch((error: unknown) => {
          // A reply that does not serialise fails the request; a closed connection ends it.
          if (error instanceof TypeError) this.#failed(id, kind, error);
        }),
      (error: unknown) => this.#failed(id, kind, error),
    );
  }

  #failed(id: number, kind: string, error: unknown): void {
    const sent =
      error instanceof ChannelError && isWireCode(error.code)
        ? error
        : new ChannelError('handler_error', `the handler of '${kind}' failed`);
    this.answer(errorFrame(sent, id));
    if (sent !== error) this.fault(asError(error));
  }
}

/** The error of data that failed its schema. */
export function invalid(kind: string, issues: readonly WireIssue[], what = 'data'): ChannelError {
  return new ChannelError('invalid_data', `invalid ${what} of '${kind}'`, issues);
}

function unknownKind(kind: string): TypeError {
  return new TypeError(`no message kind '${kind}' (or it has no reply schema) in the definition`);
}

/** The error of a wait whose connection ended. */
export function disconnected(): ChannelError {
  return new ChannelError('disconnected', 'the connection ended');
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
