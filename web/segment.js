// The numeric part of the page: RGBA pixels -> the model's normalised input, logits -> class ids, class ids
// -> mask pixels. Plain functions of typed arrays (no DOM), the same arithmetic as the Node segmenter.

/** RGBA ImageData bytes (H x W x 4) -> float32 [1, 3, H, W], ((rgb / 255) - mean) / std. */
export function normalisedPlanes(rgba, width, height, mean, std) {
  const area = width * height;
  const planes = new Float32Array(3 * area);
  for (let pixel = 0; pixel < area; pixel++) {
    for (let channel = 0; channel < 3; channel++) {
      planes[channel * area + pixel] = (rgba[pixel * 4 + channel] / 255 - mean[channel]) / std[channel];
    }
  }
  return planes;
}

/** Logits [1, C, H, W] (float32) -> class ids H x W (uint8), the first maximum on ties. */
export function argmaxClasses(logits, classCount, width, height) {
  const area = width * height;
  const mask = new Uint8Array(area);
  for (let pixel = 0; pixel < area; pixel++) {
    let best = 0;
    let bestScore = logits[pixel];
    for (let classId = 1; classId < classCount; classId++) {
      const score = logits[classId * area + pixel];
      if (score > bestScore) {
        best = classId;
        bestScore = score;
      }
    }
    mask[pixel] = best;
  }
  return mask;
}

/** Class ids -> opaque RGBA pixels in the class colours (the overlay's opacity is the canvas's CSS opacity). */
export function maskPixels(mask, colours) {
  const rgba = new Uint8ClampedArray(mask.length * 4);
  mask.forEach((classId, pixel) => {
    const colour = colours[classId] ?? [0, 0, 0];
    rgba.set(colour, pixel * 4);
    rgba[pixel * 4 + 3] = 255;
  });
  return rgba;
}

/** Pixels per class. */
export function classCounts(mask, classCount) {
  const counts = new Array(classCount).fill(0);
  for (const classId of mask) if (classId < classCount) counts[classId]++;
  return counts;
}
