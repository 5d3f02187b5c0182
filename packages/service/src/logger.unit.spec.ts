import { Writable } from 'node:stream';
import { NotFoundError } from '@haven/errors';
import { createLogger } from './logger';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[]; raw: () => string } {
  let buffer = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      buffer += chunk.toString('utf8');
      callback();
    },
  });
  return {
    stream,
    raw: () => buffer,
    lines: () =>
      buffer
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('redacts PHI and secrets at the top level and nested', () => {
    const out = capture();
    const log = createLogger({ service: 'scheduling', destination: out.stream });
    log.info(
      {
        name: 'Jane Doe',
        email: 'jane@example.org',
        appointment: {
          id: 'apt-1',
          reason: 'chest pain',
          patient: { dateOfBirth: '1970-01-01', phone: '555-0100' },
        },
        authorization: 'Bearer abc.def',
        passcode: '123456',
      },
      'booked',
    );
    const raw = out.raw();
    for (const secret of [
      'Jane Doe',
      'jane@example.org',
      'chest pain',
      '1970-01-01',
      '555-0100',
      'abc.def',
      '123456',
    ]) {
      expect(raw).not.toContain(secret);
    }
    const [line] = out.lines();
    expect(line).toMatchObject({ service: 'scheduling', msg: 'booked', name: '[REDACTED]' });
    expect((line?.['appointment'] as Record<string, unknown>)['id']).toBe('apt-1');
    expect((line?.['appointment'] as Record<string, unknown>)['reason']).toBe('[REDACTED]');
  });

  it('never dumps request bodies', () => {
    const out = capture();
    const log = createLogger({ service: 'gateway', destination: out.stream });
    log.info({
      body: { diagnosis: 'x', freeText: 'my symptoms are...' },
      req: { method: 'POST', url: '/api/x?token=t', body: { a: 1 } },
    });
    const [line] = out.lines();
    expect(line?.['body']).toBe('[omitted]');
    expect(line?.['req']).toEqual({ method: 'POST', path: '/api/x' });
    expect(out.raw()).not.toContain('my symptoms');
  });

  it('logs foreign errors without their message, Haven errors with it', () => {
    const out = capture();
    const log = createLogger({ service: 'x', destination: out.stream });
    log.error({ err: new Error('duplicate key: patient Jane Doe') }, 'failed');
    log.warn({ err: new NotFoundError('appointment not found') }, 'missing');
    const [foreign, ours] = out.lines();
    expect(JSON.stringify(foreign)).not.toContain('Jane Doe');
    expect((foreign?.['err'] as Record<string, unknown>)['type']).toBe('Error');
    expect((ours?.['err'] as Record<string, unknown>)['message']).toBe('appointment not found');
  });

  it('honours the level', () => {
    const out = capture();
    const log = createLogger({ service: 'x', level: 'warn', destination: out.stream });
    log.info('hidden');
    log.warn('shown');
    expect(out.lines().map((l) => l['msg'])).toEqual(['shown']);
  });
});
