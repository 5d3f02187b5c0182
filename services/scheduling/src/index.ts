/**
 * The scheduling service process: `node services/scheduling/dist/index.js`.
 */
import { runServiceMain } from '@haven/service';
import { schedulingConfigSchema, startScheduling } from './server';

runServiceMain({ name: 'scheduling', schema: schedulingConfigSchema, start: startScheduling });
