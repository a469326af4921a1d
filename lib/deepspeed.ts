/**
 * The DeepSpeed config for a training run, generated from the pipeline config.
 *
 * As in the seed: "auto" wherever the Hugging Face integration fills a value from the training
 * arguments (batch sizes, accumulation, clipping, scheduler), bf16 and fp16 set explicitly, and
 * no optimizer block when Adafactor is used, so the Trainer's Adafactor applies.
 *
 * One departure from the seed's JSON: with optimizer offload, accelerate silently replaces the
 * Trainer's optimizer by DeepSpeedCPUAdam unless `zero_force_ds_cpu_optimizer` is false. Adam
 * keeps two full fp32 moments (88 GB of host memory more for t5-11b) where Adafactor keeps
 * factored ones, and it is not the recipe: Adafactor stays, running on the offloaded fp32 copy.
 */
import type { PipelineConfig } from './config';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export function deepSpeedConfig(train: PipelineConfig['train']): Record<string, Json> | null {
  const ds = train.deepspeed;
  if (!ds) return null;
  const offload = (enabled: boolean): Record<string, Json> => (enabled ? { device: 'cpu', pin_memory: true } : { device: 'none' });

  const zero: Record<string, Json> =
    ds.stage === 2
      ? {
          stage: 2,
          offload_optimizer: offload(ds.offloadOptimizer),
          allgather_partitions: true,
          allgather_bucket_size: 2e8,
          overlap_comm: true,
          reduce_scatter: true,
          reduce_bucket_size: 2e8,
          contiguous_gradients: true,
        }
      : {
          stage: 3,
          offload_optimizer: offload(ds.offloadOptimizer),
          offload_param: offload(ds.offloadParam),
          overlap_comm: true,
          contiguous_gradients: true,
          sub_group_size: 1e9,
          reduce_bucket_size: 'auto',
          stage3_prefetch_bucket_size: 'auto',
          stage3_param_persistence_threshold: 'auto',
          stage3_max_live_parameters: 1e9,
          stage3_max_reuse_distance: 1e9,
          // One consolidated 16-bit state dict on save: the model directory loads without DeepSpeed.
          stage3_gather_16bit_weights_on_model_save: true,
        };

  return {
    fp16: { enabled: false },
    bf16: { enabled: train.bf16 },
    ...(train.optim === 'adafactor'
      ? {}
      : { optimizer: { type: 'AdamW', params: { lr: 'auto', betas: 'auto', eps: 'auto', weight_decay: 'auto' } } }),
    scheduler: {
      type: 'WarmupLR',
      params: { warmup_min_lr: 'auto', warmup_max_lr: 'auto', warmup_num_steps: 'auto' },
    },
    zero_optimization: zero,
    ...(train.optim === 'adafactor' && ds.offloadOptimizer ? { zero_force_ds_cpu_optimizer: false } : {}),
    gradient_accumulation_steps: 'auto',
    gradient_clipping: 'auto',
    steps_per_print: ds.stage === 2 ? 2000 : 1000,
    train_batch_size: 'auto',
    train_micro_batch_size_per_gpu: 'auto',
    wall_clock_breakdown: false,
  };
}
