/**
 * @jest-environment jsdom
 */
import { fireEvent, render, screen } from '@testing-library/react';
import { StaffMessages } from './staff-messages';
import { flush, serveBodies } from '../testing/fake-api';

jest.mock('../live/live-channel', () => ({
  openLive: () => ({ close: () => undefined, activity: () => undefined, send: () => false }),
}));

const server = serveBodies;

/** Renders the messages as `role` and starts a conversation with patient p1 (it becomes thread `id`); the calls. */
async function startConversation(role: 'front_desk' | 'clinician', id: string) {
  const calls = server({
    'GET /api/patients': { patients: [{ id: 'p1', name: 'Ana Ruiz' }] },
    'GET /api/messages/threads': { threads: [] },
    'POST /api/messages/threads': { thread: { id } },
    [`GET /api/messages/threads/${id}`]: {
      thread: { id, open: true, unreadCount: 0, messageCount: 0 },
      messages: [],
    },
  });
  render(<StaffMessages role={role} />);
  await flush();
  fireEvent.change(screen.getByLabelText('Write to a patient'), { target: { value: 'p1' } });
  fireEvent.click(screen.getByText('New message'));
  await flush();
  return calls;
}

describe('the front desk’s scheduling messages', () => {
  it('starts a scheduling conversation with a patient and opens it', async () => {
    const calls = await startConversation('front_desk', 't9');
    expect(calls.find((c) => c.route === 'POST /api/messages/threads')?.body).toEqual({
      topic: 'scheduling',
      patientId: 'p1',
    });
    expect(document.querySelector('[data-thread="t9"]')).not.toBeNull();
  });

  it('lets a clinician start a care conversation', async () => {
    const calls = await startConversation('clinician', 't8');
    expect(calls.find((c) => c.route === 'POST /api/messages/threads')?.body).toMatchObject({
      topic: 'care',
    });
  });
});
