/**
 * Channels over the page's reconnecting client, run inside Chromium: the page only joins once;
 * every re-join after its connection is cut is the client's own. `control(command, argument)`
 * asks the Node side to act (cut the connection, refuse upgrades, publish, network on and off).
 */
import { ChannelClient, type JoinResult } from '@anyws/core/channels';
import { chatMessages as messages, until } from '@anyws/core/contract';
import { type ClientState, ReconnectingClient } from '../../src/index.js';

declare const control: (command: string, argument?: unknown) => Promise<unknown>;

export const channelScenarios = {
  /**
   * Joined, three live publications; then the connection is cut from the server's side while
   * upgrades are refused and the page goes offline; `missed` publications are made meanwhile;
   * the network comes back and the page catches up by itself.
   */
  async recoverAfterCut(arg: { url: string; missed: number }) {
    const client = new ReconnectingClient(arg.url, {
      // Far longer than the test: only the browser's `online` event brings the client back in time.
      reconnect: { minDelay: 20_000, maxDelay: 20_000 },
      heartbeat: null,
    });
    const states: ClientState[] = [];
    client.on('state', (state) => states.push(state));
    const channels = new ChannelClient({ messages }, client);
    const room = channels.channel('room');
    const got: { offset: number; text: string }[] = [];
    const joins: JoinResult[] = [];
    room.on('publication', (p) => got.push({ offset: p.offset, text: p.data.text }));
    room.on('joined', (result) => joins.push(result));
    await room.join();
    await control('publish', { from: 1, to: 3 });
    await until(() => got.length === 3, 'three live publications');

    await control('refuse', true);
    await control('cut');
    await until(() => client.state === 'reconnecting', 'reconnecting after the cut');
    await control('offline');
    await until(() => client.state === 'offline', 'offline');
    const joinedWhileCut = room.state;
    await control('publish', { from: 4, to: 3 + arg.missed });
    const gotWhileCut = got.length;
    await control('refuse', false);
    await control('online');
    await until(() => got.length === 3 + arg.missed, 'the missed publications');
    await control('publish', { from: 4 + arg.missed, to: 4 + arg.missed });
    await until(() => got.length === 4 + arg.missed, 'a live one after them');
    await client.close();
    return { got, joins, states, joinedWhileCut, gotWhileCut };
  },
};
