/**
 * The audit ledger's routes through the gateway against the real services: an auditor reads the signed tree head,
 * the newest entries (each query is itself recorded) and one entry's inclusion proof as a file; a bad path id is
 * 404 before any call; every other role but admin is refused.
 */
import { eventually } from '@haven/testing';
import type { CookieJar } from '../test/gateway';
import { startStack } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(120_000);

let stack: TestStack;
let auditor: CookieJar;
let clinician: CookieJar;

beforeAll(async () => {
  stack = await startStack();
  await stack.createUser('audra@audit.test', 'auditor', 'Audra Tor');
  await stack.createUser('dee@audit.test', 'clinician', 'Dr Dee Park');
  auditor = await stack.signIn('audra@audit.test');
  clinician = await stack.signIn('dee@audit.test');
});
afterAll(async () => stack?.stop());

interface Entry {
  id: string;
}

describe('the audit ledger through the gateway', () => {
  it('gives an auditor the tree head, the newest entries and an entry proof as a file', async () => {
    const events = await eventually(
      'ledger entries',
      async () => {
        const res = await auditor.fetch(`${stack.url}/api/audit/events`);
        expect(res.status).toBe(200);
        const body = (await res.json()) as { events: Entry[]; nextPageToken: string };
        expect(body.events.length).toBeGreaterThan(0);
        expect(typeof body.nextPageToken).toBe('string');
        return body.events;
      },
      { timeoutMs: 20_000 },
    );

    const head = await auditor.fetch(`${stack.url}/api/audit/head`);
    expect(head.status).toBe(200);
    const tree = (await head.json()) as { treeSize: number; rootHash: string; keyId: string };
    expect(tree.treeSize).toBeGreaterThanOrEqual(events.length);
    expect(tree.rootHash).toMatch(/^[0-9a-f]{64}$/);

    const id = events[0]?.id ?? '';
    const proof = await auditor.fetch(`${stack.url}/api/audit/events/${id}/proof`);
    expect(proof.status).toBe(200);
    expect(proof.headers.get('content-disposition')).toBe(`attachment; filename="audit-proof-${id}.json"`);
    expect(await proof.json()).toEqual(expect.any(Object));
  });

  it('answers 404 for a path id that cannot be an entry, before any call', async () => {
    expect((await auditor.fetch(`${stack.url}/api/audit/events/not%20an%20id/proof`)).status).toBe(404);
  });

  it('refuses a clinician', async () => {
    for (const path of ['/api/audit/head', '/api/audit/events', '/api/audit/events/x/proof'])
      expect((await clinician.fetch(`${stack.url}${path}`)).status).toBe(403);
  });
});
