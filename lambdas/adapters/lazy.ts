/**
 * A value made on first use and kept: `get()` calls `create` once, then returns what it made.
 * What a module would otherwise make when it is loaded (an SDK client, Powertools' logger) then
 * reads its settings from the environment when it is first used, whatever the order of imports.
 */
export function once<T>(create: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: create() };
    return made.value;
  };
}

/**
 * An object that stands for the one `create` makes on its first use (the first property read,
 * write or check): for values that code takes at load time but must not be made then (Powertools'
 * logger and tracer, passed to the handlers' middleware when a handler module is loaded). Methods
 * are bound to the real object, so its own private state works as usual.
 */
export function lazyObject<T extends object>(create: () => T): T {
  const target = once(create);
  return new Proxy({} as T, {
    get(_, property) {
      const real = target();
      const value = Reflect.get(real, property, real) as unknown;
      return typeof value === 'function' ? value.bind(real) : value;
    },
    set: (_, property, value) => Reflect.set(target(), property, value),
    has: (_, property) => Reflect.has(target(), property),
    getPrototypeOf: () => Reflect.getPrototypeOf(target()),
  });
}
