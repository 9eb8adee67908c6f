/**
 * `contraseg serve`: an exported ONNX model behind a local HTTP server: the browser demo (web/, run by
 * onnxruntime-web in the page) and `POST /segment` (onnxruntime-node) for other programs. Runs until
 * SIGINT/SIGTERM, then stops accepting connections, finishes the requests in flight and exits 0.
 */
import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { load } from '../deploy/segmenter.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_MAX_QUEUE, startServer } from '../deploy/server.js';
import { CheckpointError, ConfigError } from '../errors.js';
import { parseCommander, quietCommand, type CliIO } from './args.js';

/** Validated options of `contraseg serve`. */
export interface ServeOptions {
  readonly model: string;
  readonly host: string;
  readonly port: number;
  readonly maxBodyBytes: number;
  readonly maxPixels: number;
  readonly maxQueue: number;
  readonly threads: number | undefined;
}

const EXAMPLES = `
Examples:
  contraseg serve --model model.onnx                   # http://127.0.0.1:8080: the demo page
  contraseg serve --model model.onnx --port 9000 --host 0.0.0.0
  curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' http://127.0.0.1:8080/segment -o mask.png
  curl --data-binary @photo.png -H 'Content-Type: image/png' 'http://127.0.0.1:8080/segment?format=json'
POST /segment takes the bytes of a PNG or JPEG; ?format=png (default: a palette PNG whose values are
the class ids; &mask=ids for a greyscale id PNG) or ?format=json ({width, height, classNames, colours,
counts, inferenceMs, mask: base64 of the uint8 class ids, row-major}). GET /health, GET /model.onnx.
Requests are segmented one at a time; errors are JSON {error: {status, message}} with a 4xx status.`;

const integer = (name: string, min: number, max: number) => (text: string): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`--${name}: expected an integer in [${min}, ${max}], got ${text}. See: contraseg serve --help`);
  return value;
};

function buildCommand(): Command {
  return quietCommand(new Command('serve')
    .description('serve an exported model: the browser demo page and POST /segment (image in, mask PNG or JSON out)')
    .requiredOption('--model <file>', 'the .onnx file written by contraseg export')
    .option('--port <n>', 'TCP port (0: any free port)', integer('port', 0, 65535), 8080)
    .option('--host <address>', 'address to listen on (0.0.0.0 for every interface)', '127.0.0.1')
    .option('--max-body <bytes>', 'largest accepted POST /segment body', integer('max-body', 1, 2 ** 31), DEFAULT_MAX_BODY_BYTES)
    .option('--max-pixels <n>', 'largest accepted image, width x height', integer('max-pixels', 1, 2 ** 31), DEFAULT_MAX_PIXELS)
    .option('--max-queue <n>', 'segmentations waiting or running before 503', integer('max-queue', 1, 10_000), DEFAULT_MAX_QUEUE)
    .option('--threads <n>', 'onnxruntime-node threads for /segment (default CONTRASEG_NUM_THREADS or one per core)', integer('threads', 1, 1024))
    .addHelpText('after', EXAMPLES));
}

/** Usage text of `contraseg serve`. */
export const serveUsage = (): string => buildCommand().helpInformation() + EXAMPLES.trimStart();

/** @throws ConfigError for bad options. */
export function parseServeArgs(argv: readonly string[]): ServeOptions {
  const command = buildCommand();
  const flags = parseCommander(command, 'serve', argv);
  return {
    model: flags.model as string, host: flags.host as string, port: flags.port as number,
    maxBodyBytes: flags.maxBody as number, maxPixels: flags.maxPixels as number, maxQueue: flags.maxQueue as number,
    threads: flags.threads as number | undefined,
  };
}

/**
 * Runs `contraseg serve` until `io.signal` aborts (SIGINT/SIGTERM), then closes the server gracefully.
 * @throws CheckpointError for a missing or invalid model; ConfigError when the address cannot be bound.
 */
export async function runServe(options: ServeOptions, io: CliIO): Promise<void> {
  const segmenter = await load(options.model, options.threads === undefined ? {} : { threads: options.threads });
  try {
    let modelBytes: Buffer;
    try {
      modelBytes = await readFile(options.model);
    } catch (error) {
      throw new CheckpointError(`cannot read the ONNX model (${(error as Error).message})`, options.model);
    }
    const server = await startServer({
      modelBytes, modelName: basename(options.model), segmenter, classNames: segmenter.metadata.classNames,
      host: options.host, port: options.port, maxBodyBytes: options.maxBodyBytes, maxPixels: options.maxPixels, maxQueue: options.maxQueue,
    });
    io.stdout(`contraseg serve: ${options.model} (${segmenter.metadata.classNames.length} classes) at ${server.url}/ ` +
      `(demo page; POST ${server.url}/segment). Ctrl-C to stop.\n`);
    await untilAborted(io.signal);
    io.stderr('contraseg serve: stopping (finishing requests in flight)\n');
    await server.close();
  } finally {
    await segmenter.dispose();
  }
}

function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal === undefined) return; // no signal: serve until the process is killed
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
