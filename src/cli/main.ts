#!/usr/bin/env node
/**
 * The contraseg command line: `contraseg <command> [options]`. argv -> a validated Command (a
 * discriminated union) -> one call. This is the only module that calls process.exit: ContrasegErrors
 * become an exit code and a one-line message without stack; anything else is a bug and prints its stack.
 * To add a command: a module with its parser and runner, a member of Command, a case in each switch.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ConfigError, ContrasegError, InterruptedError } from '../errors.js';
import type { CliIO } from './args.js';
import { EXIT_CODES } from './exit-codes.js';
import { INFO_USAGE, parseInfoArgs, runInfo, type InfoOptions } from './info.js';
import { parseTrainArgs, trainUsage, type TrainOptions } from './train.js';
import { evalUsage, parseEvalArgs, type EvalOptions } from './eval.js';
import { parsePredictArgs, predictUsage, type PredictOptions } from './predict.js';
import { parseSweepArgs, sweepUsage, type SweepOptions } from './sweep.js';
import { parseServeArgs, runServe, serveUsage, type ServeOptions } from './serve.js';
import { exportUsage, parseExportArgs, type ExportCommandOptions } from './export.js';

export { EXIT_CODES } from './exit-codes.js';

/** A parsed command line. */
export type Command =
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'info'; readonly options: InfoOptions }
  | { readonly kind: 'train'; readonly options: TrainOptions }
  | { readonly kind: 'eval'; readonly options: EvalOptions }
  | { readonly kind: 'predict'; readonly options: PredictOptions }
  | { readonly kind: 'serve'; readonly options: ServeOptions }
  | { readonly kind: 'sweep'; readonly options: SweepOptions }
  | { readonly kind: 'export'; readonly options: ExportCommandOptions };

/** Usage of the whole tool. */
export const USAGE = `usage: contraseg <command> [options]

commands:
  train     contrastive pretraining + softmax fine-tuning (or the CE baseline), then val/test mIoU
  pretrain  stage 1 only: label-based pixel-wise contrastive pretraining
  finetune  stage 2 only: softmax fine-tuning from a pretrain run, or from scratch
  eval      per-class IoU, mIoU and pixel accuracy of a trained model at native resolution
  predict   coloured mask PNGs and overlays for image files, folders or globs (a run, or an .onnx model)
  export    a fine-tuned model as ONNX for onnxruntime (Node, browser)
  sweep     the label-efficiency study: methods x label budgets x seeds -> results.json, report.html
  serve     an exported .onnx model: the browser demo page and POST /segment (image in, mask out)
  info      dataset statistics: image count, sizes, class pixel shares

Start here:  contraseg train --preset camvid-quick --out runs/quick
Run "contraseg <command> --help" for the options of a command.`;

/**
 * Parses argv (without the node and script paths) into a Command.
 * @throws ConfigError for an unknown command or invalid options.
 */
export function parseCommand(argv: readonly string[]): Command {
  const [name, ...rest] = argv;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  switch (name) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return { kind: 'help', text: USAGE };
    case 'info':
      return wantsHelp ? { kind: 'help', text: INFO_USAGE } : { kind: 'info', options: parseInfoArgs(rest) };
    case 'train':
    case 'pretrain':
    case 'finetune':
      return wantsHelp ? { kind: 'help', text: trainUsage(name) } : { kind: 'train', options: parseTrainArgs(name, rest) };
    case 'eval':
      return wantsHelp ? { kind: 'help', text: evalUsage() } : { kind: 'eval', options: parseEvalArgs(rest) };
    case 'predict':
      return wantsHelp ? { kind: 'help', text: predictUsage() } : { kind: 'predict', options: parsePredictArgs(rest) };
    case 'serve':
      return wantsHelp ? { kind: 'help', text: serveUsage() } : { kind: 'serve', options: parseServeArgs(rest) };
    case 'sweep':
      return wantsHelp ? { kind: 'help', text: sweepUsage() } : { kind: 'sweep', options: parseSweepArgs(rest) };
    case 'export':
      return wantsHelp ? { kind: 'help', text: exportUsage() } : { kind: 'export', options: parseExportArgs(rest) };
    default:
      throw new ConfigError(`unknown command "${name}".\n${USAGE}`);
  }
}

/**
 * Runs a parsed command. The runners that need the engine are imported here, when they run, so that --help,
 * a bad flag or a bad config answers at once and without libtorch (parsing modules never import it).
 */
export async function runCommand(command: Command, io: CliIO): Promise<void> {
  switch (command.kind) {
    case 'help':
      io.stdout(`${command.text}\n`);
      return;
    case 'info':
      return runInfo(command.options, io);
    case 'train':
      return (await import('./train-run.js')).runTrainCommand(command.options, io);
    case 'eval':
      return (await import('./eval-run.js')).runEval(command.options, io);
    case 'predict':
      return (await import('./predict-run.js')).runPredict(command.options, io);
    case 'serve':
      return runServe(command.options, io);
    case 'sweep':
      return (await import('./sweep-run.js')).runSweep(command.options, io);
    case 'export':
      return (await import('./export-run.js')).runExport(command.options, io);
    default: {
      const unreachable: never = command;
      throw new ConfigError(`unhandled command ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Runs the command line and returns the exit status; prints errors to io.stderr. Never exits the process. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  try {
    await runCommand(parseCommand(argv), io);
    return 0;
  } catch (error) {
    if (error instanceof InterruptedError) {
      io.stderr(`contraseg: ${error.message}\n`);
      return error.signal === 'SIGTERM' ? 143 : EXIT_CODES.INTERRUPTED; // 128 + signal number, as shells report
    }
    if (error instanceof ContrasegError) {
      io.stderr(`contraseg: ${error.message}\n`);
      return EXIT_CODES[error.code];
    }
    io.stderr(`contraseg: unexpected error (please report it):\n${(error as Error)?.stack ?? String(error)}\n`);
    return 1;
  }
}

function isMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isMainModule()) {
  const interrupt = new AbortController();
  // training commands finish their step and checkpoint; the others (serve, eval, predict...) just stop
  const trains = ['train', 'pretrain', 'finetune', 'sweep'].includes(process.argv[2] ?? '');
  const stopping = trains ? 'finishing the current step and writing a checkpoint' : 'stopping';
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupt.signal.aborted) process.exit(signal === 'SIGTERM' ? 143 : 130); // a second signal: stop now
      process.stderr.write(`\ncontraseg: ${signal}: ${stopping} (again to quit at once)\n`);
      interrupt.abort(signal);
    });
  }
  const io: CliIO = {
    stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text),
    isTTY: process.stderr.isTTY === true, signal: interrupt.signal,
  };
  const code = await runCli(process.argv.slice(2), io);
  // exit once stdout has drained (a large --json output to a pipe would otherwise be cut)
  process.stdout.write('', () => process.exit(code));
}
