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

describe('the front desk’s scheduling messages', () => {
  it('starts a scheduling conversation with a patient and opens it', async () => {
    const calls = server({
      'GET /api/patients': { patients: [{ id: 'p1', name: 'Ana Ruiz' }] },
      'GET /api/messages/threads': { threads: [] },
      'POST /api/messages/threads': { thread: { id: 't9' } },
      'GET /api/messages/threads/t9': {
        thread: { id: 't9', open: true, unreadCount: 0, messageCount: 0 },
        messages: [],
      },
    });
    render(<StaffMessages role="front_desk" />);
    await flush();
    fireEvent.change(screen.getByLabelText('Write to a patient'), { target: { value: 'p1' } });
    fireEvent.click(screen.getByText('New message'));
    await flush();
    expect(calls.find((c) => c.route === 'POST /api/messages/threads')?.body).toEqual({
      topic: 'scheduling',
      patientId: 'p1',
    });
    expect(document.querySelector('[data-thread="t9"]')).not.toBeNull();
  });

  it('lets a clinician start a care conversation', async () => {
    const calls = server({
      'GET /api/patients': { patients: [{ id: 'p1', name: 'Ana Ruiz' }] },
      'GET /api/messages/threads': { threads: [] },
      'POST /api/messages/threads': { thread: { id: 't8' } },
      'GET /api/messages/threads/t8': {
        thread: { id: 't8', open: true, unreadCount: 0, messageCount: 0 },
        messages: [],
      },
    });
    render(<StaffMessages role="clinician" />);
    await flush();
    fireEvent.change(screen.getByLabelText('Write to a patient'), { target: { value: 'p1' } });
    fireEvent.click(screen.getByText('New message'));
    await flush();
    expect(calls.find((c) => c.route === 'POST /api/messages/threads')?.body).toMatchObject({
      topic: 'care',
    });
  });
});
