"""Protocol messages as the JSON Triton's HTTP endpoint sends: field names as in the .proto,
every field present, 64-bit integers as numbers (``MessageToDict`` writes them as strings,
which perf_analyzer's config parser does not read)."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

_INT64 = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


def to_json(message: Message) -> dict[str, Any]:
    data = MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    _numbers(message, data)
    return data


def _numbers(message: Message, data: dict[str, Any]) -> None:
    for field in message.DESCRIPTOR.fields:
        if field.name not in data:
            continue
        value = getattr(message, field.name)
        entry = data[field.name]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            inner = field.message_type.fields_by_name["value"]
            for key in entry:
                if inner.message_type is not None:
                    _numbers(value[_map_key(field, key)], entry[key])
                elif inner.type in _INT64:
                    entry[key] = int(entry[key])
        elif field.message_type is not None:
            if _repeated(field):
                for item, item_data in zip(value, entry, strict=True):
                    _numbers(item, item_data)
            else:
                _numbers(value, entry)
        elif field.type in _INT64:
            data[field.name] = [int(item) for item in entry] if _repeated(field) else int(entry)


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _map_key(field: FieldDescriptor, key: str) -> Any:
    key_field = field.message_type.fields_by_name["key"]
    return key if key_field.type == FieldDescriptor.TYPE_STRING else int(key)
