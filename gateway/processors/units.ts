// The units `scale` converts between: each unit is an affine map to its dimension's base unit
// (base = value * factor + offset), so any two units of one dimension convert both ways.

interface Unit {
  readonly dimension: string;
  readonly factor: number;
  readonly offset: number;
}

const u = (dimension: string, factor: number, offset = 0): Unit => ({ dimension, factor, offset });

/** Names as sensors and the README spell them; aliases map to the same entry. */
const TABLE: Record<string, Unit> = {
  // temperature, base kelvin
  K: u('temperature', 1),
  degC: u('temperature', 1, 273.15),
  C: u('temperature', 1, 273.15),
  '°C': u('temperature', 1, 273.15),
  degF: u('temperature', 5 / 9, 273.15 - (32 * 5) / 9),
  F: u('temperature', 5 / 9, 273.15 - (32 * 5) / 9),
  '°F': u('temperature', 5 / 9, 273.15 - (32 * 5) / 9),
  // pressure, base pascal
  Pa: u('pressure', 1),
  hPa: u('pressure', 100),
  kPa: u('pressure', 1000),
  MPa: u('pressure', 1e6),
  mbar: u('pressure', 100),
  bar: u('pressure', 1e5),
  psi: u('pressure', 6894.757293168),
  inHg: u('pressure', 3386.389),
  mmHg: u('pressure', 133.322387415),
  // length, base metre
  m: u('length', 1),
  mm: u('length', 1e-3),
  cm: u('length', 1e-2),
  km: u('length', 1e3),
  in: u('length', 0.0254),
  ft: u('length', 0.3048),
  mi: u('length', 1609.344),
  // speed, base metre per second
  'm/s': u('speed', 1),
  'km/h': u('speed', 1 / 3.6),
  mph: u('speed', 0.44704),
  kn: u('speed', 1852 / 3600),
  // energy, base joule; power, base watt
  J: u('energy', 1),
  kJ: u('energy', 1e3),
  Wh: u('energy', 3600),
  kWh: u('energy', 3.6e6),
  W: u('power', 1),
  kW: u('power', 1e3),
  MW: u('power', 1e6),
  // mass, base kilogram; volume, base litre
  g: u('mass', 1e-3),
  kg: u('mass', 1),
  lb: u('mass', 0.45359237),
  L: u('volume', 1),
  mL: u('volume', 1e-3),
  m3: u('volume', 1e3),
  gal: u('volume', 3.785411784),
  // electric, time
  V: u('voltage', 1),
  mV: u('voltage', 1e-3),
  A: u('current', 1),
  mA: u('current', 1e-3),
  s: u('time', 1),
  ms: u('time', 1e-3),
  min: u('time', 60),
  h: u('time', 3600),
  // fractions
  '%': u('fraction', 0.01),
  ratio: u('fraction', 1),
  ppm: u('fraction', 1e-6),
};

export const UNIT_NAMES = Object.keys(TABLE);

/** `(v) => v in to`, or why there is none. */
export function converter(from: string, to: string): ((v: number) => number) | string {
  const a = TABLE[from];
  const b = TABLE[to];
  if (!a) return `unknown unit "${from}"`;
  if (!b) return `unknown unit "${to}"`;
  if (a.dimension !== b.dimension) return `cannot convert ${from} (${a.dimension}) to ${to} (${b.dimension})`;
  if (a === b || (a.factor === b.factor && a.offset === b.offset)) return (v) => v;
  return (v) => (v * a.factor + a.offset - b.offset) / b.factor;
}

export function isUnit(name: string): boolean {
  return name in TABLE;
}
