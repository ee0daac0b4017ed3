import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';

/**
 * Compiles a JSON Schema file once. Schemas are strict (additionalProperties false) so that a
 * typo in a profile or recipe is an error, not a silently ignored field. Formats come from
 * ajv-formats (full mode): `date-time` is RFC 3339 with a time zone and a real calendar date,
 * so 2024-02-30 or 25:00 is refused, not only a wrong shape.
 */
export function compileSchema<T>(schemaPath: string): ValidateFunction<T> {
  const ajv = new (Ajv as unknown as typeof Ajv.default)({ allErrors: false, strict: false, verbose: true });
  (addFormats as unknown as typeof addFormats.default)(ajv);
  return ajv.compile<T>(JSON.parse(readFileSync(schemaPath, 'utf8')));
}

/** "/field/path must be ..." for the first error, the form used in one-line messages. */
export function describeSchemaError(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'is invalid';
  const where = e.instancePath || '/';
  if (e.keyword === 'additionalProperties')
    return `${where} has unknown field "${String(e.params.additionalProperty)}"`;
  if (e.keyword === 'required') return `${where} is missing required field "${String(e.params.missingProperty)}"`;
  return problemText(schemaProblems([e])[0] ?? { pointer: where, message: e.message ?? 'is invalid' });
}

export interface SchemaProblem {
  /** JSON pointer of the offending field; '' when the message names the fields itself. */
  pointer: string;
  message: string;
}

export function problemText(p: SchemaProblem): string {
  return p.pointer ? `${p.pointer} ${p.message}` : p.message;
}

function pointerToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Branches like `[{required:[a]},{required:[b]}]`: returns [a, b], else undefined. */
function requiredOnlyBranches(schema: unknown): string[] | undefined {
  if (!Array.isArray(schema)) return undefined;
  const names: string[] = [];
  for (const branch of schema) {
    const keys = branch && typeof branch === 'object' ? Object.keys(branch) : [];
    const req = (branch as { required?: unknown }).required;
    if (keys.length !== 1 || !Array.isArray(req) || req.length !== 1) return undefined;
    names.push(String(req[0]));
  }
  return names;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** JSON's name for a value's type, as a schema's `type` spells it. */
function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/**
 * ", not <type> (<value>)" for a type error: what the field actually is. Empty when the error
 * carries no data (compiled without `verbose`), rather than "not undefined".
 */
function notType(e: ErrorObject): string {
  if (!('data' in e) || e.data === undefined) return '';
  const value = e.data;
  const shown = typeof value === 'object' && value !== null ? '' : ` ${describe(value)}`;
  return `, not ${jsonType(value)}${shown}`;
}

/**
 * Every ajv error as a problem a person can act on: the field's JSON pointer and what is wrong,
 * with the known fields for a typo and the alternatives of a one-of. Compile with `verbose: true`
 * and `allErrors: true` to get the most out of it.
 */
export function schemaProblems(errors: ErrorObject[]): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const summarised: string[] = [];
  for (const e of errors) {
    if (e.keyword !== 'anyOf' && e.keyword !== 'oneOf') continue;
    const names = requiredOnlyBranches(e.schema);
    if (!names) continue;
    summarised.push(`${e.schemaPath}/`);
    const fields = names.map((n) => `${e.instancePath}/${pointerToken(n)}`);
    const passing = (e.params as { passingSchemas?: number[] | null }).passingSchemas;
    // The message names the alternatives itself, so these problems carry no pointer of their own.
    if (e.keyword === 'anyOf') {
      problems.push({ pointer: '', message: `${fields.join(' or ')} is required` });
    } else if (passing) {
      problems.push({ pointer: '', message: `only one of ${fields.join(', ')} may be set` });
    } else {
      problems.push({ pointer: '', message: `one of ${fields.join(', ')} is required` });
    }
  }
  for (const e of errors) {
    // An `if` failure is always accompanied by the `then`/`else` error that explains it.
    if (e.keyword === 'if' || e.keyword === 'anyOf' || e.keyword === 'oneOf') {
      if (e.keyword !== 'if' && !summarised.includes(`${e.schemaPath}/`)) {
        problems.push({ pointer: e.instancePath, message: e.message ?? e.keyword });
      }
      continue;
    }
    if (summarised.some((prefix) => e.schemaPath.startsWith(prefix))) continue;
    const params = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'required':
        problems.push({
          pointer: `${e.instancePath}/${pointerToken(String(params.missingProperty))}`,
          message: 'is required',
        });
        break;
      case 'additionalProperties': {
        const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
        problems.push({
          pointer: `${e.instancePath}/${pointerToken(String(params.additionalProperty))}`,
          message: `is not a known field${known.length ? ` (known: ${known.join(', ')})` : ''}`,
        });
        break;
      }
      case 'enum':
        problems.push({
          pointer: e.instancePath,
          message: `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, not ${describe(e.data)}`,
        });
        break;
      case 'const':
        problems.push({ pointer: e.instancePath, message: `must be ${JSON.stringify(params.allowedValue)}` });
        break;
      case 'type':
        problems.push({ pointer: e.instancePath, message: `must be ${String(params.type)}${notType(e)}` });
        break;
      case 'pattern':
        problems.push({
          pointer: e.instancePath,
          message: `must match ${String(params.pattern)}, not ${describe(e.data)}`,
        });
        break;
      case 'false schema':
        problems.push({ pointer: e.instancePath, message: 'is not allowed here' });
        break;
      default:
        problems.push({ pointer: e.instancePath, message: e.message ?? e.keyword });
    }
  }
  // The same field can fail in a branch and in the main schema (sizeMiB: type in both).
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.pointer} ${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
