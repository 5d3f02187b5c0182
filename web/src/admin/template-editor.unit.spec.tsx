/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import { setClinicTimeZone } from '../staff/time';
import { CLINIC_ZONE, expectOnClinicClock } from '../testing/clinic-clock';
import { flush, invalidArgument, serveApi } from '../testing/fake-api';
import { TemplateEditor } from './template-editor';

const afterPreviewDelay = () => flush(500);

const SET = {
  language: 'en',
  updateTime: null,
  templates: [
    {
      kind: 'invitation',
      subject: 'Visit at {{clinic_name}}',
      body: 'Join {{join_link}} {{opt_out}}',
      sms: 'sms {{opt_out}}',
    },
    {
      kind: 'reminder',
      subject: 'Reminder {{clinic_name}}',
      body: 'Soon {{opt_out}}',
      sms: 'soon {{opt_out}}',
    },
  ],
};
const REFUSED = invalidArgument;

describe('the template editor', () => {
  afterEach(() => setClinicTimeZone(undefined));

  it('opens a language’s messages and previews what the admin types, a moment after', async () => {
    const calls = serveApi({
      'GET /api/message-templates/en': { status: 200, body: SET },
      'POST /api/message-templates/preview': (body) => ({
        status: 200,
        body: {
          subject: String((body as { subject: string }).subject).replace('{{clinic_name}}', 'Haven clinic'),
          body: 'Join https://haven.example/join#example-link-token',
          sms: 'sms',
        },
      }),
    });
    render(<TemplateEditor />);
    await flush();
    expect(screen.getByLabelText<HTMLTextAreaElement>('Subject').value).toBe('Visit at {{clinic_name}}');
    expect(screen.getByText('The built-in messages are in use.')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Message'), { target: { value: 'reminder' } });
    expect(screen.getByLabelText<HTMLTextAreaElement>('E-mail text').value).toBe('Soon {{opt_out}}');
    fireEvent.change(screen.getByLabelText('Message'), { target: { value: 'invitation' } });
    fireEvent.change(screen.getByLabelText('Subject'), {
      target: { value: 'Your visit at {{clinic_name}}' },
    });
    fireEvent.change(screen.getByLabelText('Subject'), {
      target: { value: 'Your visit at {{clinic_name}}!' },
    });
    await afterPreviewDelay();
    const previews = calls.filter((c) => c.route === 'POST /api/message-templates/preview');
    expect(previews).toHaveLength(1); // typing quickly asks once
    expect(previews[0]?.body).toEqual({
      kind: 'invitation',
      subject: 'Your visit at {{clinic_name}}!',
      body: 'Join {{join_link}} {{opt_out}}',
      sms: 'sms {{opt_out}}',
    });
    expect(document.getElementById('template-preview')?.textContent).toContain('Your visit at Haven clinic!');
  });

  it('shows the linter’s problems in the preview, in the form’s words', async () => {
    serveApi({
      'GET /api/message-templates/en': { status: 200, body: SET },
      'POST /api/message-templates/preview': REFUSED(
        'body',
        '{{constructor}} is template injection (a JavaScript built-in), not a field',
      ),
    });
    render(<TemplateEditor />);
    await flush();
    fireEvent.change(screen.getByLabelText('E-mail text'), {
      target: { value: 'Hi {{constructor}} {{opt_out}}' },
    });
    await afterPreviewDelay();
    expect(document.getElementById('template-preview-problems')?.textContent).toBe(
      'This message would be refused:E-mail text {{constructor}} is template injection (a JavaScript built-in), not a field.',
    );
  });

  it('puts a refused save’s problem next to its field, and says when it is saved, on the clinic’s clock', async () => {
    setClinicTimeZone(CLINIC_ZONE);
    let n = 0;
    const calls = serveApi({
      'GET /api/message-templates/en': { status: 200, body: SET },
      'POST /api/message-templates/preview': { status: 200, body: { subject: '', body: '', sms: '' } },
      'PUT /api/message-templates/en/invitation': () =>
        ++n === 1
          ? REFUSED(
              'sms',
              'contains free text that looks like a date (a date of birth?); messages carry no PHI',
            )
          : { status: 200, body: { ...SET, updateTime: '2026-12-06T10:00:00.000Z' } },
    });
    render(<TemplateEditor />);
    await flush();
    fireEvent.change(screen.getByLabelText('SMS text'), { target: { value: 'born 1975-09-30 {{opt_out}}' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Save' })));
    await flush();
    expect(document.getElementById('sms-error')?.textContent).toBe(
      'SMS text contains free text that looks like a date (a date of birth?); messages carry no PHI.',
    );
    expect(screen.getByLabelText('SMS text').getAttribute('aria-invalid')).toBe('true');
    expect(document.activeElement).toBe(screen.getByLabelText('SMS text'));

    fireEvent.change(screen.getByLabelText('SMS text'), { target: { value: 'See you {{opt_out}}' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Save' })));
    await flush();
    expect(calls.filter((c) => c.route === 'PUT /api/message-templates/en/invitation').at(-1)?.body).toEqual({
      subject: 'Visit at {{clinic_name}}',
      body: 'Join {{join_link}} {{opt_out}}',
      sms: 'See you {{opt_out}}',
    });
    expect(screen.getByRole('status').textContent).toBe('The invitation message in en is saved.');
    expectOnClinicClock(screen.getByText(/^Last saved/).textContent ?? '', '2026-12-06T10:00:00.000Z');
  });
});
