/**
 * given/when/then for pure deciders:
 *   given(spec, [pastEvents]).when(command).then([expectedEvents])
 *   given(spec, [pastEvents]).when(command).thenThrows(ValidationError, /start_time/)
 *   given(spec).when(command).error()  // the thrown error, to inspect
 *   given(spec, [pastEvents]).when(command).result()  // what decide returned, to inspect
 * The one given/when/then of the tests; a decider whose decide returns more than events (R) fits too.
 */
export interface DeciderSpec<C, E, S, R = readonly E[]> {
  decide(command: C, state: S): R;
  evolve(state: S, event: E): S;
  initialState: S;
}

export function given<C, E, S, R = readonly E[]>(spec: DeciderSpec<C, E, S, R>, events: readonly E[] = []) {
  const state = events.reduce((s, e) => spec.evolve(s, e), spec.initialState);
  return {
    when(command: C) {
      const run = () => spec.decide(command, state);
      return {
        then(expected: R) {
          expect(run()).toEqual(expected);
        },
        /** What decide returned (it throws when decide throws). */
        result(): R {
          return run();
        },
        thenThrows(errorClass: abstract new (...args: never[]) => Error, message?: RegExp) {
          let caught: unknown;
          try {
            run();
          } catch (error) {
            caught = error;
          }
          expect(caught).toBeInstanceOf(errorClass);
          if (message) expect((caught as Error).message).toMatch(message);
        },
        /** The error decide threw (fails the test when it returned instead). */
        error(): unknown {
          try {
            run();
          } catch (error) {
            return error;
          }
          throw new Error('expected decide to throw, it returned events');
        },
      };
    },
  };
}

/**
 * A factory of one kind of command for a decider spec: `type` with `defaults`, any field replaced per test.
 *   const book = commandWith<AppointmentCommand, 'BookAppointment'>('BookAppointment', { appointmentId: 'apt-1', … });
 *   given(spec).when(book({ startTime: past })).thenThrows(ValidationError);
 */
export function commandWith<C extends { type: string; data: object }, T extends C['type']>(
  type: T,
  defaults: Extract<C, { type: T }>['data'],
): (over?: Partial<Extract<C, { type: T }>['data']>) => C {
  return (over = {}) => ({ type, data: { ...defaults, ...over } }) as unknown as C;
}

/** `ms` (epoch milliseconds, as deciders take time) as the ISO string their events carry. */
export const iso = (ms: number): string => new Date(ms).toISOString();
