import { commitMessageProblems } from '../../scripts/commit-message.cjs';

describe('commitMessageProblems', () => {
  it('accepts a Conventional Commits subject with or without a scope, and a body after a blank line', () => {
    expect(commitMessageProblems('feat(session): admit from the lobby')).toEqual([]);
    expect(commitMessageProblems('test: one eventually for every polling wait\n')).toEqual([]);
    expect(commitMessageProblems('refactor(crypto,eventstore)!: one SealedPhi\n\nWhy it moved.\n')).toEqual(
      [],
    );
  });

  it('accepts a subject of 99 characters and refuses one of 100', () => {
    const subject = (n: number) => `fix(gateway): ${'x'.repeat(n - 'fix(gateway): '.length)}`;
    expect(subject(99)).toHaveLength(99);
    expect(commitMessageProblems(subject(99))).toEqual([]);
    expect(commitMessageProblems(subject(100))).toEqual(['the subject is 100 characters long (at most 99)']);
  });

  it('counts characters, not UTF-16 units or bytes', () => {
    const subject = `docs(readme): ${'𝄞'.repeat(85)}`; // 99 characters, 184 UTF-16 units, 354 bytes
    expect(commitMessageProblems(subject)).toEqual([]);
    expect(commitMessageProblems(`${subject}𝄞`)).toEqual(['the subject is 100 characters long (at most 99)']);
  });

  it('refuses an unknown type, a missing colon or space, an upper-case scope and an empty description', () => {
    for (const bad of [
      'bench(audit): ledger append',
      'feat(session) admit from the lobby',
      'feat(session):admit',
      'feat(Session): admit',
      'feat: ',
      'Admit from the lobby',
    ]) {
      expect(commitMessageProblems(bad)).toEqual([expect.stringMatching(/^the subject is not/) as unknown]);
    }
  });

  it('refuses an empty message and a body that starts on the second line', () => {
    expect(commitMessageProblems('\n\n')).toEqual(['the subject is empty']);
    expect(commitMessageProblems('fix(session): x\nbody')).toEqual([
      'a blank line must separate the subject and the body',
    ]);
  });

  it("ignores git's comment lines", () => {
    expect(commitMessageProblems('# Please enter the commit message\nfix(bus): y\n# comment')).toEqual([]);
  });
});
