/**
 * Binds a slice's RPC functions to their dependencies: a slice writes each RPC once as
 * `(deps, request, ctx, …) => response` and hands the table to the server by ts-proto method key.
 */

/** Each function of `H` with its first parameter (the dependencies) bound. */
export type BoundHandlers<D, H> = {
  readonly [K in keyof H]: H[K] extends (deps: D, ...args: infer A) => infer R ? (...args: A) => R : never;
};

/**
 * The handlers by method key, each calling its function of `handlers` with `deps` first and then its own
 * arguments (request, call context, and for a server stream its `send`). Throws nothing.
 */
export function bindHandlers<D, H extends Record<string, (deps: D, ...args: never[]) => unknown>>(
  deps: D,
  handlers: H,
): BoundHandlers<D, H> {
  return Object.fromEntries(
    Object.entries(handlers).map(([key, fn]) => [key, (...args: never[]) => fn(deps, ...args)]),
  ) as BoundHandlers<D, H>;
}
