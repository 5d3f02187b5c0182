/**
 * The session service process: `node services/session/dist/index.js`.
 */
import { runServiceMain } from '@haven/service';
import { sessionConfigSchema, startSession } from './server';

runServiceMain({ name: 'session', schema: sessionConfigSchema, start: startSession });
