/**
 * npm run bench -- malloc-tuning [steps] [rounds]: what glibc malloc tuning buys on the engine benchmark's
 * training step (bench/lib/train-step-net.ts, batch 8 x 3 x 128 x 128, 2 threads). Settings, each in fresh
 * child processes, in ABC..CBA blocks so that load drift hits all alike:
 *   off        CONTRASEG_MALLOC_TUNING=0: glibc's defaults (128 KiB mmap threshold, rising dynamically).
 *   trim       + MALLOC_TRIM_THRESHOLD_=1 GiB alone: a fixed trim threshold also freezes the mmap threshold
 *              at 128 KiB (what a glibc that refuses the mmap setting is left with).
 *   mmap32     + MALLOC_MMAP_THRESHOLD_=32 MiB, trim 1 GiB (glibc's environment variables).
 *   mmap64     + MALLOC_MMAP_THRESHOLD_=64 MiB, trim 1 GiB.
 *   contraseg  the default: the mallopt calls of src/torch/native.ts.
 * A child builds the network, runs the warm-up steps, then reports over the timed steps: minor page faults,
 * median step time, V8 garbage collections (count, total ms), and whether 33 MiB / 48 MiB mallocs are
 * mmapped (the threshold actually in force). Last line: one JSON object.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver } from 'node:perf_hooks';

const THREADS = 2;
const WARMUP = 3;
const MIB = 1 << 20;
const SETTINGS = ['off', 'trim', 'mmap32', 'mmap64', 'contraseg'] as const;
type Setting = (typeof SETTINGS)[number];
interface Report {
  setting: Setting; faults: number; stepMs: number; gcCount: number; gcMs: number; tuning: unknown;
  mapped33: boolean | null; mapped48: boolean | null;
}

function environment(setting: Setting): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: String(THREADS),
    CONTRASEG_NUM_THREADS: String(THREADS) };
  for (const name of ['CONTRASEG_MALLOC_TUNING', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_']) delete env[name];
  if (setting === 'contraseg') return env;
  env.CONTRASEG_MALLOC_TUNING = '0';
  if (setting !== 'off') env.MALLOC_TRIM_THRESHOLD_ = String(1024 * MIB);
  if (setting === 'mmap32') env.MALLOC_MMAP_THRESHOLD_ = String(32 * MIB);
  if (setting === 'mmap64') env.MALLOC_MMAP_THRESHOLD_ = String(64 * MIB);
  return env;
}

async function runChild(setting: Setting, steps: number): Promise<void> {
  const { allocatorTuning, native } = await import('../src/torch/native.js');
  const { createContrasegSteps } = await import('./lib/train-step-net.js');
  const bench = createContrasegSteps({ batch: 8, size: 128 });
  for (let i = 0; i < WARMUP; i++) bench.train();
  let gcCount = 0;
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcCount++;
      gcMs += entry.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const faultsBefore = process.resourceUsage().minorPageFault;
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    bench.train();
    times.push(performance.now() - start);
  }
  const faults = process.resourceUsage().minorPageFault - faultsBefore;
  await new Promise((resolve) => setImmediate(resolve));  // deliver the last gc entries
  observer.disconnect();
  bench.dispose();
  times.sort((a, b) => a - b);
  const report: Report = {
    setting, faults, stepMs: times[Math.floor(times.length / 2)], gcCount, gcMs, tuning: allocatorTuning,
    mapped33: native.mallocMapsForTesting(33 * MIB), mapped48: native.mallocMapsForTesting(48 * MIB),
  };
  console.log(JSON.stringify(report));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return sorted.length % 2 === 1 ? sorted[Math.floor(middle)] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function runParent(steps: number, rounds: number): void {
  const thisFile = fileURLToPath(import.meta.url);
  const order = [...SETTINGS, ...[...SETTINGS].reverse()];
  const reports = new Map<Setting, Report[]>(SETTINGS.map((setting) => [setting, []]));
  for (let round = 0; round < rounds; round++) {
    for (const setting of order) {
      const output = execFileSync(process.execPath, ['--import', 'tsx', thisFile, '--child', setting, String(steps)],
        { encoding: 'utf8', env: environment(setting) });
      const report = JSON.parse(output.trim().split('\n').pop() as string) as Report;
      reports.get(setting)?.push(report);
      console.log(`${setting}: ${report.faults} minor faults over ${steps} steps, median step ${report.stepMs.toFixed(1)} ms, ` +
        `${report.gcCount} GCs (${report.gcMs.toFixed(1)} ms); 33/48 MiB mmapped ${report.mapped33}/${report.mapped48}; ` +
        `allocatorTuning ${JSON.stringify(report.tuning)}`);
    }
  }
  const summary = SETTINGS.map((setting) => {
    const runs = reports.get(setting) ?? [];
    return {
      setting, runs: runs.length,
      faults: median(runs.map((run) => run.faults)),
      step_ms: Math.round(median(runs.map((run) => run.stepMs)) * 10) / 10,
      gc_count: median(runs.map((run) => run.gcCount)),
      gc_ms: Math.round(median(runs.map((run) => run.gcMs)) * 10) / 10,
    };
  });
  const off = summary[0];
  for (const row of summary) {
    console.log(`${row.setting}: median of ${row.runs} runs: ${row.faults} faults / ${steps} steps, ${row.step_ms} ms/step, ` +
      `${row.gc_count} GCs; vs off: faults x${(row.faults / off.faults).toFixed(3)}, time x${(row.step_ms / off.step_ms).toFixed(3)}`);
  }
  console.log(JSON.stringify({ bench: 'malloc-tuning', threads: THREADS, batch: [8, 3, 128, 128], steps, warmup: WARMUP, rows: summary }));
}

if (process.argv[2] === '--child') {
  await runChild(process.argv[3] as Setting, Number(process.argv[4]));
} else {
  runParent(Number(process.argv[2] ?? 20), Number(process.argv[3] ?? 2));
}
