/**
 * A small builder of ONNX graphs over onnx-proto's generated protobuf classes (onnx.proto of ONNX 1.10,
 * IR version 8): named values, nodes with typed attributes, float32 / int64 initializers, dynamic-shape
 * inputs and outputs, and the ModelProto with its opset and metadata_props. It knows ONNX, not our models
 * (export-graph.ts walks the module tree and calls it).
 */
import onnxProto from 'onnx-proto';
import { ConfigError } from '../errors.js';

const { onnx } = onnxProto;

/** The default ONNX opset (ONNX 1.12; Resize half_pixel, Clip with tensor bounds, GlobalAveragePool). */
export const ONNX_OPSET = 17;
/** IR version of the schema onnx-proto was generated from; opset 17 models are IR 8 (ONNX 1.12). */
export const ONNX_IR_VERSION = 8;

/** An attribute value: numbers are INT unless listed in `floats`, arrays INTS, strings STRING. */
export type AttributeValue = number | number[] | string;

/** One dimension of a graph input or output: a fixed size or a symbolic name ('N', 'H', ...). */
export type Dimension = number | string;

/** Accumulates nodes and initializers; `toModel` encodes them. Value names are unique within a builder. */
export class OnnxGraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly used = new Set<string>();
  private readonly int64Constants = new Map<string, string>();

  /** A fresh value name starting with `hint` (dots kept: they mirror module paths). */
  uniqueName(hint: string): string {
    let name = hint;
    for (let index = 1; this.used.has(name); index++) name = `${hint}_${index}`;
    this.used.add(name);
    return name;
  }

  /** Declares a float32 graph input; returns its name. */
  addInput(name: string, dims: readonly Dimension[]): string {
    this.inputs.push(valueInfo(this.claim(name), dims));
    return name;
  }

  /** Declares `value` (a node output) as a float32 graph output under `name` (an Identity if the names differ). */
  addOutput(value: string, name: string, dims: readonly Dimension[]): void {
    const output = value === name ? value : this.node('Identity', [value], {}, name);
    this.outputs.push(valueInfo(output, dims));
  }

  /** A float32 initializer of shape `dims` (row-major data); returns its name. */
  addFloatInitializer(hint: string, data: Float32Array, dims: readonly number[]): string {
    const count = dims.reduce((product, size) => product * size, 1);
    if (count !== data.length) {
      throw new ConfigError(`ONNX initializer ${hint}: shape [${dims.join(', ')}] holds ${count} values, got ${data.length}`);
    }
    const name = this.uniqueName(hint);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(); // little-endian, as ONNX raw_data
    this.initializers.push(onnx.TensorProto.create({ name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes }));
    return name;
  }

  /** A 1-D int64 initializer (shared between identical values); returns its name. */
  int64Constant(values: readonly number[]): string {
    const key = values.join(',');
    const existing = this.int64Constants.get(key);
    if (existing !== undefined) return existing;
    const name = this.uniqueName(`const_i64_${values.map((value) => String(value).replace('-', 'm')).join('_')}`);
    const data = new BigInt64Array(values.map((value) => BigInt(value)));
    this.initializers.push(onnx.TensorProto.create({
      name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(data.buffer),
    }));
    this.int64Constants.set(key, name);
    return name;
  }

  /**
   * Appends a node; returns the name of its (single) output. Attributes listed in `floats` are FLOAT(S);
   * an empty input name ('') is an omitted optional input, as ONNX spells it.
   */
  node(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, outputHint = opType.toLowerCase(),
    floats: readonly string[] = []): string {
    const output = this.uniqueName(outputHint);
    const attribute = Object.entries(attributes).map(([name, value]) => attributeProto(name, value, floats.includes(name)));
    this.nodes.push(onnx.NodeProto.create({ opType, input: [...inputs], output: [output], name: output, attribute }));
    return output;
  }

  /** The encoded ModelProto: this graph, opset `opset` of the default domain, `metadata` as metadata_props. */
  toModel(options: { graphName: string; producerVersion: string; docString: string; metadata: Record<string, string>; opset?: number }): Uint8Array {
    const graph = onnx.GraphProto.create({
      name: options.graphName, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs,
    });
    const model = onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: options.opset ?? ONNX_OPSET })],
      producerName: 'contraseg',
      producerVersion: options.producerVersion,
      docString: options.docString,
      graph,
      metadataProps: Object.entries(options.metadata).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private claim(name: string): string {
    if (this.used.has(name)) throw new ConfigError(`ONNX value name '${name}' is used twice`);
    this.used.add(name);
    return name;
  }
}

function attributeProto(name: string, value: AttributeValue, float: boolean): InstanceType<typeof onnx.AttributeProto> {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'string') return onnx.AttributeProto.create({ name, type: AttributeType.STRING, s: new TextEncoder().encode(value) });
  if (Array.isArray(value)) {
    return float ? onnx.AttributeProto.create({ name, type: AttributeType.FLOATS, floats: value })
      : onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: value });
  }
  return float ? onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: value })
    : onnx.AttributeProto.create({ name, type: AttributeType.INT, i: value });
}

function valueInfo(name: string, dims: readonly Dimension[]): InstanceType<typeof onnx.ValueInfoProto> {
  const dim = dims.map((size) => (typeof size === 'number' ? { dimValue: size } : { dimParam: size }));
  return onnx.ValueInfoProto.create({
    name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim } } },
  });
}

/** What readModelInfo finds in an encoded ModelProto. */
export interface ModelInfo {
  readonly metadata: Map<string, string>;
  readonly opset: number | undefined;
  readonly inputs: string[];
  readonly outputs: string[];
}

/**
 * Decodes an encoded ModelProto's metadata_props, default-domain opset and graph input / output names.
 * Initializer bytes stay views into `bytes` (protobufjs slices a Buffer), so a large model is not copied.
 * @throws the protobufjs error for bytes that are not a ModelProto.
 */
export function readModelInfo(bytes: Uint8Array): ModelInfo {
  const model = onnx.ModelProto.decode(bytes);
  const metadata = new Map(model.metadataProps.map((entry) => [entry.key ?? '', entry.value ?? '']));
  const opsetEntry = model.opsetImport.find((entry) => (entry.domain ?? '') === '');
  const opset = opsetEntry?.version === undefined || opsetEntry.version === null ? undefined : Number(opsetEntry.version);
  const initialisers = new Set((model.graph?.initializer ?? []).map((tensor) => tensor.name));
  const inputs = (model.graph?.input ?? []).map((value) => value.name ?? '').filter((name) => !initialisers.has(name));
  const outputs = (model.graph?.output ?? []).map((value) => value.name ?? '');
  return { metadata, opset, inputs, outputs };
}
