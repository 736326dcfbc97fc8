// Stack traces of the compiled server (dist/) point at the TypeScript sources,
// with source maps read only when a stack is. `node --enable-source-maps`
// reads and parses the map of every module as it loads, node_modules' own
// (about 1 MB of JSON) included, which costs an idle server several MB for
// stacks that are rarely printed. Here a map is read the first time a frame of
// its file is formatted, and only for files under `root`; frames elsewhere
// stay as V8 writes them. With --enable-source-maps, Node's own mapping stays.
import fs from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const maps = new Map<string, SourceMap | null>();

function mapOf(file: string): SourceMap | null {
  let map = maps.get(file);
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
    } catch {
      map = null;
    }
    maps.set(file, map);
  }
  return map;
}

/** `file:line:column` of the source a compiled position came from, or null. */
export function originalPosition(file: string, line: number, column: number): string | null {
  const map = mapOf(file);
  const entry = map?.findEntry(line - 1, column - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number } | undefined;
  if (!entry?.originalSource || entry.originalLine === undefined || entry.originalColumn === undefined) return null;
  const source = entry.originalSource.startsWith('file:') ? fileURLToPath(entry.originalSource) : path.resolve(path.dirname(file), entry.originalSource);
  return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
}

function frameText(frame: NodeJS.CallSite, root: string): string {
  const text = frame.toString();
  const name = frame.getFileName();
  const line = frame.getLineNumber();
  const column = frame.getColumnNumber();
  if (!name || line === null || column === null) return text;
  const file = name.startsWith('file:') ? fileURLToPath(name) : name;
  if (!file.startsWith(root)) return text;
  const original = originalPosition(file, line, column);
  return original ? text.replace(`${name}:${line}:${column}`, original) : text;
}

/** Map stack frames of files under `root` (a directory) lazily; nothing when Node maps them itself. */
export function installLazySourceMaps(root: string): void {
  if (process.sourceMapsEnabled) return;
  const dir = root.endsWith(path.sep) ? root : root + path.sep;
  Error.prepareStackTrace = (err: Error, frames: NodeJS.CallSite[]) => {
    let head: string;
    try {
      head = Error.prototype.toString.call(err);
    } catch {
      head = '<error>';
    }
    let out = head;
    for (const frame of frames) {
      let text: string;
      try {
        text = frameText(frame, dir);
      } catch {
        text = String(frame);
      }
      out += `\n    at ${text}`;
    }
    return out;
  };
}
