/**
 * Key settings of a single-table design the tests share: accounts and their contacts in one table,
 * keyed by pk/sk templates (`ACCOUNT#<id>` / `ACCOUNT#<id>`, `ACCOUNT#<accountId>` / `CONTACT#<id>`),
 * the contacts with an index by email.
 */
export const SHARED_TABLE = {
  account: {
    table: 'crm',
    partitionKey: { name: 'pk', value: 'ACCOUNT#{id}' },
    sortKey: { name: 'sk', value: 'ACCOUNT#{id}' },
  },
  contact: {
    table: 'crm',
    partitionKey: { name: 'pk', value: 'ACCOUNT#{accountId}' },
    sortKey: { name: 'sk', value: 'CONTACT#{id}' },
    indexes: {
      byEmail: {
        partitionKey: { name: 'gsi1pk', value: 'EMAIL#{email}' },
        sortKey: { name: 'gsi1sk', value: 'CONTACT#{id}' },
      },
    },
  },
};
