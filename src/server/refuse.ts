// Refusals before GraphQL runs, as a JSON body in the GraphQL error shape.
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export interface Refusal {
  status: number;
  code: string;
  message: string;
}

const body = (r: Refusal) => JSON.stringify({ errors: [{ message: r.message, extensions: { code: r.code } }] });

export function refuseRequest(res: ServerResponse, r: Refusal): void {
  res.writeHead(r.status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(body(r));
}

/** Answer a WebSocket upgrade with a plain HTTP error: no connection, no operation. */
export function refuseUpgrade(socket: Duplex, r: Refusal): void {
  const text = body(r);
  socket.end(
    `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}
