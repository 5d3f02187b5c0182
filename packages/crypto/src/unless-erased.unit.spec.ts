import { NotFoundError, PreconditionError, ValidationError } from '@haven/errors';
import { PhiShreddedError, unlessErased } from './errors';

const fail = (error: Error) => () => Promise.reject(error);

describe('unlessErased', () => {
  it('answers what the work answers', async () => {
    expect(await unlessErased(() => Promise.resolve({ text: 'hello' }))).toEqual({ text: 'hello' });
  });

  it('turns a destroyed key into "patient data erased", with the shredding as its cause', async () => {
    const shredded = new PhiShreddedError('patient-1');
    const answer = unlessErased(fail(shredded));
    await expect(answer).rejects.toBeInstanceOf(PreconditionError);
    await expect(answer).rejects.not.toBeInstanceOf(PhiShreddedError);
    await expect(answer).rejects.toMatchObject({ message: 'patient data erased', cause: shredded });
  });

  it('turns a missing key into "patient data erased" only when asked to', async () => {
    const missing = new NotFoundError('no key for patient-1');
    await expect(unlessErased(fail(missing))).rejects.toBe(missing);
    await expect(unlessErased(fail(missing), { missingKey: true })).rejects.toMatchObject({
      message: 'patient data erased',
      cause: missing,
    });
  });

  it('throws any other error unchanged', async () => {
    const invalid = new ValidationError([{ field: 'fields', description: 'must be an object' }]);
    await expect(unlessErased(fail(invalid), { missingKey: true })).rejects.toBe(invalid);
  });
});
