/**
 * Validation of results.json at the edge (the report reads a file another program wrote): every field
 * the report draws is checked for its type, so a malformed or hand-edited file fails with a message
 * naming the file and the fields instead of drawing a wrong report. Unknown fields are kept, so a newer
 * optional field of the contract passes through.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { RESULTS_VERSION, type SweepResults } from './results.js';

const fraction = z.number().finite();
const evaluationSchema = z.object({
  mIoU: fraction,
  pixelAccuracy: fraction,
  meanClassAccuracy: fraction,
  frequencyWeightedIoU: fraction,
  classIoU: z.array(fraction.nullable()),
  images: z.number().int().nonnegative(),
  seconds: z.number().finite(),
}).passthrough();

const cellSchema = z.object({
  method: z.string(),
  labelled: z.number().int().positive(),
  seed: z.number().int().nonnegative(),
  steps: z.object({ pretrain: z.number().int().nonnegative(), finetune: z.number().int().nonnegative() }).passthrough(),
  val: evaluationSchema.nullable(),
  test: evaluationSchema.nullable(),
  seconds: z.object({ pretrain: z.number().finite(), finetune: z.number().finite(), total: z.number().finite() }).passthrough(),
  wallSeconds: z.number().finite().optional(),
  load: z.number().finite().nonnegative().nullable().optional(),
  curve: z.array(z.object({ stage: z.enum(['pretrain', 'finetune']), step: z.number().finite(), loss: z.number() }).passthrough()),
  valCurve: z.array(z.object({ step: z.number().finite(), mIoU: z.number() }).passthrough()),
}).passthrough();

const channel = z.number().int().min(0).max(255);

/** The zod schema of {@link SweepResults} (version {@link RESULTS_VERSION}). */
export const sweepResultsSchema = z.object({
  version: z.literal(RESULTS_VERSION),
  command: z.string(),
  createdAt: z.string(),
  dataset: z.object({
    name: z.string(),
    classNames: z.array(z.string()),
    colours: z.array(z.tuple([channel, channel, channel])),
    trainImages: z.number().int().nonnegative(),
    valImages: z.number().int().nonnegative(),
    testImages: z.number().int().nonnegative(),
  }).passthrough(),
  protocol: z.string(),
  settings: z.record(z.unknown()),
  methods: z.array(z.string()),
  budgets: z.array(z.number().int().positive()),
  cells: z.array(cellSchema),
  predictions: z.array(z.object({ id: z.string(), image: z.string(), truth: z.string(), predictions: z.record(z.string()) }).passthrough()),
  embeddings: z.array(z.object({ title: z.string(), points: z.array(z.tuple([z.number().finite(), z.number().finite(), z.number().int()])) }).passthrough()),
  machine: z.string(),
  cores: z.number().int().positive().optional(),
}).passthrough();

/**
 * Checks that `input` (parsed JSON) is a results.json the report can draw.
 * @param source names the input in messages, e.g. the file path.
 * @throws ConfigError listing every offending field (at most 10), or naming the version mismatch.
 */
export function parseSweepResults(input: unknown, source = 'results.json'): SweepResults {
  const version = typeof input === 'object' && input !== null ? (input as { version?: unknown }).version : undefined;
  if (version !== RESULTS_VERSION) {
    throw new ConfigError(`${source}: expected results version ${RESULTS_VERSION}, got ${JSON.stringify(version) ?? 'none'}. Re-run the sweep with this contraseg, or render it with the contraseg that wrote it.`);
  }
  const result = sweepResultsSchema.safeParse(input);
  if (result.success) return result.data as SweepResults;
  const issues = result.error.issues.slice(0, 10).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  const more = result.error.issues.length > 10 ? `; and ${result.error.issues.length - 10} more` : '';
  throw new ConfigError(`${source}: not a valid results.json: ${issues.join('; ')}${more}.`);
}
