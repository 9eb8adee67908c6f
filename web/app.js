// The contraseg browser demo: load an exported model (the server's /model.onnx or a picked file), pick or
// drop an image, run it with onnxruntime-web (WebGPU when the browser has an adapter, else wasm with SIMD,
// multi-threaded when the page is cross-origin isolated), and show the class mask over the image.
import * as ort from './ort/ort.webgpu.min.mjs';
import { contrasegMetadata } from './model-metadata.js';
import { argmaxClasses, classCounts, maskPixels, normalisedPlanes } from './segment.js';

const element = (id) => document.getElementById(id);
const ui = {
  status: element('status'), modelInfo: element('model-info'), timing: element('timing'), legend: element('legend'),
  modelInput: element('model-input'), imageInput: element('image-input'), opacity: element('opacity'),
  opacityValue: element('opacity-value'), maxSide: element('max-side'), dropZone: element('drop-zone'),
  imageCanvas: element('image-canvas'), maskCanvas: element('mask-canvas'),
};

/** What the page holds (window.contrasegDemo, for the console; the browser test reads the canvas itself). */
const state = { session: null, provider: '', metadata: null, modelName: '', image: null, tail: Promise.resolve(), runs: 0, lastMask: null };
window.contrasegDemo = state;

function configureRuntime() {
  ort.env.wasm.wasmPaths = new URL('ort/', window.location.href).href;
  // Threads need SharedArrayBuffer, i.e. cross-origin isolation (contraseg serve sends COOP + COEP).
  ort.env.wasm.numThreads = window.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
}

function setStatus(text, isError = false) {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
  document.body.dataset.status = isError ? 'error' : 'ok';
}

/**
 * WebGPU if the browser has a hardware adapter. A fallback (software) adapter such as SwiftShader runs on the
 * CPU about 80x slower than wasm here, so it is used only when asked for with `?ep=webgpu` (as the tests do);
 * `?ep=wasm` forces wasm.
 */
async function webgpuAvailable() {
  const asked = new URLSearchParams(window.location.search).get('ep');
  if (!navigator.gpu || asked === 'wasm') return false;
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (adapter === null) return false;
    const software = adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
    return !software || asked === 'webgpu';
  } catch {
    return false;
  }
}

/** Creates the session on WebGPU if the browser has an adapter and the model runs there, else on wasm. */
async function createSession(modelBytes) {
  const providers = (await webgpuAvailable()) ? ['webgpu', 'wasm'] : ['wasm'];
  let lastError = null;
  for (const provider of providers) {
    try {
      // a copy per attempt: the runtime may take ownership of the buffer it is given
      const session = await ort.InferenceSession.create(modelBytes.slice(), { executionProviders: [provider], graphOptimizationLevel: 'all' });
      return { session, provider };
    } catch (error) {
      lastError = error;
      console.info(`contraseg: ${provider} execution provider unavailable (${error.message}); trying the next one`);
    }
  }
  throw lastError;
}

function loadModel(modelBytes, name) {
  return enqueue(async () => {
    if (await replaceModel(modelBytes, name)) await segmentOnceIfReady();
  });
}

/** Loads a model in place of the current one; false (status shows why, the old model stays) if it cannot. */

async function replaceModel(modelBytes, name) {
  setStatus(`Loading ${name}…`);
  try {
    const metadata = contrasegMetadata(window.protobuf, modelBytes);
    const { session, provider } = await createSession(modelBytes);
    await state.session?.release();
    Object.assign(state, { session, provider, metadata, modelName: name });
    const threads = provider === 'wasm' ? `, ${ort.env.wasm.numThreads} thread${ort.env.wasm.numThreads === 1 ? '' : 's'}` : '';
    ui.modelInfo.textContent = `${name}: ${metadata.classNames.length} classes, ${provider}${threads}` +
      `${window.crossOriginIsolated ? ', cross-origin isolated' : ''}${metadata.version ? `, contraseg ${metadata.version}` : ''}`;
    document.body.dataset.model = 'loaded';
    drawLegend(null);
    setStatus(state.image ? 'Segmenting…' : 'Model loaded. Pick or drop an image.');
    return true;
  } catch (error) {
    document.body.dataset.model = 'failed';
    setStatus(`Cannot load ${name}: ${error.message}`, true);
    return false;
  }
}

async function loadImage(file) {
  let image;
  try {
    image = await createImageBitmap(file, { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch (error) {
    setStatus(`Cannot decode ${file.name}: ${error.message || 'not an image the browser can read'}`, true);
    return;
  }
  await enqueue(() => {
    state.image = image;
    drawImage();
    if (!state.session) setStatus('Image ready. Load a model to segment it.');
  });
  await segment();
}

/** Draws the image at most "longest side" pixels large; returns its RGBA pixels. */
function drawImage() {
  const maxSide = Number(ui.maxSide.value);
  const { width, height } = state.image;
  const scale = maxSide > 0 ? Math.min(1, maxSide / Math.max(width, height)) : 1;
  const size = { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
  Object.assign(ui.imageCanvas, size);
  Object.assign(ui.maskCanvas, size);
  const context = ui.imageCanvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(state.image, 0, 0, size.width, size.height);
  ui.maskCanvas.getContext('2d').clearRect(0, 0, size.width, size.height);
  return context.getImageData(0, 0, size.width, size.height).data;
}

/**
 * Runs page work one task at a time (model loads and segmentations share one session), reporting a
 * failure in the status line; resolves when the task is done.
 */
function enqueue(task) {
  state.tail = state.tail.then(task).catch((error) => setStatus(`Failed: ${error.message}`, true));
  return state.tail;
}

/** Segments the current image with the current model, after anything already queued. */
function segment() {
  return enqueue(segmentOnceIfReady);
}

async function segmentOnceIfReady() {
  if (state.session && state.image) await segmentOnce();
}

async function segmentOnce() {
  const rgba = drawImage();
  const { width, height } = ui.imageCanvas;
  const { metadata, session } = state;
  const input = new ort.Tensor('float32', normalisedPlanes(rgba, width, height, metadata.mean, metadata.std), [1, 3, height, width]);
  const inputName = session.inputNames.includes('image') ? 'image' : session.inputNames[0];
  const outputName = session.outputNames.includes('logits') ? 'logits' : session.outputNames[0];
  const started = performance.now();
  const outputs = await session.run({ [inputName]: input });
  const logits = outputs[outputName];
  const data = await logits.getData();
  const inferenceMs = performance.now() - started;
  const [, classCount, outHeight, outWidth] = logits.dims;
  if (outHeight !== height || outWidth !== width || classCount !== metadata.classNames.length) {
    throw new Error(`the model returned logits of [${logits.dims.join(', ')}]; expected [1, ${metadata.classNames.length}, ${height}, ${width}] (classes x input size)`);
  }
  const mask = argmaxClasses(data, classCount, width, height);
  input.dispose();
  logits.dispose();
  ui.maskCanvas.getContext('2d').putImageData(new ImageData(maskPixels(mask, metadata.colours), width, height), 0, 0);
  drawLegend(classCounts(mask, classCount));
  state.runs += 1;
  state.lastMask = mask;
  ui.timing.textContent = `Inference: ${inferenceMs.toFixed(1)} ms for ${width}×${height} on ${state.provider} (run ${state.runs}${state.runs === 1 ? ', includes warm-up' : ''})`;
  document.body.dataset.runs = String(state.runs);
  setStatus('Done. Drop another image, or move the opacity slider.');
}

function drawLegend(counts) {
  const { classNames, colours } = state.metadata;
  const total = counts ? counts.reduce((sum, count) => sum + count, 0) : 0;
  ui.legend.replaceChildren(...classNames.map((name, classId) => {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = `rgb(${colours[classId].join(', ')})`;
    const label = document.createElement('span');
    label.className = 'name';
    label.textContent = name;
    item.append(swatch, label);
    if (counts) {
      const share = document.createElement('span');
      share.className = 'share';
      share.textContent = `${((100 * counts[classId]) / total).toFixed(1)}%`;
      item.append(share);
    }
    item.dataset.classId = String(classId);
    return item;
  }));
}

function setOpacity() {
  ui.maskCanvas.style.opacity = ui.opacity.value;
  ui.opacityValue.textContent = Number(ui.opacity.value).toFixed(2);
}

async function openFile(file) {
  if (file.name.toLowerCase().endsWith('.onnx')) await loadModel(new Uint8Array(await file.arrayBuffer()), file.name);
  else await loadImage(file);
}

function wireControls() {
  ui.opacity.addEventListener('input', setOpacity);
  ui.maxSide.addEventListener('change', () => segment());
  ui.modelInput.addEventListener('change', async () => {
    const file = ui.modelInput.files[0];
    if (file) await loadModel(new Uint8Array(await file.arrayBuffer()), file.name);
  });
  ui.imageInput.addEventListener('change', () => ui.imageInput.files[0] && loadImage(ui.imageInput.files[0]));
  ui.dropZone.addEventListener('dragover', (event) => {
    event.preventDefault();
    ui.dropZone.classList.add('dragging');
  });
  ui.dropZone.addEventListener('dragleave', () => ui.dropZone.classList.remove('dragging'));
  ui.dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    ui.dropZone.classList.remove('dragging');
    const file = event.dataTransfer.files[0];
    if (file) openFile(file);
  });
  setOpacity();
}

async function start() {
  configureRuntime();
  wireControls();
  // Served by `contraseg serve`: its model. Opened elsewhere: the user picks one.
  const response = await fetch('model.onnx').catch(() => null);
  if (response?.ok) await loadModel(new Uint8Array(await response.arrayBuffer()), 'model.onnx');
  else setStatus('No model from the server: pick an exported .onnx file.');
}

start();
