// Reads contraseg's metadata_props from an ONNX model's bytes with protobuf.js's Reader (onnxruntime-web
// has no API for custom metadata). ModelProto field 14 is `repeated StringStringEntryProto metadata_props`
// (key = 1, value = 2); every other field is skipped without decoding (the graph holds the weights).

const METADATA_PROPS = 14;
const LENGTH_DELIMITED = 2;

function readEntry(Reader, bytes) {
  const reader = Reader.create(bytes);
  let key = '';
  let value = '';
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 1) key = reader.string();
    else if (field === 2) value = reader.string();
    else reader.skipType(tag & 7);
  }
  return [key, value];
}

/** All metadata_props of the model as a Map of strings. */
export function readMetadataProps(protobuf, modelBytes) {
  const reader = protobuf.Reader.create(modelBytes);
  const props = new Map();
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === METADATA_PROPS && (tag & 7) === LENGTH_DELIMITED) {
      const [key, value] = readEntry(protobuf.Reader, reader.bytes());
      props.set(key, value);
    } else {
      reader.skipType(tag & 7);
    }
  }
  return props;
}

function parseJson(props, key, check, what) {
  const text = props.get(key);
  if (text === undefined) throw new Error(`the model has no ${key} metadata: export it with \`contraseg export\``);
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${key} is not JSON (${text.slice(0, 60)}): expected ${what}`);
  }
  if (!check(value)) throw new Error(`${key} = ${text.slice(0, 60)}: expected ${what}`);
  return value;
}

const isTriple = (value) => Array.isArray(value) && value.length === 3 && value.every((number) => typeof number === 'number' && Number.isFinite(number));

/**
 * The model's classes and normalisation: { classNames, colours: [[r, g, b] 0-255], mean, std (0-1 RGB),
 * version, outputStride }. Throws an Error naming the key when one is missing or malformed.
 */
export function contrasegMetadata(protobuf, modelBytes) {
  const props = readMetadataProps(protobuf, modelBytes);
  const classNames = parseJson(props, 'contraseg.classNames', (value) => Array.isArray(value) && value.length > 0 && value.every((name) => typeof name === 'string'), 'a JSON array of class names');
  const colours = parseJson(props, 'contraseg.colours', (value) => Array.isArray(value) && value.length === classNames.length && value.every(isTriple), `${classNames.length} [r, g, b] triples`);
  const mean = parseJson(props, 'contraseg.mean', isTriple, 'three numbers (RGB, 0-1 scale)');
  const std = parseJson(props, 'contraseg.std', (value) => isTriple(value) && value.every((number) => number > 0), 'three positive numbers (RGB, 0-1 scale)');
  return { classNames, colours, mean, std, version: props.get('contraseg.version') ?? '', outputStride: props.get('contraseg.outputStride') ?? '' };
}
