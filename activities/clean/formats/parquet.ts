/** Parquet through DuckDB: its schema is the header, its rows are read a chunk at a time. */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdentifier, sqlString } from '../../../lib/artifacts';
import { InvalidDataError } from '../../../lib/failures';
import type { CleanTask, InputFile } from '../../../lib/steps';
import { FIELDS } from '../columns';
import type { RowFields, RowRouter } from '../rows';

/** The file's column names (its header, for the plan); an unreadable file fails here. */
export async function parquetColumns(file: InputFile, connection: DuckDBConnection): Promise<string[]> {
  try {
    const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file.path)})`);
    return described.getRowObjectsJS().map((row) => row.column_name as string);
  } catch (error) {
    throw new InvalidDataError(file.path, `cannot read it as Parquet (${(error as Error).message.split('\n')[0]})`, 'Re-export or re-download the file');
  }
}

/** The rows of a Parquet task; the "line" of a row is its 1-based row number. */
export async function readParquet(task: CleanTask, router: RowRouter, connection: DuckDBConnection, afterChunk: () => Promise<void>): Promise<void> {
  const { names, header } = task.columns;
  // The plan found the fields' columns in the schema: the ones present are read by name.
  const present = FIELDS.filter((field) => header!.at[field] !== -1);
  const select = present.map((field) => `CAST(${sqlIdentifier(names[field])} AS VARCHAR)`).join(', ');
  const result = await connection.stream(`SELECT ${select} FROM read_parquet(${sqlString(task.file.path)})`);
  let rowNumber = 0;
  for (let chunk = await result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    const columns = chunk.getColumns() as (string | null)[][];
    for (let row = 0; row < chunk.rowCount; row += 1) {
      rowNumber += 1;
      const fields = { text: null, summary: null, productId: null, reviewId: null, category: null, rating: null } as RowFields;
      present.forEach((field, i) => (fields[field] = columns[i][row]));
      router.row(rowNumber, fields, () => JSON.stringify(fields));
    }
    await afterChunk();
  }
}
