// Every source type Sluice knows, in one explicit list (no registration by import side effects).
import { simulator } from './simulator.js';

export const sources = [simulator] as const;
