// Digests of tensors as safetensors.ts stores them (little-endian on every host), recorded per tensor
// in checkpoints (names.ts). Node's crypto, kept out of safetensors.ts so that it runs in a browser.
import { createHash } from 'node:crypto';
import { dtypeBytes, HOST_IS_LITTLE_ENDIAN, swapBytes, type Tensor } from './safetensors.js';

/** The digest algorithm attnc stores per tensor, as the prefix of each digest. */
export const DIGEST_ALGORITHM = 'sha256';

/** `sha256:<hex>` of bytes as they are stored in a file (little-endian). */
export function digestBytes(bytes: Uint8Array): string {
  return `${DIGEST_ALGORITHM}:${createHash(DIGEST_ALGORITHM).update(bytes).digest('hex')}`;
}

/** The digest of a tensor's bytes as encodeSafetensors stores them (little-endian on every host). */
export function tensorDigest(t: Tensor): string {
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const size = dtypeBytes(t.dtype);
  if (HOST_IS_LITTLE_ENDIAN || size === 1) return digestBytes(raw);
  const copy = raw.slice();
  swapBytes(copy, size);
  return digestBytes(copy);
}
