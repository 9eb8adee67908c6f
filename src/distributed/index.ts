/**
 * Data-parallel training over torch.distributed's c10d (TCPStore / FileStore + Gloo): process groups,
 * torchrun's launch contract, parameter broadcast, bucketed gradient averaging, synchronised BatchNorm
 * and rank-sharded order. Knows tensors, not models.
 */
export { Store, ProcessGroup, tcpStore, fileStore, DEFAULT_TIMEOUT_MS, type ReduceOp, type TcpStoreOptions, type ProcessGroupOptions } from './process-group.js';
export { initProcessGroup, readLaunchEnv, isDistributedLaunch, type LaunchEnv, type InitOptions, type Distributed } from './init.js';
export { broadcastFromRoot, averageGradients, planBuckets, DEFAULT_BUCKET_BYTES, type AverageGradientsOptions } from './gradients.js';
export { syncBatchNorm, type SyncBatchNormState } from './sync-batch-norm.js';
export { shardEpochOrder, shardBatch } from './sharding.js';
export { distributedAvailable, type GlooDeviceOptions } from './native-c10d.js';
