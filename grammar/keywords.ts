// Words the parser must know. A field's values run until the end of its line, a '{', a '}', or the
// next *field word* on the same line, which is what lets several fields share a line:
//   image 28 x 28 x 1   patch 7   dim 64
// So every field name of every block is listed here; compiler/schema.ts declares what each one means
// and a test checks that the two lists agree.

/** Words that start a top-level declaration. */
export const DECLARATION_WORDS = ['import', 'model', 'train', 'experiment'] as const;

/** Every field name of every block kind (see compiler/schema.ts). */
export const FIELD_WORDS = [
  // model
  'image', 'patch', 'dim', 'depth', 'mlp', 'classes', 'pool', 'norm', 'qkv_bias', 'dropout',
  'attn_dropout', 'drop_path', 'attention', 'layers',
  // attention
  'heads', 'kv_heads', 'allocate', 'perturb', 'compat',
  // train
  'model', 'init', 'data', 'augment', 'normalize', 'epochs', 'steps', 'batch', 'micro_batch', 'seed',
  'optimizer', 'schedule', 'label_smoothing', 'clip_grad', 'eval',
  // eval (inside train)
  'every',
  // experiment
  'train', 'models', 'seeds', 'sweep',
  // sweep (the run's optimizer and schedule arguments; a sweep takes the other blocks' fields too)
  'lr', 'weight_decay', 'momentum', 'warmup', 'min_lr',
] as const;

/** Words that may follow a number as its unit: `300 steps`, `2 epochs`. */
export const UNIT_WORDS = ['steps', 'step', 'epochs', 'epoch'] as const;
