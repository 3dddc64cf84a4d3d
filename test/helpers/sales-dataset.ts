/**
 * The DataSet the query tests (service and HTTP) run on: one column of each type, and rows with
 * a null in every column somewhere (an empty field), so each type's value and null are answered.
 */
export const SALES_SCHEMA = {
  columns: [
    { name: 'Region', type: 'STRING' },
    { name: 'Units', type: 'LONG' },
    { name: 'Amount', type: 'DECIMAL' },
    { name: 'Ratio', type: 'DOUBLE' },
    { name: 'Day', type: 'DATE' },
    { name: 'At', type: 'DATETIME' },
  ],
};

/** Four rows of SALES_SCHEMA as CSV without a header row. */
export const SALES_CSV = [
  'East,10,12.50,0.5,2026-01-31,2026-01-31T10:00:00Z',
  'West,5,3.25,1.25,2026-02-01,2026-02-01T08:30:00.250Z',
  'East,7,,0.75,2026-02-02,',
  'North,,1.00,,,2026-02-03T00:00:00Z',
].join('\n');
