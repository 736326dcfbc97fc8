// Imports every type module, then builds the schema.
import { builder } from './builder.js';
import './scalars.js';
import './error-types.js';
import './task.js';
import './webhooks.js';
import './queries.js';
import './mutations.js';
import './subscriptions.js';

export const schema = builder.toSchema({ sortSchema: false });
