// Says what a file given as a checkpoint is when it is not one (a spec, an IR document, a PyTorch
// file, text), so that `attnc eval x.attn` answers with what was expected rather than with a
// safetensors header length read from the spec's first eight characters.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { extname } from 'node:path';

const SPEC_START = /^\s*(#|import\b|model\b|train\b|experiment\b)/;

/** What `file` is instead of a safetensors checkpoint, with what to give instead; null when it may be one. */
export function explainNotCheckpoint(file: string, shown: string, command: string): string | null {
  let head: Buffer;
  try {
    // Only a regular file is looked into: opening a FIFO (or a device) would block or never end, and
    // the checkpoint reader has already said what such a file is.
    if (!statSync(file).isFile()) return null;
    const fd = openSync(file, 'r');
    try {
      head = Buffer.alloc(512);
      head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return null; // the checkpoint reader says why it cannot be read
  }
  const ext = extname(file).toLowerCase();
  const wanted = `attnc ${command} takes a .safetensors checkpoint, such as runs/RUN/best.safetensors that attnc train writes`;
  const text = head.toString('utf8');
  if (ext === '.attn' || SPEC_START.test(text)) {
    return `${shown}: this is an attnc spec, not a checkpoint; ${wanted} (train it first: npx attnc train ${shown})`;
  }
  if (ext === '.json' || /^\s*[{[]/.test(text)) {
    return `${shown}: this is a JSON file (an IR document?), not a checkpoint; ${wanted}`;
  }
  if (head.length >= 4 && head.readUInt32BE(0) === 0x504b0304) {
    return `${shown}: this is a zip archive (PyTorch's torch.save format?), not a safetensors checkpoint; ${wanted}; ` +
      'save PyTorch weights with safetensors.torch.save_file, then attnc convert reads timm-named tensors';
  }
  if (head.length >= 9 && head[8] !== 0x7b /* '{' */) {
    return `${shown}: this is not a safetensors file (one starts with an 8-byte header length, then a JSON header '{...}'); ${wanted}`;
  }
  return null;
}
