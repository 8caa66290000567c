"""A model artifact is a directory: ``pipeline.joblib`` plus ``manifest.json``.

The manifest records the labels, the out-of-scope label, the tuned thresholds, library versions, the
sha256 of the training data and of every file, validation metrics and the creation time. Loading
verifies it before anything is unpickled and refuses a tampered file or a version mismatch.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import sklearn

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PIPELINE = "pipeline.joblib"


class ArtifactError(RuntimeError):
    """The artifact cannot be used; the message is one sentence saying why."""


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def runtime_versions() -> dict[str, str]:
    import numpy
    import scipy

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def save_artifact(out_dir: str | Path, pipeline: Any, manifest: dict[str, Any]) -> Path:
    """Write pipeline + manifest into ``out_dir`` atomically (a temporary sibling, then a rename).

    ``manifest`` carries labels, oos_label, thresholds, data, metrics, params; versions, created_at,
    model_version and file hashes are added here.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        joblib.dump(pipeline, tmp / PIPELINE, compress=3)
        created = datetime.now(UTC).replace(microsecond=0)
        files = {PIPELINE: sha256_file(tmp / PIPELINE)}
        full = {
            "format_version": FORMAT_VERSION,
            **manifest,
            "versions": runtime_versions(),
            "created_at": created.isoformat().replace("+00:00", "Z"),
            "model_version": f"{created:%Y%m%d-%H%M%S}-{files[PIPELINE][:8]}",
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if out_dir.exists():
            backup = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(out_dir, backup)
            os.replace(tmp, out_dir)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def read_manifest(artifact_dir: str | Path) -> dict[str, Any]:
    path = Path(artifact_dir) / MANIFEST
    if not Path(artifact_dir).is_dir():
        raise ArtifactError(f"no model artifact at {artifact_dir}: the directory does not exist (run `qrouter train`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{artifact_dir} is not a model artifact: {MANIFEST} is missing") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is unreadable or not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{path} has format version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}")
    for key in ("labels", "thresholds", "versions", "files", "model_version"):
        if key not in manifest:
            raise ArtifactError(f"{path} lacks the required field {key!r}")
    return manifest


def verify_artifact(artifact_dir: str | Path) -> dict[str, Any]:
    """Check versions and every file's sha256 against the manifest; return the manifest."""
    artifact_dir = Path(artifact_dir)
    manifest = read_manifest(artifact_dir)
    built, here = manifest["versions"], runtime_versions()
    if built.get("scikit-learn") != here["scikit-learn"]:
        raise ArtifactError(
            f"model was built with scikit-learn {built.get('scikit-learn')} but {here['scikit-learn']} is installed;"
            " retrain it (`qrouter train`) or install the matching version"
        )
    if _minor(built.get("python", "")) != _minor(here["python"]):
        raise ArtifactError(f"model was built with Python {built.get('python')} but this is Python {here['python']}; retrain it")
    encoder = manifest.get("encoder")
    if encoder:
        from model.encoder import unusable

        problem = unusable(encoder.get("model"), encoder.get("version"))
        if problem:
            raise ArtifactError(problem)
    if PIPELINE not in manifest["files"]:
        raise ArtifactError(f"{artifact_dir / MANIFEST} does not list {PIPELINE}")
    for name, digest in manifest["files"].items():
        path = artifact_dir / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ArtifactError(f"manifest lists a file outside the artifact: {name!r}")
        if not path.is_file():
            raise ArtifactError(f"artifact file {path} is missing")
        if sha256_file(path) != digest:
            raise ArtifactError(f"artifact file {path} does not match its sha256 in the manifest: it was changed or corrupted")
    return manifest


def load_artifact(artifact_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """(pipeline, manifest) after verification; nothing is unpickled unless its hash matches."""
    manifest = verify_artifact(artifact_dir)
    try:
        pipeline = joblib.load(Path(artifact_dir) / PIPELINE)
    except Exception as exc:  # a verified file that still fails to load: report, don't crash the caller
        raise ArtifactError(f"cannot load {Path(artifact_dir) / PIPELINE}: {exc}") from None
    return pipeline, manifest
