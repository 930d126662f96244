import { type CrmSyncConfigInput, isNeededField } from './config';

type EntityInput = CrmSyncConfigInput['entities'][string];

/**
 * An optional phone as exports hold it: checked by length only (sample and sandbox data is full of
 * fictional numbers that fail the number plan, and one should not cost the whole record), read in the
 * record's country (`regionFrom`, per entity), else as a US number.
 */
const OPTIONAL_PHONE = { type: 'phone', region: 'US', validity: 'possible' } as const;

/**
 * What the presets do with a cell that fails its type in an optional field: `drop` it (the record
 * loads without that attribute, and warnings.csv lists the line, the column and the cell), so one
 * bad optional phone, email, date or number never costs a whole contact (its name, its account, its
 * other fields). Not `keep`: an attribute then holds one type for every reader of the table (a
 * phone is E.164, a date ISO-8601). The key, required fields and the updatedAt field still reject.
 */
function tolerant(entity: EntityInput): EntityInput {
  const fields = Object.fromEntries(
    Object.entries(entity.fields).map(([name, f]) => [
      name,
      isNeededField(name, f, entity) || (f.type ?? 'string') === 'string' ? f : { onInvalid: 'drop', ...f },
    ]),
  ) as EntityInput['fields'];
  return { ...entity, fields };
}

/** Every Salesforce object's audit columns, as Data Loader (API names) and reports (labels) write them. */
type FieldInput = EntityInput['fields'][string];
const SALESFORCE_CREATED: FieldInput = { source: 'CreatedDate', aliases: ['Created Date'], type: 'datetime' };
const SALESFORCE_MODIFIED: FieldInput = {
  source: 'LastModifiedDate',
  aliases: ['Last Modified Date'],
  type: 'datetime',
  required: true,
};
/** Reports have no IsDeleted column: a header without it reads every row as not deleted. */
const SALESFORCE_DELETE_FLAG = { source: 'IsDeleted', values: ['true', '1'], required: false };

/**
 * Built-in entity mappings with the real column names of CRM exports, each field's `source` the API
 * name and its `aliases` the other headers the same column has:
 * Salesforce: Data Loader / Data Export / API (`Id`, `LastModifiedDate`, `IsDeleted`…) and report
 * exports (field labels: `Contact ID`, `Last Modified Date`, `Mailing State/Province`…; reports
 * have no `IsDeleted`, so the delete flag column is optional).
 * HubSpot: the CRM export (`Record ID`, `Last Modified Date`…) and multi-object exports, which name
 * the record ids `Record ID - Contact` / `Record ID - Company` (other repeated names, `Phone Number`,
 * `Create Date`, need `occurrence` on the field: which object comes first is the export's choice).
 */
export const salesforceContact: EntityInput = tolerant({
  target: { key: 'id' },
  fields: {
    id: { source: 'Id', aliases: ['Contact ID'], type: 'string', required: true },
    accountId: { source: 'AccountId', aliases: ['Account ID'], type: 'string' },
    firstName: {
      source: 'FirstName',
      aliases: ['First Name'],
      type: 'string',
      transforms: ['trim', 'collapseSpaces'],
    },
    lastName: {
      source: 'LastName',
      aliases: ['Last Name'],
      type: 'string',
      required: true,
      transforms: ['trim', 'collapseSpaces'],
    },
    email: { source: 'Email', type: 'email' },
    phone: { source: 'Phone', ...OPTIONAL_PHONE, regionFrom: 'MailingCountry' },
    mobilePhone: {
      source: 'MobilePhone',
      aliases: ['Mobile', 'Mobile Phone'],
      ...OPTIONAL_PHONE,
      regionFrom: 'MailingCountry',
    },
    title: { source: 'Title', type: 'string' },
    mailingStreet: { source: 'MailingStreet', aliases: ['Mailing Street'], type: 'string' },
    mailingCity: { source: 'MailingCity', aliases: ['Mailing City'], type: 'string' },
    mailingState: { source: 'MailingState', aliases: ['Mailing State/Province'], type: 'string' },
    mailingPostalCode: { source: 'MailingPostalCode', aliases: ['Mailing Zip/Postal Code'], type: 'string' },
    mailingCountry: { source: 'MailingCountry', aliases: ['Mailing Country'], type: 'string' },
    leadSource: { source: 'LeadSource', aliases: ['Lead Source'], type: 'string' },
    hasOptedOutOfEmail: {
      source: 'HasOptedOutOfEmail',
      aliases: ['Email Opt Out'],
      type: 'boolean',
      default: false,
    },
    birthdate: { source: 'Birthdate', type: 'date' },
    createdAt: SALESFORCE_CREATED,
    updatedAt: SALESFORCE_MODIFIED,
  },
  updatedAt: 'updatedAt',
  deleteFlag: SALESFORCE_DELETE_FLAG,
  references: { accountId: { entity: 'account', reject: false } },
  writeMode: 'newer-wins',
  syncMode: 'merge',
});

export const salesforceAccount: EntityInput = tolerant({
  target: { key: 'id' },
  fields: {
    id: { source: 'Id', aliases: ['Account ID'], type: 'string', required: true },
    name: {
      source: 'Name',
      aliases: ['Account Name'],
      type: 'string',
      required: true,
      transforms: ['trim', 'collapseSpaces'],
    },
    type: { source: 'Type', type: 'string' },
    industry: { source: 'Industry', type: 'string' },
    website: { source: 'Website', type: 'string', transforms: ['trim', 'lower'] },
    phone: { source: 'Phone', ...OPTIONAL_PHONE, regionFrom: 'BillingCountry' },
    billingCity: { source: 'BillingCity', aliases: ['Billing City'], type: 'string' },
    billingState: { source: 'BillingState', aliases: ['Billing State/Province'], type: 'string' },
    billingCountry: { source: 'BillingCountry', aliases: ['Billing Country'], type: 'string' },
    annualRevenue: { source: 'AnnualRevenue', aliases: ['Annual Revenue'], type: 'number' },
    numberOfEmployees: { source: 'NumberOfEmployees', aliases: ['Employees'], type: 'integer' },
    createdAt: SALESFORCE_CREATED,
    updatedAt: SALESFORCE_MODIFIED,
  },
  updatedAt: 'updatedAt',
  deleteFlag: SALESFORCE_DELETE_FLAG,
  writeMode: 'newer-wins',
  syncMode: 'merge',
});

export const salesforceOpportunity: EntityInput = tolerant({
  target: { key: 'id' },
  fields: {
    id: { source: 'Id', aliases: ['Opportunity ID'], type: 'string', required: true },
    accountId: { source: 'AccountId', aliases: ['Account ID'], type: 'string' },
    name: { source: 'Name', aliases: ['Opportunity Name'], type: 'string', required: true },
    stageName: { source: 'StageName', aliases: ['Stage'], type: 'string', required: true },
    amount: { source: 'Amount', type: 'number' },
    probability: { source: 'Probability', aliases: ['Probability (%)'], type: 'number' },
    closeDate: { source: 'CloseDate', aliases: ['Close Date'], type: 'date', required: true },
    isClosed: { source: 'IsClosed', aliases: ['Closed'], type: 'boolean' },
    isWon: { source: 'IsWon', aliases: ['Won'], type: 'boolean' },
    createdAt: SALESFORCE_CREATED,
    updatedAt: SALESFORCE_MODIFIED,
  },
  updatedAt: 'updatedAt',
  deleteFlag: SALESFORCE_DELETE_FLAG,
  references: { accountId: { entity: 'account', reject: false } },
  writeMode: 'newer-wins',
  syncMode: 'merge',
});

export const hubspotContacts: EntityInput = tolerant({
  target: { key: 'id' },
  fields: {
    id: {
      source: 'Record ID',
      aliases: ['Record ID - Contact', 'Contact ID'],
      type: 'string',
      required: true,
    },
    firstName: { source: 'First Name', type: 'string' },
    lastName: { source: 'Last Name', type: 'string' },
    email: { source: 'Email', type: 'email' },
    phone: { source: 'Phone Number', ...OPTIONAL_PHONE, regionFrom: 'Country/Region' },
    lifecycleStage: { source: 'Lifecycle Stage', type: 'string', transforms: ['trim', 'lower'] },
    companyId: {
      source: 'Associated Company IDs',
      aliases: ['Associated Company ID', 'Record ID - Company'],
      type: 'string',
    },
    createdAt: { source: 'Create Date', type: 'datetime' },
    updatedAt: { source: 'Last Modified Date', type: 'datetime', required: true },
  },
  updatedAt: 'updatedAt',
  writeMode: 'newer-wins',
  syncMode: 'merge',
});

export const hubspotCompanies: EntityInput = tolerant({
  target: { key: 'id' },
  fields: {
    id: {
      source: 'Record ID',
      aliases: ['Record ID - Company', 'Company ID'],
      type: 'string',
      required: true,
    },
    name: { source: 'Company name', type: 'string', required: true },
    domain: { source: 'Company Domain Name', type: 'string', transforms: ['trim', 'lower'] },
    industry: { source: 'Industry', type: 'string' },
    phone: { source: 'Phone Number', ...OPTIONAL_PHONE, regionFrom: 'Country/Region' },
    city: { source: 'City', type: 'string' },
    country: { source: 'Country/Region', type: 'string' },
    numberOfEmployees: { source: 'Number of Employees', type: 'integer' },
    annualRevenue: { source: 'Annual Revenue', type: 'number' },
    createdAt: { source: 'Create Date', type: 'datetime' },
    updatedAt: { source: 'Last Modified Date', type: 'datetime', required: true },
  },
  updatedAt: 'updatedAt',
  writeMode: 'newer-wins',
  syncMode: 'merge',
});

/** Presets for `crm-sync config init --preset <name>`: whole config files. */
export const PRESETS: Record<string, CrmSyncConfigInput> = {
  salesforce: {
    version: 1,
    entities: { contact: salesforceContact, account: salesforceAccount, opportunity: salesforceOpportunity },
  },
  hubspot: {
    version: 1,
    entities: { contacts: hubspotContacts, companies: hubspotCompanies },
  },
};
