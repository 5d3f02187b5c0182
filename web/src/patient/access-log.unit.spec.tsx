/**
 * @jest-environment jsdom
 */
import { fireEvent, render, screen } from '@testing-library/react';
import type { AccessLogEntryView } from '../../../services/gateway/src/audit-view';
import { flush, serveApi } from '../testing/fake-api';
import { AccessLog } from './access-log';

const read = (over: Partial<AccessLogEntryView> = {}): AccessLogEntryView => ({
  time: '2026-12-08T10:15:05.000Z',
  role: 'clinician',
  name: 'Dr Ada Lovelace',
  resource: 'patients',
  fields: ['name'],
  purpose: 'treatment',
  outcome: 'granted',
  breakGlass: false,
  ...over,
});

/** The lines the patient reads once the log is opened over `entries`. */
async function linesOf(entries: AccessLogEntryView[]): Promise<string[]> {
  serveApi({ 'GET /api/patient/access-log': { status: 200, body: { entries } } });
  const { container } = render(<AccessLog />);
  const details = container.querySelector('details')!;
  details.open = true;
  fireEvent(details, new Event('toggle'));
  await flush();
  return screen.queryAllByRole('listitem').map((li) => li.textContent ?? '');
}

describe("the patient's access log", () => {
  it('puts reads of the same thing by the same person in the same minute on one line that counts them', async () => {
    const lines = await linesOf([
      read(),
      read({ time: '2026-12-08T10:15:40.000Z' }),
      read({ time: '2026-12-08T10:15:59.000Z', fields: ['date_of_birth'] }),
    ]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/: Dr Ada Lovelace \(clinician\) opened your details 3 times \(treatment\)\.$/);
  });

  it('keeps apart what differs: the person, the purpose, the outcome, the minute, a run broken by another read', async () => {
    const lines = await linesOf([
      read(),
      read({ role: 'front_desk', name: 'Front Desk' }),
      read(),
      read({ purpose: 'payment' }),
      read({ outcome: 'denied' }),
      read({ time: '2026-12-08T10:16:05.000Z' }),
    ]);
    expect(lines).toHaveLength(6);
    expect(lines.filter((l) => l.includes(' times '))).toEqual([]);
  });

  it('says nothing about a count for a single read', async () => {
    const lines = await linesOf([read()]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ opened your details \(treatment\)\.$/);
  });
});
