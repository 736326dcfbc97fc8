// The one table of media types reelay stores and serves, each with its one file
// extension: a stored file's name is chosen from its type (as judged from its
// content), and /files/ serves a file under the type its extension maps back to,
// so the stored name, the served Content-Type and `result.contentType` always
// agree. Nothing outside this table is ever served as anything but plain bytes,
// so no stored file can be served as a page or script a browser would run.

export const OCTET_STREAM = 'application/octet-stream';
const UNKNOWN_EXTENSION = 'bin';

const EXTENSIONS: Readonly<Record<string, string>> = {
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
  'video/x-matroska': 'mkv',
  'video/mp2t': 'ts',
  'video/mpeg': 'mpg',
  'video/ogg': 'ogv',
  'video/x-msvideo': 'avi',
  'video/x-flv': 'flv',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
};

const TYPES: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(EXTENSIONS).map(([type, ext]) => [ext, type]));

/** The type itself when reelay stores it under its own name, else application/octet-stream. */
export function storableType(contentType: string | null | undefined): string {
  return contentType && Object.hasOwn(EXTENSIONS, contentType) ? contentType : OCTET_STREAM;
}

/** The file extension (without the dot) a stored file of this type gets: "bin" for any other type. */
export function extensionOf(contentType: string): string {
  return Object.hasOwn(EXTENSIONS, contentType) ? EXTENSIONS[contentType]! : UNKNOWN_EXTENSION;
}

/** The type a stored file is served as, from its extension ("mp4" or ".mp4"): application/octet-stream when unknown. */
export function typeOfExtension(ext: string): string {
  const key = ext.replace(/^\./, '').toLowerCase();
  return Object.hasOwn(TYPES, key) ? TYPES[key]! : OCTET_STREAM;
}
