import { NotFoundError, ValidationError, collectViolations, type FieldViolation } from './index';

describe('collectViolations', () => {
  it("returns the check's answer and adds nothing when it passes", () => {
    const violations: FieldViolation[] = [{ field: 'page_size', description: 'must be 0–100' }];
    expect(collectViolations(violations, () => 42)).toBe(42);
    expect(violations).toEqual([{ field: 'page_size', description: 'must be 0–100' }]);
  });

  it('adds the violations of a ValidationError after those already found, and answers undefined', () => {
    const violations: FieldViolation[] = [{ field: 'page_size', description: 'must be 0–100' }];
    const answer = collectViolations(violations, (): number => {
      throw new ValidationError([
        { field: 'page_token', description: 'is not a token of this list' },
        { field: 'visit', description: 'must be visits/{visit}' },
      ]);
    });
    expect(answer).toBeUndefined();
    expect(violations).toEqual([
      { field: 'page_size', description: 'must be 0–100' },
      { field: 'page_token', description: 'is not a token of this list' },
      { field: 'visit', description: 'must be visits/{visit}' },
    ]);
  });

  it('throws any other error unchanged', () => {
    const violations: FieldViolation[] = [];
    const notFound = new NotFoundError('visit v1 not found');
    expect(() =>
      collectViolations(violations, () => {
        throw notFound;
      }),
    ).toThrow(notFound);
    expect(violations).toEqual([]);
  });
});
