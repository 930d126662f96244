import type { CrmSyncConfigInput } from './config';

type EntityInput = CrmSyncConfigInput['entities'][string];

/**
 * An optional phone as exports hold it: checked by length only (sample and sandbox data is full of
 * fictional numbers that fail the number plan, and one should not cost the whole record), read in the
 * record's country (`regionFrom`, per entity), else as a US number.
 */
const OPTIONAL_PHONE = { type: 'phone', region: 'US', validity: 'possible' } as const;

/**
 * Built-in entity mappings with the real column names of CRM exports.
 * Salesforce: Data Loader / Data Export (`Id`, `LastModifiedDate`, `IsDeleted`…).
 * HubSpot: the CRM export (`Record ID`, `Last Modified Date`…).
 */
export const salesforceContact: EntityInput = {
  target: { key: 'id' },
  fields: {
    id: { source: 'Id', type: 'string', required: true },
    accountId: { source: 'AccountId', type: 'string' },
    firstName: { source: 'FirstName', type: 'string', transforms: ['trim', 'collapseSpaces'] },
    lastName: { source: 'LastName', type: 'string', required: true, transforms: ['trim', 'collapseSpaces'] },
    email: { source: 'Email', type: 'email' },
    phone: { source: 'Phone', ...OPTIONAL_PHONE, regionFrom: 'MailingCountry' },
    mobilePhone: { source: 'MobilePhone', ...OPTIONAL_PHONE, regionFrom: 'MailingCountry' },
    title: { source: 'Title', type: 'string' },
    mailingStreet: { source: 'MailingStreet', type: 'string' },
    mailingCity: { source: 'MailingCity', type: 'string' },
    mailingState: { source: 'MailingState', type: 'string' },
    mailingPostalCode: { source: 'MailingPostalCode', type: 'string' },
    mailingCountry: { source: 'MailingCountry', type: 'string' },
    leadSource: { source: 'LeadSource', type: 'string' },
    hasOptedOutOfEmail: { source: 'HasOptedOutOfEmail', type: 'boolean', default: false },
    birthdate: { source: 'Birthdate', type: 'date' },
    createdAt: { source: 'CreatedDate', type: 'datetime' },
    updatedAt: { source: 'LastModifiedDate', type: 'datetime', required: true },
  },
  updatedAt: 'updatedAt',
  deleteFlag: { source: 'IsDeleted', values: ['true', '1'] },
  references: { accountId: { entity: 'account', reject: false } },
  writeMode: 'newer-wins',
  syncMode: 'merge',
};

export const salesforceAccount: EntityInput = {
  target: { key: 'id' },
  fields: {
    id: { source: 'Id', type: 'string', required: true },
    name: { source: 'Name', type: 'string', required: true, transforms: ['trim', 'collapseSpaces'] },
    type: { source: 'Type', type: 'string' },
    industry: { source: 'Industry', type: 'string' },
    website: { source: 'Website', type: 'string', transforms: ['trim', 'lower'] },
    phone: { source: 'Phone', ...OPTIONAL_PHONE, regionFrom: 'BillingCountry' },
    billingCity: { source: 'BillingCity', type: 'string' },
    billingState: { source: 'BillingState', type: 'string' },
    billingCountry: { source: 'BillingCountry', type: 'string' },
    annualRevenue: { source: 'AnnualRevenue', type: 'number' },
    numberOfEmployees: { source: 'NumberOfEmployees', type: 'integer' },
    createdAt: { source: 'CreatedDate', type: 'datetime' },
    updatedAt: { source: 'LastModifiedDate', type: 'datetime', required: true },
  },
  updatedAt: 'updatedAt',
  deleteFlag: { source: 'IsDeleted', values: ['true', '1'] },
  writeMode: 'newer-wins',
  syncMode: 'merge',
};

export const salesforceOpportunity: EntityInput = {
  target: { key: 'id' },
  fields: {
    id: { source: 'Id', type: 'string', required: true },
    accountId: { source: 'AccountId', type: 'string' },
    name: { source: 'Name', type: 'string', required: true },
    stageName: { source: 'StageName', type: 'string', required: true },
    amount: { source: 'Amount', type: 'number' },
    probability: { source: 'Probability', type: 'number' },
    closeDate: { source: 'CloseDate', type: 'date', required: true },
    isClosed: { source: 'IsClosed', type: 'boolean' },
    isWon: { source: 'IsWon', type: 'boolean' },
    createdAt: { source: 'CreatedDate', type: 'datetime' },
    updatedAt: { source: 'LastModifiedDate', type: 'datetime', required: true },
  },
  updatedAt: 'updatedAt',
  deleteFlag: { source: 'IsDeleted', values: ['true', '1'] },
  references: { accountId: { entity: 'account', reject: false } },
  writeMode: 'newer-wins',
  syncMode: 'merge',
};

export const hubspotContacts: EntityInput = {
  target: { key: 'id' },
  fields: {
    id: { source: 'Record ID', type: 'string', required: true },
    firstName: { source: 'First Name', type: 'string' },
    lastName: { source: 'Last Name', type: 'string' },
    email: { source: 'Email', type: 'email' },
    phone: { source: 'Phone Number', ...OPTIONAL_PHONE, regionFrom: 'Country/Region' },
    lifecycleStage: { source: 'Lifecycle Stage', type: 'string', transforms: ['trim', 'lower'] },
    companyId: { source: 'Associated Company IDs', type: 'string' },
    createdAt: { source: 'Create Date', type: 'datetime' },
    updatedAt: { source: 'Last Modified Date', type: 'datetime', required: true },
  },
  updatedAt: 'updatedAt',
  writeMode: 'newer-wins',
  syncMode: 'merge',
};

export const hubspotCompanies: EntityInput = {
  target: { key: 'id' },
  fields: {
    id: { source: 'Record ID', type: 'string', required: true },
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
};

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
