/**
 * `npm run fuzz -- [--cases N] [--seed S] [--targets a,b] [--from I] [--timeout MS] [--findings DIR] [--json]`:
 * the long fuzz run over every file reader (src/fuzz/run.ts). Prints progress to stderr and a summary to
 * stdout; exits 1 when anything other than success or a typed error happened.
 */
import { Command, InvalidArgumentError } from 'commander';
import { runFuzz, type FuzzReport } from './run.js';
import { TARGETS } from './targets.js';

function integer(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(`expected a non-negative integer, got '${text}'`);
  return value;
}

function summary(report: FuzzReport): string {
  const lines = [`fuzz: ${report.cases} cases in ${report.seconds.toFixed(1)} s (${(report.cases / report.seconds).toFixed(0)}/s), seed ${report.seed}, ` +
    `${report.children} child process(es)`];
  for (const [name, counts] of Object.entries(report.byTarget)) {
    lines.push(`  ${name.padEnd(12)} ${String(counts.cases).padStart(6)} cases: ${counts.ok} ok, ${counts.typed} typed errors, ${counts.findings} findings`);
  }
  const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  lines.push(`  child RSS: ${mb(report.rssWarmBytes)} after 50 cases, ${mb(report.rssHalfBytes)} half way, ${mb(report.rssEndBytes)} at the end ` +
    `(second half ${report.rssEndBytes >= report.rssHalfBytes ? '+' : '-'}${mb(Math.abs(report.rssEndBytes - report.rssHalfBytes))}), ${mb(report.rssMaxBytes)} max`);
  lines.push(`  mutations: ${Object.entries(report.mutations).sort((a, b) => b[1] - a[1]).map(([kind, count]) => `${kind} ${count}`).join(', ')}`);
  lines.push(report.findings.length === 0 ? '  findings: none' : `  findings (${report.findings.length}):`);
  for (const finding of report.findings.slice(0, 50)) {
    lines.push(`    ${finding.outcome} ${finding.target} case ${finding.index} (${finding.mutation}): ${finding.error ?? ''}`);
  }
  return lines.join('\n');
}

const program = new Command('fuzz')
  .description('Seeded mutation fuzzing of every file contraseg reads; only success or a typed error is allowed.')
  .option('--cases <n>', 'total cases, round-robin over the targets', integer, 10_000)
  .option('--seed <s>', 'seed of the mutations', integer, 1)
  .option('--targets <names>', `comma-separated targets (${TARGETS.filter((t) => t.internal !== true).map((t) => t.name).join(', ')})`)
  .option('--from <i>', 'case index of the first case of each target (replays a finding)', integer, 0)
  .option('--timeout <ms>', 'time limit of one case', integer, 10_000)
  .option('--findings <dir>', 'copy the inputs of findings here')
  .option('--json', 'print the report as JSON')
  .action(async (options: { cases: number; seed: number; targets?: string; from: number; timeout: number; findings?: string; json?: boolean }) => {
    const targets = options.targets?.split(',').map((name) => name.trim());
    const report = await runFuzz({
      cases: options.cases, seed: options.seed, targets, from: options.from, timeoutMs: options.timeout, findingsDir: options.findings,
      onCase: (outcome, done) => {
        if (outcome.outcome !== 'ok' && outcome.outcome !== 'typed') process.stderr.write(`\n${outcome.outcome} ${outcome.target} case ${outcome.index}: ${outcome.error ?? ''}\n`);
        if (done % 250 === 0) process.stderr.write(`fuzz: ${done}/${options.cases}\r`);
      },
    });
    process.stdout.write(`${options.json === true ? JSON.stringify(report, null, 2) : summary(report)}\n`);
    process.exitCode = report.findings.length === 0 ? 0 : 1;
  });

await program.parseAsync(process.argv);
