/**
 * @jest-environment jsdom
 */
import { openLive, pageActivity } from './live-channel';
import { FakeSocket, useFakeSockets } from '../testing/fake-socket';

const activities = (s: FakeSocket) => s.sent.filter((d) => d.includes('"activity"')).length;

describe('the page activity', () => {
  useFakeSockets();

  it("reaches every open live channel of the page (the console's and the visit chat's), not a closed one", async () => {
    const consoleChannel = openLive({});
    const chatChannel = openLive({});
    const gone = openLive({});
    await Promise.resolve();
    gone.close();
    const [consoleSocket, chatSocket, goneSocket] = FakeSocket.opened;
    pageActivity();
    // The gateway signs each staff socket out on its own when it hears nothing from it.
    expect(activities(consoleSocket!)).toBe(1);
    expect(activities(chatSocket!)).toBe(1);
    expect(activities(goneSocket!)).toBe(0);
    consoleChannel.close();
    chatChannel.close();
    pageActivity();
    expect(FakeSocket.opened.map(activities)).toEqual([1, 1, 0]);
  });
});
