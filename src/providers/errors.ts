// The adapters' error type lives with the network layer that raises it too
// (src/net): re-exported here so every provider imports it from one place.
export { isUpstreamError, permanentError, UpstreamError, type UpstreamErrorOptions } from '../net/upstream-error.js';
