// The glibc malloc tuning of src/torch/native.ts: mallopt must accept it (its return value used to be
// ignored), allocatorTuning reports what is in force, and allocations below the threshold really come
// from the heap. Each case runs in a fresh process, tuned or not.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

const MIB = 1 << 20;
const isGlibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime !== undefined;

interface Probe {
  tuning: { requested: boolean; mmapThreshold: number | null; trimThreshold: number | null };
  constants: { mmap: number; trim: number };
  belowMapped: boolean | null;
  aboveMapped: boolean | null;
}

/** Loads the addon in a child process with the given CONTRASEG_MALLOC_TUNING and probes malloc. */
function probe(tuning: string | undefined): Probe {
  const native = new URL('./native.ts', import.meta.url).href;
  const script = `
    const { native, allocatorTuning, MMAP_THRESHOLD, TRIM_THRESHOLD } = await import(${JSON.stringify(native)});
    const below = MMAP_THRESHOLD - ${MIB};
    const result = { tuning: allocatorTuning, constants: { mmap: MMAP_THRESHOLD, trim: TRIM_THRESHOLD },
      belowMapped: native.mallocMapsForTesting(below), aboveMapped: native.mallocMapsForTesting(MMAP_THRESHOLD + ${MIB}) };
    console.log(JSON.stringify(result));`;
  const env = { ...process.env };
  for (const name of ['CONTRASEG_MALLOC_TUNING', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_']) delete env[name];
  if (tuning !== undefined) env.CONTRASEG_MALLOC_TUNING = tuning;
  env.CONTRASEG_NUM_THREADS = '1';
  const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env });
  return JSON.parse(output.trim().split('\n').pop() as string) as Probe;
}

describe('glibc malloc tuning', { skip: isGlibc ? false : 'glibc only' }, () => {
  it('by default mallopt accepts 32 MiB / 1 GiB and blocks just below 32 MiB stay on the heap', () => {
    const result = probe(undefined);
    assert.equal(result.constants.mmap, 32 * MIB);
    assert.deepEqual(result.tuning, { requested: true, mmapThreshold: 32 * MIB, trimThreshold: 1024 * MIB },
      'allocatorTuning must report both thresholds as accepted by mallopt');
    assert.equal(result.belowMapped, false, 'a 31 MiB malloc was mmapped: the threshold is not in force');
    assert.equal(result.aboveMapped, true, 'a 33 MiB malloc came from the heap: the threshold is not 32 MiB');
  });

  it('CONTRASEG_MALLOC_TUNING=0 applies nothing and says so', () => {
    const result = probe('0');
    assert.deepEqual(result.tuning, { requested: false, mmapThreshold: null, trimThreshold: null });
    assert.equal(result.aboveMapped, true, 'above 32 MiB glibc always maps');
  });
});

describe('mallocStats', { skip: isGlibc ? false : 'glibc only' }, () => {
  it('counts a tensor of 4 MiB (heap) and one of 40 MiB (mmapped) in bytes in use until each is disposed', async () => {
    const { native } = await import('./native.js');
    const { zeros } = await import('./creation.js');
    const stats = () => native.mallocStats() as { inUse: number; mapped: number; heap: number; free: number };
    zeros([MIB]).dispose(); // first use: libtorch's and the addon's one-time allocations
    for (const [elements, mapped] of [[MIB, false], [10 * MIB, true]] as const) {
      const bytes = 4 * elements; // float32
      // A float32 tensor's storage is one malloc block of its bytes (plus alignment: < 1 page) and the tensor's own
      // small structs. The counters are the whole process's, though: a V8 or libuv thread may allocate or free in the
      // same arena between two readings (seen once in CI under load: +1.8 MB). Such noise cannot make a wrong count
      // look right on every try, so the accounting must hold exactly on one of up to 5 tries.
      const tries: string[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
        const before = stats();
        const tensor = zeros([elements]);
        const during = stats();
        tensor.dispose();
        const after = stats();
        const grew = during.inUse - before.inUse;
        const problems = [
          grew >= bytes && grew < bytes + 64 * 1024 ? null : `in use went ${before.inUse} -> ${during.inUse}`,
          Math.abs(after.inUse - before.inUse) < 64 * 1024 ? null : `disposed: in use went ${before.inUse} -> ${after.inUse}`,
          (during.mapped - before.mapped >= bytes) === mapped ? null : `mapped bytes went ${before.mapped} -> ${during.mapped}`,
        ].filter((problem) => problem !== null);
        if (problems.length === 0) break;
        tries.push(problems.join('; '));
      }
      assert.ok(tries.length < 5, `${bytes} bytes allocated, ${mapped ? '' : 'not '}mmapped: every try was off: ${tries.join(' | ')}`);
    }
  });
});
