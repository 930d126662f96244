import { z } from 'zod';
import type { MapOutput } from '../contract/results';
import { InvalidEventError } from '../domain/errors';
import { putJson, readJson } from './s3';

/** A result file's entry in a manifest (its other fields, such as Size, are kept as they are). */
const resultFileSchema = z.object({ Key: z.string() }).loose();

/** A Distributed Map's ResultWriter manifest. */
const resultManifestSchema = z.object({
  ResultFiles: z
    .object({
      SUCCEEDED: z.array(resultFileSchema).optional(),
      FAILED: z.array(resultFileSchema).optional(),
    })
    .optional(),
});

/** One child execution's result in a ResultWriter file. */
const childResultsSchema = z.array(
  z.object({
    Status: z.string().optional(),
    Output: z.string().optional(),
    Error: z.string().optional(),
    Cause: z.string().optional(),
  }),
);

function parsed<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new InvalidEventError(`${what} is not what the workflow's contract says: ${issues.join('; ')}`);
  }
  return result.data;
}

/**
 * Reads a Distributed Map's ResultWriter output: the children's outputs (each parsed with the
 * worker's output schema, lambdas/contract/results.ts) and the failures.
 */
export async function readMapResults<T extends z.ZodType>(
  bucket: string,
  manifestKey: string,
  output: T,
): Promise<{ outputs: Array<z.output<T>>; failures: string[] }> {
  const manifest = parsed(resultManifestSchema, await readJson({ bucket, key: manifestKey }), manifestKey);
  const outputs: Array<z.output<T>> = [];
  const failures: string[] = [];
  for (const f of manifest.ResultFiles?.SUCCEEDED ?? []) {
    for (const r of parsed(childResultsSchema, await readJson({ bucket, key: f.Key }), f.Key)) {
      if (r.Output) outputs.push(parsed(output, JSON.parse(r.Output), `a child's output in ${f.Key}`));
    }
  }
  for (const f of manifest.ResultFiles?.FAILED ?? []) {
    for (const r of parsed(childResultsSchema, await readJson({ bucket, key: f.Key }), f.Key))
      failures.push(`${r.Error}: ${r.Cause}`);
  }
  return { outputs, failures };
}

/** readMapResults of a Map state's output (where its ResultWriter wrote). */
export function readMapOutput<T extends z.ZodType>(
  output: MapOutput,
  schema: T,
): Promise<{ outputs: Array<z.output<T>>; failures: string[] }> {
  return readMapResults(output.ResultWriterDetails.Bucket, output.ResultWriterDetails.Key, schema);
}

/**
 * Writes one ResultWriter manifest at `to` listing the result files of every manifest in `from`, in
 * order (the files of several Map runs, read as one by readMapResults).
 */
export async function concatResultManifests(
  to: { bucket: string; key: string },
  from: ReadonlyArray<{ bucket: string; key: string }>,
): Promise<void> {
  const manifests = [];
  for (const ref of from) manifests.push(parsed(resultManifestSchema, await readJson(ref), ref.key));
  const merged: z.infer<typeof resultManifestSchema> = {
    ResultFiles: {
      SUCCEEDED: manifests.flatMap((m) => m.ResultFiles?.SUCCEEDED ?? []),
      FAILED: manifests.flatMap((m) => m.ResultFiles?.FAILED ?? []),
    },
  };
  await putJson(to.bucket, to.key, merged);
}
