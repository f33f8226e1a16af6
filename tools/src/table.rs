//! Columnar tables in parquet files: what the archive, the labels and the training set are made
//! of. A [`Table`] is a list of named, typed columns of equal length; it is written in row groups
//! of [`ROW_GROUP_ROWS`] with snappy compression, to a temporary name renamed into place, so a
//! reader never sees half a file.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use parquet::basic::Compression;
use parquet::column::reader::ColumnReader;
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// Rows per row group.
pub(crate) const ROW_GROUP_ROWS: usize = 65_536;

/// The values of one column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Column {
    /// Milliseconds since the epoch, UTC (a parquet timestamp).
    TimestampMs(Vec<i64>),
    /// 64-bit integers.
    I64(Vec<i64>),
    /// 32-bit floats (features).
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
    /// 64-bit floats that may be missing.
    OptF64(Vec<Option<f64>>),
    /// UTF-8 text.
    Str(Vec<String>),
    /// Booleans.
    Bool(Vec<bool>),
}

impl Column {
    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        match self {
            Column::TimestampMs(v) | Column::I64(v) => v.len(),
            Column::F32(v) => v.len(),
            Column::F64(v) => v.len(),
            Column::OptF64(v) => v.len(),
            Column::Str(v) => v.len(),
            Column::Bool(v) => v.len(),
        }
    }

    /// An empty column of the same type.
    pub(crate) fn empty_like(&self) -> Column {
        match self {
            Column::TimestampMs(_) => Column::TimestampMs(Vec::new()),
            Column::I64(_) => Column::I64(Vec::new()),
            Column::F32(_) => Column::F32(Vec::new()),
            Column::F64(_) => Column::F64(Vec::new()),
            Column::OptF64(_) => Column::OptF64(Vec::new()),
            Column::Str(_) => Column::Str(Vec::new()),
            Column::Bool(_) => Column::Bool(Vec::new()),
        }
    }

    /// Appends the values of `other`, which must be of the same type.
    fn extend(&mut self, other: &Column) -> Result<()> {
        match (self, other) {
            (Column::TimestampMs(a), Column::TimestampMs(b)) | (Column::I64(a), Column::I64(b)) => {
                a.extend_from_slice(b);
            }
            (Column::F32(a), Column::F32(b)) => a.extend_from_slice(b),
            (Column::F64(a), Column::F64(b)) => a.extend_from_slice(b),
            (Column::OptF64(a), Column::OptF64(b)) => a.extend_from_slice(b),
            (Column::Str(a), Column::Str(b)) => a.extend_from_slice(b),
            (Column::Bool(a), Column::Bool(b)) => a.extend_from_slice(b),
            (a, b) => bail!(
                "column types differ: {} and {}",
                a.type_name(),
                b.type_name()
            ),
        }
        Ok(())
    }

    /// The values at `rows`, in that order.
    fn take(&self, rows: &[usize]) -> Column {
        fn pick<T: Clone>(values: &[T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&row| values[row].clone()).collect()
        }
        match self {
            Column::TimestampMs(v) => Column::TimestampMs(pick(v, rows)),
            Column::I64(v) => Column::I64(pick(v, rows)),
            Column::F32(v) => Column::F32(pick(v, rows)),
            Column::F64(v) => Column::F64(pick(v, rows)),
            Column::OptF64(v) => Column::OptF64(pick(v, rows)),
            Column::Str(v) => Column::Str(pick(v, rows)),
            Column::Bool(v) => Column::Bool(pick(v, rows)),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Column::TimestampMs(_) => "timestamp",
            Column::I64(_) => "int64",
            Column::F32(_) => "float",
            Column::F64(_) => "double",
            Column::OptF64(_) => "optional double",
            Column::Str(_) => "string",
            Column::Bool(_) => "boolean",
        }
    }

    /// The parquet schema line of a column called `name`.
    fn schema_line(&self, name: &str) -> String {
        match self {
            Column::TimestampMs(_) => {
                format!("REQUIRED INT64 {name} (TIMESTAMP(MILLIS,true));")
            }
            Column::I64(_) => format!("REQUIRED INT64 {name};"),
            Column::F32(_) => format!("REQUIRED FLOAT {name};"),
            Column::F64(_) => format!("REQUIRED DOUBLE {name};"),
            Column::OptF64(_) => format!("OPTIONAL DOUBLE {name};"),
            Column::Str(_) => format!("REQUIRED BYTE_ARRAY {name} (STRING);"),
            Column::Bool(_) => format!("REQUIRED BOOLEAN {name};"),
        }
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Table {
    columns: Vec<(String, Column)>,
}

impl Table {
    /// An empty table.
    pub(crate) fn new() -> Table {
        Table::default()
    }

    /// Adds a column; every column must have the same length.
    pub(crate) fn push(&mut self, name: impl Into<String>, column: Column) -> Result<()> {
        let name = name.into();
        ensure!(
            self.columns.iter().all(|(existing, _)| *existing != name),
            "column {name} twice"
        );
        if let Some((first, values)) = self.columns.first() {
            ensure!(
                values.len() == column.len(),
                "column {name} has {} rows, {first} has {}",
                column.len(),
                values.len()
            );
        }
        self.columns.push((name, column));
        Ok(())
    }

    /// Number of rows.
    pub(crate) fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, column)| column.len())
    }

    /// Column names, in order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(name, _)| name.as_str())
    }

    /// The column called `name`.
    pub(crate) fn column(&self, name: &str) -> Result<&Column> {
        self.columns
            .iter()
            .find(|(existing, _)| existing == name)
            .map(|(_, column)| column)
            .with_context(|| format!("no column {name}"))
    }

    /// The timestamp or integer column called `name`.
    pub(crate) fn i64s(&self, name: &str) -> Result<&[i64]> {
        match self.column(name)? {
            Column::TimestampMs(values) | Column::I64(values) => Ok(values),
            other => bail!("column {name} is {}, not an integer", other.type_name()),
        }
    }

    /// The float column called `name`.
    pub(crate) fn f32s(&self, name: &str) -> Result<&[f32]> {
        match self.column(name)? {
            Column::F32(values) => Ok(values),
            other => bail!("column {name} is {}, not float", other.type_name()),
        }
    }

    /// The float column called `name`, whose values may be missing.
    pub(crate) fn opt_f64s(&self, name: &str) -> Result<&[Option<f64>]> {
        match self.column(name)? {
            Column::OptF64(values) => Ok(values),
            other => bail!("column {name} is {}, not optional float", other.type_name()),
        }
    }

    /// The float column called `name`.
    pub(crate) fn f64s(&self, name: &str) -> Result<&[f64]> {
        match self.column(name)? {
            Column::F64(values) => Ok(values),
            other => bail!("column {name} is {}, not float", other.type_name()),
        }
    }

    /// The text column called `name`.
    pub(crate) fn strs(&self, name: &str) -> Result<&[String]> {
        match self.column(name)? {
            Column::Str(values) => Ok(values),
            other => bail!("column {name} is {}, not text", other.type_name()),
        }
    }

    /// The rows at `rows`, in that order.
    pub(crate) fn take(&self, rows: &[usize]) -> Table {
        Table {
            columns: self
                .columns
                .iter()
                .map(|(name, column)| (name.clone(), column.take(rows)))
                .collect(),
        }
    }

    /// Appends the rows of `other`, which must have the same columns in the same order.
    pub(crate) fn append(&mut self, other: &Table) -> Result<()> {
        if self.columns.is_empty() {
            self.columns = other
                .columns
                .iter()
                .map(|(name, column)| (name.clone(), column.empty_like()))
                .collect();
        }
        ensure!(
            self.names().eq(other.names()),
            "tables with different columns cannot be appended"
        );
        for ((name, mine), (_, theirs)) in self.columns.iter_mut().zip(&other.columns) {
            mine.extend(theirs)
                .with_context(|| format!("column {name}"))?;
        }
        Ok(())
    }

    /// Adds every column of `other` (same number of rows) after the columns of this table.
    pub(crate) fn join_columns(&mut self, other: Table) -> Result<()> {
        for (name, column) in other.columns {
            self.push(name, column)?;
        }
        Ok(())
    }
}

/// Writes `table` to `path` (through `path.tmp`, then renamed), with `metadata` as key-value
/// pairs in the file footer.
pub(crate) fn write(path: &Path, table: &Table, metadata: &[(&str, String)]) -> Result<()> {
    let schema_text = format!(
        "message schema {{ {} }}",
        table
            .columns
            .iter()
            .map(|(name, column)| column.schema_line(name))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let schema = Arc::new(parse_message_type(&schema_text).context("building the schema")?);
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("toolkit {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(
            metadata
                .iter()
                .map(|(key, value)| KeyValue::new((*key).to_owned(), value.clone()))
                .collect(),
        ))
        .build();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let temporary = temporary_path(path);
    let file =
        File::create(&temporary).with_context(|| format!("creating {}", temporary.display()))?;
    let mut writer = SerializedFileWriter::new(file, schema, Arc::new(properties))?;
    let rows = table.rows();
    let mut start = 0;
    while start < rows || (rows == 0 && start == 0) {
        let end = (start + ROW_GROUP_ROWS).min(rows);
        let mut group = writer.next_row_group()?;
        for (_, column) in &table.columns {
            let mut column_writer = group
                .next_column()?
                .context("the schema has fewer columns than the table")?;
            write_values(column_writer.untyped(), column, start, end)?;
            column_writer.close()?;
        }
        group.close()?;
        if rows == 0 {
            break;
        }
        start = end;
    }
    writer.close()?;
    fs::rename(&temporary, path)
        .with_context(|| format!("renaming {} into place", temporary.display()))?;
    Ok(())
}

/// `path` with `.tmp` appended: where a file is written before it is renamed into place.
pub(crate) fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

fn write_values(
    writer: &mut ColumnWriter<'_>,
    column: &Column,
    start: usize,
    end: usize,
) -> Result<()> {
    match (writer, column) {
        (ColumnWriter::Int64ColumnWriter(w), Column::TimestampMs(v) | Column::I64(v)) => {
            w.write_batch(&v[start..end], None, None)?;
        }
        (ColumnWriter::FloatColumnWriter(w), Column::F32(v)) => {
            w.write_batch(&v[start..end], None, None)?;
        }
        (ColumnWriter::DoubleColumnWriter(w), Column::F64(v)) => {
            w.write_batch(&v[start..end], None, None)?;
        }
        (ColumnWriter::DoubleColumnWriter(w), Column::OptF64(v)) => {
            let slice = &v[start..end];
            let present: Vec<f64> = slice.iter().flatten().copied().collect();
            let levels: Vec<i16> = slice
                .iter()
                .map(|value| i16::from(value.is_some()))
                .collect();
            w.write_batch(&present, Some(&levels), None)?;
        }
        (ColumnWriter::ByteArrayColumnWriter(w), Column::Str(v)) => {
            let values: Vec<ByteArray> = v[start..end]
                .iter()
                .map(|text| ByteArray::from(text.as_str()))
                .collect();
            w.write_batch(&values, None, None)?;
        }
        (ColumnWriter::BoolColumnWriter(w), Column::Bool(v)) => {
            w.write_batch(&v[start..end], None, None)?;
        }
        (_, column) => bail!("no parquet writer for a {} column", column.type_name()),
    }
    Ok(())
}

/// Reads every column of the parquet file at `path`.
pub(crate) fn read(path: &Path) -> Result<Table> {
    read_file(path).with_context(|| format!("reading {}", path.display()))
}

fn read_file(path: &Path) -> Result<Table> {
    let reader = SerializedFileReader::new(File::open(path)?)?;
    let metadata = reader.metadata();
    let schema = metadata.file_metadata().schema_descr();
    let mut table = Table::new();
    for index in 0..schema.num_columns() {
        let descriptor = schema.column(index);
        let column = match (descriptor.physical_type(), descriptor.logical_type_ref()) {
            (parquet::basic::Type::INT64, Some(parquet::basic::LogicalType::Timestamp { .. })) => {
                Column::TimestampMs(Vec::new())
            }
            (parquet::basic::Type::INT64, _) => Column::I64(Vec::new()),
            (parquet::basic::Type::FLOAT, _) => Column::F32(Vec::new()),
            (parquet::basic::Type::DOUBLE, _) if descriptor.max_def_level() > 0 => {
                Column::OptF64(Vec::new())
            }
            (parquet::basic::Type::DOUBLE, _) => Column::F64(Vec::new()),
            (parquet::basic::Type::BYTE_ARRAY, _) => Column::Str(Vec::new()),
            (parquet::basic::Type::BOOLEAN, _) => Column::Bool(Vec::new()),
            (other, _) => bail!("column {} has unsupported type {other}", descriptor.name()),
        };
        table.columns.push((descriptor.name().to_owned(), column));
    }
    for group_index in 0..metadata.num_row_groups() {
        let group = reader.get_row_group(group_index)?;
        let rows = usize::try_from(group.metadata().num_rows())?;
        for (index, (name, column)) in table.columns.iter_mut().enumerate() {
            read_values(group.get_column_reader(index)?, column, rows)
                .with_context(|| format!("column {name}"))?;
        }
    }
    let rows = table.rows();
    ensure!(
        table.columns.iter().all(|(_, column)| column.len() == rows),
        "columns of unequal length"
    );
    Ok(table)
}

fn read_values(reader: ColumnReader, column: &mut Column, rows: usize) -> Result<()> {
    let mut levels = Vec::with_capacity(rows);
    match (reader, column) {
        (ColumnReader::Int64ColumnReader(mut r), Column::TimestampMs(v) | Column::I64(v)) => {
            r.read_records(rows, None, None, v)?;
        }
        (ColumnReader::FloatColumnReader(mut r), Column::F32(v)) => {
            r.read_records(rows, None, None, v)?;
        }
        (ColumnReader::DoubleColumnReader(mut r), Column::F64(v)) => {
            r.read_records(rows, None, None, v)?;
        }
        (ColumnReader::DoubleColumnReader(mut r), Column::OptF64(v)) => {
            let mut present = Vec::with_capacity(rows);
            r.read_records(rows, Some(&mut levels), None, &mut present)?;
            let mut values = present.into_iter();
            for level in levels {
                v.push(if level > 0 { values.next() } else { None });
            }
        }
        (ColumnReader::ByteArrayColumnReader(mut r), Column::Str(v)) => {
            let mut bytes = Vec::with_capacity(rows);
            r.read_records(rows, None, None, &mut bytes)?;
            for value in bytes {
                v.push(
                    value
                        .as_utf8()
                        .map_err(|err| anyhow::anyhow!("not UTF-8: {err}"))?
                        .to_owned(),
                );
            }
        }
        (ColumnReader::BoolColumnReader(mut r), Column::Bool(v)) => {
            r.read_records(rows, None, None, v)?;
        }
        (_, column) => bail!("no parquet reader for a {} column", column.type_name()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_type_round_trips_across_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let rows = ROW_GROUP_ROWS + 3;
        let mut table = Table::new();
        let ints: Vec<i64> = (0..rows as i64).collect();
        table.push("ts", Column::TimestampMs(ints.clone())).unwrap();
        table
            .push("n", Column::I64(ints.iter().map(|v| -v).collect()))
            .unwrap();
        table
            .push(
                "f",
                Column::F32(ints.iter().map(|&v| v as f32 * 0.5).collect()),
            )
            .unwrap();
        table
            .push(
                "d",
                Column::F64(ints.iter().map(|&v| v as f64 / 3.0).collect()),
            )
            .unwrap();
        table
            .push(
                "o",
                Column::OptF64(
                    ints.iter()
                        .map(|&v| (v % 3 == 0).then_some(v as f64))
                        .collect(),
                ),
            )
            .unwrap();
        table
            .push(
                "s",
                Column::Str(ints.iter().map(|v| format!("s{v}")).collect()),
            )
            .unwrap();
        table
            .push("b", Column::Bool(ints.iter().map(|v| v % 7 == 0).collect()))
            .unwrap();
        write(&path, &table, &[("k", "v".to_owned())]).unwrap();
        assert!(!temporary_path(&path).exists());
        assert_eq!(read(&path).unwrap(), table);
    }

    #[test]
    fn an_empty_table_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.parquet");
        let mut table = Table::new();
        table.push("x", Column::F64(Vec::new())).unwrap();
        write(&path, &table, &[]).unwrap();
        assert_eq!(read(&path).unwrap(), table);
    }

    #[test]
    fn columns_of_unequal_length_are_refused() {
        let mut table = Table::new();
        table.push("a", Column::I64(vec![1, 2])).unwrap();
        let err = table.push("b", Column::I64(vec![1])).unwrap_err();
        assert_eq!(err.to_string(), "column b has 1 rows, a has 2");
    }
}
