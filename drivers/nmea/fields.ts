// Typed access to the comma-separated fields of one NMEA 0183 sentence. An empty field is a missing value
// (normal before a fix); a malformed one is a missing value too, listed in `bad` so that it is counted,
// while the sentence's other fields still count (a no-fix placeholder must not cost the satellite count).

const LAT = /^(\d{2})(\d{2}(?:\.\d+)?)$/;
const LON = /^(\d{3})(\d{2}(?:\.\d+)?)$/;
const TIME = /^(\d{2})(\d{2})(\d{2}(?:\.\d+)?)$/;
const DATE = /^(\d{2})(\d{2})(\d{2})$/;
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;

export class Fields {
  /** Malformed fields read so far, e.g. `field 6: "x"`, each once. */
  readonly bad: string[] = [];
  private readonly badAt = new Set<number>();

  constructor(private readonly values: readonly string[]) {}

  get length(): number {
    return this.values.length;
  }

  str(i: number): string {
    return this.values[i] ?? '';
  }

  num(i: number, min = -Infinity, max = Infinity): number | undefined {
    const s = this.str(i);
    if (s === '') return undefined;
    const n = Number(s);
    return DECIMAL.test(s) && n >= min && n <= max ? n : this.invalid(i);
  }

  int(i: number, min: number, max: number): number | undefined {
    const n = this.num(i, min, max);
    return n === undefined || Number.isInteger(n) ? n : this.invalid(i);
  }

  /** NMEA 0183 latitude `ddmm.mmmm` + hemisphere `N`/`S` field -> signed decimal degrees. */
  lat(i: number): number | undefined {
    return this.angle(i, LAT, 90, 'N', 'S');
  }

  /** NMEA 0183 longitude `dddmm.mmmm` + hemisphere `E`/`W` field -> signed decimal degrees. */
  lon(i: number): number | undefined {
    return this.angle(i, LON, 180, 'E', 'W');
  }

  /** NMEA 0183 UTC time `hhmmss.ss` -> ms since midnight. */
  time(i: number): number | undefined {
    const s = this.str(i);
    if (s === '') return undefined;
    const m = TIME.exec(s);
    if (m === null) return this.invalid(i);
    const [h, min, sec] = [Number(m[1]), Number(m[2]), Number(m[3])];
    // Seconds may reach 60 on a leap second.
    if (h > 23 || min > 59 || sec >= 61) return this.invalid(i);
    return Math.round(((h * 60 + min) * 60 + sec) * 1000);
  }

  /** NMEA 0183 RMC date `ddmmyy` -> ms since epoch of that UTC midnight. */
  date(i: number): number | undefined {
    const s = this.str(i);
    if (s === '') return undefined;
    const m = DATE.exec(s);
    if (m === null) return this.invalid(i);
    const [d, mo, yy] = [Number(m[1]), Number(m[2]), Number(m[3])];
    // Two-digit year: the NMEA 0183 RMC date has no century; GPS receivers post-date 1980.
    const year = yy < 80 ? 2000 + yy : 1900 + yy;
    const ms = Date.UTC(year, mo - 1, d);
    const check = new Date(ms);
    if (check.getUTCDate() !== d || check.getUTCMonth() !== mo - 1) return this.invalid(i);
    return ms;
  }

  private angle(i: number, re: RegExp, maxDeg: number, pos: string, neg: string): number | undefined {
    const s = this.str(i);
    const hemi = this.str(i + 1);
    if (s === '' && hemi === '') return undefined;
    const m = re.exec(s);
    if (m === null || (hemi !== pos && hemi !== neg)) return this.invalid(i);
    const deg = Number(m[1]);
    const minutes = Number(m[2]);
    const value = deg + minutes / 60;
    if (minutes >= 60 || value > maxDeg) return this.invalid(i);
    return hemi === neg ? -value : value;
  }

  private invalid(i: number): undefined {
    if (!this.badAt.has(i)) {
      this.badAt.add(i);
      this.bad.push(`field ${i}: "${this.str(i).slice(0, 32)}"`);
    }
    return undefined;
  }
}
