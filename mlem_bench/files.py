"""Writing files so that readers never see half of one, JSON in one style, and sealed
JSON documents (a content digest stored beside the payload) that are checked on read."""
import hashlib
import json
import os
import tempfile
from pathlib import Path

from .errors import DamagedFileError

TMP_SUFFIX = ".tmp"        # atomic_write's temporary files: ".<name>.<random>.tmp" beside the target


def current_umask():
    """The process's file-creation mask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write):
    """Call write(tmp_path) then rename onto path: readers never see half a file.

    The file gets the mode an ordinary open() would give it (0666 less the umask), not
    mkstemp's private 0600.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_stale_temporaries(folder):
    """Delete atomic_write's temporary files left in `folder` by a killed write; returns
    how many. Call it only while holding the folder's lock."""
    n = 0
    for p in Path(folder).glob(f".*{TMP_SUFFIX}"):
        if p.is_file():
            p.unlink()
            n += 1
    return n


def write_json(path, obj):
    """Write obj as JSON (sorted keys) to path, atomically."""
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(obj, sort_keys=True)))


def read_json(path):
    """The JSON document in `path`."""
    return json.loads(Path(path).read_text())


def digest_of(obj):
    """Content digest of a JSON-ready object (its sorted-key JSON text)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:32]


def write_sealed(path, payload):
    """Write payload atomically as {"digest": digest_of(payload), "payload": payload}."""
    write_json(path, {"digest": digest_of(payload), "payload": payload})


def read_sealed(path):
    """The payload of a file written by write_sealed; DamagedFileError (one line naming the
    file and what is wrong) when it cannot be read, is not such a document, or its
    payload does not match its digest (truncated, edited, overwritten)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise DamagedFileError(path, f"unreadable ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise DamagedFileError(path, "not UTF-8 text (binary content)") from None
    except json.JSONDecodeError as e:
        why = "empty" if not path.stat().st_size else f"not valid JSON ({e.msg} at line {e.lineno})"
        raise DamagedFileError(path, why) from None
    if not isinstance(doc, dict) or set(doc) != {"digest", "payload"}:
        raise DamagedFileError(path, "not a sealed document (expected the keys digest and payload)")
    if doc["digest"] != digest_of(doc["payload"]):
        raise DamagedFileError(path, "its content does not match its digest (edited or partly written)")
    return doc["payload"]
