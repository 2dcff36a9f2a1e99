"""Reader for CTranslate2 `model.bin` files (the faster-whisper checkpoint format).

The format is small enough to read by hand, so we do, instead of depending on the ctranslate2 runtime:

    u32 binary version
    str spec name            e.g. "WhisperSpec"
    u32 spec revision
    u32 number of variables
    per variable:  str name; u8 rank; rank x u32 dims; u8 dtype; u32 byte count; raw bytes
    u32 number of aliases
    per alias:     str alias; str target

All integers are little-endian; a str is a u16 byte length (counting a trailing NUL) and the bytes.
A checkpoint split into byte ranges (`model.bin.part1`, `model.bin.part2`, ...) is read as their
concatenation in order.
"""

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUPPORTED_BINARY_VERSIONS = (5, 6)  # 6 is what current converters write; 5 differs only in the fields we read

# The dtype enum of CTranslate2's storage format.
DTYPES = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    5: np.dtype("<u2"),  # bfloat16: numpy has no such type, so the raw 16-bit patterns are kept
}
BFLOAT16_CODE = 5


class CTranslate2FormatError(ValueError):
    """The bytes are not a CTranslate2 model.bin we can read (truncated, wrong version, unknown dtype)."""


@dataclass(frozen=True)
class CTranslate2Variable:
    name: str
    array: np.ndarray  # little-endian, shaped; bfloat16 arrives as uint16 bit patterns (see is_bfloat16)
    is_bfloat16: bool = False


@dataclass(frozen=True)
class CTranslate2Model:
    binary_version: int
    spec_name: str
    spec_revision: int
    variables: dict[str, CTranslate2Variable]
    aliases: dict[str, str]  # alias name -> name of the variable it shares storage with


class _Cursor:
    """Reads little-endian fields from a bytes buffer, naming the field when the buffer runs out."""

    def __init__(self, buffer: bytes, source: str):
        self.buffer = buffer
        self.offset = 0
        self.source = source

    def take(self, size: int, what: str) -> memoryview:
        end = self.offset + size
        if end > len(self.buffer):
            raise CTranslate2FormatError(
                f"{self.source} is truncated: {what} needs bytes {self.offset}..{end} "
                f"but the file has {len(self.buffer)} bytes (a missing part of a multi-part model?)"
            )
        view = memoryview(self.buffer)[self.offset : end]
        self.offset = end
        return view

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return struct.unpack("<H", self.take(2, what))[0]

    def u32(self, what: str) -> int:
        return struct.unpack("<I", self.take(4, what))[0]

    def string(self, what: str) -> str:
        length = self.u16(what)
        raw = bytes(self.take(length, what))
        return raw.rstrip(b"\0").decode("utf-8")


def read_model_bytes(parts: list[Path]) -> bytes:
    """The bytes of model.bin, concatenating the byte ranges of a multi-part checkpoint in order."""
    missing = [str(part) for part in parts if not part.is_file()]
    if missing:
        raise FileNotFoundError(f"CTranslate2 model file(s) not found: {', '.join(missing)}")
    return b"".join(part.read_bytes() for part in parts)


def parse_model(buffer: bytes, source: str = "model.bin") -> CTranslate2Model:
    """Parse the bytes of a CTranslate2 model.bin into named numpy arrays (which share `buffer`)."""
    cursor = _Cursor(buffer, source)
    binary_version = cursor.u32("the binary version")
    if binary_version not in SUPPORTED_BINARY_VERSIONS:
        raise CTranslate2FormatError(
            f"{source}: binary version {binary_version} is not one we read {SUPPORTED_BINARY_VERSIONS}; "
            "is this a CTranslate2 model.bin?"
        )
    spec_name = cursor.string("the spec name")
    spec_revision = cursor.u32("the spec revision")
    count = cursor.u32("the number of variables")
    variables: dict[str, CTranslate2Variable] = {}
    for index in range(count):
        name = cursor.string(f"the name of variable {index}")
        rank = cursor.u8(f"the rank of {name}")
        shape = tuple(cursor.u32(f"dimension {axis} of {name}") for axis in range(rank))
        dtype_code = cursor.u8(f"the dtype of {name}")
        if dtype_code not in DTYPES:
            raise CTranslate2FormatError(f"{source}: variable {name} has unknown dtype code {dtype_code}")
        byte_count = cursor.u32(f"the byte count of {name}")
        dtype = DTYPES[dtype_code]
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if byte_count != expected:
            raise CTranslate2FormatError(
                f"{source}: variable {name} of shape {shape} and dtype {dtype} should take {expected} bytes, "
                f"the file says {byte_count}"
            )
        raw = cursor.take(byte_count, f"the data of variable {name}")
        array = np.frombuffer(raw, dtype=dtype).reshape(shape)
        variables[name] = CTranslate2Variable(name, array, is_bfloat16=dtype_code == BFLOAT16_CODE)
    alias_count = cursor.u32("the number of aliases")
    aliases = {}
    for _ in range(alias_count):
        alias = cursor.string("an alias name")
        aliases[alias] = cursor.string(f"the target of alias {alias}")
    if cursor.offset != len(buffer):
        raise CTranslate2FormatError(
            f"{source}: {len(buffer) - cursor.offset} unexpected bytes after the last alias "
            "(parts concatenated in the wrong order, or a part given twice?)"
        )
    return CTranslate2Model(binary_version, spec_name, spec_revision, variables, aliases)


def load_model(parts: list[Path]) -> CTranslate2Model:
    """Read and parse a model.bin given as one path or as its byte-range parts in order."""
    source = str(parts[0]) if len(parts) == 1 else f"{parts[0]} (+{len(parts) - 1} more parts)"
    return parse_model(read_model_bytes(parts), source)
