import { InMemoryEventStore, newEvent } from '@haven/eventstore';
import { StaffNames } from './staff-names';

const userEvent = (displayName: string) =>
  newEvent({
    type: 'haven.identity.v1.UserInvited',
    data: { userId: 'u1', displayName, role: 'clinician' },
    actor: { kind: 'service', id: 'identity' },
  });

describe('staff names for a visit read', () => {
  it('names staff users from their identity stream, and nobody else', async () => {
    const store = new InMemoryEventStore();
    await store.append('identity.user-u1', 'no_stream', [userEvent('Dr. Amara Okafor')]);
    // A stream that happens to exist under a patient's or guest's id is never read for them.
    await store.append('identity.user-pat1', 'no_stream', [userEvent('Not A Patient Name')]);
    const names = await new StaffNames(store).of([
      'users/u1',
      'patients/pat1',
      'guests/pat1',
      'users/nobody',
    ]);
    expect([...names]).toEqual([['users/u1', 'Dr. Amara Okafor']]);
  });

  it('shows a new name once the cached one is a minute old', async () => {
    const store = new InMemoryEventStore();
    await store.append('identity.user-u1', 'no_stream', [userEvent('Dr. A')]);
    let now = 0;
    const names = new StaffNames(store, () => now);
    expect((await names.of(['users/u1'])).get('users/u1')).toBe('Dr. A');
    await store.append('identity.user-u1', 'any', [userEvent('Dr. B')]);
    now = 30_000;
    expect((await names.of(['users/u1'])).get('users/u1')).toBe('Dr. A');
    now = 61_000;
    expect((await names.of(['users/u1'])).get('users/u1')).toBe('Dr. B');
  });
});
