/**
 * The recording service process: `node services/recording/dist/index.js`.
 */
import { runServiceMain } from '@haven/service';
import { recordingConfigSchema, startRecording } from './server';

runServiceMain({ name: 'recording', schema: recordingConfigSchema, start: startRecording });
