// Reads a Parquet file with hyparquet, a Parquet reader written in JavaScript independently of the .NET library that
// wrote it, and prints its footer (columns with their physical and logical types, rows, row groups, codecs) as one
// JSON line, then each row as a JSON object. 64-bit integers are printed as decimal strings (JSON numbers lose them).
// Usage: node read-parquet.mjs READER_DIR FILE.parquet  (READER_DIR: where .ci/install-parquet-reader.sh put hyparquet)
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [dir, file] = process.argv.slice(2)
const require = createRequire(path.join(path.resolve(dir), 'package.json'))
const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } = await import(pathToFileURL(require.resolve('hyparquet')).href)

const buffer = await asyncBufferFromFile(file)
const metadata = await parquetMetadataAsync(buffer)
const columns = metadata.schema.slice(1).map(e => ({
  name: e.name,
  type: e.type,
  repetition: e.repetition_type,
  logical: e.logical_type ? JSON.parse(JSON.stringify(e.logical_type, (k, v) => typeof v === 'bigint' ? Number(v) : v)) : null,
}))
const codecs = [...new Set(metadata.row_groups.flatMap(g => g.columns.map(c => c.meta_data.codec)))]
const out = [JSON.stringify({ columns, rows: Number(metadata.num_rows), rowGroups: metadata.row_groups.length, codecs })]
const rows = await parquetReadObjects({ file: buffer, metadata })
for (const row of rows) {
  out.push(JSON.stringify(row, (k, v) => typeof v === 'bigint' ? v.toString() : v))
}
process.stdout.write(out.join('\n') + '\n')
