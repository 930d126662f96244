/** `true` when A and B are the same type (not merely assignable one way). */
export type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/**
 * Fails to compile unless its type argument is `true`: `typesMatch<Equals<Schema, DomainType>>()`
 * keeps a hand-written domain type and the contract's schema of it from drifting apart.
 */
export function typesMatch<_Check extends true>(): void {}
