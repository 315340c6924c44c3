// Turns register maps into the fewest read requests: per slave and table, nearby registers share a request
// up to the per-function quantity limit.
import { MAX_BITS, MAX_REGISTERS } from './codec.js';
import type { ReadFunction, ReadRequest } from './codec.js';
import type { ModbusOptions, RegisterOptions } from './schema.js';
import { wordCount } from './values.js';
import type { RegisterType, WordOrder } from './values.js';

export interface PlannedRegister {
  readonly metric: string;
  readonly unit: string | undefined;
  readonly dataType: RegisterType | 'bit';
  readonly wordOrder: WordOrder;
  readonly scale: number;
  readonly offset: number;
  readonly address: number;
  /** Index of its first register (or bit) in the response. */
  readonly index: number;
}

export interface Poll {
  readonly device: string;
  readonly intervalMs: number;
  readonly request: ReadRequest;
  readonly registers: readonly PlannedRegister[];
  /** Table name for error details, e.g. `holding`. */
  readonly table: RegisterOptions['table'];
}

const FUNCTION_OF_TABLE: Record<RegisterOptions['table'], ReadFunction> = {
  coil: 1, // Modbus Application Protocol V1.1b3 §6.1 (0x01 Read Coils)
  discrete: 2, // §6.2 (0x02 Read Discrete Inputs)
  holding: 3, // §6.3 (0x03 Read Holding Registers)
  input: 4, // §6.4 (0x04 Read Input Registers)
};

const TABLES = ['coil', 'discrete', 'holding', 'input'] as const;

export function dataTypeOf(reg: RegisterOptions): RegisterType | 'bit' {
  return reg.data_type ?? (reg.table === 'coil' || reg.table === 'discrete' ? 'bit' : 'uint16');
}

function span(reg: RegisterOptions): number {
  const type = dataTypeOf(reg);
  return type === 'bit' ? 1 : wordCount(type);
}

/** Polls in a stable order: slaves as configured, then coils, discrete inputs, holding, input registers. */
export function planPolls(opts: ModbusOptions): Poll[] {
  const polls: Poll[] = [];
  for (const slave of opts.slaves) {
    const intervalMs = slave.poll_interval_ms ?? opts.poll_interval_ms;
    for (const table of TABLES) {
      const fc = FUNCTION_OF_TABLE[table];
      const maxQuantity = table === 'coil' || table === 'discrete' ? MAX_BITS : MAX_REGISTERS;
      const regs = slave.registers.filter((r) => r.table === table).sort((a, b) => a.address - b.address);
      let group: RegisterOptions[] = [];
      let start = 0;
      let end = 0; // exclusive
      const flush = (): void => {
        if (group.length === 0) return;
        const request = { slave: slave.address, fc, address: start, quantity: end - start };
        const registers = group.map((r) => ({
          metric: r.metric,
          unit: r.unit,
          dataType: dataTypeOf(r),
          wordOrder: r.word_order,
          scale: r.scale,
          offset: r.offset,
          address: r.address,
          index: r.address - start,
        }));
        polls.push({ device: slave.device, intervalMs, request, registers, table });
      };
      for (const reg of regs) {
        const regEnd = reg.address + span(reg);
        const fits =
          reg.address <= end + opts.max_gap_addresses && Math.max(end, regEnd) - start <= maxQuantity;
        if (group.length > 0 && fits) {
          group.push(reg);
          end = Math.max(end, regEnd);
        } else {
          flush();
          group = [reg];
          start = reg.address;
          end = regEnd;
        }
      }
      flush();
    }
  }
  return polls;
}
