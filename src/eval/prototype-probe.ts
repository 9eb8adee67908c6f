/**
 * Nearest-class-mean probe of pixel features: how well a feature map separates the classes, without
 * training anything on it. Each class's prototype is the mean of its unit-normalised feature rows over
 * some labelled pixels (e.g. a run's labelled training images); a pixel is assigned the class whose
 * normalised prototype has the largest cosine with it (Mensink et al., "Distance-based image
 * classification", TPAMI 2013, the nearest class mean classifier).
 *
 * Scored on the prototypes' own pixels it says whether the features fit the labels they were trained
 * on; scored on held-out images it says whether that separation carries over. Both are what the
 * contrastive stage is supposed to produce and what its loss value alone cannot show.
 * Plain arrays in and out: rows are N vectors of `dim` floats, row-major (`rows[i * dim + j]`).
 */
import { ConfigError, ShapeError } from '../errors.js';

function checkRows(rows: Float32Array, dim: number, what: string): number {
  if (rows.length % dim !== 0) throw new ShapeError(`${what}: expected N x ${dim} values, got ${rows.length}, not a multiple of ${dim}.`);
  return rows.length / dim;
}

/** Class prototypes accumulated from labelled feature rows; see the file doc. */
export class PrototypeProbe {
  readonly numClasses: number;
  readonly dim: number;
  /** Per class, the sum of its unit rows (numClasses x dim). */
  private readonly sums: Float64Array;
  private readonly counts: number[];

  /** @throws ConfigError unless numClasses and dim are positive integers. */
  constructor(numClasses: number, dim: number) {
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new ConfigError(`PrototypeProbe: numClasses must be a positive integer, got ${numClasses}.`);
    if (!Number.isInteger(dim) || dim < 1) throw new ConfigError(`PrototypeProbe: dim must be a positive integer, got ${dim}.`);
    this.numClasses = numClasses;
    this.dim = dim;
    this.sums = new Float64Array(numClasses * dim);
    this.counts = new Array<number>(numClasses).fill(0);
  }

  /**
   * Adds labelled rows to the prototypes. Rows of zero norm carry no direction and are skipped.
   * @throws ShapeError if rows and labels disagree in count; ConfigError for a label outside 0..numClasses-1.
   */
  add(rows: Float32Array, labels: ArrayLike<number>): this {
    const count = checkRows(rows, this.dim, 'PrototypeProbe.add');
    if (labels.length !== count) throw new ShapeError(`PrototypeProbe.add: ${count} rows but ${labels.length} labels; pass one label per row.`);
    for (let i = 0; i < count; i++) {
      const label = labels[i] as number;
      if (!Number.isInteger(label) || label < 0 || label >= this.numClasses) {
        throw new ConfigError(`PrototypeProbe.add: label ${label} of row ${i} is outside 0..${this.numClasses - 1}; drop ignore pixels before adding.`);
      }
      const row = rows.subarray(i * this.dim, (i + 1) * this.dim);
      const norm = Math.hypot(...row);
      if (norm === 0) continue;
      for (let j = 0; j < this.dim; j++) (this.sums[label * this.dim + j] as number) += (row[j] as number) / norm;
      (this.counts[label] as number) += 1;
    }
    return this;
  }

  /** Rows added per class. */
  classCounts(): number[] {
    return [...this.counts];
  }

  /**
   * The class of each row: the prototype of largest cosine (ties to the lower class id). Classes that
   * received no rows are never predicted.
   * @throws ShapeError for rows not of this dim; ConfigError if no class has a prototype yet.
   */
  classify(rows: Float32Array): Int32Array {
    const count = checkRows(rows, this.dim, 'PrototypeProbe.classify');
    const prototypes = this.unitPrototypes();
    if (prototypes.length === 0) throw new ConfigError('PrototypeProbe.classify: no prototypes yet; add labelled rows first.');
    const classes = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const row = rows.subarray(i * this.dim, (i + 1) * this.dim);
      let best = -Infinity;
      for (const { label, unit } of prototypes) {
        let dot = 0;
        for (let j = 0; j < this.dim; j++) dot += (row[j] as number) * (unit[j] as number);
        if (dot > best) {
          best = dot;
          classes[i] = label;
        }
      }
    }
    return classes;
  }

  /** The unit prototypes of the classes that have rows (a zero-sum class has none: its rows cancelled out). */
  private unitPrototypes(): { label: number; unit: Float64Array }[] {
    const prototypes: { label: number; unit: Float64Array }[] = [];
    for (let label = 0; label < this.numClasses; label++) {
      const sum = this.sums.subarray(label * this.dim, (label + 1) * this.dim);
      const norm = Math.hypot(...sum);
      if (this.counts[label] === 0 || norm === 0) continue;
      prototypes.push({ label, unit: sum.map((value) => value / norm) });
    }
    return prototypes;
  }
}
