import { choiceOf } from './http';

describe('choiceOf', () => {
  const table = { off: 0, on: 1 } as const;

  it("picks a table's own keys", () => {
    expect(choiceOf(table, 'off')).toBe(0);
    expect(choiceOf(table, 'on')).toBe(1);
  });

  it('picks nothing for an object member, another type or an unknown name', () => {
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 'sometimes', ''])
      expect(choiceOf(table, name)).toBeUndefined();
    for (const name of [undefined, null, 1, true, ['on'], { on: 1 }])
      expect(choiceOf(table, name)).toBeUndefined();
  });
});
