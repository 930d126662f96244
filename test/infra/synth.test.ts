import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { STACK_HANDLERS } from './support';

/**
 * A full offline `cdk synth` with the real CLI and real esbuild bundling of the four workers, as a
 * deploy would run it (bin/app.ts also runs the cdk-nag AwsSolutions checks).
 */

const repoRoot = resolve(__dirname, '../..');
const configFile = join(repoRoot, 'examples/crm-sync.config.json');
const SYNTH_TIMEOUT_MS = 240_000;
jest.setTimeout(SYNTH_TIMEOUT_MS);

interface CfnResource {
  Type: string;
  Properties: Record<string, unknown> & {
    DefinitionString?: unknown;
    Environment?: { Variables?: Record<string, unknown> };
  };
  Metadata?: Record<string, unknown>;
}

interface CfnTemplate {
  Resources: Record<string, CfnResource>;
}

interface ValidationReport {
  pluginReports: { pluginName: string; conclusion: string; violations: unknown[] }[];
}

function definitionText(definition: unknown): string {
  if (typeof definition === 'string') return definition;
  const join = (definition as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`unexpected DefinitionString: ${JSON.stringify(definition)}`);
  return join[1].map((p) => (typeof p === 'string' ? p : '#{TOKEN}')).join(join[0]);
}

describe('cdk synth (real CLI, real bundling)', () => {
  let outdir: string;
  let output: string;
  let template: CfnTemplate;

  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'crm-sync-synth-'));
    // execFileSync throws (and fails every test) if the exit code is not 0.
    output = execFileSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '-o', outdir], {
      cwd: repoRoot,
      env: process.env,
      timeout: 180_000,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    template = JSON.parse(readFileSync(join(outdir, 'CrmSync.template.json'), 'utf8')) as CfnTemplate;
  }, SYNTH_TIMEOUT_MS);

  afterAll(() => {
    if (outdir) rmSync(outdir, { recursive: true, force: true });
  });

  it('exits 0 and writes the template', () => {
    // Prepare
    const templateFile = join(outdir, 'CrmSync.template.json');

    // Act
    const exists = existsSync(templateFile);

    // Assess
    expect(typeof output).toBe('string');
    expect(exists).toBe(true);
    expect(Object.keys(template.Resources).length).toBeGreaterThan(10);
  });

  it('state machine definition has the Distributed Map and its ItemReader', () => {
    // Prepare
    const machines = Object.values(template.Resources).filter(
      (r) => r.Type === 'AWS::StepFunctions::StateMachine',
    );

    // Act
    const sync = machines.find((m) => JSON.stringify(m.Properties.DefinitionString).includes('ClaimRun'));
    const text = definitionText(sync?.Properties.DefinitionString);

    // Assess
    expect(machines).toHaveLength(3); // the sync workflow, Snapshot and Restore
    expect(text).toContain('"DISTRIBUTED"');
    expect(text).toContain('"ItemReader"');
    expect(text).toMatch(/"ItemReader":\{"Resource":"arn:#\{TOKEN\}:states:::s3:getObject"/);
  });

  it('bundles every function (6 run workers, snapshot and restore) with index.js, its source map and the config file', () => {
    // Prepare
    const workers = Object.values(template.Resources).filter(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.CRM_SYNC_HANDLER,
    );
    const config = readFileSync(configFile, 'utf8');

    // Act
    const assets = workers.map((w) => ({
      handler: String(w.Properties.Environment?.Variables?.CRM_SYNC_HANDLER),
      dir: join(outdir, String(w.Metadata?.['aws:asset:path'])),
      bundled: w.Metadata?.['aws:asset:is-bundled'],
    }));

    // Assess
    expect(assets.map((a) => a.handler).sort()).toEqual([...STACK_HANDLERS]);
    expect(new Set(assets.map((a) => a.dir)).size).toBe(STACK_HANDLERS.length);
    for (const { dir, bundled } of assets) {
      expect(bundled).toBe(true);
      expect(existsSync(join(dir, 'index.js'))).toBe(true);
      expect(existsSync(join(dir, 'index.js.map'))).toBe(true);
      expect(readFileSync(join(dir, 'crm-sync.config.json'), 'utf8')).toBe(config);
      expect(readFileSync(join(dir, 'index.js'), 'utf8')).toMatch(
        /\/\/# sourceMappingURL=index\.js\.map\s*$/,
      );
      const map = JSON.parse(readFileSync(join(dir, 'index.js.map'), 'utf8')) as { mappings?: string };
      expect(map.mappings?.length).toBeGreaterThan(0);
    }
  });

  it('passes the cdk-nag AwsSolutions checks of bin/app.ts with real assets', () => {
    // Prepare
    const reportFile = join(outdir, 'validation-report.json');

    // Act
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as ValidationReport;
    const nag = report.pluginReports.find((r) => r.pluginName === 'AwsSolutions');

    // Assess
    expect(nag?.conclusion).toBe('success');
    expect(nag?.violations).toEqual([]);
  });
});
