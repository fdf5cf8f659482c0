/**
 * The channels wire envelope, version 1: the one place where every frame is defined.
 *
 * Every envelope is one TEXT message holding a JSON object whose first member is `"v"` (the
 * version) and whose second is `"t"` (the frame type), so it starts with `{"v":`. Frames:
 *
 * | `t`      | direction        | members                                                        | answer                 |
 * | -------- | ---------------- | -------------------------------------------------------------- | ---------------------- |
 * | `join`   | client → server  | `id`, `ch`, `since?: { epoch, offset }`                        | `joined` or `error`    |
 * | `joined` | server → client  | `id?`, `ch`, `epoch`, `offset`, `recovered`                    | —                      |
 * | `leave`  | client → server  | `ch`                                                           | — (idempotent)         |
 * | `pub`    | server → client  | `ch`, `epoch`, `offset`, `kind`, `data`                        | —                      |
 * | `pub`    | client → server  | `id`, `ch`, `kind`, `data` (a publish the server authorises)   | `res` (`{ epoch, offset }`) or `error` |
 * | `msg`    | both             | `kind`, `data` (one-way)                                       | `error` if invalid     |
 * | `req`    | both             | `id`, `kind`, `data`                                           | `res` or `error`       |
 * | `res`    | both             | `id`, `data` (the reply)                                       | —                      |
 * | `error`  | both             | `code`, `message`, `id?`, `ch?`, `issues?`                     | —                      |
 *
 * - `id`: a positive integer chosen by the sender of `join`, `pub` (client) and `req`, unique
 *   among its frames in flight; the answer (`joined`, `res`, `error`) carries it back. Each side
 *   numbers its own frames: an answer always refers to an id the receiver chose.
 * - `epoch` (string) names one run of a channel's history; `offset` (integer ≥ 0) counts its
 *   publications, the first being 1. Offset 0 is "nothing published yet".
 * - `joined.offset` is the position after which the client receives every publication, in order
 *   and once: the `since` offset when `recovered` is true, else the channel's current position
 *   (a fresh join, history trimmed past `since`, or another epoch), where the application
 *   loads the channel's state itself.
 * - A `joined` without `id` resets a live subscription: the server could not keep the client's
 *   position (the epoch changed, or a gap the history no longer held); `recovered` is false.
 * - `error.code` is a {@link ChannelErrorCode} that travels; `issues` come with `invalid_data`.
 *
 * What is not an envelope (BINARY, or TEXT that does not start with `{"v":`) is never touched by
 * channels: the server hands it to its `raw` hook unchanged, or, without one, answers
 * `error` `not_envelope` (the connection stays open); the client hands it to its `raw`
 * listeners, or, without any, reports it as an error event. A TEXT that starts with `{"v":` but
 * is not a valid envelope is answered with `error` `bad_frame` (or `unsupported_version`).
 */
import { ChannelError, type ChannelErrorCode, isWireCode } from './errors.js';
import type { WireIssue } from './schema.js';

/** The envelope version this code speaks. */
export const CHANNELS_VERSION = 1;

/** Where a client is in a channel's history. */
export interface StreamPosition {
  /** The history's epoch. */
  readonly epoch: string;
  /** The last publication seen (0: none). */
  readonly offset: number;
}

/** A join. */
export interface JoinFrame {
  t: 'join';
  id: number;
  ch: string;
  since?: StreamPosition;
}
/** The answer to a join. */
export interface JoinedFrame {
  t: 'joined';
  /** The join answered; absent when the server resets a live member's position. */
  id?: number;
  ch: string;
  epoch: string;
  offset: number;
  recovered: boolean;
}
/** Leaving a channel. */
export interface LeaveFrame {
  t: 'leave';
  ch: string;
}
/** A publication (server → client). */
export interface PubFrame {
  t: 'pub';
  ch: string;
  epoch: string;
  offset: number;
  kind: string;
  data: unknown;
}
/** A publish request (client → server). */
export interface PublishFrame {
  t: 'pub';
  id: number;
  ch: string;
  kind: string;
  data: unknown;
}
/** A one-way typed message. */
export interface MsgFrame {
  t: 'msg';
  kind: string;
  data: unknown;
}
/** A request. */
export interface ReqFrame {
  t: 'req';
  id: number;
  kind: string;
  data: unknown;
}
/** A reply. */
export interface ResFrame {
  t: 'res';
  id: number;
  data: unknown;
}
/** An error, answering the frame with `id` when it has one. */
export interface ErrorFrame {
  t: 'error';
  code: ChannelErrorCode;
  message: string;
  id?: number;
  ch?: string;
  issues?: WireIssue[];
}

/** Frames a server receives. */
export type ClientFrame =
  | JoinFrame
  | LeaveFrame
  | PublishFrame
  | MsgFrame
  | ReqFrame
  | ResFrame
  | ErrorFrame;
/** Frames a client receives. */
export type ServerFrame = JoinedFrame | PubFrame | MsgFrame | ReqFrame | ResFrame | ErrorFrame;
/** Any frame. */
export type Frame = ClientFrame | ServerFrame;

/** Encodes a frame as envelope text (`v` first, so that it starts with `{"v":`). */
export function encodeFrame(frame: Frame): string {
  return JSON.stringify({ v: CHANNELS_VERSION, ...frame });
}

/**
 * The text of a `pub` frame (server → client) around data serialised beforehand (`dataJson`,
 * undefined for none): a publisher serialises before it keeps anything, so that data that does
 * not serialise is refused before it reaches the history. Same member order as `encodeFrame`.
 */
export function encodePub(
  ch: string,
  epoch: string,
  offset: number,
  kind: string,
  dataJson: string | undefined,
): string {
  const head = encodeFrame({ t: 'pub', ch, epoch, offset, kind, data: undefined }).slice(0, -1);
  return dataJson === undefined ? `${head}}` : `${head},"data":${dataJson}}`;
}

/** Whether a TEXT is meant as an envelope. */
export function looksLikeEnvelope(text: string): boolean {
  return text.startsWith('{"v":');
}

/** The error of a frame that failed to decode, with the id it carried when one could be read. */
export interface DecodeFailure {
  error: ChannelError;
  id?: number;
}

/**
 * Decodes an envelope received by `side`: the frame, a {@link DecodeFailure} (to be answered
 * with an `error` frame), or null when `text` is not an envelope at all (raw).
 */
export function decodeFrame(
  text: string,
  side: 'client' | 'server',
): ClientFrame | ServerFrame | DecodeFailure | null {
  if (!looksLikeEnvelope(text)) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return bad('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return bad('not an object');
  const f = value as Record<string, unknown>;
  const id = isId(f.id) ? f.id : undefined;
  if (f.v !== CHANNELS_VERSION) {
    return {
      error: new ChannelError(
        'unsupported_version',
        `envelope version ${String(f.v)} is not spoken here (${String(CHANNELS_VERSION)} is)`,
      ),
      ...(id === undefined ? {} : { id }),
    };
  }
  const fail = (why: string): DecodeFailure => ({
    error: new ChannelError('bad_frame', `bad '${String(f.t)}' frame: ${why}`),
    ...(id === undefined ? {} : { id }),
  });
  switch (f.t) {
    case 'msg':
      return isKind(f.kind) ? { t: 'msg', kind: f.kind, data: f.data } : fail('kind');
    case 'req':
      if (id === undefined) return fail('id');
      return isKind(f.kind) ? { t: 'req', id, kind: f.kind, data: f.data } : fail('kind');
    case 'res':
      return id === undefined ? fail('id') : { t: 'res', id, data: f.data };
    case 'error': {
      if (!isWireCode(f.code) || typeof f.message !== 'string') return fail('code or message');
      const frame: ErrorFrame = { t: 'error', code: f.code, message: f.message };
      if (id !== undefined) frame.id = id;
      if (isChannel(f.ch)) frame.ch = f.ch;
      if (Array.isArray(f.issues)) frame.issues = f.issues.filter(isIssue).map(wireIssue);
      return frame;
    }
  }
  if (side === 'server') {
    switch (f.t) {
      case 'join': {
        if (id === undefined) return fail('id');
        if (!isChannel(f.ch)) return fail('ch');
        const frame: JoinFrame = { t: 'join', id, ch: f.ch };
        if (f.since !== undefined) {
          if (!isPosition(f.since)) return fail('since');
          frame.since = { epoch: f.since.epoch, offset: f.since.offset };
        }
        return frame;
      }
      case 'leave':
        return isChannel(f.ch) ? { t: 'leave', ch: f.ch } : fail('ch');
      case 'pub':
        if (id === undefined) return fail('id');
        if (!isChannel(f.ch)) return fail('ch');
        return isKind(f.kind)
          ? { t: 'pub', id, ch: f.ch, kind: f.kind, data: f.data }
          : fail('kind');
    }
  } else {
    switch (f.t) {
      case 'joined': {
        if (!isChannel(f.ch) || typeof f.recovered !== 'boolean') return fail('ch or recovered');
        if (!isPosition(f)) return fail('epoch or offset');
        const frame: JoinedFrame = {
          t: 'joined',
          ch: f.ch,
          epoch: f.epoch,
          offset: f.offset,
          recovered: f.recovered,
        };
        if (id !== undefined) frame.id = id;
        return frame;
      }
      case 'pub':
        if (!isChannel(f.ch) || !isKind(f.kind)) return fail('ch or kind');
        if (!isPosition(f)) return fail('epoch or offset');
        return { t: 'pub', ch: f.ch, epoch: f.epoch, offset: f.offset, kind: f.kind, data: f.data };
    }
  }
  return fail(`no such frame type for a ${side}`);
}

function bad(why: string): DecodeFailure {
  return { error: new ChannelError('bad_frame', `bad envelope: ${why}`) };
}

function isId(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}
function isKind(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}
/** A channel name: a non-empty string of at most 1,024 characters. */
export function isChannel(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && value.length <= 1024;
}
function isPosition(value: unknown): value is StreamPosition {
  const p = value as Partial<StreamPosition> | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.epoch === 'string' &&
    Number.isSafeInteger(p.offset) &&
    (p.offset as number) >= 0
  );
}
function isIssue(value: unknown): value is WireIssue {
  return typeof (value as Partial<WireIssue> | null)?.message === 'string';
}
/** An issue as received, with only the members and types an issue has. */
function wireIssue(issue: WireIssue): WireIssue {
  const path: unknown = issue.path;
  const ok =
    Array.isArray(path) && path.every((k) => typeof k === 'string' || typeof k === 'number');
  return ok
    ? { message: issue.message, path: path as (string | number)[] }
    : { message: issue.message };
}

/** The error frame that reports `error`, answering `id` when given. */
export function errorFrame(error: ChannelError, id?: number): ErrorFrame {
  const frame: ErrorFrame = { t: 'error', code: error.code, message: error.message };
  if (id !== undefined) frame.id = id;
  if (error.channel !== undefined) frame.ch = error.channel;
  if (error.issues !== undefined) frame.issues = [...error.issues];
  return frame;
}

/** The local error an error frame stands for. */
export function frameError(frame: ErrorFrame): ChannelError {
  return new ChannelError(frame.code, frame.message, frame.issues, frame.ch);
}
