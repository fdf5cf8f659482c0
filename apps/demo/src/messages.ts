/**
 * The chat's message kinds, as channels' typed messages (`@anyws/core/channels`): one definition
 * imported by the server and by the page, validated on receive with valibot (a Standard Schema
 * validator), with the types of both ends inferred from it.
 */
import { defineMessages, type Publication } from '@anyws/core/channels';
import * as v from 'valibot';
import { LIMITS } from './protocol.js';

const user = v.object({ id: v.string(), name: v.string() });

/** A chat message as it is kept in a room's history and delivered. */
const message = v.object({
  /**
   * The sender's user id and the id its page chose, so that a message sent again after a lost
   * reply shows once.
   */
  id: v.string(),
  user,
  text: v.string(),
  /** The server's clock, ms since the epoch. */
  at: v.number(),
});

/** How many recent messages a page gets when it has to load a room afresh. */
export const RECENT_MESSAGES = 50;

/**
 * Every kind. The room's channel (`room:<name>`, see {@link roomChannel}) carries `message`
 * publications, kept in the history for recovery; the others are one-way messages and requests.
 */
export const chatMessages = defineMessages({
  /** Page → server, a request: post a message in the room. The reply is the message's id. */
  say: {
    data: v.object({
      id: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
      text: v.pipe(
        v.string(),
        v.trim(),
        v.nonEmpty('an empty message is not sent'),
        v.maxLength(
          LIMITS.maxTextLength,
          `a message has at most ${LIMITS.maxTextLength} characters`,
        ),
      ),
    }),
    reply: v.object({ id: v.string() }),
  },
  /** A publication on the room's channel. */
  message: { data: message },
  /**
   * Page → server, a request: the room's most recent messages (up to {@link RECENT_MESSAGES}),
   * for a page that joins afresh or could not recover what it missed.
   */
  recent: {
    data: v.object({}),
    reply: v.object({
      epoch: v.string(),
      messages: v.array(v.object({ offset: v.number(), message })),
    }),
  },
  /** Server → page: the welcome. */
  welcome: { data: v.object({ room: v.string(), text: v.string(), at: v.number() }) },
  /** Server → page: a user's first connection to the room opened. */
  arrived: { data: v.object({ user, at: v.number() }) },
  /** Server → page: a user's last connection to the room closed. */
  departed: { data: v.object({ user, at: v.number() }) },
  /** Server → page: who is in the room, once per user. */
  presence: { data: v.object({ users: v.array(user) }) },
  /** Page → server: leaving; the server closes with 1000. */
  bye: { data: v.object({}) },
});

/** The chat's message definitions. */
export type ChatMessages = typeof chatMessages;

/** A chat message as the page receives it. */
export type ChatMessage = v.InferOutput<typeof message>;

/** A publication on a room's channel. */
export type RoomPublication = Publication<ChatMessages>;

/** The channel of a room's messages. */
export function roomChannel(room: string): string {
  return `room:${room}`;
}
