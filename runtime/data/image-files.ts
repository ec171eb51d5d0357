// Image files with their labels into a data set's pixels: each decoded (PNG or JPEG, by its magic
// bytes), converted to the model's channels and resized (bilinear) to its size, once at load time.
// The image folder (folder.ts) and the listed data sets (listed.ts) share it.
import { decodeImage } from './decode.js';
import { readBytes } from './files.js';
import { convertChannels, resize } from './image.js';

/** The file names a loader takes for images. */
export const IMAGE_EXT = /\.(png|jpe?g)$/i;

/** The largest image file read (a 100-megapixel PNG stored raw is about 400 MB). */
export const MAX_IMAGE_FILE_BYTES = 512 * 1024 * 1024;

export async function decodeImageFiles(files: readonly { path: string; label: number }[], size: { height: number; width: number; channels: number }): Promise<{ images: Uint8Array; labels: Int32Array }> {
  const { height, width, channels } = size;
  const per = height * width * channels;
  const images = new Uint8Array(files.length * per);
  const labels = new Int32Array(files.length);
  for (let i = 0; i < files.length; i++) {
    const { path, label } = files[i]!;
    const img = decodeImage(await readBytes(path, 'image', MAX_IMAGE_FILE_BYTES), path);
    const converted = img.channels === channels ? img.data : convertChannels(img.data, img.height * img.width, img.channels, channels);
    images.set(resize(converted, img.height, img.width, channels, height, width), i * per);
    labels[i] = label;
  }
  return { images, labels };
}
