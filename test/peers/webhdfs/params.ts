// Query parameters as Hadoop's hdfs/web/resources/*Param classes parse them: names are case-insensitive
// (ParamFilter lower-cases them), each value has its Param's domain, defaults and error wording.
import { hadoop } from './errors.js';

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** The op enums of GetOpParam, PutOpParam, PostOpParam and DeleteOpParam (Hadoop 3.4), NULL included. */
const OPS: Record<HttpMethod, readonly string[]> = {
  GET: [
    'OPEN',
    'GETFILESTATUS',
    'LISTSTATUS',
    'GETCONTENTSUMMARY',
    'GETQUOTAUSAGE',
    'GETFILECHECKSUM',
    'GETHOMEDIRECTORY',
    'GETDELEGATIONTOKEN',
    'GET_BLOCK_LOCATIONS',
    'GETACLSTATUS',
    'GETXATTRS',
    'LISTXATTRS',
    'GETTRASHROOT',
    'LISTSTATUS_BATCH',
    'GETALLSTORAGEPOLICY',
    'GETSTORAGEPOLICY',
    'CHECKACCESS',
    'GETSNAPSHOTDIFF',
    'GETSNAPSHOTDIFFLISTING',
    'GETSNAPSHOTTABLEDIRECTORYLIST',
    'GETSNAPSHOTLIST',
    'GETFILEBLOCKLOCATIONS',
    'GETECPOLICY',
    'GETSERVERDEFAULTS',
    'GETLINKTARGET',
    'GETFILELINKSTATUS',
    'GETSTATUS',
    'GETECPOLICIES',
    'GETTRASHROOTS',
    'NULL',
  ],
  PUT: [
    'CREATE',
    'MKDIRS',
    'CREATESYMLINK',
    'RENAME',
    'SETREPLICATION',
    'SETOWNER',
    'SETPERMISSION',
    'SETTIMES',
    'RENEWDELEGATIONTOKEN',
    'CANCELDELEGATIONTOKEN',
    'MODIFYACLENTRIES',
    'REMOVEACLENTRIES',
    'REMOVEDEFAULTACL',
    'REMOVEACL',
    'SETACL',
    'SETXATTR',
    'REMOVEXATTR',
    'ALLOWSNAPSHOT',
    'CREATESNAPSHOT',
    'RENAMESNAPSHOT',
    'DISALLOWSNAPSHOT',
    'SETSTORAGEPOLICY',
    'SATISFYSTORAGEPOLICY',
    'ENABLEECPOLICY',
    'DISABLEECPOLICY',
    'SETECPOLICY',
    'SETQUOTA',
    'SETQUOTABYSTORAGETYPE',
    'NULL',
  ],
  POST: ['APPEND', 'CONCAT', 'TRUNCATE', 'UNSETSTORAGEPOLICY', 'UNSETECPOLICY', 'NULL'],
  DELETE: ['DELETE', 'DELETESNAPSHOT', 'NULL'],
};

const OP_CLASS: Record<HttpMethod, string> = {
  GET: 'GetOpParam',
  PUT: 'PutOpParam',
  POST: 'PostOpParam',
  DELETE: 'DeleteOpParam',
};

/** Param.NULL: the literal Hadoop treats as "not given" for string and number params. */
const NULL = 'null';

export class Params {
  private readonly values = new Map<string, string>();

  /**
   * @param jersey true on the namenode: Jersey wraps a parse failure as ParamException, which ExceptionHandler
   *   rewrites to `Invalid value for webhdfs parameter "x": ...`. The datanode's ParameterParser throws it bare.
   */
  constructor(
    search: URLSearchParams,
    private readonly jersey: boolean,
  ) {
    for (const [name, value] of search) {
      const key = name.toLowerCase();
      // @QueryParam and QueryStringDecoder both take the first occurrence.
      if (!this.values.has(key)) this.values.set(key, value);
    }
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  /** StringParam: absent or the literal "null" is no value. */
  string(name: string): string | undefined {
    const v = this.values.get(name);
    return v === undefined || v === NULL ? undefined : v;
  }

  /** The op enum for this HTTP method; an op of another method is "No enum constant", as Jersey reports. */
  op(method: HttpMethod): string {
    const raw = this.values.get('op') ?? NULL;
    const upper = raw.toUpperCase();
    if (!OPS[method].includes(upper)) {
      throw this.invalid(
        'op',
        `No enum constant org.apache.hadoop.hdfs.web.resources.${OP_CLASS[method]}.Op.${upper}`,
      );
    }
    return upper;
  }

  /** BooleanParam: "true"/"false" in any case, nothing else. */
  bool(name: string, fallback: boolean): boolean {
    const raw = this.values.get(name);
    if (raw === undefined) return fallback;
    if (raw.toLowerCase() === 'true') return true;
    if (raw.toLowerCase() === 'false') return false;
    throw this.invalid(name, `Failed to parse "${raw}" to Boolean.`);
  }

  /** LongParam / IntegerParam / ShortParam with the Param's min/max and radix. */
  number(name: string, spec: NumberSpec): number | undefined {
    const raw = this.values.get(name);
    if (raw === undefined || raw === NULL) return undefined;
    const radix = spec.radix ?? 10;
    const digits = radix === 8 ? /^[+-]?[0-7]+$/ : /^[+-]?\d+$/;
    const big = digits.test(raw) ? BigInt(radix === 8 ? parseOctal(raw) : raw) : undefined;
    const [lo, hi] = WIDTH[spec.type];
    if (big === undefined || big < lo || big > hi) {
      const what = spec.type === 'int' ? 'integer' : `${spec.type} integer`;
      throw this.invalid(name, `Failed to parse "${raw}" as a radix-${radix} ${what}.`);
    }
    const value = Number(big);
    const show = (n: number): string => n.toString(radix);
    if (spec.min !== undefined && value < spec.min) {
      throw this.invalid(name, `Invalid parameter range: ${name} = ${show(value)} < ${show(spec.min)}`);
    }
    if (spec.max !== undefined && value > spec.max) {
      throw this.invalid(name, `Invalid parameter range: ${name} = ${show(value)} > ${show(spec.max)}`);
    }
    return value;
  }

  /** PermissionParam: radix 8, 0..01777 (sticky bit allowed). */
  permission(): number | undefined {
    return this.number('permission', { type: 'short', radix: 8, min: 0, max: 0o1777 });
  }

  /** DestinationParam: must be absolute; Path normalises doubled and trailing slashes. */
  destination(): string | undefined {
    const raw = this.string('destination');
    if (raw === undefined) return undefined;
    if (!raw.startsWith('/')) {
      throw this.invalid(
        'destination',
        `Invalid parameter value: destination = "${raw}" is not an absolute path.`,
      );
    }
    return normalizePath(raw);
  }

  private invalid(name: string, message: string): Error {
    return hadoop.illegalArgument(
      this.jersey ? `Invalid value for webhdfs parameter "${name}": ${message}` : message,
    );
  }
}

export interface NumberSpec {
  type: 'long' | 'int' | 'short';
  radix?: 8 | 10;
  min?: number;
  max?: number;
}

const WIDTH: Record<NumberSpec['type'], readonly [bigint, bigint]> = {
  long: [-(2n ** 63n), 2n ** 63n - 1n],
  int: [-(2n ** 31n), 2n ** 31n - 1n],
  short: [-(2n ** 15n), 2n ** 15n - 1n],
};

function parseOctal(raw: string): string {
  const negative = raw.startsWith('-');
  const body = raw.replace(/^[+-]/, '');
  const value = BigInt(`0o${body}`);
  return (negative ? -value : value).toString();
}

/** Hadoop's Path: collapse "//" and drop a trailing "/" (except the root). */
export function normalizePath(p: string): string {
  const collapsed = p.replace(/\/{2,}/g, '/');
  return collapsed.length > 1 && collapsed.endsWith('/') ? collapsed.slice(0, -1) : collapsed;
}

/** java.net.URLEncoder.encode(s, "UTF-8"), which Param.toSortedString applies to redirect parameters. */
export function javaUrlEncode(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}
