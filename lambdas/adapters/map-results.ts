import { readJson } from './s3';

interface ResultManifest {
  ResultFiles?: { SUCCEEDED?: Array<{ Key: string }>; FAILED?: Array<{ Key: string }> };
}
interface ChildResult {
  Status?: string;
  Output?: string;
  Error?: string;
  Cause?: string;
}

/** Reads a Distributed Map's ResultWriter output: the children's outputs and the failures. */
export async function readMapResults<T>(
  bucket: string,
  manifestKey: string,
): Promise<{ outputs: T[]; failures: string[] }> {
  const manifest = await readJson<ResultManifest>({ bucket, key: manifestKey });
  const outputs: T[] = [];
  const failures: string[] = [];
  for (const f of manifest.ResultFiles?.SUCCEEDED ?? []) {
    for (const r of await readJson<ChildResult[]>({ bucket, key: f.Key })) {
      if (r.Output) outputs.push(JSON.parse(r.Output) as T);
    }
  }
  for (const f of manifest.ResultFiles?.FAILED ?? []) {
    for (const r of await readJson<ChildResult[]>({ bucket, key: f.Key }))
      failures.push(`${r.Error}: ${r.Cause}`);
  }
  return { outputs, failures };
}
