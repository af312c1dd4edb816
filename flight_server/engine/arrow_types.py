"""The Arrow types results are streamed in.

DuckDB hands ENUM columns to Arrow as dictionaries. pyarrow's generator streams send no
dictionary messages, so clients reject such a stream; ENUM values are sent as their
strings instead (the column's ``TYPE_NAME`` metadata still says ENUM).
"""

from __future__ import annotations

import pyarrow as pa


def without_dictionaries(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every dictionary type, nested or not, replaced by its value type."""
    if not any(_has_dictionary(field.type) for field in schema):
        return schema
    fields = [field.with_type(_plain(field.type)) for field in schema]
    return pa.schema(fields, metadata=schema.metadata)


def _has_dictionary(data_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(data_type):
        return True
    return any(_has_dictionary(data_type.field(i).type) for i in range(data_type.num_fields))


def _plain(data_type: pa.DataType) -> pa.DataType:
    """``data_type`` rebuilt without dictionaries; types without any are returned as they are."""
    if not _has_dictionary(data_type):
        return data_type
    if pa.types.is_dictionary(data_type):
        return _plain(data_type.value_type)
    if pa.types.is_map(data_type):
        key, item = (_plain_field(f) for f in (data_type.key_field, data_type.item_field))
        return pa.map_(key, item, keys_sorted=data_type.keys_sorted)
    if pa.types.is_list(data_type):
        return pa.list_(_plain_field(data_type.value_field))
    if pa.types.is_large_list(data_type):
        return pa.large_list(_plain_field(data_type.value_field))
    if pa.types.is_fixed_size_list(data_type):
        return pa.list_(_plain_field(data_type.value_field), data_type.list_size)
    if pa.types.is_struct(data_type):
        return pa.struct([_plain_field(data_type.field(i)) for i in range(data_type.num_fields)])
    raise pa.ArrowNotImplementedError(f"cannot stream {data_type}: it holds a dictionary")


def _plain_field(field: pa.Field) -> pa.Field:
    return field.with_type(_plain(field.type))
