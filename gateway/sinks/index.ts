// Every sink type Sluice knows, in one explicit list (no registration by import side effects).
import { file } from './file.js';

export const sinks = [file] as const;
