// Options of the `modbus-rtu` master: the line settings that fix its timing, the poll schedule, and one
// register map per slave.
import { z } from 'zod';
import { REGISTER_TYPES, wordCount } from './values.js';

const registerSchema = z.strictObject({
  metric: z.string().min(1),
  /** coil: function 1, discrete: 2, holding: 3, input: 4. */
  table: z.enum(['coil', 'discrete', 'holding', 'input']).default('holding'),
  /** Protocol address, 0-based: holding register "40001" is address 0. */
  address: z.number().int().min(0).max(65535),
  /** Defaults to `bit` for coil/discrete tables and `uint16` for registers. */
  data_type: z.enum([...REGISTER_TYPES, 'bit']).optional(),
  /** Order of the two registers of a 32-bit value: big = high word first. */
  word_order: z.enum(['big', 'little']).default('big'),
  /** Reading = raw * scale + offset (registers only). */
  scale: z.number().default(1),
  offset: z.number().default(0),
  unit: z.string().min(1).optional(),
});

const slaveSchema = z.strictObject({
  /** Modbus over Serial Line V1.02 §2.2: individual slave addresses are 1 to 247 (0 is broadcast). */
  address: z.number().int().min(1).max(247),
  /** Device label of this slave's readings. */
  device: z.string().min(1),
  /** Overrides the driver-wide `poll_interval_ms` for this slave. */
  poll_interval_ms: z.number().int().min(1).optional(),
  registers: z.array(registerSchema).min(1).max(1024),
});

export const schema = z
  .strictObject({
    type: z.literal('modbus-rtu'),
    /** Line settings, the same as the serial port's: they give the 3.5 character silent interval. */
    baud_rate: z.number().int().min(300).max(4_000_000).default(9600),
    /** Modbus over Serial Line V1.02 §2.5.1: even parity is the default; no parity should use 2 stop bits. */
    parity: z.enum(['even', 'odd', 'none']).default('even'),
    stop_bits: z.union([z.literal(1), z.literal(2)]).default(1),
    /** Time between the starts of two polls of the same registers. */
    poll_interval_ms: z.number().int().min(1).default(1000),
    /** Modbus over Serial Line V1.02 §2.4.1: response time-out, counted from the end of the request. */
    response_timeout_ms: z.number().int().min(1).default(1000),
    /** Registers this many addresses apart or closer are read in one request (0: only adjacent ones). */
    max_gap_addresses: z.number().int().min(0).max(124).default(0),
    // At most one entry per individual address (1 to 247), checked below.
    slaves: z.array(slaveSchema).min(1).max(247),
  })
  .superRefine((opts, ctx) => {
    const seen = new Set<number>();
    opts.slaves.forEach((slave, s) => {
      if (seen.has(slave.address)) {
        ctx.addIssue({
          code: 'custom',
          path: ['slaves', s, 'address'],
          message: `slave ${slave.address} twice`,
        });
      }
      seen.add(slave.address);
      slave.registers.forEach((reg, r) => {
        const path = ['slaves', s, 'registers', r];
        const bitTable = reg.table === 'coil' || reg.table === 'discrete';
        const type = reg.data_type ?? (bitTable ? 'bit' : 'uint16');
        if (bitTable !== (type === 'bit')) {
          const message = bitTable
            ? `${reg.table} holds bits: data_type must be bit`
            : 'bit needs table coil or discrete';
          ctx.addIssue({ code: 'custom', path: [...path, 'data_type'], message });
        }
        if (type === 'bit' && (reg.scale !== 1 || reg.offset !== 0)) {
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'scale'],
            message: 'scale and offset do not apply to bits',
          });
        }
        if (type !== 'bit' && reg.address + wordCount(type) > 65536) {
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'address'],
            message: `${type} runs past address 65535`,
          });
        }
      });
    });
  });

export type ModbusOptions = z.output<typeof schema>;
export type RegisterOptions = ModbusOptions['slaves'][number]['registers'][number];
