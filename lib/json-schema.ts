import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';

/**
 * Compiles a JSON Schema file once. Schemas are strict (additionalProperties false) so that a
 * typo in a profile or recipe is an error, not a silently ignored field.
 */
export function compileSchema<T>(schemaPath: string): ValidateFunction<T> {
  const ajv = new (Ajv as unknown as typeof Ajv.default)({ allErrors: false, strict: false });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  return ajv.compile<T>(JSON.parse(readFileSync(schemaPath, 'utf8')));
}

/** "/field/path must be ..." for the first error, the form used in one-line messages. */
export function describeSchemaError(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'is invalid';
  const where = e.instancePath || '/';
  if (e.keyword === 'additionalProperties') return `${where} has unknown field "${String(e.params.additionalProperty)}"`;
  if (e.keyword === 'required') return `${where} is missing required field "${String(e.params.missingProperty)}"`;
  if (e.keyword === 'enum') return `${where} must be one of ${(e.params.allowedValues as unknown[]).map(String).join(', ')}`;
  return `${where} ${e.message ?? 'is invalid'}`;
}
