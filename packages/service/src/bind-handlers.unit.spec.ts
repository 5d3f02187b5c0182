import { bindHandlers } from './bind-handlers';

describe('bindHandlers', () => {
  const deps = { prefix: 'p' };
  const handlers = bindHandlers(deps, {
    echo: (d: typeof deps, request: { text: string }, ctx: { id: number }) =>
      `${d.prefix}:${request.text}:${ctx.id}`,
    stream: async (d: typeof deps, request: string, _ctx: unknown, send: (m: string) => Promise<void>) => {
      await send(`${d.prefix}${request}`);
    },
  });

  it('calls each function with the dependencies first, then the call arguments', () => {
    expect(handlers.echo({ text: 'hi' }, { id: 7 })).toBe('p:hi:7');
  });

  it('passes every further argument on (a server stream gets its send)', async () => {
    const sent: string[] = [];
    await handlers.stream('x', {}, async (m) => {
      sent.push(m);
    });
    expect(sent).toEqual(['px']);
  });

  it('keeps exactly the keys it was given', () => {
    expect(Object.keys(handlers).sort()).toEqual(['echo', 'stream']);
  });
});
