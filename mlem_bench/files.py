"""Writing files so that readers never see half of one, and JSON in one style."""
import json
import os
import tempfile
from pathlib import Path


def atomic_write(path, write):
    """Call write(tmp_path) then rename onto path: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path, obj):
    """Write obj as JSON (sorted keys) to path, atomically."""
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(obj, sort_keys=True)))


def read_json(path):
    """The JSON document in `path`."""
    return json.loads(Path(path).read_text())
