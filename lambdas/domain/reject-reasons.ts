/**
 * The catalog of reject reason codes: every reason a row can be rejected for, with what it means.
 * A reason as rejects.csv and the summary show it is its code, then details after colons
 * (`required:Email`, `column_count:5:4`); the counts per reason are by code. The producers (csv,
 * jsonl, mapping, normalize, chunk) take their codes from here, so a code not in the catalog fails
 * to compile.
 */
export const REJECT_REASONS = {
  // The record itself (csv.ts, jsonl.ts, chunk.ts)
  invalid_utf8: 'the row is not valid UTF-8 (the file is in another encoding than the config says)',
  invalid_quote: 'a quote inside an unquoted CSV field, or text after a closing quote',
  unterminated_quote: 'a quoted CSV field that never ends',
  invalid_json: 'the JSON Lines line is not JSON',
  not_an_object: 'the JSON Lines line is JSON but not an object',
  duplicate_key: 'the JSON object has two properties of the same name (`duplicate_key:<name>`)',
  not_scalar: 'an object or array where the mapping reads one value (`not_scalar:<column>`)',
  column_count: 'the row has another number of cells than the header (`column_count:<header>:<row>`)',
  nul_char: 'a cell the mapping reads holds a NUL character (`nul_char:<column>`)',
  control_char: "the key's cell holds a control character (`control_char:<column>`)",
  field_too_large: 'a field is over the source maxFieldBytes (`field_too_large:<column>`)',
  // The mapping and the values (mapping.ts, normalize.ts)
  required: 'a required field (or the key) is empty (`required:<column>`)',
  invalid_default: "the field's default does not pass its own type",
  too_long: "the value is longer than the field's maxLength",
  invalid_email: 'not an email address',
  invalid_phone: 'not a possible phone number (for its country, or the default region)',
  invalid_number: 'not a number',
  invalid_integer: 'not a whole number',
  number_too_precise: "a number of more than DynamoDB's 38 significant digits",
  number_out_of_range: "a number outside DynamoDB's range (magnitude 1E-130 to 9.99…E+125)",
  invalid_currency: 'not an amount of money the field reads (symbol or code, sign, separators)',
  currency_mismatch: "an amount in another currency than the field's currencyCode",
  invalid_percent: 'not a percentage (a number, with or without %)',
  invalid_boolean: 'not a boolean the field reads (true/false, yes/no, 1/0 …)',
  invalid_date: 'not a date in a format the field reads',
  invalid_datetime: 'not a date and time in a format the field reads',
  invalid_enum: "not one of the field's values",
  excel_mangled_id: 'an id that a spreadsheet turned into a number in scientific notation (1.23E+17)',
  // The item (chunk.ts)
  key_too_large: "the key is over DynamoDB's 2,048-byte partition key limit",
  item_too_large: "the item would be over DynamoDB's 400 KB item limit",
  orphan: 'its reference names no item of the parent entity (`orphan:<field>`, rejectOrphans)',
} as const satisfies Record<string, string>;

export type RejectCode = keyof typeof REJECT_REASONS;

/** A reason with its details: `rejectReason('required', 'Email')` is `required:Email`. */
export function rejectReason(code: RejectCode, ...details: ReadonlyArray<string | number>): string {
  return details.length === 0 ? code : `${code}:${details.join(':')}`;
}

/** The code of a reason (the text before its first colon). */
export function rejectCode(reason: string): string {
  const colon = reason.indexOf(':');
  return colon === -1 ? reason : reason.slice(0, colon);
}
