// The request body limit, in place of yoga's own (maxRequestBodySize, 25 MB by
// default), which pipes every body through a TransformStream: a pipeline and an
// aborted AbortController per request, ~0.03 ms of CPU each. A body sent with a
// Content-Length needs no counting: node's HTTP parser never hands a handler
// more bytes than that header says (and refuses a request that also says
// chunked), so the header alone is checked. Only a body of unknown length
// (chunked) is counted as it streams, as yoga does.
import { createGraphQLError, type Plugin } from 'graphql-yoga';

/** Yoga's default; multipart uploads are also held to REELAY_MAX_IMAGE_BYTES by the image check. */
export const MAX_REQUEST_BODY_BYTES = 25_000_000;

const tooLarge = () => createGraphQLError('Request body too large', { extensions: { http: { status: 413 }, code: 'REQUEST_ENTITY_TOO_LARGE' } });
const badLength = () => createGraphQLError('Content-Length header is invalid.', { extensions: { http: { status: 400 }, code: 'BAD_REQUEST' } });

/** A copy of the request whose body errors once more than `limit` bytes have streamed through. */
function counted(request: Request, limit: number, fetchAPI: { Request: typeof Request; TransformStream: typeof TransformStream }): Request {
  const body = request.body;
  if (!body) return request;
  // A native stream must be piped through the native TransformStream (graphql-yoga#4583).
  const Transform = body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
  let bytes = 0;
  const limited = body.pipeThrough(
    new Transform({
      transform(chunk: Uint8Array, controller) {
        bytes += chunk.byteLength;
        if (bytes > limit) return controller.error(tooLarge());
        controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, { method: request.method, headers: request.headers, signal: request.signal, body: limited, duplex: 'half' } as RequestInit);
}

/** Must come after every plugin that registers a request parser (reelay has none of its own). */
export function useRequestBodyLimit(limit = MAX_REQUEST_BODY_BYTES): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const length = request.headers.get('content-length');
      if (length !== null) {
        if (!/^\d+$/.test(length)) throw badLength();
        if (Number(length) > limit) throw tooLarge();
        return;
      }
      if (!requestParser || !request.body) return;
      const parse = requestParser;
      setRequestParser((req) => parse(counted(req, limit, fetchAPI as unknown as { Request: typeof Request; TransformStream: typeof TransformStream })));
    },
  };
}
