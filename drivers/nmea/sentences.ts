// Readings from the NMEA 0183 sentences a GPS receiver sends every epoch: GGA, RMC, VTG, GSA, GLL.
import type { DriverReading, DriverValue } from '../driver.js';
import { Fields } from './fields.js';
import type { NmeaOptions } from './schema.js';

const DAY_MS = 86_400_000;
const KMH_PER_KNOT = 1.852;
/** NMEA 0183 GGA field 6, fix quality 8: simulation mode (no real fix). */
const GGA_SIMULATION = 8;
/** NMEA 0183 v2.3+ mode indicator (RMC, VTG, GLL): N = data not valid, S = simulator. */
const MODE_NOT_VALID = 'N';
const MODE_SIMULATOR = 'S';

/** The UTC date learned from the last valid RMC, so that GGA and GLL (time only) get a full timestamp. */
export interface NmeaClock {
  dateMs?: number;
  lastTs?: number;
}

/** Readings of a well-formed sentence, and its malformed fields (each left out of the readings). */
export type SentenceResult =
  | { readonly readings: DriverReading[]; readonly badFields: readonly string[] }
  | { readonly reason: 'bad_sentence'; readonly detail: string };

type Emit = (metric: string, value: DriverValue | undefined, unit?: string) => void;

interface Ctx {
  readonly opts: NmeaOptions;
  readonly clock: NmeaClock;
  /** Sets the receiver's timestamp of every reading of this sentence. */
  readonly setTs: (ts: number) => void;
  /** Tags every reading of this sentence `simulated: "true"`: the receiver says it is simulating. */
  readonly setSimulated: () => void;
}

type Handler = (f: Fields, emit: Emit, ctx: Ctx) => void;

/** Minimum number of fields (address included) per NMEA 0183 v2.0; later versions only append fields. */
const HANDLERS: Record<string, { min: number; handle: Handler }> = {
  GGA: { min: 15, handle: gga },
  RMC: { min: 12, handle: rmc },
  VTG: { min: 9, handle: vtg },
  GSA: { min: 18, handle: gsa },
  GLL: { min: 7, handle: gll },
};

export function parseSentence(
  talker: string,
  id: string,
  values: readonly string[],
  opts: NmeaOptions,
  clock: NmeaClock,
): SentenceResult {
  const handler = HANDLERS[id];
  // Sentences without a handler (GSV, TXT, ...) were checksum-verified: nothing more to check.
  if (handler === undefined) return { readings: [], badFields: [] };
  if (values.length < handler.min) {
    return { reason: 'bad_sentence', detail: `${values.length} fields, expected at least ${handler.min}` };
  }
  const f = new Fields(values);
  let tags: Readonly<Record<string, string>> = { talker, sentence: id };
  const pending: { metric: string; value: DriverValue; unit: string | undefined }[] = [];
  let ts: number | undefined;
  const emit: Emit = (metric, value, unit) => {
    if (value !== undefined) pending.push({ metric, value, unit });
  };
  const setSimulated = (): void => {
    tags = { ...tags, simulated: 'true' };
  };
  // Run even when not configured: an RMC gives the date that GGA and GLL timestamps need.
  handler.handle(f, emit, { opts, clock, setTs: (t) => (ts = t), setSimulated });
  if (!opts.sentences.includes(id as NmeaOptions['sentences'][number])) {
    return { readings: [], badFields: f.bad };
  }
  return {
    badFields: f.bad,
    readings: pending.map((p) => ({
      metric: p.metric,
      value: p.value,
      ...(p.unit !== undefined && { unit: p.unit }),
      tags,
      ...(ts !== undefined && { ts }),
    })),
  };
}

/** True for the sentence formatters this driver reads (GGA, RMC, VTG, GSA, GLL), configured or not. */
export function handles(id: string): boolean {
  return HANDLERS[id] !== undefined;
}

function position(lat: number | undefined, lon: number | undefined): DriverValue | undefined {
  return lat === undefined || lon === undefined ? undefined : { lat, lon };
}

/**
 * Speed in the configured unit, from knots when the sentence has them: receivers print km/h with fewer
 * digits (VTG `0.24,N,0.4,K`: 0.24 knots is 0.444 km/h), so knots agree with the same epoch's RMC.
 */
function speed(knots: number | undefined, kmh: number | undefined, opts: NmeaOptions): number | undefined {
  const k = knots === undefined ? kmh : knots * KMH_PER_KNOT;
  if (k === undefined) return undefined;
  if (opts.speed_unit === 'm/s') return k / 3.6;
  if (opts.speed_unit === 'knots') return knots ?? k / KMH_PER_KNOT;
  return k;
}

/** Time of day on the last RMC date, moved by a day when that is nearer the last RMC fix (midnight). */
function timeOnKnownDate(clock: NmeaClock, timeMs: number | undefined): number | undefined {
  if (clock.dateMs === undefined || clock.lastTs === undefined || timeMs === undefined) return undefined;
  let ts = clock.dateMs + timeMs;
  if (ts - clock.lastTs > DAY_MS / 2) ts -= DAY_MS;
  else if (clock.lastTs - ts > DAY_MS / 2) ts += DAY_MS;
  return ts;
}

function gga(f: Fields, emit: Emit, { opts, clock, setTs, setSimulated }: Ctx): void {
  const time = f.time(1); // NMEA 0183 GGA field 1: UTC time of position
  const lat = f.lat(2); // GGA fields 2-3: latitude, N/S
  const lon = f.lon(4); // GGA fields 4-5: longitude, E/W
  const quality = f.int(6, 0, 9); // NMEA 0183 GGA field 6: fix quality (0 = invalid, 8 = simulation)
  const satellites = f.int(7, 0, 99); // GGA field 7: satellites in use
  const hdop = f.num(8, 0); // GGA field 8: horizontal dilution of precision
  const altitude = f.num(9); // GGA fields 9-10: antenna altitude above mean sea level, metres
  const simulated = quality === GGA_SIMULATION;
  if (simulated) setSimulated();
  const fixed = quality !== undefined && quality > 0 && !simulated;
  emit('fix_quality', quality);
  emit('satellites', satellites);
  emit('hdop', hdop);
  if (fixed || opts.emit_invalid_fix) {
    emit('position', position(lat, lon));
    emit('altitude', altitude, 'm');
  }
  const ts = timeOnKnownDate(clock, time);
  if (ts !== undefined) setTs(ts);
}

function rmc(f: Fields, emit: Emit, { opts, clock, setTs, setSimulated }: Ctx): void {
  const time = f.time(1); // NMEA 0183 RMC field 1: UTC time of fix
  const status = f.str(2); // RMC field 2: A = valid, V = navigation receiver warning
  const lat = f.lat(3); // RMC fields 3-4: latitude, N/S
  const lon = f.lon(5); // RMC fields 5-6: longitude, E/W
  const knots = f.num(7, 0); // RMC field 7: speed over ground, knots
  const course = f.num(8, 0, 360); // RMC field 8: course over ground, degrees true
  const date = f.date(9); // RMC field 9: date ddmmyy
  const mode = f.str(12); // RMC field 12 (v2.3+): mode indicator, N = data not valid, S = simulator
  if (mode === MODE_SIMULATOR) setSimulated();
  const valid = status === 'A' && mode !== MODE_NOT_VALID && mode !== MODE_SIMULATOR;
  if (valid || opts.emit_invalid_fix) {
    emit('position', position(lat, lon));
    emit('speed', speed(knots, undefined, opts), opts.speed_unit);
    emit('course', course, 'deg');
  }
  if (date !== undefined && time !== undefined) {
    setTs(date + time); // RMC date + time: the receiver's own timestamp
    if (valid) {
      clock.dateMs = date;
      clock.lastTs = date + time;
    }
  }
}

function vtg(f: Fields, emit: Emit, { opts, setSimulated }: Ctx): void {
  const course = f.num(1, 0, 360); // NMEA 0183 VTG field 1: course over ground, degrees true
  const knots = f.num(5, 0); // VTG field 5: speed over ground, knots
  const kmh = f.num(7, 0); // VTG field 7: speed over ground, km/h
  const mode = f.str(9); // VTG field 9 (v2.3+): mode indicator, N = data not valid, S = simulator
  if (mode === MODE_SIMULATOR) setSimulated();
  if ((mode !== MODE_NOT_VALID && mode !== MODE_SIMULATOR) || opts.emit_invalid_fix) {
    emit('course', course, 'deg');
    emit('speed', speed(knots, kmh, opts), opts.speed_unit);
  }
}

function gsa(f: Fields, emit: Emit, { opts }: Ctx): void {
  const fixType = f.int(2, 1, 3); // NMEA 0183 GSA field 2: fix type, 1 = none, 2 = 2D, 3 = 3D
  const pdop = f.num(15, 0); // GSA field 15: position dilution of precision
  const hdop = f.num(16, 0); // GSA field 16: horizontal dilution of precision
  const vdop = f.num(17, 0); // GSA field 17: vertical dilution of precision
  emit('fix_type', fixType);
  if ((fixType !== undefined && fixType > 1) || opts.emit_invalid_fix) {
    emit('pdop', pdop);
    emit('hdop', hdop);
    emit('vdop', vdop);
  }
}

function gll(f: Fields, emit: Emit, { opts, clock, setTs, setSimulated }: Ctx): void {
  const lat = f.lat(1); // NMEA 0183 GLL fields 1-2: latitude, N/S
  const lon = f.lon(3); // GLL fields 3-4: longitude, E/W
  const time = f.time(5); // GLL field 5: UTC time of position
  const status = f.str(6); // GLL field 6: A = valid
  const mode = f.str(7); // GLL field 7 (v2.3+): mode indicator, N = data not valid, S = simulator
  if (mode === MODE_SIMULATOR) setSimulated();
  const valid = status === 'A' && mode !== MODE_NOT_VALID && mode !== MODE_SIMULATOR;
  if (valid || opts.emit_invalid_fix) emit('position', position(lat, lon));
  const ts = timeOnKnownDate(clock, time);
  if (ts !== undefined) setTs(ts);
}
