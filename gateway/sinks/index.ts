// Every sink type Sluice knows, in one explicit list (no registration by import side effects).
import { file } from './file.js';
import { hdfs } from './hdfs/index.js';
import { kafka } from './kafka/index.js';

export const sinks = [file, kafka, hdfs] as const;
