/**
 * A network with one head. Stage 1 trains `SegmentationModel(network, ProjectionHead)`; stage 2 calls
 * `withHead(classifier)`, which keeps the very same network (every weight, BN statistics included)
 * and drops the projection head. State-dict keys: network.*, head.*.
 */
import { Module } from '../nn/index.js';
import type { Tensor } from '../torch/tensor.js';
import { scope } from '../torch/scope.js';
import { interpolate } from '../torch/ops/functional.js';
import { ConfigError } from '../errors.js';
import type { DeepLabV3Plus } from './deeplabv3plus.js';
import type { SegmentationHead } from './heads.js';

/** Corner alignment of the final resize of logits to the input size (torchvision's segmentation models). */
export const OUTPUT_ALIGN_CORNERS = false;

/** DeepLabV3+ features -> head output (embeddings or logits). */
export class SegmentationModel<H extends SegmentationHead = SegmentationHead> extends Module {
  readonly network: DeepLabV3Plus;
  readonly head: H;

  /** Takes ownership of both. @throws ConfigError if head.inChannels differs from network.outChannels. */
  constructor(network: DeepLabV3Plus, head: H) {
    super();
    if (head.inChannels !== network.outChannels) {
      throw new ConfigError(`${head.constructor.name} expects ${head.inChannels} input channels but the network ` +
        `outputs ${network.outChannels}; build the head with inChannels = network.outChannels`);
    }
    this.network = this.registerModule('network', network);
    this.registerModule('head', head as SegmentationHead);
    this.head = head;
  }

  /**
   * images [B, 3, H, W], any H, W >= 1 (borrowed) -> head output at stride 4
   * [B, head.outChannels | numClasses, ceil(H/4), ceil(W/4)]
   * (the projection head's output has unit norm at every pixel). @throws ShapeError for bad input shapes.
   */
  forward(images: Tensor): Tensor {
    return scope(() => this.head.forward(this.network.forward(images)));
  }

  /**
   * Head output resized to exactly the input size (bilinear, align_corners false): logits [B, K, H, W] for
   * a classifier. Resizing breaks the unit norm of embeddings, so use forward() for the projection head.
   */
  forwardAtInputSize(images: Tensor): Tensor {
    const [height, width] = images.shape.slice(2);
    return scope(() => interpolate(this.forward(images), [height, width], 'bilinear', OUTPUT_ALIGN_CORNERS));
  }

  /**
   * A model with the same network (shared, not copied) and a new head, e.g. stage 2's classifier.
   * This model's head is left as is: free it with `old.head.dispose()`, and do not dispose the old
   * model itself (that would free the shared network).
   */
  withHead<N extends SegmentationHead>(head: N): SegmentationModel<N> {
    return new SegmentationModel(this.network, head);
  }
}
