"""Reading a model artifact: its format, pickle protocol and compression, and loading it while
collecting *every* reference to code that is not importable (not only the first).

Runs inside the clean inspection process (see inspection.py), never in the CLI's own process.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

FORMATS = ("joblib", "skops")


class MissingCode(Exception):
    """The pickle references classes or functions a clean Python process cannot import."""

    def __init__(self, refs: list[tuple[str, str, str]]):
        self.refs = refs  # (module, name, why)
        super().__init__(describe_missing(refs))


def describe_missing(refs: list[tuple[str, str, str]]) -> str:
    main = sorted({f"__main__.{n}" for m, n, _ in refs if m == "__main__"})
    other = sorted({f"{m}.{n}" for m, n, _ in refs if m != "__main__"})
    modules = sorted({m.split(".")[0] for m, _, why in refs if m != "__main__" and why == "module"})
    parts = []
    if main:
        parts.append(f"{', '.join(main)} (defined in the script that saved the model): move it "
                     "into a module (e.g. my_transforms.py), import it from there, save the model "
                     "again and upload with --code my_transforms.py")
    if other:
        fix = (f"ship {' and '.join(m + '.py' for m in modules)} with --code" if modules
               else "ship the module that defines it with --code, in the version that saved it")
        parts.append(f"{', '.join(other)} (not importable in a clean Python process): {fix}")
    return "it references code that will not be there at serving time: " + "; ".join(parts)


_MAGIC = ((b"\x04\x22\x4d\x18", "lz4"), (b"\xfd7zXZ", "xz"), (b"]\x00\x00", "lzma"),
          (b"\x1f\x8b", "gzip"), (b"BZ", "bz2"), (b"\x78", "zlib"))


def _opener(compression: str):
    import bz2
    import gzip
    import lzma

    return {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open, "lzma": lzma.open}.get(compression)


def header(path: Path) -> dict:
    """The joblib compression and the pickle protocol (read after decompressing)."""
    import zlib

    with open(path, "rb") as f:
        start = f.read(4096)
    compression = next((name for magic, name in _MAGIC if start.startswith(magic)), "none")
    if compression == "none":
        head = start[:2]
    elif compression == "zlib":
        head = zlib.decompressobj().decompress(start)[:2]
    elif _opener(compression) is not None:
        with _opener(compression)(path, "rb") as stream:
            head = stream.read(2)
    else:
        head = b""
    protocol = head[1] if head[:1] == b"\x80" and len(head) == 2 else None
    return {"compression": compression, "pickle_protocol": protocol}


def detect_format(path: Path) -> str:
    with open(path, "rb") as f:
        return "skops" if f.read(4) == b"PK\x03\x04" else "joblib"


def _placeholder(module: str, name: str) -> type:
    def init(self, *args, **kwargs):
        pass

    def setstate(self, state):
        pass

    return type(name, (), {"__init__": init, "__setstate__": setstate, "__module__": module})


def load_joblib(path: Path) -> Any:
    """joblib.load, but a missing reference is recorded and loading goes on, so that every one is
    reported at once; raises MissingCode if there were any."""
    import joblib
    from joblib import numpy_pickle

    missing: list[tuple[str, str, str]] = []
    original = numpy_pickle.NumpyUnpickler.find_class

    def find_class(self, module, name):
        try:
            return original(self, module, name)
        except ImportError:
            missing.append((module, name, "module"))
        except AttributeError:
            missing.append((module, name, "attribute"))
        return _placeholder(module, name)

    numpy_pickle.NumpyUnpickler.find_class = find_class
    try:
        model = joblib.load(path)
    except Exception:
        if missing:
            raise MissingCode(missing) from None
        raise
    finally:
        numpy_pickle.NumpyUnpickler.find_class = original
    if missing:
        raise MissingCode(missing)
    return model


# Beyond skops's own defaults, mlcloud trusts scikit-learn's internal types (for example the
# trees' sklearn.tree._tree.Tree), never a user's class or any function.
TRUSTED_PREFIXES = ("sklearn.",)


def _skops_trusted(untrusted: list[str]) -> list[str]:
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise RuntimeError(f"the skops file holds types skops does not trust by default: "
                           f"{', '.join(refused)}; only scikit-learn's and skops's trusted types "
                           "are loaded (use joblib with --code for your own classes)")
    return untrusted


def load_skops(path: Path) -> Any:
    """skops loads only trusted types; anything else is refused by name, before loading."""
    from skops import io as sio

    return sio.load(str(path), trusted=_skops_trusted(sio.get_untrusted_types(file=str(path))))


def load_bytes(data: bytes, fmt: str) -> Any:
    """Load verified artifact bytes (the caller checked the sha256 first)."""
    if fmt == "skops":
        from skops import io as sio

        return sio.loads(data, trusted=_skops_trusted(sio.get_untrusted_types(data=data)))
    import joblib

    return joblib.load(io.BytesIO(data))


def add_code_path(code_root: Path | None) -> None:
    if code_root is not None and str(code_root) not in sys.path:
        sys.path.insert(0, str(code_root))
