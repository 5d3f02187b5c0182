/**
 * A 60 s network drop in a live video visit, end to end, in a private network namespace
 * (./support/visit-drop-driver.ts): a patient (the product's visit client on the gateway's page, admitted over
 * gRPC) and a clinician (signed in on the staff app) are on video, each tile labelled with the other's role from
 * the server; then every media packet between the browsers and Janus is lost for 60 s. Both pages say
 * "Reconnecting…" while it lasts (ICE restarts every 5 s, up to 2 minutes) and, once the path is back, both are
 * live again and decoding the other's video, without anyone clicking anything.
 */
import { join } from 'node:path';
import { netnsGate, runDriverOnce } from '@haven/testing';
import { STACK_DISPLAY_NAMES } from './support/stack';
import type { VisitDropResult } from './support/visit-drop-driver';

const DRIVER = join(__dirname, 'support', 'visit-drop-driver.ts');

(netnsGate() ? describe : describe.skip)('a 60 s network drop during a video visit', () => {
  let result: VisitDropResult;

  runDriverOnce<VisitDropResult>(DRIVER, { timeoutMs: 220_000 }, (r) => {
    result = r;
    const statuses = result.samples.map((s) => `${s.clinicianStatus[0]}${s.patientStatus[0]}`).join(' ');
    process.stderr.write(
      `visit-drop: ${JSON.stringify(result.timings)}, samples ${statuses}, after ${JSON.stringify(result.after)}, ` +
        `total ${result.totalMs} ms\n`,
    );
  });

  it('labels each side’s tile with the other’s role, from the server', () => {
    expect(result.before.clinicianFrames).toBeGreaterThan(5);
    expect(result.before.patientFrames).toBeGreaterThan(5);
    expect(result.before.patientSees).toBe(`${STACK_DISPLAY_NAMES.clinician} — clinician`);
    expect(result.before.clinicianSees).toBe('Patient');
  });

  it('says "Reconnecting…" on both sides while the network is down, and never gives up', () => {
    expect(result.samples.length).toBeGreaterThanOrEqual(40); // about one a second (a look takes a while)
    // ICE notices within seconds; from then on until the path is back, both pages are reconnecting and say so.
    const settled = result.samples.filter((s) => s.atMs >= 20_000);
    expect(settled.length).toBeGreaterThan(25);
    for (const s of settled) {
      expect(s).toMatchObject({
        clinicianStatus: 'reconnecting',
        patientStatus: 'reconnecting',
        clinicianMessage: 'Reconnecting…',
        patientMessage: 'Reconnecting…',
      });
    }
  });

  it('recovers on both sides once the network is back: live and decoding video again', () => {
    const a = result.after;
    expect(a.clinicianRecoveredMs).not.toBeNull();
    expect(a.patientRecoveredMs).not.toBeNull();
    expect(a).toMatchObject({
      clinicianStatus: 'live',
      patientStatus: 'live',
      clinicianMessage: '',
      patientMessage: '',
    });
    expect(a.clinicianNewFrames).toBeGreaterThan(10);
    expect(a.patientNewFrames).toBeGreaterThan(10);
  });
});
