// The gate of /files/ when signed links are configured: a request must carry
// an unexpired `expires` + `signature` for its own path (storage/signed-urls.ts),
// else 403. Without REELAY_FILE_URL_SECRET every path is let through as before.
import type { FileUrlSigning } from '../storage/signed-urls.js';
import { verifyFileLink } from '../storage/signed-urls.js';
import type { Refusal } from './refuse.js';

/** Why a /files/ request is refused (403), or null to serve it. `url` is the request target, query included. */
export function fileLinkRefusal(signing: FileUrlSigning | undefined, pathname: string, url: string | undefined, nowMs = Date.now()): Refusal | null {
  if (!signing) return null;
  const q = url?.indexOf('?') ?? -1;
  const verdict = verifyFileLink(signing.secret, pathname, q >= 0 ? url!.slice(q) : '', nowMs);
  switch (verdict) {
    case 'ok':
      return null;
    case 'expired':
      return { status: 403, code: 'FILE_URL_EXPIRED', message: 'this file link has expired; read the task again for a fresh one' };
    case 'unsigned':
      return { status: 403, code: 'FILE_URL_INVALID', message: 'file links are signed on this server: use the URL reelay returned (with its expires and signature)' };
    default:
      return { status: 403, code: 'FILE_URL_INVALID', message: 'this file link is not valid: its signature does not match its path and expiry' };
  }
}
