// Which server and key the CLI uses: --url / REELAY_URL and --key /
// REELAY_API_KEY (the client's one key; the server's REELAY_API_KEYS is its
// list of accepted keys, not read here).
import WebSocket from 'ws';
import { createReelayClient, type ReelayClient } from '../client/index.js';

export const DEFAULT_URL = 'http://127.0.0.1:4000';

export interface ConnectionOptions {
  url?: string;
  key?: string;
}

export function connect(opts: ConnectionOptions, env: NodeJS.ProcessEnv = process.env): ReelayClient {
  const url = opts.url || env.REELAY_URL || DEFAULT_URL;
  const apiKey = opts.key || env.REELAY_API_KEY || undefined;
  // Node 20 has no global WebSocket: subscriptions go through `ws`.
  return createReelayClient({ url, apiKey, webSocketImpl: WebSocket });
}
