import { existsSync, writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { stringify as toYaml } from 'yaml';
import { parseConfig } from '../lambdas/domain/config';
import { PRESETS } from '../lambdas/domain/presets';
import { writeLine } from './format';
import { loadConfig, UsageError } from './options';

/** `config validate` and `config init`: check a config file, or write one from a preset. */
export function registerConfigCommands(program: Command): void {
  const cfg = program.command('config').description('validate or create a config file');
  cfg
    .command('validate <file>')
    .description('check a config file and list every problem')
    .action((file: string) => {
      if (!existsSync(file)) throw new UsageError(`config file not found: ${file}`);
      const config = loadConfig(file);
      const names = Object.keys(config.entities);
      writeLine(`${file}: valid (${names.length} entities: ${names.join(', ')})`);
    });
  cfg
    .command('init')
    .description('write a config file from a preset')
    .addOption(new Option('--preset <name>', 'preset').choices(Object.keys(PRESETS)).makeOptionMandatory())
    .option('--out <file>', 'file to write (.json or .yaml)', 'crm-sync.config.json')
    .option('--force', 'overwrite an existing file')
    .action((opts: { preset: string; out: string; force?: boolean }) => {
      if (existsSync(opts.out) && !opts.force)
        throw new UsageError(`${opts.out} exists (use --force to overwrite)`);
      const preset = PRESETS[opts.preset];
      parseConfig(preset, `preset ${opts.preset}`);
      const text = /\.ya?ml$/.test(opts.out) ? toYaml(preset) : `${JSON.stringify(preset, null, 2)}\n`;
      writeFileSync(opts.out, text);
      writeLine(`wrote ${opts.out} (preset ${opts.preset})`);
    });
}
