import {
  HAVEN_SERVICE_USERS,
  OPERATOR_ONLY_SUBJECTS,
  renderNatsAuthorization,
  servicePermissions,
} from './nats-permissions';

/** NATS subject matching (`*` one token, `>` one or more trailing tokens). */
function matches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i += 1) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length || (f[i] !== '*' && f[i] !== s[i])) return false;
  }
  return s.length === f.length;
}
const mayPublish = (user: (typeof HAVEN_SERVICE_USERS)[number], subject: string): boolean => {
  const p = servicePermissions(user).publish;
  return p.allow.some((a) => matches(a, subject)) && !p.deny.some((d) => matches(d, subject));
};

describe('the NATS permissions of the service users', () => {
  it.each(HAVEN_SERVICE_USERS)('%s publishes events only in its own context and its own refusals', (user) => {
    expect(mayPublish(user, `haven.es.${user}.thing.t1`)).toBe(true);
    expect(mayPublish(user, `haven.es.security.refusals_${user}.2026120604`)).toBe(true);
    expect(mayPublish(user, `haven.bus.${user}.thing.Happened`)).toBe(true);
    for (const other of HAVEN_SERVICE_USERS.filter((o) => o !== user)) {
      expect(mayPublish(user, `haven.es.${other}.thing.t1`)).toBe(false);
      expect(mayPublish(user, `haven.es.security.refusals_${other}.2026120604`)).toBe(false);
      expect(mayPublish(user, `haven.bus.${other}.thing.Happened`)).toBe(false);
      expect(mayPublish(user, `$KV.haven_checkpoints.relay.${other}`)).toBe(false);
      expect(mayPublish(user, `$KV.haven_checkpoints.${other}.bookings`)).toBe(false);
    }
    expect(mayPublish(user, 'haven.es.madeup.thing.t1')).toBe(false);
  });

  it.each(HAVEN_SERVICE_USERS)('%s may not create, change, delete or purge a stream', (user) => {
    for (const api of ['CREATE', 'UPDATE', 'DELETE', 'PURGE', 'MSG.DELETE', 'SNAPSHOT', 'RESTORE']) {
      expect(mayPublish(user, `$JS.API.STREAM.${api}.HAVEN_ES`)).toBe(false);
    }
    expect(mayPublish(user, '$JS.API.STREAM.INFO.HAVEN_ES')).toBe(true);
    expect(servicePermissions(user).publish.deny).toEqual([...OPERATOR_ONLY_SUBJECTS]);
  });

  it('lets identity alone publish revocations, and break-glass uses only where patient data lives', () => {
    const revokers = HAVEN_SERVICE_USERS.filter((u) => mayPublish(u, 'haven.identity.revocations'));
    expect(revokers).toEqual(['identity']);
    const breakGlass = HAVEN_SERVICE_USERS.filter((u) => mayPublish(u, 'haven.es.breakglass.use.g1'));
    expect(breakGlass).toEqual(['scheduling', 'session', 'recording']);
  });

  it("lets scheduling alone publish its outbox's accepted marks, and only its own", () => {
    const markers = HAVEN_SERVICE_USERS.filter((u) => mayPublish(u, 'haven.accepted.scheduling.r1'));
    expect(markers).toEqual(['scheduling']);
    for (const user of HAVEN_SERVICE_USERS) {
      expect(mayPublish(user, 'haven.accepted.session.r1')).toBe(false);
      expect(mayPublish(user, 'haven.accepted.r1')).toBe(false);
    }
  });

  it('lets each service subscribe only under its own inbox prefix', () => {
    for (const user of HAVEN_SERVICE_USERS) {
      expect(servicePermissions(user).subscribe.allow).toEqual([`_INBOX_${user}.>`]);
    }
  });

  it('renders a server block with every user, no anonymous user, and the passwords given', () => {
    const text = renderNatsAuthorization({
      operator: 'op-pw',
      services: { identity: 'id-pw', audit: 'au-pw' },
    });
    expect(text).toContain('{ user: "operator", password: "op-pw" }');
    expect(text).toContain('user: "identity", password: "id-pw"');
    expect(text).toContain('user: "audit", password: "au-pw"');
    expect(text).not.toContain('"scheduling"');
    expect(text).not.toMatch(/no_auth_user/);
  });
});
