/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import { LobbyAlerts, LobbyNoteForm, titleWith } from './lobby-alerts';
import { WaitingNotice, noticeLines, type LobbyNotice } from './waiting-notice';

const note = (n: Partial<LobbyNotice>): LobbyNotice => ({
  kind: 'none',
  delayMinutes: 0,
  text: '',
  showPosition: false,
  position: 0,
  at: null,
  ...n,
});

describe('the clinician’s waiting-room alerts', () => {
  it('puts the waiting count in the tab title and takes it away again', () => {
    expect(titleWith('Haven', 0)).toBe('Haven');
    expect(titleWith('Haven', 1)).toBe('(1) waiting · Haven');
    document.title = 'Haven';
    const { rerender, unmount } = render(<LobbyAlerts waiting={0} />);
    expect(document.title).toBe('Haven');
    rerender(<LobbyAlerts waiting={2} />);
    expect(document.title).toBe('(2) waiting · Haven');
    unmount();
    expect(document.title).toBe('Haven');
  });

  it('asks for notification permission only on a click, and notifies without a name when a patient arrives', async () => {
    const shown: string[] = [];
    const requested: string[] = [];
    class FakeNotification {
      static permission = 'default';
      static requestPermission = async () => {
        requested.push('asked');
        FakeNotification.permission = 'granted';
        return 'granted';
      };
      onclick: (() => void) | null = null;
      constructor(title: string) {
        shown.push(title);
      }
    }
    Object.assign(window, { Notification: FakeNotification });
    const { rerender } = render(<LobbyAlerts waiting={0} />);
    expect(requested).toEqual([]);
    fireEvent.click(screen.getByRole('button', { name: 'Notify me when a patient arrives' }));
    await act(async () => undefined);
    expect(requested).toEqual(['asked']);
    rerender(<LobbyAlerts waiting={1} />);
    expect(shown).toEqual(['A patient is waiting']);
    rerender(<LobbyAlerts waiting={1} />);
    rerender(<LobbyAlerts waiting={0} />);
    expect(shown).toHaveLength(1);
  });

  it('posts a canned running-late note and a typed one, with the queue shown when asked', async () => {
    const posts: unknown[] = [];
    render(<LobbyNoteForm visitId="v1" post={async (id, body) => posts.push([id, body])} />);
    fireEvent.click(screen.getByLabelText('Show the patient their place in the queue'));
    fireEvent.click(screen.getByRole('button', { name: 'Running 10 min late' }));
    await act(async () => undefined);
    fireEvent.change(screen.getByLabelText('Your note'), { target: { value: 'Back soon' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send note' }));
    await act(async () => undefined);
    expect(posts).toEqual([
      ['v1', { kind: 'running_late', delayMinutes: 10, showPosition: true }],
      ['v1', { kind: 'typed', text: 'Back soon', showPosition: true }],
    ]);
    expect(screen.getByText('The patient sees your note.')).toBeTruthy();
  });
});

describe('the patient’s waiting-room note', () => {
  it('says what the clinician chose, in words', () => {
    expect(noticeLines(note({}))).toEqual([]);
    expect(
      noticeLines(note({ kind: 'running_late', delayMinutes: 10, showPosition: true, position: 2 })),
    ).toEqual(['Your clinician is running about 10 minutes late.', 'You are number 2 in the queue.']);
    expect(noticeLines(note({ kind: 'typed', text: 'Hi', showPosition: true, position: 1 }))).toEqual([
      'Hi',
      'You are next.',
    ]);
  });

  it('shows a typed note as text, read again when told', async () => {
    let reads = 0;
    const load = async () => {
      reads += 1;
      return note({ kind: 'typed', text: '<img src=x onerror=alert(1)>' });
    };
    const { rerender } = render(<WaitingNotice version={0} load={load} />);
    await act(async () => undefined);
    expect(screen.getByText('<img src=x onerror=alert(1)>')).toBeTruthy();
    expect(document.querySelector('#waiting-notice img')).toBeNull();
    rerender(<WaitingNotice version={1} load={load} />);
    await act(async () => undefined);
    expect(reads).toBe(2);
  });
});
