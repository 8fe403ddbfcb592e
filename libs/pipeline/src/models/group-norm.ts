import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Options of {@link groupNorm}. */
export interface GroupNormArgs {
  name: string;
  /** Channel groups; must divide the channel count. 1 = layer normalisation over every axis but the batch. */
  groups: number;
  epsilon?: number;
}

/**
 * Group normalisation (Wu & He 2018) for inputs of any rank, channels last: each example's channels
 * are split into `groups` groups, and each group is normalised over its channels and every spatial
 * position of that example alone; then a per-channel scale (gamma) and offset (beta). Unlike
 * BatchNorm nothing depends on the other examples of a batch, so training and inference compute the
 * same thing, and no statistics have to be averaged across hospitals whose scanners differ.
 */
export class GroupNorm extends tfl.layers.Layer {
  static readonly className = 'FedctGroupNorm';
  private readonly groups: number;
  private readonly epsilon: number;
  private gamma: tfl.LayerVariable | null = null;
  private beta: tfl.LayerVariable | null = null;

  constructor(args: GroupNormArgs) {
    super({ name: args.name });
    if (!Number.isInteger(args.groups) || args.groups < 1) throw new Error(`${args.name}: groups must be a positive integer, got ${args.groups}`);
    this.groups = args.groups;
    this.epsilon = args.epsilon ?? 1e-3;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const channels = shape[shape.length - 1];
    if (typeof channels !== 'number') throw new Error(`${this.name}: the channel axis must have a known size`);
    if (channels % this.groups !== 0) throw new Error(`${this.name}: ${this.groups} groups do not divide ${channels} channels`);
    this.gamma = this.addWeight('gamma', [channels], 'float32', tfl.initializers.ones());
    this.beta = this.addWeight('beta', [channels], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
      const gamma = (this.gamma as tfl.LayerVariable).read();
      const beta = (this.beta as tfl.LayerVariable).read();
      const channels = gamma.shape[0] ?? 1;
      const grouped = tf.reshape(x, [x.shape[0] ?? -1, -1, this.groups, channels / this.groups]);
      const { mean, variance } = tf.moments(grouped, [1, 3], true);
      const normalised = tf.reshape(tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, this.epsilon))), x.shape);
      return tf.add(tf.mul(normalised, gamma), beta);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), groups: this.groups, epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(GroupNorm);

/** A {@link GroupNorm} layer. */
export function groupNorm(args: GroupNormArgs): tfl.layers.Layer {
  return new GroupNorm(args);
}
