// The facts of an MP4/MOV video read from its boxes in JS: the frame size and
// rotation of its first video track, its duration, and that its frames lie
// inside the file. Far cheaper than an ffprobe run (a few KB read, no child
// process), so a burst of finished jobs is checked in microseconds each.
// The parser only vouches for what it fully understands: a plain (not
// fragmented) file whose boxes tile it exactly, with a video track of a known
// codec whose samples are all inside the file. It refuses what is certainly
// not a whole video (a box or a frame that runs past the end: truncated; no
// video track; a video track without frames) and leaves everything else
// (unknown codecs, fragmented or compressed indexes, malformed boxes, garbage)
// to ffprobe, which then judges it as before.

/** Reads `length` bytes at `offset` (fewer only at the end of the file). */
export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

export interface Mp4VideoFacts {
  /** Coded frame size of the first video track (before rotation). */
  width: number;
  height: number;
  /** Rotation of the track's display matrix, in degrees (0, ±90, 180). */
  rotation: number;
  /** null when neither the movie nor the track header says. */
  durationSeconds: number | null;
  /** The sample entry's four-character code, e.g. avc1. */
  codec: string;
}

export type Mp4Verdict =
  | { kind: 'video'; facts: Mp4VideoFacts }
  /** Certainly not a whole video; `reason` completes "the result …". */
  | { kind: 'refused'; reason: string }
  /** Not something this parser vouches for: ask ffprobe. */
  | { kind: 'undecided'; why: string };

/** The largest movie index (moov box) read into memory; larger ones go to ffprobe. */
export const MAX_MOOV_BYTES = 32 * 1024 * 1024;
const MAX_TOP_LEVEL_BOXES = 10_000;
/** Sample entries this parser knows to be video codecs. */
const VIDEO_CODECS = new Set(['avc1', 'avc3', 'hvc1', 'hev1', 'dvh1', 'dvhe', 'av01', 'vp08', 'vp09', 'mp4v']);
/** Top-level boxes of plain files; an unknown one (or bytes that are no box type) is left to ffprobe. */
const TOP_LEVEL = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'uuid', 'meta', 'pdin', 'udta', 'styp', 'sidx', 'moof', 'mfra']);

class Undecided extends Error {}
const undecided = (why: string): never => {
  throw new Undecided(why);
};

interface Box {
  type: string;
  /** Offset of the payload (after the header) and its length. */
  start: number;
  length: number;
}

const isFourCC = (b: Buffer, at: number) => {
  for (let i = at; i < at + 4; i++) if (b[i]! < 0x20 || b[i]! > 0x7e) return false;
  return true;
};

/** The child boxes of a payload held in memory; malformed sizes are undecided. */
function children(buf: Buffer, start: number, end: number): Box[] {
  const out: Box[] = [];
  let pos = start;
  while (pos < end) {
    if (end - pos < 8) undecided('a box header is cut short');
    let size = buf.readUInt32BE(pos);
    if (!isFourCC(buf, pos + 4)) undecided('a box has no valid type');
    const type = buf.toString('latin1', pos + 4, pos + 8);
    let header = 8;
    if (size === 1) {
      if (end - pos < 16) undecided('a box header is cut short');
      const big = buf.readBigUInt64BE(pos + 8);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) undecided('a box is impossibly large');
      size = Number(big);
      header = 16;
    } else if (size === 0) size = end - pos;
    if (size < header || pos + size > end) undecided(`the ${type} box does not fit its parent`);
    out.push({ type, start: pos + header, length: size - header });
    pos += size;
  }
  return out;
}

const child = (buf: Buffer, parent: Box, type: string) => children(buf, parent.start, parent.start + parent.length).find((b) => b.type === type);

/** The payload as a bounded view: reads past its end are undecided (malformed), never out of the box. */
function view(buf: Buffer, box: Box, need: number): Buffer {
  if (box.length < need) undecided(`the ${box.type} box is too short`);
  return buf.subarray(box.start, box.start + box.length);
}

/** Timescale and duration of an mvhd or mdhd box (version 0 or 1). */
function timing(buf: Buffer, box: Box): { timescale: number; duration: number | null } {
  const b = view(buf, box, 4);
  const version = b[0];
  if (version === 1) {
    const v = view(buf, box, 32);
    const duration = v.readBigUInt64BE(24);
    return { timescale: v.readUInt32BE(20), duration: duration === 0xffffffffffffffffn ? null : Number(duration) };
  }
  if (version !== 0) undecided(`the ${box.type} box has version ${version}`);
  const v = view(buf, box, 20);
  const duration = v.readUInt32BE(16);
  return { timescale: v.readUInt32BE(12), duration: duration === 0xffffffff ? null : duration };
}

const seconds = (t: { timescale: number; duration: number | null }) => (t.timescale > 0 && t.duration && t.duration > 0 ? t.duration / t.timescale : null);

/** Rotation of a tkhd display matrix, in whole degrees. */
function rotationOf(buf: Buffer, tkhd: Box): number {
  const b = view(buf, tkhd, 4);
  const matrixAt = b[0] === 1 ? 4 + 8 + 8 + 4 + 4 + 8 + 8 + 8 : 4 + 4 + 4 + 4 + 4 + 4 + 8 + 8;
  const m = view(buf, tkhd, matrixAt + 36);
  const a = m.readInt32BE(matrixAt);
  const bb = m.readInt32BE(matrixAt + 4);
  const deg = Math.round((Math.atan2(bb, a) * 180) / Math.PI);
  return deg === -180 ? 180 : deg;
}

interface VideoTrack {
  facts: Omit<Mp4VideoFacts, 'durationSeconds'> & { trackSeconds: number | null };
  /** Every chunk's [offset, bytes]. */
  chunks: Array<[number, number]>;
  samples: number;
}

function videoTrack(buf: Buffer, trak: Box): VideoTrack | null {
  const mdia = child(buf, trak, 'mdia');
  if (!mdia) return null;
  const hdlr = child(buf, mdia, 'hdlr');
  if (!hdlr || view(buf, hdlr, 12).toString('latin1', 8, 12) !== 'vide') return null;
  const tkhd = child(buf, trak, 'tkhd') ?? undecided('a video track has no header');
  const mdhd = child(buf, mdia, 'mdhd') ?? undecided('a video track has no media header');
  const stbl = child(buf, child(buf, mdia, 'minf') ?? undecided('a video track has no media information'), 'stbl') ?? undecided('a video track has no sample table');
  const stsd = view(buf, child(buf, stbl, 'stsd') ?? undecided('a video track has no sample description'), 8);
  if (stsd.readUInt32BE(4) < 1) undecided('a video track has no sample description');
  const stsdBox = child(buf, stbl, 'stsd')!;
  const [entry] = children(buf, stsdBox.start + 8, stsdBox.start + stsdBox.length);
  if (!entry) undecided('a video track has no sample description');
  const codec = entry!.type;
  if (!VIDEO_CODECS.has(codec)) undecided(`codec ${codec} is not one this parser knows`);
  // VisualSampleEntry: 6 reserved, data_reference_index, 16 bytes of pre_defined/reserved, width, height.
  const e = view(buf, entry!, 28);
  const width = e.readUInt16BE(24);
  const height = e.readUInt16BE(26);

  // Sample sizes (stsz; the compact stz2 is left to ffprobe), chunk offsets (stco/co64), samples per chunk (stsc).
  const stszBox = child(buf, stbl, 'stsz') ?? undecided('a video track has no stsz sample sizes');
  const stsz = view(buf, stszBox, 12);
  const fixed = stsz.readUInt32BE(4);
  const samples = stsz.readUInt32BE(8);
  if (!fixed) view(buf, stszBox, 12 + 4 * samples);
  const sizeOf = (i: number) => (fixed ? fixed : stsz.readUInt32BE(12 + 4 * i));
  const co = child(buf, stbl, 'stco') ?? child(buf, stbl, 'co64') ?? undecided('a video track has no chunk offsets');
  const wide = co.type === 'co64';
  const coView = view(buf, co, 8);
  const chunkCount = coView.readUInt32BE(4);
  view(buf, co, 8 + chunkCount * (wide ? 8 : 4));
  const offsetOf = (i: number) => (wide ? Number(coView.readBigUInt64BE(8 + 8 * i)) : coView.readUInt32BE(8 + 4 * i));
  const stscBox = child(buf, stbl, 'stsc') ?? undecided('a video track has no sample-to-chunk table');
  const stsc = view(buf, stscBox, 8);
  const runs = stsc.readUInt32BE(4);
  view(buf, stscBox, 8 + 12 * runs);

  const chunks: Array<[number, number]> = [];
  let sample = 0;
  for (let r = 0; r < runs; r++) {
    const first = stsc.readUInt32BE(8 + 12 * r);
    const perChunk = stsc.readUInt32BE(12 + 12 * r);
    const next = r + 1 < runs ? stsc.readUInt32BE(8 + 12 * (r + 1)) : chunkCount + 1;
    if (first < 1 || next <= first || next > chunkCount + 1) undecided('the sample-to-chunk table is inconsistent');
    for (let c = first; c < next; c++) {
      let bytes = 0;
      for (let k = 0; k < perChunk; k++, sample++) {
        if (sample >= samples) undecided('the chunks hold more samples than the track has');
        bytes += sizeOf(sample);
      }
      chunks.push([offsetOf(c - 1), bytes]);
    }
  }
  if (sample !== samples) undecided('the chunks do not hold every sample');
  return { facts: { width, height, rotation: rotationOf(buf, tkhd), codec, trackSeconds: seconds(timing(buf, mdhd)) }, chunks, samples };
}

/** Judge an MP4/MOV file of `size` bytes (see the file's header). */
export async function readMp4(readAt: ReadAt, size: number): Promise<Mp4Verdict> {
  try {
    let moov: Box | undefined;
    let pos = 0;
    for (let n = 0; pos < size; n++) {
      if (n >= MAX_TOP_LEVEL_BOXES) undecided('it has too many top-level boxes');
      const head = await readAt(pos, 16);
      if (head.length < 8) undecided('bytes after the last box');
      if (!isFourCC(head, 4)) undecided('bytes that are no box');
      const type = head.toString('latin1', 4, 8);
      if (!TOP_LEVEL.has(type)) undecided(`a top-level ${type} box`);
      if (n === 0 && type !== 'ftyp') undecided('no leading ftyp box');
      if (type === 'moof' || type === 'styp' || type === 'sidx') undecided('a fragmented file');
      let boxSize = head.readUInt32BE(0);
      let header = 8;
      if (boxSize === 1) {
        if (head.length < 16) return { kind: 'refused', reason: `is truncated (its ${type} box header is cut short)` };
        const big = head.readBigUInt64BE(8);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) undecided('a box is impossibly large');
        boxSize = Number(big);
        header = 16;
      } else if (boxSize === 0) boxSize = size - pos;
      if (boxSize < header) undecided(`the ${type} box has an impossible size`);
      if (pos + boxSize > size) return { kind: 'refused', reason: `is truncated (its ${type} box needs ${pos + boxSize - size} more bytes than the file has)` };
      if (type === 'moov') {
        if (moov) undecided('two moov boxes');
        moov = { type, start: pos + header, length: boxSize - header };
      }
      pos += boxSize;
    }
    if (!moov) undecided('no moov box');
    if (moov!.length > MAX_MOOV_BYTES) undecided('a very large moov box');
    const buf = await readAt(moov!.start, moov!.length);
    if (buf.length < moov!.length) undecided('the file shrank while it was read');
    const root: Box = { type: 'moov', start: 0, length: buf.length };
    const boxes = children(buf, 0, buf.length);
    if (boxes.some((b) => b.type === 'mvex')) undecided('a fragmented file');
    if (boxes.some((b) => b.type === 'cmov')) undecided('a compressed moov box');
    const mvhd = child(buf, root, 'mvhd') ?? undecided('no movie header');
    let track: VideoTrack | null = null;
    for (const trak of boxes.filter((b) => b.type === 'trak')) {
      track = videoTrack(buf, trak);
      if (track) break;
    }
    if (!track) return { kind: 'refused', reason: 'has no video stream' };
    if (!track.samples) return { kind: 'refused', reason: 'has a video stream without frames' };
    for (const [offset, bytes] of track.chunks) {
      if (offset + bytes > size) return { kind: 'refused', reason: 'is truncated (its video frames run past the end of the file)' };
    }
    const { trackSeconds, ...facts } = track.facts;
    return { kind: 'video', facts: { ...facts, durationSeconds: seconds(timing(buf, mvhd)) ?? trackSeconds } };
  } catch (err) {
    if (err instanceof Undecided) return { kind: 'undecided', why: err.message };
    // Bounds are checked before every read; anything else is a parser bug: let ffprobe judge.
    if (err instanceof RangeError) return { kind: 'undecided', why: `unreadable box (${err.message})` };
    throw err;
  }
}
