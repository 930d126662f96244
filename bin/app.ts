#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseConfigText } from '../lambdas/domain/config';
import { CrmSyncStack } from '../lib/crm-sync-stack';

const app = new App();
const configFile = resolve(
  String(app.node.tryGetContext('crm-sync:config') ?? 'examples/crm-sync.config.json'),
);
const config = parseConfigText(readFileSync(configFile, 'utf8'), configFile);
const stack = new CrmSyncStack(app, 'CrmSync', {
  config,
  configFile,
  description: 'crm-sync: CRM exports from S3 into DynamoDB with validation, dedupe and reconciliation',
});
Tags.of(stack).add('app', 'crm-sync');
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
