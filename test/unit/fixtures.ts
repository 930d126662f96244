import { type EntityConfig, parseConfig } from '../../lambdas/domain/config';
import { ConfigError } from '../../lambdas/domain/errors';

/**
 * A Salesforce-like contact entity (Id, Email, LastName, LastModifiedDate as updatedAt) with no
 * chunkBytes set, so the planner sizes chunks. `target` is merged into its target, `extra` into it.
 */
export function contactEntity(
  target: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): EntityConfig {
  const config = parseConfig({
    entities: {
      contact: {
        target: { key: 'id', ...target },
        fields: {
          id: { source: 'Id', required: true },
          email: { source: 'Email', type: 'email' },
          lastName: { source: 'LastName' },
          updatedAt: { source: 'LastModifiedDate', type: 'datetime' },
        },
        updatedAt: 'updatedAt',
        ...extra,
      },
    },
  });
  const entity = config.entities.contact;
  if (!entity) throw new Error('no entity');
  return entity;
}

/** The issues of a config that must fail, by path. */
export function configIssues(raw: unknown): string[] {
  try {
    parseConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  throw new Error('the config was accepted');
}
