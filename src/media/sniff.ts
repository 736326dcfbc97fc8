// Content types by magic bytes: what a file is, whatever its name or the
// server's Content-Type header says.
import fsp from 'node:fs/promises';

const ascii = (b: Buffer, from: number, to: number) => b.subarray(from, to).toString('latin1');

/** Content type from the first bytes (16 are enough; 64 tell Matroska from WebM), or null when unrecognized. */
export function sniffContentType(firstBytes: Buffer): string | null {
  const b = firstBytes;
  if (b.length >= 12 && ascii(b, 4, 8) === 'ftyp') {
    const brand = ascii(b, 8, 12);
    if (brand === 'qt  ') return 'video/quicktime';
    if (brand === 'avif' || brand === 'avis') return 'image/avif';
    if (['heic', 'heix', 'mif1', 'msf1'].includes(brand)) return 'image/heic';
    return 'video/mp4';
  }
  if (b.length >= 4 && b.readUInt32BE(0) === 0x1a45dfa3) {
    // EBML: WebM and Matroska differ only by the DocType in the header (when the head holds it).
    return b.subarray(0, 64).includes(Buffer.from('matroska', 'latin1')) ? 'video/x-matroska' : 'video/webm';
  }
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'image/webp';
  if (b.length >= 6 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) return 'image/gif';
  return null;
}

/** The first `n` bytes of a file (fewer when it is shorter), for sniffing its type. */
export async function readHead(path: string, n = 16): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
