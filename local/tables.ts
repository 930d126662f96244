import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import type { KeyAttribute, TableDefinition } from '../lambdas/domain/tables';

/** CreateTable's input for a table of the stack: its key schema and global secondary indexes, on demand. */
export function createTableInput(
  name: string,
  t: Pick<TableDefinition, 'partition' | 'sort' | 'indexes'>,
): CreateTableCommandInput {
  const keySchema = (pk: KeyAttribute, sk: KeyAttribute | undefined) => [
    { AttributeName: pk.name, KeyType: 'HASH' as const },
    ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' as const }] : []),
  ];
  const attributes = new Map<string, KeyAttribute['type']>();
  for (const a of [t.partition, t.sort, ...t.indexes.flatMap((ix) => [ix.partition, ix.sort])]) {
    if (a) attributes.set(a.name, a.type);
  }
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: keySchema(t.partition, t.sort),
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({
      AttributeName,
      AttributeType,
    })),
    ...(t.indexes.length > 0
      ? {
          GlobalSecondaryIndexes: t.indexes.map((ix) => ({
            IndexName: ix.name,
            KeySchema: keySchema(ix.partition, ix.sort),
            Projection: {
              ProjectionType: ix.projection === 'all' ? ('ALL' as const) : ('KEYS_ONLY' as const),
            },
          })),
        }
      : {}),
  };
}
