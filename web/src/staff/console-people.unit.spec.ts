/**
 * @jest-environment jsdom
 */
import { deviceCheckText, othersIn } from './console';
import type { Participant } from './types';
import { participant } from '../testing/visits';

const p = (id: string, kind: string, extra: Partial<Participant> = {}): Participant =>
  participant({ id, kind, inMedia: true, ...extra });

describe('the people a clinician can admit or remove', () => {
  it('leaves out the clinician themself after they handed host rights over, and the hosts', () => {
    const people = [
      p('p-me', 'clinician', { host: false, self: true }),
      p('p-dan', 'clinician', { host: true }),
      p('p-int', 'interpreter'),
      p('p-pat', 'patient'),
    ];
    expect(othersIn(people).map((x) => x.id)).toEqual(['p-int', 'p-pat']);
  });

  it('lists a clinician guest who is not a host', () => {
    expect(othersIn([p('p-eve', 'clinician', { host: false, self: false })]).map((x) => x.id)).toEqual([
      'p-eve',
    ]);
  });
});

describe('the device check beside a waiting patient', () => {
  it('says which devices work, or that the browser blocked them, or nothing when not reported', () => {
    expect(deviceCheckText({ camera: true, microphone: false, speaker: true, permission: 'granted' })).toBe(
      'Camera ✓ · Microphone ✗ · Speaker ✓',
    );
    expect(deviceCheckText({ camera: false, microphone: false, speaker: true, permission: 'denied' })).toBe(
      'Camera and microphone blocked by the browser',
    );
    expect(deviceCheckText(null)).toBeNull();
  });
});
