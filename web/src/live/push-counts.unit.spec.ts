import { afterPush, NO_PUSHES, pushedSince } from './push-counts';

describe('push counts', () => {
  describe('when nothing was pushed since the read started', () => {
    it('says the answer is current about every topic', () => {
      const start = afterPush(NO_PUSHES, 'visit:a');
      expect(pushedSince(start, start, 'visit:a')).toBe(false);
      expect(pushedSince(start, start, 'visit:b')).toBe(false);
      expect(pushedSince(start, start)).toBe(false);
    });
  });

  describe('when a push about one topic came since', () => {
    const start = afterPush(NO_PUSHES, 'visit:a');
    const now = afterPush(start, 'visit:b');

    it('says the answer is older news about that topic only', () => {
      expect(pushedSince(now, start, 'visit:b')).toBe(true);
      expect(pushedSince(now, start, 'visit:a')).toBe(false);
    });

    it('says something was pushed when asked about no topic', () => {
      expect(pushedSince(now, start)).toBe(true);
      expect(pushedSince(now, now)).toBe(false);
    });

    it('leaves the counts a read kept as they were', () => {
      expect(start).toEqual({ 'visit:a': 1 });
      expect(pushedSince(start, NO_PUSHES, 'visit:a')).toBe(true);
    });
  });

  it('counts a push about several topics once for each', () => {
    const now = afterPush(NO_PUSHES, 'people:a', 'summary:a');
    expect(pushedSince(now, NO_PUSHES, 'people:a')).toBe(true);
    expect(pushedSince(now, NO_PUSHES, 'summary:a')).toBe(true);
    expect(pushedSince(now, NO_PUSHES, 'summary:b')).toBe(false);
  });
});
