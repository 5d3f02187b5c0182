/**
 * Every error status a proto RPC comment promises is one its handler's code can produce: a comment that says
 * ALREADY_EXISTS over code that throws only PreconditionError (FAILED_PRECONDITION) fails here.
 */
import { join } from 'node:path';
import { STATUS_OF_CATEGORY } from '@haven/service';
import { StatusReach, documentedStatuses, type RpcDoc, type StatusName } from './status-reach';

const ROOT = join(__dirname, '..', '..');

/**
 * Statuses an RPC comment may name that come from outside its handler, with where they come from. Only these;
 * anything else a comment names must be reachable from the handler.
 */
const FROM_THE_HARNESS: Partial<Record<StatusName, string>> = {
  CANCELLED: 'the client cancels the call (grpc-js answers CANCELLED; a streaming handler stops writing)',
};

/** RPCs not implemented yet (a call answers UNIMPLEMENTED): nothing to compare. */
const NOT_IMPLEMENTED = new Set<string>([]);
const implemented = (r: RpcDoc): boolean => !NOT_IMPLEMENTED.has(`${r.service}.${r.rpc}`);

jest.setTimeout(180_000);

describe('the error statuses the proto comments document', () => {
  const rpcs = documentedStatuses(ROOT);
  let reach: StatusReach;

  beforeAll(() => {
    reach = new StatusReach(ROOT, STATUS_OF_CATEGORY);
  });

  it('are read from every service proto', () => {
    const services = new Set(rpcs.map((r) => r.service));
    expect([...services].sort()).toEqual(['audit', 'identity', 'recording', 'scheduling', 'session']);
    // The reader sees what the comments say (a reader that found nothing could not fail).
    expect(rpcs.find((r) => r.rpc === 'GetVisit')?.statuses).toEqual(
      new Set(['INVALID_ARGUMENT', 'NOT_FOUND']),
    );
  });

  it('have a handler for every RPC but the ones not implemented yet', () => {
    const missing = rpcs
      .filter((r) => reach.handlersOf(r.service, r.rpc).length === 0)
      .map((r) => `${r.service}.${r.rpc}`);
    expect(missing.sort()).toEqual([...NOT_IMPLEMENTED].sort());
  });

  it('can each be produced by the code of its RPC', () => {
    const unreachable = (r: RpcDoc): string[] => {
      const reachable = reach.reachable(reach.handlersOf(r.service, r.rpc));
      return [...r.statuses]
        .filter((s) => !reachable.has(s) && FROM_THE_HARNESS[s] === undefined)
        .map(
          (s) =>
            `${r.service}.${r.rpc} documents ${s}; its code produces only ${[...reachable].sort().join(', ')}`,
        );
    };
    expect(rpcs.filter(implemented).flatMap(unreachable)).toEqual([]);
  });

  it('would catch a comment that promises a status the code never produces', () => {
    // GetVisit's code answers NOT_FOUND and PERMISSION_DENIED, never ALREADY_EXISTS or RESOURCE_EXHAUSTED.
    const reachable = reach.reachable(reach.handlersOf('session', 'GetVisit'));
    expect(reachable.has('NOT_FOUND')).toBe(true);
    expect(reachable.has('PERMISSION_DENIED')).toBe(true);
    expect(reachable.has('ALREADY_EXISTS')).toBe(false);
    expect(reachable.has('RESOURCE_EXHAUSTED')).toBe(false);
  });
});
