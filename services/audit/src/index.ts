/**
 * The audit service process: `node services/audit/dist/index.js`.
 */
import { runServiceMain } from '@haven/service';
import { auditConfigSchema, startAudit } from './server';

runServiceMain({ name: 'audit', schema: auditConfigSchema, start: startAudit });
